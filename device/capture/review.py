"""The capture page's review view: label the frames a model was unsure of, one at a time.

`edgecnn run --save-unsure DATASET` keeps those frames in DATASET/.unlabelled/ with the
model's guess (`store/unlabelled.py`). The review view shows the oldest one (its photo, the 28x28
canvas the model saw, the guess and the scores) with one button per class and "discard";
the number keys choose a class (1-9, 0 for the tenth), d or Delete discards. A labelled
image joins its class (the class folder and a manifest line, as `edgecnn capture` saves, so
`edgecnn train --images DATASET` learns from it); the next one comes up.

Routes, added to the --serve server (behind its checks, like every other):

    /review          the view
    /review.json     {"labels", "waiting", "filed", "entry": the oldest entry or null, with
                      its photo and canvas as data: URLs}
    POST /review     {"id", "label"} files the entry as `label`; {"id", "discard": true}
                     discards it; answers as /review.json does (the next entry), 400 for an
                     unknown class, 404 for an entry no longer waiting (labelled on another
                     page meanwhile), 507 when the data set cannot be written

`edgecnn capture --review --out DATASET --serve HOST:PORT` serves the view alone (no camera:
review where the data set is, the camera busy with `edgecnn run`, or on a workstation); a
capture with --serve has it beside its own page.
"""

from __future__ import annotations

import base64
import html
import threading
from collections import Counter
from http import HTTPStatus
from pathlib import Path

import cv2
import numpy as np

from edgecnn.console import echo
from edgecnn.device.loop import StopSignals
from edgecnn.device.outputs.mjpeg import ServeOptions, start_page_server
from edgecnn.device.outputs.routes import GetRoute, PostRoute, Reply
from edgecnn.device.store.dataset import CaptureDataset, check_label
from edgecnn.device.store.unlabelled import UnlabelledQueue
from edgecnn.errors import EdgeCnnError

PREVIEW_SIDE = 480  # the photo as the page shows it (a JPEG of at most this side)
MAX_LABELS = 20


def review_labels(root: Path, given: list[str] | None, queue: UnlabelledQueue) -> list[str]:
    """The classes to offer: --labels when given, else the data set's class folders (the
    classes it is trained on), else the model's classes recorded with the waiting images."""
    if given:
        return given
    folders = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
    ) if root.is_dir() else []  # fmt: skip
    labels = folders or list(
        dict.fromkeys(
            name for entry in queue.entries() for name in entry.record.get("labels") or []
        )
    )
    checked = []
    for name in labels:
        try:
            checked.append(check_label(name))
        except EdgeCnnError:
            continue  # a model class that cannot be a folder name (e.g. "T-shirt/top")
    if not checked:
        raise EdgeCnnError(
            f"{root} has no classes to label into: give --labels a,b,c (the data set has no "
            "class folders and the waiting images name no model classes)"
        )
    return checked[:MAX_LABELS]


def data_url(image: np.ndarray, kind: str) -> str:
    ok, buffer = cv2.imencode(f".{kind}", image)
    if not ok:
        raise EdgeCnnError("OpenCV could not encode an image for the review page")
    mime = "jpeg" if kind == "jpg" else kind
    return f"data:image/{mime};base64,{base64.b64encode(buffer.tobytes()).decode('ascii')}"


def preview(photo: np.ndarray) -> np.ndarray:
    side = max(photo.shape[:2])
    if side <= PREVIEW_SIDE:
        return photo
    scale = PREVIEW_SIDE / side
    return cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


