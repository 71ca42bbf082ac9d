// ebm playground — the page. Plain JavaScript and a canvas; no library, nothing fetched from the internet.
// The server (the ebm library) does all training and sampling; this file only sends settings and
// draws the frames it receives over one WebSocket: the energy on a grid (float32, base64), the score
// field, the chains, the new losses and a quality number.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  catalogue: null, settings: {}, running: false, socket: null,
  grid: null, gridImage: null, score: null, data: null, bounds: [[-3, 3], [-3, 3]],
  chains: [], trails: [], losses: [], quality: {}, frames: 0, framesAtLastSecond: 0,
  drawn: [], // points drawn by clicking, kept for the shareable link
};
const MAX_LINK_POINTS = 400; // beyond this the link keeps the settings only
const VIEW_KEYS = { v_kind: "view-kind", v_log: "view-log", v_score: "view-score", v_trails: "view-trails", v_data: "view-data" };
const TRAIL = 8, MAX_LOSSES = 2000;

// ---------------------------------------------------------------- which knob shows when
const trainMode = (s) => s.mode === "train";
const trained = (s) => trainMode(s) && !["em", "svd"].includes(s.principle);
const KNOB_WHEN = {
  width: (s) => trainMode(s) && s.model === "mlp",
  depth: (s) => trainMode(s) && s.model === "mlp",
  components: (s) => trainMode(s) && ["kmeans", "gmm", "sparse_coding"].includes(s.model),
  alpha: (s) => trainMode(s) && s.model === "sparse_coding",
  hidden: (s) => trainMode(s) && ["rbm", "autoencoder"].includes(s.model),
  bits: (s) => trainMode(s) && s.model === "rbm",
  k: (s) => trainMode(s) && ["cd", "pcd"].includes(s.principle),
  sigma: (s) => trainMode(s) && (s.principle === "dsm" || s.principle === "denoising"),
  projections: (s) => trainMode(s) && s.principle === "ssm",
  noise_ratio: (s) => trainMode(s) && s.principle === "nce",
  penalty: (s) => trainMode(s) && ["contractive", "sparse_code"].includes(s.principle),
  lr: trained, batch: trained, steps: trained, optimizer: trained,
  step_size: (s) => s.model !== "rbm" || !trainMode(s),
  leapfrog: (s) => s.sampler === "hmc" && (s.model !== "rbm" || !trainMode(s)),
  temperature: (s) => s.model !== "rbm" || !trainMode(s),
  sampler: (s) => s.model !== "rbm" || !trainMode(s),
  chains: () => true, sweeps: () => true, seed: () => true,
  target: (s) => !trainMode(s), data: trainMode, model: trainMode, principle: trainMode,
};
const GROUP = {
  mode: "scene", target: "scene", data: "scene", seed: "scene",
  model: "model", principle: "model", width: "model", depth: "model", components: "model", alpha: "model", hidden: "model", bits: "model",
  k: "model", sigma: "model", projections: "model", noise_ratio: "model", penalty: "model", optimizer: "model", lr: "model", batch: "model", steps: "model",
  sampler: "sampler", step_size: "sampler", leapfrog: "sampler", chains: "sampler", temperature: "sampler", sweeps: "sampler",
};

