// jazzgen studio, trading fours: count-in, the person's keys (computer keyboard or Web MIDI),
// the phrase sent just before jazzgen's turn, the answer played on its downbeat. Uses studio.js.
"use strict";

// The phrase goes to the server this long before jazzgen's downbeat, so the answer (tens of
// milliseconds of work) is back in time; keys pressed in that last moment still sound and show.
const SEND_AHEAD_S = 0.12;

// ---- sound for trading: Web Audio, timed against performance.now() -----------------------

function audioContext() {
  if (!studio.audio) {
    try { studio.audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { studio.audio = null; }
  }
  return studio.audio;
}

function ctxTime(perfSeconds) {  // a performance.now() time (s) on the audio clock
  const ctx = studio.audio;
  return ctx.currentTime + Math.max(0, perfSeconds - performance.now() / 1000);
}

function click(atPerf, accent) {
  const ctx = audioContext();
  if (!ctx) return;
  const osc = ctx.createOscillator(), gain = ctx.createGain();
  osc.frequency.value = accent ? 1600 : 1100;
  gain.gain.setValueAtTime(0.3, ctxTime(atPerf));
  gain.gain.exponentialRampToValueAtTime(0.001, ctxTime(atPerf) + 0.08);
  osc.connect(gain).connect(ctx.destination);
  osc.start(ctxTime(atPerf));
  osc.stop(ctxTime(atPerf) + 0.1);
}

async function playWav(url, atPerf) {
  const ctx = audioContext();
  if (!ctx) return;
  try {
    const data = await (await fetch(url)).arrayBuffer();
    const buffer = await ctx.decodeAudioData(data);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    const late = performance.now() / 1000 - atPerf;  // started after its time: skip what was missed
    source.start(ctxTime(atPerf), Math.max(0, late));
    (studio.trade || {}).sources?.push(source);
  } catch (e) { /* no audio device: the notes still show and record */ }
}

function keyTone(pitch) {
  const ctx = audioContext();
  if (!ctx) return null;
  const osc = ctx.createOscillator(), gain = ctx.createGain();
  osc.type = "triangle";
  osc.frequency.value = 440 * Math.pow(2, (pitch - 69) / 12);
  gain.gain.value = 0.25;
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  return { stop: () => { gain.gain.setTargetAtTime(0, ctx.currentTime, 0.03); osc.stop(ctx.currentTime + 0.2); } };
}

// ---- trading fours -----------------------------------------------------------------------

function beatNow() {
  const t = studio.trade;
  return (performance.now() / 1000 - t.zero) / (60 / t.tempo);
}

function noteOn(pitch, velocity) {
  const t = studio.trade;
  if (!t || t.done || t.held.has(pitch)) return;
  t.held.set(pitch, { start: beatNow(), velocity: velocity || 90, tone: keyTone(pitch) });
  markKey(pitch, true);
}

function noteOff(pitch) {
  const t = studio.trade;
  if (!t || !t.held.has(pitch)) return;
  const held = t.held.get(pitch);
  t.held.delete(pitch);
  if (held.tone) held.tone.stop();
  markKey(pitch, false);
  const end = beatNow();
  if (held.start >= 0) t.played.push([pitch, held.start, Math.max(0.05, end - held.start), held.velocity]);
  drawTrade();
}

function markKey(pitch, down) {
  const key = document.querySelector(`#keys span[data-pitch="${pitch}"]`);
  if (key) key.classList.toggle("down", down);
}

async function startTrade() {
  const body = performance_();
  body.trade_bars = intValue("trade-bars");
  body.rounds = intValue("trade-rounds");
  stopTrade();
  try {
    const trade = await api("/api/trades", body);
    const ctx = audioContext();
    if (ctx && ctx.state === "suspended") await ctx.resume().catch(() => {});
    const spb = 60 / trade.tempo;
    const zero = performance.now() / 1000 + 0.5 + trade.count_in_beats * spb;  // beat 0, after the count-in
    studio.trade = Object.assign(trade, { zero, played: [], held: new Map(), answers: [], person: [],
      timers: [], sources: [], done: false, phase: "count-in" });
    for (let b = 0; b < trade.count_in_beats; b++) click(zero - (trade.count_in_beats - b) * spb, b === 0);
    playWav(trade.band_wav, zero);
    for (const turn of trade.turns) {
      const sendAt = zero + turn.jazzgen[0] * spb - SEND_AHEAD_S;
      studio.trade.timers.push(setTimeout(() => sendPhrase(turn), Math.max(0, sendAt * 1000 - performance.now())));
      studio.trade.timers.push(setTimeout(() => { if (studio.trade === trade) trade.phase = "you"; },
        Math.max(0, (zero + turn.person[0] * spb) * 1000 - performance.now())));
    }
    const end = zero + trade.turns[trade.turns.length - 1].jazzgen[1] * spb;
    studio.trade.timers.push(setTimeout(() => finishTrade(trade), Math.max(0, end * 1000 - performance.now())));
    $("trade-stop").disabled = false;
    $("trade-status").textContent = "count-in…";
    drawTrade();
    followTrade();
  } catch (e) {
    if (e.data && e.data.bars) showChart(e.data.bars);
    $("trade-status").textContent = e.message;
  }
}

async function sendPhrase(turn) {
  const t = studio.trade;
  if (!t || t.done) return;
  t.phase = "jazzgen";
  const now = beatNow();
  const notes = t.played.filter((n) => n[1] >= turn.person[0] && n[1] < turn.jazzgen[0]);
  for (const [pitch, held] of t.held) {  // keys still down: the phrase takes them as played so far
    if (held.start >= turn.person[0]) notes.push([pitch, held.start, Math.max(0.05, now - held.start), held.velocity]);
  }
  try {
    const answer = await api("/api/trades/answer", { trade: t.trade, round: turn.round, notes });
    if (studio.trade !== t) return;
    t.answers.push(answer);
    t.person.push(...answer.person);
    playWav(answer.wav, t.zero + answer.start * 60 / t.tempo);
    drawTrade();
  } catch (e) {
    $("trade-status").textContent = e.message;
  }
}

function finishTrade(trade) {
  if (studio.trade !== trade) return;
  trade.done = true;
  trade.phase = "done";
  $("trade-status").textContent = `done: ${trade.answers.length} answers`;
  $("dl-recording").href = trade.recording;
  $("dl-recording").classList.remove("disabled");
  $("trade-stop").disabled = true;
}

function stopTrade() {
  const t = studio.trade;
  if (!t) return;
  t.timers.forEach(clearTimeout);
  t.sources.forEach((s) => { try { s.stop(); } catch (e) { /* already stopped */ } });
  finishTrade(t);
}

function drawTrade() {
  const t = studio.trade;
  if (!t) return;
  const total = t.turns[t.turns.length - 1].jazzgen[1];
  const mine = t.played.map(([pitch, start, duration]) => ({ pitch, start, duration }));
  const theirs = t.answers.flatMap((a) => a.notes);
  drawRoll($("trade-roll"), [{ notes: mine, colour: () => "#7a4fb5" }, { notes: theirs, colour: (n) => ROLE_COLOURS[n.role] }],
    t.chords, total, t.bar_starts);
}

function followTrade() {
  const t = studio.trade;
  if (!t || t.done) return;
  const beat = beatNow();
  const total = t.turns[t.turns.length - 1].jazzgen[1];
  const canvas = $("trade-roll");
  if (beat >= 0) placePlayhead($("trade-playhead"), (Math.min(beat, total) / total) * canvas.width, 0, canvas.height);
  let bar = 1;
  while (bar < t.bar_starts.length && t.bar_starts[bar] <= beat) bar++;
  $("trade-status").textContent = beat < 0 ? `count-in ${Math.floor(beat + t.count_in_beats) + 1}`
    : `bar ${bar}: ${t.phase === "you" ? "your turn" : "jazzgen"}`;
  requestAnimationFrame(followTrade);
}

function setUpKeys() {
  const box = $("keys");
  KEYS.forEach((key, i) => {
    const span = document.createElement("span");
    span.textContent = key.toUpperCase();
    span.dataset.pitch = 60 + i;
    if (BLACK.has(i % 12)) span.className = "black";
    box.appendChild(span);
  });
  const typing = (e) => ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName);
  document.addEventListener("keydown", (e) => {
    const i = KEYS.indexOf(e.key.toLowerCase());
    if (i < 0 || e.repeat || typing(e) || !studio.trade) return;
    e.preventDefault();
    noteOn(60 + i, 90);
  });
  document.addEventListener("keyup", (e) => {
    const i = KEYS.indexOf(e.key.toLowerCase());
    if (i >= 0 && studio.trade) noteOff(60 + i);
  });
  if (navigator.requestMIDIAccess) {
    navigator.requestMIDIAccess().then((access) => {
      const listen = () => {
        let count = 0;
        for (const input of access.inputs.values()) {
          count++;
          input.onmidimessage = (m) => {
            const [status, pitch, velocity] = m.data;
            if ((status & 0xf0) === 0x90 && velocity > 0) noteOn(pitch, velocity);
            else if ((status & 0xf0) === 0x80 || (status & 0xf0) === 0x90) noteOff(pitch);
          };
        }
        $("midi-status").textContent = count ? `MIDI: ${count} input(s) listening` : "MIDI: no device (the computer keyboard plays)";
      };
      access.onstatechange = listen;
      listen();
    }, () => { $("midi-status").textContent = "MIDI: not allowed (the computer keyboard plays)"; });
  } else {
    $("midi-status").textContent = "MIDI: this browser has no Web MIDI (the computer keyboard plays)";
  }
}

