// The msgtrans dashboard: polls the monitoring endpoints once a second and
// draws what an operator looks at first. Plain JavaScript, no libraries.
"use strict";

const HISTORY = 300; // samples the charts span (the server keeps as many)
let samples = [];     // /ratez: {in, out, bin, bout, conns} per second, oldest first

const $ = (id) => document.getElementById(id);

function fmt(n) {
  if (n === undefined || n === null || n < 0) return "–";
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Math.round(n).toString();
}
function fmtBytes(n) {
  if (n === undefined || n === null || n < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + " " + units[i];
}
function text(el, s) { el.textContent = s; }
function cell(tr, s, cls) {
  const td = document.createElement("td");
  td.textContent = s;
  if (cls) td.className = cls;
  tr.appendChild(td);
}
function fill(tbody, rows, build) {
  tbody.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    build(tr, r);
    tbody.appendChild(tr);
  }
}

async function get(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok && r.status !== 503) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function onRatez(r) {
  samples = r.rates.map((x) => ({ in: x.in_msgs, out: x.out_msgs, bin: x.in_bytes, bout: x.out_bytes, conns: x.connections }));
  const last = samples[samples.length - 1];
  if (last) {
    text($("t-in"), fmt(last.in));
    text($("t-out"), fmt(last.out));
    text($("t-bytes"), fmtBytes(last.bin) + " / " + fmtBytes(last.bout));
  }
  // "in" is drawn wider, under "out": with one subscriber per message the
  // two lines coincide and both must still show.
  drawChart($("rates"), [{ key: "in", color: "--in", width: 5 }, { key: "out", color: "--out", width: 2 }]);
  drawChart($("conns"), [{ key: "conns", color: "--in", width: 2 }]);
}

function onVarz(v) {
  text($("server"), "server " + v.server_id + " · v" + v.version + " · up " + v.uptime + " · cpu " + v.cpu.toFixed(0) + "% · mem " + fmtBytes(v.mem));
  text($("t-conns"), fmt(v.connections));
  text($("t-subs"), fmt(v.subscriptions));
  text($("t-pending"), fmtBytes(v.pending_bytes));
  text($("t-slow"), fmt(v.slow_consumers));
  $("tile-slow").classList.toggle("alarm", v.slow_consumers > 0);
  text($("t-retained"), fmt(v.retained_msgs) + " msgs · " + fmtBytes(v.retained_bytes));

  const protos = Object.entries(v.protocols || {}).filter(([, p]) => p.connections > 0)
    .sort((a, b) => b[1].connections - a[1].connections);
  const most = protos.length ? protos[0][1].connections : 1;
  const box = $("protocols");
  box.replaceChildren();
  if (!protos.length) box.textContent = "no connections";
  for (const [name, p] of protos) {
    const row = document.createElement("div");
    row.className = "bar";
    row.innerHTML = '<span class="name"></span><span class="fill"></span><span class="count"></span>';
    row.children[0].textContent = name;
    row.children[1].style.width = Math.max(2, 200 * p.connections / most) + "px";
    row.children[2].textContent = p.connections;
    box.appendChild(row);
  }
}

// drawChart plots series of samples as lines over the last HISTORY
// seconds, with a labelled maximum. It sets data-points for tests.
function drawChart(canvas, series) {
  const ctx = canvas.getContext("2d");
  const css = getComputedStyle(document.documentElement);
  const w = canvas.width, h = canvas.height, pad = 4, top = 16;
  ctx.clearRect(0, 0, w, h);
  let maxV = 1;
  for (const s of samples) for (const sr of series) maxV = Math.max(maxV, s[sr.key]);
  ctx.strokeStyle = css.getPropertyValue("--line").trim();
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + (h - top - pad) * i / 4;
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
  }
  ctx.fillStyle = css.getPropertyValue("--muted").trim();
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillText(fmt(maxV) + (series.length > 1 ? " msgs/s" : ""), 4, 12);
  // The window grows by the minute up to HISTORY seconds, so that a
  // broker just started does not draw in the last sliver of the chart.
  const secs = Math.min(HISTORY, Math.max(60, Math.ceil(samples.length / 60) * 60));
  const span = "last " + Math.round(secs / 60) + " min";
  ctx.fillText(span, w - pad - ctx.measureText(span).width, 12);
  const shown = samples.slice(-secs);
  const x = (i) => w - pad - (shown.length - 1 - i) * (w - 2 * pad) / (secs - 1);
  const y = (v) => h - pad - (h - top - pad) * v / maxV;
  for (const sr of series) {
    ctx.strokeStyle = css.getPropertyValue(sr.color).trim();
    ctx.lineWidth = sr.width;
    ctx.lineJoin = "round";
    ctx.beginPath();
    shown.forEach((s, i) => (i ? ctx.lineTo(x(i), y(s[sr.key])) : ctx.moveTo(x(i), y(s[sr.key]))));
    ctx.stroke();
  }
  canvas.dataset.points = samples.length;
}

function onConnz(c) {
  fill($("top").tBodies[0], c.connections, (tr, x) => {
    cell(tr, x.id); cell(tr, x.protocol); cell(tr, x.name || ""); cell(tr, x.user || "");
    cell(tr, x.remote); cell(tr, fmt(x.in_msgs), "num"); cell(tr, fmt(x.out_msgs), "num");
    cell(tr, fmtBytes(x.in_bytes + x.out_bytes), "num"); cell(tr, fmtBytes(x.pending_bytes), "num");
    cell(tr, x.idle);
  });
}

function onClosed(c) {
  const slow = c.connections.filter((x) => (x.reason || "").includes("slow consumer")).reverse().slice(0, 8);
  fill($("slow").tBodies[0], slow, (tr, x) => {
    cell(tr, x.id); cell(tr, x.protocol); cell(tr, x.name || ""); cell(tr, new Date(x.stop).toLocaleTimeString());
  });
}

function onPluginz(p) {
  fill($("plugins").tBodies[0], p.plugins, (tr, x) => {
    cell(tr, x.name); cell(tr, x.state, "state-" + x.state); cell(tr, x.pid || (x.linked ? "linked" : "–"), "num");
    cell(tr, x.restarts, "num"); cell(tr, x.sessions, "num");
  });
  if (!p.plugins.length) $("plugins").tBodies[0].innerHTML = '<tr><td colspan="5" class="muted">none configured</td></tr>';
}

function onHealth(hz) {
  const b = $("health");
  b.className = "badge " + (hz.status === "ok" ? "ok" : "bad");
  b.textContent = hz.status === "ok" ? "healthy" : "down: " + Object.keys(hz.down || {}).join(", ");
}

async function tick() {
  try {
    const [v, r, c, closed, p, hz] = await Promise.all([
      get("varz"), get("ratez"), get("connz?sort=bytes&limit=10"), get("connz?state=closed&limit=10000"),
      get("pluginz"), get("healthz"),
    ]);
    onVarz(v); onRatez(r); onConnz(c); onClosed(closed); onPluginz(p); onHealth(hz);
    $("error").hidden = true;
  } catch (e) {
    $("error").hidden = false;
    text($("error"), "cannot reach the broker: " + e.message);
  }
}

tick();
setInterval(tick, 1000);
