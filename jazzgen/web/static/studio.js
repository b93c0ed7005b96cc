// jazzgen studio: a thin page over the server's JSON API. No libraries, no network but the server.
"use strict";

const ROLE_COLOURS = { chord: "#1f6fb4", scale: "#2a9d3a", approach: "#e07b00", other: "#c62828" };
// The computer keyboard as a chromatic octave and a half from middle C (C4 = 60).
const KEYS = ["a", "w", "s", "e", "d", "f", "t", "g", "y", "h", "u", "j", "k", "o", "l", "p", ";", "'"];
const BLACK = new Set([1, 3, 6, 8, 10]);
const $ = (id) => document.getElementById(id);
const studio = { take: null, trade: null, audio: null };  // window.studio: state the tests read
window.studio = studio;

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", !!isError);
}

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) {
    const error = new Error(data.error || response.statusText);
    error.data = data;
    throw error;
  }
  return data;
}

function intValue(id) { return parseInt($(id).value, 10); }
function numValue(id) { return parseFloat($(id).value); }

function performance_() {
  const body = {
    chart: $("chart").value, meter: $("meter").value, key: $("key").value, style: $("style").value,
    instrument: $("instrument").value, band: $("band").value, model: $("model").value,
    seed: intValue("seed"), temperature: numValue("temperature"), top_k: intValue("top_k"),
  };
  if ($("tempo").value) body.tempo = numValue("tempo");
  return body;
}

// ---- the chart box: bars shown one by one, errors at their bar ---------------------------