class ReviewSession:
    """The queue of `root` and the classes it is labelled into. `file` and `discard` may be
    called from several request threads: one at a time."""

    def __init__(self, root: str | Path, labels: list[str] | None = None) -> None:
        self.root = Path(root)
        self.queue = UnlabelledQueue(self.root)
        self.queue.tidy()
        self.labels = review_labels(self.root, labels, self.queue)
        self.filed: Counter[str] = Counter()
        self.discarded = 0
        self._lock = threading.Lock()

    def state(self) -> dict:
        """What /review.json answers: the classes, the counts and the oldest entry."""
        entries = self.queue.entries()
        head = None
        for entry in entries:
            try:
                photo, canvas, _ = self.queue.read(entry.id)
            except EdgeCnnError:
                continue  # filed by another page meanwhile
            head = {
                **entry.as_json(),
                "photo": data_url(preview(photo), "jpg"),
                "canvas": data_url(canvas, "png"),
            }
            break
        return {
            "labels": self.labels,
            "waiting": len(entries),
            "filed": {label: self.filed[label] for label in self.labels},
            "discarded": self.discarded,
            "entry": head,
        }

    def file(self, entry_id: str, label: str) -> str:
        """File an entry into `label`; the saved image's path in the data set."""
        if label not in self.labels:
            raise ValueError(f"no class {label!r}: choose one of {', '.join(self.labels)}")
        with self._lock:
            dataset = CaptureDataset(self.root, [label])  # only this class's folder is made
            try:
                saved = self.queue.file(entry_id, label, dataset)
            finally:
                dataset.close()
            self.filed[label] += 1
        return saved.file

    def discard(self, entry_id: str) -> None:
        with self._lock:
            self.queue.discard(entry_id)
            self.discarded += 1


def review_routes(session: ReviewSession) -> tuple[dict[str, GetRoute], dict[str, PostRoute]]:
    """(GET routes, POST routes) of the review view for the --serve server."""

    def page() -> Reply:
        return Reply.html(review_page(session))

    def state() -> Reply:
        return Reply.json(session.state())

    def act(body: object) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            return Reply.json({"error": "send {\"id\", \"label\"} or {\"id\", \"discard\": true}"},
                              HTTPStatus.BAD_REQUEST)  # fmt: skip
        try:
            if body.get("discard") is True:
                session.discard(body["id"])
                done = {"discarded": body["id"]}
            else:
                done = {"saved": session.file(body["id"], str(body.get("label")))}
        except ValueError as exc:
            return Reply.json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
        except EdgeCnnError as exc:
            status = HTTPStatus.NOT_FOUND if "no unlabelled image" in str(exc) else 507
            return Reply.json({"error": str(exc), **session.state()}, status)
        return Reply.json({**done, **session.state()})

    return {"/review": page, "/review.json": state}, {"/review": act}


def review_page(session: ReviewSession) -> str:
    buttons = "".join(
        f'<button class="label" data-label="{html.escape(label)}">'
        f'<span class="key">{(i + 1) % 10 if i < 10 else ""}</span>{html.escape(label)}</button>'
        for i, label in enumerate(session.labels)
    )
    return REVIEW_PAGE.replace("__DATASET__", html.escape(str(session.root))).replace(
        "__BUTTONS__", buttons
    )


