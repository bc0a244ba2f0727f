"""`bench.train_frontier --table` on a checkout where nothing was measured (its results are
gitignored, so a fresh clone has none): a sentence saying how to measure, not a bare header."""

from __future__ import annotations

import sys

import bench.train_frontier as train_frontier


def test_table_without_results_says_how_to_measure(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(train_frontier, "RESULT", tmp_path / "train_frontier.json")
    monkeypatch.setattr(sys, "argv", ["train_frontier", "--table"])
    assert train_frontier.main() == 1
    out = capsys.readouterr().out
    assert "nothing measured here yet" in out
    assert "--only NAME" in out and "flat96" in out
    assert "|" not in out  # no table header
