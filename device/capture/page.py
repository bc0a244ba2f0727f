"""The `edgecnn capture --serve` page: the live view, a button per class, the counts.

Routes added to the --serve server (device/outputs/mjpeg.py), behind its checks (Host,
Origin, token) like every other:

    /              this page (replaces run's page); it links to the review view
    /review ...    the review view of the same data set (review.py)
    /capture.json  the counts: per class in the data set and saved by this run, skips
    POST /capture  {"label": NAME}: save the current frame as NAME; answers the outcome
                   ({"label", "saved": "<label>/000007.png" or null, "skipped": reason or
                   null}) with the counts, 400 for a class the capture does not have, 503
                   when the capture has ended
"""

from __future__ import annotations

import html
from http import HTTPStatus

from edgecnn.device.capture.session import CaptureSession, PageRequests
from edgecnn.device.outputs.routes import GetRoute, PostRoute, Reply

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecnn capture</title>
<style>
body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1.5em; }
h1 { font-size: 1.4em; margin: 0 0 0.4em 0; }
#buttons { display: flex; flex-wrap: wrap; gap: 0.5em; margin: 0 0 0.6em 0; }
button.capture { font-size: 1.2em; padding: 0.5em 1em; border-radius: 0.4em; border: 0;
  background: #2d6a3e; color: #fff; cursor: pointer; }
button.capture:active { background: #3f9156; }
button.capture .count { font-weight: bold; margin-left: 0.4em; }
#last { color: #aaa; margin: 0 0 0.8em 0; min-height: 1.2em; }
img { max-width: 100%; border: 1px solid #444; background: #000; }
</style></head>
<body>
<h1>edgecnn capture into __DATASET__</h1>
<p><a href="/review" style="color: #9fd3aa">Label the frames a model was unsure of</a>
(edgecnn run --save-unsure)</p>
<div id="buttons">__BUTTONS__</div>
<p id="last"></p>
<img id="stream" alt="live view" width="640" height="480">
<script>
const buttons = Array.from(document.querySelectorAll("button.capture"));
function show(status) {
  status.labels.forEach((label, i) => {
    if (buttons[i]) buttons[i].querySelector(".count").textContent = status.counts[label];
  });
  const skipped = Object.values(status.skipped).reduce((a, b) => a + b, 0);
  document.getElementById("last").textContent =
    status.last + (skipped ? ` · ${skipped} skipped` : "");
}
buttons.forEach((button, i) => button.addEventListener("click", async () => {
  try {
    const response = await fetch("/capture", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({label: button.dataset.label}),
    });
    const reply = await response.json();
    if (reply.status) show(reply.status);
    if (reply.error) document.getElementById("last").textContent = reply.error;
  } catch (e) { document.getElementById("last").textContent = "the capture has ended"; }
}));
async function poll() {
  try {
    const response = await fetch("/capture.json", {cache: "no-store"});
    show(await response.json());
  } catch (e) { /* the capture ended; keep the last counts */ }
  setTimeout(poll, 300);
}
window.addEventListener("load", () => {
  document.getElementById("stream").src = "/stream.mjpg";
});
poll();
</script>
</body></html>
"""


def page_html(session: CaptureSession) -> str:
    status = session.status()
    buttons = "".join(
        f'<button class="capture" data-label="{html.escape(label)}">{html.escape(label)}'
        f'<span class="count">{status["counts"][label]}</span></button>'
        for label in status["labels"]
    )
    dataset = html.escape(str(session.dataset.root))
    return PAGE.replace("__DATASET__", dataset).replace("__BUTTONS__", buttons)


def capture_routes(
    session: CaptureSession, requests: PageRequests
) -> tuple[dict[str, GetRoute], dict[str, PostRoute]]:
    """(GET routes, POST routes) for the --serve server."""

    def page() -> Reply:
        return Reply.html(page_html(session))

    def counts() -> Reply:
        return Reply.json(session.status())

    def capture(body: object) -> Reply:  # on a worker thread: it waits for the loop
        label = body.get("label") if isinstance(body, dict) else None
        if label not in session.labels:
            return Reply.json(
                {"error": f"no class {label!r}: choose one of {', '.join(session.labels)}"},
                HTTPStatus.BAD_REQUEST,
            )
        outcome = requests.ask(label)
        if outcome is None:
            return Reply.json(
                {"error": "the capture has ended (or no frame came in time)"},
                HTTPStatus.SERVICE_UNAVAILABLE,
            )
        return Reply.json({**outcome.as_json(), "status": session.status()})

    return {"/": page, "/capture.json": counts}, {"/capture": capture}
