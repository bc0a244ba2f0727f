"""Learning from mistakes, end to end: `run --save-unsure` keeps the frames a model is unsure
of, a person labels them on the capture page's review view (headless Chromium, buttons and
keys), and `train --images --base` fine-tunes on the data set they joined."""

from __future__ import annotations

import json
import shutil
import signal

from chromium_page import ChromiumPage
from cli_runner import edgecnn_cli
from live_run import LiveRun

from edgecnn.device.store.unlabelled import UnlabelledQueue
from edgecnn.manifest import read_manifest

KEYS = {"gear": "1", "hand": "2", "key": "3"}  # the review's classes: the data set's folders


class ReviewRun(LiveRun):
    @staticmethod
    def command() -> list[str]:
        return [*LiveRun.command()[:-1], "capture"]


def entry_id(page: ChromiumPage) -> str | None:
    """The id of the image on show, or None once nothing is left."""
    page.wait_for(
        "!document.getElementById('entry').hidden || !document.getElementById('done').hidden"
    )
    return page.evaluate(
        "document.getElementById('entry').hidden ? null"
        " : document.getElementById('entry').dataset.id"
    )


def moved_on(page: ChromiumPage, shown: str) -> None:
    """Wait until the page shows another image than `shown`, or that none is left."""
    page.wait_for(
        f"document.getElementById('entry').dataset.id !== {json.dumps(shown)}"
        " || !document.getElementById('done').hidden"
    )


def test_unsure_frames_are_saved_labelled_on_the_page_and_learned_from(
    tiny_tflite, tiny_model_dir, own_dataset, own_videos, tmp_path
):
    dataset = tmp_path / "parts"
    shutil.copytree(own_dataset, dataset)
    before = {p.parent.name: 0 for p in dataset.glob("*/*.input.png")}
    for p in dataset.glob("*/*.input.png"):
        before[p.parent.name] += 1

    # 1. The Fashion-MNIST model meets gears, hands and keys: it is unsure of them.
    run = edgecnn_cli("run", "--model", str(tiny_tflite), "--source",
                      str(own_videos / "heldout.mp4"), "--json", "--threshold", "0.95",
                      "--save-unsure", str(dataset), "--unsure-every", "0")  # fmt: skip
    queue = UnlabelledQueue(dataset)
    waiting = queue.entries()
    records = [json.loads(line) for line in run.stdout.splitlines()]
    unsure = [r for r in records if r["label"] == "unsure"]
    assert 3 <= len(waiting) <= len(unsure), run.stderr
    assert f"saved {len(waiting)} unsure frames" in run.stderr
    assert not read_manifest(dataset)[len(read_manifest(own_dataset)) :]  # nothing labelled yet
    for entry in waiting:
        assert entry.guess == records[entry.record["frame"]]["top"][0]["label"]
    truth = json.loads((own_videos / "heldout.truth.json").read_text())["labels"]

    # 2. Labelled on the review view: the first discarded, then keys and buttons in turn.
    review = ReviewRun("--review", "--out", str(dataset), "--serve", "127.0.0.1:0")
    page = None
    labelled: dict[str, str] = {}
    try:
        page = ChromiumPage(review.url(), tmp_path / "profile", size=(1000, 900))
        page.wait_for("document.querySelectorAll('button.label').length === 3")
        discarded = entry_id(page)
        page.screenshot(tmp_path / "review.png")
        page.click("#discard")
        moved_on(page, discarded)
        turn = 0
        while (now := entry_id(page)) is not None:
            label = truth[queue.read(now)[2]["frame"]]
            if turn % 2:
                page.press(KEYS[label])
            else:
                page.click(f'button.label[data-label="{label}"]')
            moved_on(page, now)
            labelled[now] = label
            turn += 1
        assert entry_id(page) is None
        assert page.evaluate("document.getElementById('waiting').textContent").startswith(
            "0 waiting"
        )
        assert review.stop(signal.SIGTERM) == 0, "".join(review.stderr)
    finally:
        if page is not None:
            page.close()
        review.close()
    assert len(labelled) == len(waiting) - 1
    assert f"review: {len(labelled)} labelled" in "".join(review.stderr)
    assert not queue.entries() and not list(queue.folder.glob("*.png"))
    filed = [r for r in read_manifest(dataset) if r.get("how") == "review"]
    assert {r["unlabelled"]: r["label"] for r in filed} == labelled
    assert discarded not in {r["unlabelled"] for r in filed}
    for record in filed:
        assert (dataset / record["file"]).is_file() and (dataset / record["input"]).is_file()
        assert record["file"].startswith(f"{record['label']}/")

    # 3. Fine-tuned on the data set they joined.
    out = tmp_path / "model"
    edgecnn_cli("train", "--images", str(dataset), "--base", str(tiny_model_dir / "model.keras"),
                "--epochs", "2", "--unfreeze-epochs", "0", "--out", str(out))  # fmt: skip
    report = json.loads((out / "train_report.json").read_text())["dataset"]
    files = set(report["train_files"]) | set(report["test_files"])
    assert {r["file"] for r in filed} <= files
    for label, count in before.items():
        added = sum(1 for v in labelled.values() if v == label)
        assert report["class_counts"][label] == count + added
