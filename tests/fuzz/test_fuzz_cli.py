"""Damaged models, model.json files, capture manifests, resume states, URLs, regions of
interest and images, fed through the commands that read them (the real CLI, a subprocess
per case): no traceback, no signal, no hang, nothing half-written (`fuzz_harness`).

A fixed, small set of seeds per kind keeps this to a few minutes; `make bench`
(bench/fuzz.py) runs many more and reports how each command answered. A failure lists
each case with its seed folder, what was damaged and the end of its stderr.
"""

from __future__ import annotations

import pytest
from fuzz_cases import CASE_KINDS
from fuzz_harness import failures, run_cases, summary

# Cases per kind in the test run (the bench entry runs far more).
BUDGET = {
    "model": 30,
    "model.json": 24,
    "manifest": 14,
    "resume": 4,
    "url": 24,
    "roi": 16,
    "image": 24,
}


@pytest.mark.parametrize("kind", BUDGET)
def test_damaged_inputs_are_accepted_or_refused_in_one_line(materials, tmp_path, kind) -> None:
    cases = [CASE_KINDS[kind](materials, tmp_path, seed) for seed in range(BUDGET[kind])]
    outcomes = run_cases(cases)
    assert not failures(outcomes), f"{summary(outcomes)}\n{failures(outcomes)}"
