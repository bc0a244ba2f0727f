"""The HTML of `edgecnn run --serve`'s page, and of the page that asks for the token.

The page shows the stream (/stream.mjpg) and the state (/label.json, polled 4 times a
second); see mjpeg.py for the routes.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecnn live</title>
<style>
body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1.5em; }
#label { font-size: 2.2em; margin: 0.2em 0; }
#detail { color: #aaa; margin: 0 0 0.8em 0; }
img { max-width: 100%; border: 1px solid #444; background: #000; }
</style></head>
<body>
<h1 id="label">waiting for frames…</h1>
<p id="detail"></p>
<img id="stream" alt="live view" width="640" height="480">
<script>
// The stream starts after the page's load event, so the page counts as loaded at once.
window.addEventListener("load", () => {
  document.getElementById("stream").src = "/stream.mjpg";
});
async function poll() {
  try {
    const response = await fetch("/label.json", {cache: "no-store"});
    const d = await response.json();
    if (d.frame !== null) {
      document.getElementById("label").textContent = d.label;
      document.getElementById("detail").textContent =
        `score ${(100 * d.score).toFixed(0)}% · frame ${d.frame} · ${d.fps.toFixed(1)} FPS`;
    }
  } catch (e) { /* the run ended; keep the last label */ }
  setTimeout(poll, 250);
}
poll();
</script>
</body></html>
"""

TOKEN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecnn: token</title>
<style>body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1.5em; }</style>
</head><body>
<h1>This camera needs its token</h1>
<p>It is the value of <code>--serve-token</code>, <code>$EDGECNN_SERVE_TOKEN</code> or the
<code>--serve-token-file</code> on the device.</p>
<form method="get" action="/"><input name="token" type="password" size="40" autofocus>
<button>Open</button></form>
</body></html>
"""
