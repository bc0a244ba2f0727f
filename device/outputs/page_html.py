"""The HTML of `edgecnn run --serve`'s page, and of the page that asks for the token.

The page shows the stream (/stream.mjpg) and the state (/label.json, polled 4 times a
second): the stable state beside the frame's own answer, the top-k scores as bars, the
frame rate (the figure the overlay draws) and each stage's latency, the model's id, the
source (and "ended" when it has no more frames), the uptime and the MQTT connection; see
mjpeg.py for the routes.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecnn live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 1.2em; }
header { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 0.4em 2em; }
.caption { color: #999; font-size: 0.8em; text-transform: uppercase; letter-spacing: 0.05em; }
#stable { font-size: 2.4em; margin: 0; }
#raw { font-size: 1.3em; color: #ccc; }
#raw.differs { color: #f0b429; }
#ended { background: #7a2e2e; color: #fff; padding: 0.3em 0.8em; border-radius: 0.3em; }
main { display: flex; flex-wrap: wrap; gap: 1.2em; margin: 0.8em 0; align-items: flex-start; }
img { max-width: 100%; border: 1px solid #444; background: #000; }
#scores { min-width: 16em; flex: 1; max-width: 28em; }
#bars { list-style: none; padding: 0; margin: 0.3em 0; }
#bars li { display: grid; grid-template-columns: 8em 1fr 3.5em; gap: 0.5em;
  align-items: center; margin: 0.35em 0; }
#bars .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#bars .bar { display: block; background: #2a2a2a; height: 1.1em; border-radius: 0.2em; overflow: hidden; }
#bars .fill { display: block; background: #3f9156; height: 100%; }
#bars li.first .fill { background: #4fc46f; }
#bars .score { text-align: right; font-variant-numeric: tabular-nums; }
#facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25em 1em; margin: 0;
  color: #bbb; font-variant-numeric: tabular-nums; }
#facts dt { color: #888; }
#facts dd { margin: 0; }
.bad { color: #f07070; }
.good { color: #7fd68f; }
</style></head>
<body>
<header>
  <div><div class="caption">stable state</div><h1 id="stable">waiting for frames…</h1></div>
  <div><div class="caption">this frame</div><div id="raw">–</div></div>
  <div id="ended" hidden></div>
</header>
<main>
  <img id="stream" alt="live view" width="640" height="480">
  <section id="scores"><div class="caption">top scores</div><ol id="bars"></ol></section>
</main>
<dl id="facts">
  <dt>frame rate</dt><dd id="fps">–</dd>
  <dt>latency</dt><dd id="latency">–</dd>
  <dt>model</dt><dd id="model">–</dd>
  <dt>source</dt><dd id="source">–</dd>
  <dt>up</dt><dd id="uptime">–</dd>
  <dt>MQTT</dt><dd id="mqtt">–</dd>
</dl>
<script>
// The stream starts after the page's load event, so the page counts as loaded at once.
window.addEventListener("load", () => {
  document.getElementById("stream").src = "/stream.mjpg";
});
const $ = (id) => document.getElementById(id);
const percent = (score) => `${(100 * score).toFixed(0)}%`;
const ms = (value) => value === undefined ? "–" : `${value.toFixed(value < 10 ? 2 : 1)} ms`;
function duration(seconds) {
  const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24,
    m = Math.floor(s / 60) % 60;
  return (d ? `${d} d ` : "") + (d || h ? `${h} h ` : "") + (d || h || m ? `${m} min ` : "")
    + `${s % 60} s`;
}
function bars(top) {
  const list = $("bars");
  list.replaceChildren(...top.map((c, i) => {
    const item = document.createElement("li");
    item.dataset.label = c.label;
    item.dataset.score = c.score;
    if (i === 0) item.className = "first";
    const name = document.createElement("span");
    name.className = "name"; name.textContent = c.label; name.title = c.label;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.className = "fill"; fill.style.width = `${Math.max(0, Math.min(1, c.score)) * 100}%`;
    bar.append(fill);
    const score = document.createElement("span");
    score.className = "score"; score.textContent = percent(c.score);
    item.append(name, bar, score);
    return item;
  }));
}
function facts(run) {
  if (!run) return;
  const m = run.model || {};
  const reloads = m.reloads ? ` · reloaded ${m.reloads}×` : "";
  const refused = m.refused ? ` · ${m.refused} refused` : "";
  $("model").textContent = `${(m.sha256 || "?").slice(0, 12)} · ${m.file || ""} · `
    + `${(m.labels || []).length} classes · ${m.backend || ""}${reloads}${refused}`;
  $("model").title = `SHA-256 ${m.sha256}\\n${(m.labels || []).join(", ")}`
    + (m.last ? `\\nlast reload: ${m.last}` : "");
  const src = run.source || {};
  $("source").textContent = `${src.description || ""}`
    + (src.fps ? ` · played at ${src.fps.toFixed(1)} FPS` : "")
    + (src.skipped ? ` · ${src.skipped} frames skipped to keep pace` : "");
  $("uptime").textContent = `${duration(run.uptime_s)} (since ${run.started})`;
  const q = run.mqtt;
  const mqtt = $("mqtt");
  if (!q) { mqtt.textContent = "off"; mqtt.className = ""; }
  else {
    mqtt.textContent = `${q.connected ? "connected" : "not connected"} · ${q.url} · `
      + `${q.published} published, ${q.dropped} dropped, ${q.outages} outage(s)`;
    mqtt.className = q.connected ? "good" : "bad";
  }
  if (src.state === "ended" && $("ended").hidden) {
    ended(`ended: ${src.description} has no more frames`);
    // No frame follows the last one, and a browser shows a stream's part only once the
    // next begins: the still of the last frame instead.
    $("stream").src = "/frame.jpg";
  }
}
function ended(text) {
  const banner = $("ended");
  banner.textContent = text;
  banner.hidden = false;
}
let seen = false;
async function poll() {
  try {
    const response = await fetch("/label.json", {cache: "no-store"});
    const d = await response.json();
    if (d.frame !== null) {
      seen = true;
      $("stable").textContent = d.stable ? d.stable.label : "not yet stable";
      const raw = $("raw");
      raw.textContent = `${d.label} ${percent(d.score)} · frame ${d.frame}`;
      raw.classList.toggle("differs", !d.stable || d.stable.label !== d.label);
      bars(d.top || []);
      $("fps").textContent = d.fps ? `${d.fps.toFixed(1)} FPS` : "measuring…";
      const l = d.latency_ms || {};
      const compute = (l.preprocess || 0) + (l.inference || 0) + (l.postprocess || 0);
      $("latency").textContent = `${ms(compute)} per frame: preprocess ${ms(l.preprocess)}, `
        + `inference ${ms(l.inference)}, postprocess ${ms(l.postprocess)}; `
        + `capture ${ms(l.capture)} (waiting for the frame included)`;
    }
    facts(d.run);
  } catch (e) {
    if (seen) ended("ended: the run has stopped");
  }
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