// ---------------------------------------------------------------- controls
function sliderToValue(spec, t) {
  const v = spec.scale === "log" ? Math.exp(Math.log(Math.max(spec.low, 1e-12)) + t * (Math.log(spec.high) - Math.log(Math.max(spec.low, 1e-12)))) : spec.low + t * (spec.high - spec.low);
  return spec.kind === "int" ? Math.round(v) : Number(v.toPrecision(3));
}
function valueToSlider(spec, v) {
  if (spec.scale === "log") { const lo = Math.log(Math.max(spec.low, 1e-12)); return (Math.log(Math.max(v, 1e-12)) - lo) / (Math.log(spec.high) - lo); }
  return (v - spec.low) / (spec.high - spec.low);
}
function choiceOptions(name) {
  const c = state.catalogue;
  if (name === "mode") return c.modes.map((m) => [m, m === "train" ? "train a model on data" : "sample a landscape"]);
  if (name === "target") return Object.entries(c.targets).map(([k, v]) => [k, `${k}: ${v.description}`]);
  if (name === "data") return c.data.map((d) => [d, d === "drawn" ? "drawn: click to add points" : d]);
  if (name === "model") return Object.entries(c.models).map(([k, v]) => [k, k]);
  if (name === "principle") return c.models[state.settings.model].principles.map((p) => [p, `${p}: ${c.principles[p]}`]);
  if (name === "sampler") return Object.entries(c.samplers).map(([k, v]) => [k, v]);
  if (name === "optimizer") return c.optimizers.map((o) => [o, o]);
  return [];
}
function buildControls() {
  const c = state.catalogue;
  for (const box of ["scene", "model", "sampler"]) $(`${box}-controls`).innerHTML = "";
  const order = ["mode", "target", "data", "model", "principle", "width", "depth", "components", "alpha", "hidden", "bits", "k", "sigma", "projections",
    "noise_ratio", "penalty", "optimizer", "lr", "batch", "steps", "sampler", "step_size", "leapfrog", "chains", "temperature", "sweeps", "seed"];
  for (const name of order) {
    const label = document.createElement("label");
    label.dataset.knob = name;
    const spec = c.knobs[name];
    if (spec) {
      label.innerHTML = `<span title="${name}">${spec.label}</span><input type="range" min="0" max="1000" id="k-${name}"><output id="o-${name}"></output>`;
      const input = label.querySelector("input");
      input.addEventListener("input", () => { const v = sliderToValue(spec, input.value / 1000); $(`o-${name}`).textContent = fmt(v); });
      input.addEventListener("change", () => send({ type: "settings", settings: { [name]: sliderToValue(spec, input.value / 1000) } }));
    } else {
      label.innerHTML = `<span>${name}</span><select id="k-${name}"></select>`;
      label.querySelector("select").addEventListener("change", (e) => send({ type: "settings", settings: { [name]: e.target.value } }));
    }
    $(`${GROUP[name]}-controls`).appendChild(label);
  }
  const desc = document.createElement("div"); desc.className = "desc"; desc.id = "model-desc";
  $("model-controls").prepend(desc);
}
function showSettings() {
  const s = state.settings, c = state.catalogue;
  for (const label of document.querySelectorAll("label[data-knob]")) {
    const name = label.dataset.knob, input = $(`k-${name}`);
    label.hidden = !(KNOB_WHEN[name] || (() => true))(s);
    if (c.knobs[name]) { input.value = Math.round(1000 * valueToSlider(c.knobs[name], s[name])); $(`o-${name}`).textContent = fmt(s[name]); }
    else {
      const options = choiceOptions(name);
      input.innerHTML = options.map(([v, text]) => `<option value="${v}">${escapeHtml(text)}</option>`).join("");
      input.value = s[name];
    }
  }
  $("model-box").hidden = !trainMode(s);
  $("model-desc").textContent = trainMode(s) ? c.models[s.model].description : "";
  $("hint").textContent = trainMode(s) && s.data === "drawn" ? "Click on the landscape to add a small cloud of data points." : "";
  writeHash();
}
const fmt = (v) => (typeof v !== "number" ? String(v) : Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3))));
const escapeHtml = (t) => String(t).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[ch]));

// ---------------------------------------------------------------- shareable state (the URL's hash)
function writeHash() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state.settings)) p.set(k, v);
  for (const [k, id] of Object.entries(VIEW_KEYS)) { const el = $(id); p.set(k, el.type === "checkbox" ? (el.checked ? 1 : 0) : el.value); }
  if (state.drawn.length && state.drawn.length <= MAX_LINK_POINTS) p.set("points", state.drawn.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(";"));
  history.replaceState(null, "", "#" + p.toString());
}
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1)), settings = {};
  if (!p.has("points")) state.drawn = [];
  for (const [k, v] of p) {
    if (k in VIEW_KEYS) { const el = $(VIEW_KEYS[k]); if (el.type === "checkbox") el.checked = v === "1"; else el.value = v; }
    else if (k === "points") state.drawn = v.split(";").map((xy) => xy.split(",").map(Number)).filter((q) => q.length === 2 && q.every(Number.isFinite));
    else settings[k] = v;
  }
  return settings;
}