REVIEW_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecnn review</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1.2em; }
h1 { font-size: 1.3em; margin: 0 0 0.3em 0; }
#waiting { color: #aaa; margin: 0 0 0.8em 0; }
#entry { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
#photo { max-width: min(100%, 480px); border: 1px solid #444; background: #000; }
#canvas { width: 168px; height: 168px; image-rendering: pixelated; border: 1px solid #444; }
#guess { font-size: 1.3em; margin: 0.4em 0; }
#top { color: #aaa; margin: 0; padding-left: 1.2em; }
#buttons { display: flex; flex-wrap: wrap; gap: 0.5em; margin: 0.6em 0; }
button { font-size: 1.1em; padding: 0.5em 0.9em; border-radius: 0.4em; border: 0;
  color: #fff; cursor: pointer; }
button.label { background: #2d6a3e; }
button.label.guess { outline: 2px solid #f0b429; }
button.label .key { color: #9fd3aa; font-size: 0.8em; margin-right: 0.4em; }
button#discard { background: #7a2e2e; }
button:disabled { opacity: 0.4; cursor: default; }
#last { color: #aaa; min-height: 1.2em; }
#done { font-size: 1.3em; color: #7fd68f; }
</style></head>
<body>
<h1>Label the frames the model was unsure of: __DATASET__</h1>
<p id="waiting"></p>
<div id="buttons">__BUTTONS__<button id="discard" title="d or Delete">discard</button></div>
<p id="last"></p>
<div id="entry" hidden>
  <img id="photo" alt="the frame's region of interest">
  <div>
    <div class="caption">the model saw</div>
    <img id="canvas" alt="the 28x28 input the model saw">
    <p id="guess"></p>
    <ol id="top"></ol>
  </div>
</div>
<p id="done" hidden>Nothing left to label.</p>
<script>
const $ = (id) => document.getElementById(id);
const labelButtons = Array.from(document.querySelectorAll("button.label"));
let current = null;
let busy = false;
function show(state) {
  current = state.entry;
  const filed = Object.values(state.filed).reduce((a, b) => a + b, 0);
  $("waiting").textContent = `${state.waiting} waiting · ${filed} labelled and `
    + `${state.discarded} discarded here`;
  $("entry").hidden = !current;
  $("done").hidden = !!current;
  labelButtons.concat([$("discard")]).forEach((b) => { b.disabled = !current; });
  if (!current) return;
  $("photo").src = current.photo;
  $("canvas").src = current.canvas;
  $("entry").dataset.id = current.id;
  $("guess").textContent = `the model's guess: ${current.guess} `
    + `(${(100 * current.score).toFixed(0)}%) · ${current.source || ""} · ${current.time || ""}`;
  $("top").replaceChildren(...(current.top || []).map((c) => {
    const item = document.createElement("li");
    item.textContent = `${c.label} ${(100 * c.score).toFixed(0)}%`;
    return item;
  }));
  labelButtons.forEach((b) => b.classList.toggle("guess", b.dataset.label === current.guess));
}
async function send(body) {
  if (!current || busy) return;
  busy = true;
  try {
    const response = await fetch("/review", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({id: current.id, ...body}),
    });
    const reply = await response.json();
    $("last").textContent = reply.error ? reply.error
      : reply.saved ? `saved ${reply.saved}` : `discarded ${reply.discarded}`;
    if (reply.labels) show(reply);
  } catch (e) {
    $("last").textContent = "the review has ended";
  } finally {
    busy = false;
  }
}
labelButtons.forEach((b) => b.addEventListener("click", () => send({label: b.dataset.label})));
$("discard").addEventListener("click", () => send({discard: true}));
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "d" || event.key === "Delete" || event.key === "Backspace") {
    event.preventDefault();
    send({discard: true});
  } else if (/^[0-9]$/.test(event.key)) {
    const button = labelButtons[(Number(event.key) + 9) % 10];
    if (button) send({label: button.dataset.label});
  }
});
async function refresh() {
  try {
    if (!busy) show(await (await fetch("/review.json", {cache: "no-store"})).json());
  } catch (e) { /* the review has ended */ }
}
refresh();
setInterval(() => { if (!current) refresh(); }, 2000);  // new frames saved by a running run
</script>
</body></html>
"""


def serve_review(out: Path, labels: list[str] | None, serving: ServeOptions) -> dict:
    """`edgecnn capture --review`: the review view alone at `serving` (no camera is opened),
    until Ctrl-C or SIGTERM; the counts at the end."""
    session = ReviewSession(out, labels)
    get_routes, post_routes = review_routes(session)
    get_routes["/"] = get_routes["/review"]
    with StopSignals() as signals:
        server = start_page_server(serving, get_routes, post_routes)
        try:
            echo(f"edgecnn: {len(session.queue)} images wait for a label in "
                 f"{session.queue.folder}: label them on the page (Ctrl-C stops)")  # fmt: skip
            while not signals.event.wait(0.5):
                pass
        finally:
            server.close()
    filed = ", ".join(f"{label} +{n}" for label, n in session.filed.items() if n)
    echo(
        f"edgecnn: review: {sum(session.filed.values())} labelled ({filed or 'none'}), "
        f"{session.discarded} discarded; {len(session.queue)} still wait"
    )
    return {"filed": dict(session.filed), "discarded": session.discarded}