function writtenBars(text) {
  // The chart's bars as written, numbered as the server's chart reader numbers them: header
  // lines and comments dropped, words grouped between bar lines, repeat signs and line ends.
  const lines = text.replace(/\r/g, "\n").split("\n").map((l) => l.replace(/(^|\s)#.*$/, ""));
  let from = 0;
  while (from < lines.length && (!lines[from].trim() || /^\s*[A-Za-z]+\s*:(?!\|)/.test(lines[from]))) from++;
  const tokens = lines.slice(from).join("\n").match(/\n|\|\|:|:\|\||\|:|:\||\|\||\||[^\s|:]+|:/g) || [];
  const ruled = tokens.some((t) => t !== "\n" && "|:".includes(t[0]));
  const bars = [];
  let words = [];
  const close = () => { if (words.length) bars.push(words.join(" ")); words = []; };
  for (const token of tokens) {
    if (token === "\n" || "|:".includes(token[0])) close();
    else if (/^[xX]\d+$/.test(token) && !words.length && bars.length) bars[bars.length - 1] += " " + token;
    else { words.push(token); if (!ruled) close(); }
  }
  close();
  return bars;
}

function showChart(errors) {
  const bars = writtenBars($("chart").value);
  const bad = new Map((errors || []).map((e) => [e.bar, e]));
  const box = $("chart-bars");
  box.innerHTML = "";
  bars.forEach((bar, i) => {
    const cell = document.createElement("span");
    cell.className = "bar" + (bad.has(i + 1) ? " bad" : "");
    cell.dataset.bar = i + 1;
    cell.innerHTML = `<b>${i + 1}</b>`;
    cell.appendChild(document.createTextNode(bar.trim() || "(empty)"));
    if (bad.has(i + 1)) cell.title = bad.get(i + 1).message;
    box.appendChild(cell);
  });
  const list = $("chart-errors");
  list.innerHTML = "";
  for (const e of errors || []) {
    const item = document.createElement("li");
    item.textContent = `bar ${e.bar}: ${e.message}`;
    list.appendChild(item);
  }
}

let chartTimer = null;
function checkChartSoon() {
  clearTimeout(chartTimer);
  chartTimer = setTimeout(async () => {
    try {
      const result = await api("/api/chart", { chart: $("chart").value, meter: $("meter").value });
      showChart([]);
      $("bars").placeholder = result.bars;
    } catch (e) {
      showChart((e.data && e.data.bars) || []);
    }
  }, 250);
}

// ---- drawing: piano roll, playheads ------------------------------------------------------

function drawRoll(canvas, parts, chords, totalBeats, barStarts) {
  // parts: [{notes, colour(note)}]; x in beats, y in pitch.
  const g = canvas.getContext("2d");
  const all = parts.flatMap((p) => p.notes);
  const low = Math.min(...all.map((n) => n.pitch), 60) - 2, high = Math.max(...all.map((n) => n.pitch), 72) + 2;
  const top = 18, w = canvas.width, h = canvas.height - top;
  const x = (beat) => (beat / totalBeats) * w;
  const y = (pitch) => top + ((high - pitch) / (high - low + 1)) * h;
  g.clearRect(0, 0, w, canvas.height);
  g.font = "11px sans-serif";
  barStarts.forEach((start, bar) => {
    const end = bar + 1 < barStarts.length ? barStarts[bar + 1] : totalBeats;
    g.fillStyle = bar % 2 ? "#f3f3ee" : "#fcfcfa";
    g.fillRect(x(start), top, x(end - start), h);
    g.fillStyle = "#999";
    g.fillText(String(bar + 1), x(start) + 2, top + h - 3);
  });
  g.fillStyle = "#333";
  for (const c of chords) g.fillText(c.symbol, x(c.start) + 2, 12);
  for (const part of parts) {
    for (const n of part.notes) {
      g.fillStyle = part.colour(n);
      g.fillRect(x(n.start), y(n.pitch) - h / (high - low + 1), Math.max(2, x(n.duration) - 1), Math.max(3, h / (high - low + 1)));
    }
  }
  canvas.dataset.notes = all.length;
}

function placePlayhead(el, left, top, height) {
  el.style.display = "block";
  el.style.left = `${left}px`;
  el.style.top = `${top}px`;
  el.style.height = `${height}px`;
}

function followTake() {
  const take = studio.take;
  const player = $("player");
  if (take && !player.paused) {
    const beat = player.currentTime * take.tempo / 60;
    const total = take.total_beats;
    const roll = $("roll");
    placePlayhead($("roll-playhead"), (Math.min(beat, total) / total) * roll.width, 0, roll.height);
    $("roll-playhead").dataset.beat = beat.toFixed(3);
    const layout = take.layout;
    let bar = 0;
    while (bar + 1 < layout.bars.length && layout.bars[bar + 1].start <= beat) bar++;
    const box = layout.bars[bar];
    const frac = (beat - box.start) / box.beats;
    placePlayhead($("sheet-playhead"), box.x + layout.pad + Math.min(frac, 1) * (box.width - 2 * layout.pad), box.y + 20, box.height - 40);
    $("sheet-playhead").dataset.beat = beat.toFixed(3);
  }
  requestAnimationFrame(followTake);
}

// ---- a take: generate, regenerate, show ----------------------------------------------------

function showTake(take) {
  studio.take = take;
  drawRoll($("roll"), [{ notes: take.notes, colour: (n) => ROLE_COLOURS[n.role] }], take.chords,
    take.total_beats, take.bar_starts);
  $("leadsheet").innerHTML = take.leadsheet;
  const player = $("player");
  player.src = take.files.wav;
  player.dataset.take = take.take;
  for (const [id, key] of [["dl-midi", "midi"], ["dl-musicxml", "musicxml"], ["dl-wav", "wav"]]) {
    $(id).href = take.files[key];
    $(id).classList.remove("disabled");
    $(id).setAttribute("download", "");
  }
  $("regenerate").disabled = false;
  $("regen-last").max = take.bars;
  $("regen-first").max = take.bars;
}

async function generate() {
  const body = performance_();
  if ($("bars").value) body.bars = intValue("bars");
  $("generate").disabled = true;
  setStatus("generating…");
  try {
    const take = await api("/api/generate", body);
    showChart([]);
    showTake(take);
    setStatus(`take ${take.take}: ${take.title}, ${take.notes.length} notes over ${take.bars} bars, ` +
      `${take.tempo} bpm, ${take.instrument}, band ${take.band}`);
    $("player").play().catch(() => {});
  } catch (e) {
    if (e.data && e.data.bars) showChart(e.data.bars);
    setStatus(e.message, true);
  } finally {
    $("generate").disabled = false;
  }
}

async function regenerate() {
  if (!studio.take) return;
  setStatus("regenerating…");
  try {
    const take = await api("/api/regenerate", {
      take: studio.take.take, first_bar: intValue("regen-first"), last_bar: intValue("regen-last"),
      seed: intValue("seed") + studio.take.take, temperature: numValue("temperature"), top_k: intValue("top_k"),
    });
    showTake(take);
    setStatus(`take ${take.take}: bars ${take.regenerated[0]}–${take.regenerated[1]} of take ${take.from_take} played anew`);
  } catch (e) {
    setStatus(e.message, true);
  }
}

// ---- start -------------------------------------------------------------------------------

async function start() {
  const options = await api("/api/options");
  const fill = (id, values, chosen) => {
    for (const v of values) {
      const o = document.createElement("option");
      o.value = o.textContent = v;
      if (v === chosen) o.selected = true;
      $(id).appendChild(o);
    }
  };
  fill("meter", options.meters, "4/4");
  fill("key", options.keys);
  fill("instrument", options.instruments, "tenor sax");
  fill("style", options.styles);
  fill("band", options.bands, "trio");
  fill("model", options.models, options.models[0]);
  fill("example", Object.keys(options.charts));
  options.tunes.forEach((title, i) => {
    const o = document.createElement("option");
    o.value = i;
    o.textContent = title;
    $("tune").appendChild(o);
  });
  $("tune").addEventListener("change", async () => {
    if ($("tune").value === "") return;
    const tune = await api(`/api/tunes/${$("tune").value}`);
    $("chart").value = tune.chart;
    $("bars").value = "";
    checkChartSoon();
  });
  $("example").addEventListener("change", () => { $("chart").value = options.charts[$("example").value]; checkChartSoon(); });
  $("chart").value = options.charts[$("example").value];
  $("chart").addEventListener("input", checkChartSoon);
  $("meter").addEventListener("change", checkChartSoon);
  $("generate").addEventListener("click", generate);
  $("regenerate").addEventListener("click", regenerate);
  $("trade-start").addEventListener("click", startTrade);
  $("trade-stop").addEventListener("click", stopTrade);
  setUpKeys();
  showChart([]);
  requestAnimationFrame(followTake);
  setStatus("ready");
  document.body.dataset.ready = "1";
}

// After every script has loaded (trade.js brings the trading functions start() wires up).
document.addEventListener("DOMContentLoaded", () => start().catch((e) => setStatus(`could not start: ${e.message}`, true)));