// ---------------------------------------------------------------- the socket
function send(message) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
  if (message.type === "settings" || message.type === "reset") showMessage("");
}
function connect(initial) {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  state.socket = ws;
  ws.onopen = () => {
    $("connection").textContent = "connected"; $("connection").className = "pill ok";
    if (Object.keys(initial).length) ws.send(JSON.stringify({ type: "settings", settings: initial }));
    if (state.drawn.length) ws.send(JSON.stringify({ type: "points", points: state.drawn }));
  };
  ws.onclose = () => { $("connection").textContent = "disconnected (reload the page)"; $("connection").className = "pill bad"; };
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.type === "frame") onFrame(m);
    else if (m.type === "state") { state.sceneId = m.scene; state.running = m.running; Object.assign(state.settings, m.settings); showRunning(); showSettings(); }
    else if (m.type === "error") { showMessage(m.message); if (m.settings) { state.settings = m.settings; showSettings(); } }
    else if (m.type === "export") downloadPng(m);
  };
}
function showMessage(text) { $("message").textContent = text; }
function showRunning() { $("run").setAttribute("aria-pressed", String(state.running)); $("run").textContent = state.running ? "Pause" : "Run"; }

// ---------------------------------------------------------------- frames
function onFrame(f) {
  state.frames += 1;
  state.frameScene = f.scene; // which build of the scene this frame shows (state.sceneId: the newest)
  if (f.running !== undefined && f.running !== state.running) { state.running = f.running; showRunning(); }
  state.bounds = f.bounds;
  if (f.grid) { state.grid = decodeGrid(f.grid); state.score = f.score; renderGridImage(); }
  if (f.data) state.data = f.data;
  if (!f.grid && f.grid_version === undefined) { state.grid = null; state.gridImage = null; }
  const moved = f.chains.length === state.chains.length;
  if (!moved) state.trails = f.chains.map((p) => [p]);
  else f.chains.forEach((p, i) => { state.trails[i].push(p); if (state.trails[i].length > TRAIL) state.trails[i].shift(); });
  state.chains = f.chains;
  for (const v of f.losses) state.losses.push(v);
  if (state.losses.length > MAX_LOSSES) state.losses.splice(0, state.losses.length - MAX_LOSSES);
  if (f.step === 0) state.losses.length = 0;
  state.quality = f.quality;
  $("status").textContent = f.status || "";
  $("step-count").textContent = f.mode === "train" ? `optimiser steps: ${f.step}` : "";
  drawLandscape(); drawLoss(); showQuality();
}
function decodeGrid(g) {
  const bytes = Uint8Array.from(atob(g.data), (ch) => ch.charCodeAt(0));
  return { size: g.size, values: new Float32Array(bytes.buffer), logZ: g.log_z };
}
// Colour maps: a few anchors of viridis (energy: dark = low energy = likely) and magma (density: bright = likely).
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const MAGMA = [[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]];
function colour(map, t) {
  t = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 1)) * (map.length - 1);
  const i = Math.min(map.length - 2, Math.floor(t)), f = t - i;
  return map[i].map((c, j) => c + f * (map[i + 1][j] - c));
}
function renderGridImage() {
  const g = state.grid, n = g.size, kind = $("view-kind").value, log = $("view-log").checked;
  const finite = Array.from(g.values).filter(Number.isFinite);
  if (!finite.length) { state.gridImage = null; return; }
  const emin = Math.min(...finite);
  let shown, map;
  if (kind === "density") {
    const logZ = Number.isFinite(g.logZ) ? g.logZ : 0;
    shown = Array.from(g.values, (e) => (log ? (-(e) - logZ) / Math.LN10 : Math.exp(-(e) - logZ)));
    map = MAGMA;
  } else {
    shown = Array.from(g.values, (e) => (log ? Math.log10(1 + e - emin) : e - emin));
    map = VIRIDIS;
  }
  const sorted = shown.filter(Number.isFinite).sort((a, b) => a - b);
  const lo = kind === "density" && log ? sorted[Math.floor(0.02 * (sorted.length - 1))] : sorted[0];
  const hi = kind === "energy" ? sorted[Math.floor(0.98 * (sorted.length - 1))] : sorted[sorted.length - 1];
  const image = new ImageData(n, n);
  for (let row = 0; row < n; row++) for (let col = 0; col < n; col++) {
    const v = shown[row * n + col], rgb = colour(map, hi > lo ? (v - lo) / (hi - lo) : 0);
    const o = ((n - 1 - row) * n + col) * 4; // row 0 of the grid is the lowest y: the canvas's bottom
    image.data[o] = rgb[0]; image.data[o + 1] = rgb[1]; image.data[o + 2] = rgb[2]; image.data[o + 3] = 255;
  }
  const off = document.createElement("canvas"); off.width = n; off.height = n;
  off.getContext("2d").putImageData(image, 0, 0);
  state.gridImage = off;
}
function toCanvas(x, y, w, h) {
  const [[x0, x1], [y0, y1]] = state.bounds;
  return [((x - x0) / (x1 - x0)) * w, (1 - (y - y0) / (y1 - y0)) * h];
}
function drawLandscape() {
  const canvas = $("landscape"), ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  ctx.fillStyle = "#222"; ctx.fillRect(0, 0, w, h);
  if (state.gridImage) { ctx.imageSmoothingEnabled = state.grid.size >= 48; ctx.drawImage(state.gridImage, 0, 0, w, h); }
  if ($("view-score").checked && state.score && state.gridImage) {
    const n = Math.round(Math.sqrt(state.score.length / 2)), [[x0, x1], [y0, y1]] = state.bounds;
    ctx.strokeStyle = "rgba(255,255,255,0.7)"; ctx.lineWidth = 1;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const sx = state.score[2 * (i * n + j)], sy = state.score[2 * (i * n + j) + 1], norm = Math.hypot(sx, sy) || 1;
      const [cx, cy] = toCanvas(x0 + ((j + 0.5) * (x1 - x0)) / n, y0 + ((i + 0.5) * (y1 - y0)) / n, w, h);
      const dx = (sx / norm) * 11, dy = (-sy / norm) * 11;
      ctx.beginPath(); ctx.moveTo(cx - dx / 2, cy - dy / 2); ctx.lineTo(cx + dx / 2, cy + dy / 2);
      ctx.lineTo(cx + dx / 2 - 0.35 * dx + 0.25 * dy, cy + dy / 2 - 0.35 * dy - 0.25 * dx); ctx.stroke();
    }
  }
  if ($("view-data").checked && state.data && state.settings.mode === "train") {
    ctx.fillStyle = "rgba(255,255,255,0.55)";
    for (const [x, y] of state.data) { const [cx, cy] = toCanvas(x, y, w, h); ctx.fillRect(cx - 1, cy - 1, 2, 2); }
  }
  if ($("view-trails").checked) {
    ctx.strokeStyle = "rgba(255,120,80,0.45)"; ctx.lineWidth = 1;
    for (const trail of state.trails) {
      if (trail.length < 2) continue;
      ctx.beginPath();
      trail.forEach(([x, y], k) => { const [cx, cy] = toCanvas(x, y, w, h); if (k) ctx.lineTo(cx, cy); else ctx.moveTo(cx, cy); });
      ctx.stroke();
    }
  }
  ctx.fillStyle = "#ff3b30"; ctx.strokeStyle = "#fff"; ctx.lineWidth = 0.8;
  for (const [x, y] of state.chains) { const [cx, cy] = toCanvas(x, y, w, h); ctx.beginPath(); ctx.arc(cx, cy, 3, 0, 2 * Math.PI); ctx.fill(); ctx.stroke(); }
}
function drawLoss() {
  const canvas = $("loss"), ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, L = state.losses;
  ctx.clearRect(0, 0, w, h);
  if (!L.length) { $("loss-value").textContent = state.settings.mode === "train" ? "–" : "(sampling mode: no training)"; return; }
  const sorted = L.filter(Number.isFinite).slice().sort((a, b) => a - b);
  const lo = sorted[Math.floor(0.01 * (sorted.length - 1))], hi = sorted[Math.ceil(0.99 * (sorted.length - 1))];
  const span = hi > lo ? hi - lo : 1;
  ctx.strokeStyle = "#1565c0"; ctx.lineWidth = 1; ctx.beginPath();
  L.forEach((v, i) => { const x = (i / Math.max(1, L.length - 1)) * (w - 4) + 2, y = h - 4 - ((Math.min(hi, Math.max(lo, v)) - lo) / span) * (h - 8); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
  ctx.stroke();
  ctx.fillStyle = "#555"; ctx.font = "11px sans-serif"; ctx.fillText(fmt(hi), 4, 12); ctx.fillText(fmt(lo), 4, h - 6);
  const recent = L.slice(-20);
  $("loss-value").textContent = `loss ${fmt(recent.reduce((a, b) => a + b, 0) / recent.length)} (mean of the last ${recent.length} steps)`;
}
function showQuality() {
  const q = state.quality, parts = [];
  if (q.loglik !== undefined && q.loglik !== null) parts.push(`held-out log-likelihood ${q.loglik.toFixed(3)} nats (grid quadrature)`);
  if (q.acceptance !== undefined && q.acceptance !== null) parts.push(`acceptance ${(100 * q.acceptance).toFixed(1)} %`);
  if (q.ess !== undefined && q.ess !== null) parts.push(`ESS ${q.ess.toFixed(0)} of ${q.ess_draws} draws`);
  $("quality").textContent = parts.length ? parts.join(" · ") : "–";
}
function downloadPng(m) {
  const a = document.createElement("a");
  a.href = "data:image/png;base64," + m.png; a.download = m.filename;
  document.body.appendChild(a); a.click(); a.remove();
  state.lastExport = m.png.length;
}

// ---------------------------------------------------------------- wiring
function addPoints(event) {
  const s = state.settings;
  if (!(trainMode(s) && s.data === "drawn")) { showMessage("To train on your own points, choose data: drawn, then click on the landscape."); return; }
  const canvas = $("landscape"), r = canvas.getBoundingClientRect(), [[x0, x1], [y0, y1]] = state.bounds;
  const x = x0 + ((event.clientX - r.left) / r.width) * (x1 - x0), y = y1 - ((event.clientY - r.top) / r.height) * (y1 - y0);
  const points = [];
  for (let i = 0; i < 24; i++) { // a small Gaussian cloud (Box–Muller, σ = 0.15)
    const u = 1 - Math.random(), v = Math.random(), rad = 0.15 * Math.sqrt(-2 * Math.log(u));
    const px = Math.min(x1, Math.max(x0, x + rad * Math.cos(2 * Math.PI * v))), py = Math.min(y1, Math.max(y0, y + rad * Math.sin(2 * Math.PI * v)));
    points.push([Number(px.toFixed(2)), Number(py.toFixed(2))]); // rounded as in the link, so a shared link draws the same points
  }
  state.drawn.push(...points);
  send({ type: "points", points });
  writeHash();
}
async function main() {
  state.catalogue = await (await fetch("/api/catalogue")).json();
  const requested = readHash();
  state.settings = Object.assign({}, state.catalogue.defaults);
  buildControls();
  // Show the requested scene at once; the server checks it and answers with the settings in force.
  for (const [k, v] of Object.entries(requested)) if (k in state.settings) state.settings[k] = state.catalogue.knobs[k] ? Number(v) : v;
  showSettings();
  $("step").onclick = () => send({ type: "step" });
  $("run").onclick = () => send({ type: "run", on: !state.running });
  $("reset").onclick = () => { state.losses.length = 0; send({ type: "reset" }); };
  $("clear-points").onclick = () => { state.drawn = []; send({ type: "clear_points" }); writeHash(); };
  $("export").onclick = () => send({ type: "export", kind: $("view-kind").value, log: $("view-log").checked, score: $("view-score").checked });
  $("copy-link").onclick = async () => {
    writeHash();
    try { await navigator.clipboard.writeText(location.href); $("status").textContent = "link copied"; } catch (e) { $("status").textContent = location.href; }
  };
  for (const id of Object.values(VIEW_KEYS)) $(id).addEventListener("change", () => { if (state.grid) renderGridImage(); drawLandscape(); writeHash(); });
  $("landscape").addEventListener("click", addPoints);
  window.addEventListener("hashchange", () => {
    const s = readHash();
    if (Object.keys(s).length) send({ type: "settings", settings: s });
    send({ type: "clear_points" });
    if (state.drawn.length) send({ type: "points", points: state.drawn });
  });
  setInterval(() => { $("fps").textContent = String(state.frames - state.framesAtLastSecond); state.framesAtLastSecond = state.frames; }, 1000);
  connect(requested);
}
window.playground = state; // for the browser tests and the curious
main();
