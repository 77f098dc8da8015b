// Plots under the video (uPlot, vendored in /static/vendor/uplot): joint angles, movement
// energy with the music's beats and the movement accents, detection. A cursor follows the
// video's playhead; clicking a plot seeks the video. Each plot has a text summary.

/* global uPlot */

import { showSteps } from "./steps.js";

const JOINTS = [
  "right_knee", "left_knee", "right_hip", "left_hip", "right_elbow", "left_elbow",
  "right_shoulder", "left_shoulder", "right_ankle", "left_ankle", "right_wrist", "left_wrist",
];
const CHOSEN = new Set(["right_knee", "left_knee", "right_elbow", "left_elbow"]);
const COLOURS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#999933",
  "#882255", "#44aa99", "#332288", "#aa4499", "#117733"];
const $ = (id) => document.getElementById(id);

let plots = [];
let video = null;
let table = null;
let following = 0;
let source = null; // { jobId, analysis, csv }: fetched once per job

// `person`: with several dancers (analysis.json version 2), whose plots; by default the
// main dancer's.
export async function showPlots(status, videoElement, person = null) {
  if (source?.jobId !== status.job_id) {
    const [analysis, csv] = await Promise.all([
      fetch(status.result.analysis_url).then((r) => r.json()),
      fetch(status.result.angles_url).then((r) => r.text()),
    ]);
    source = { jobId: status.job_id, analysis, csv };
  }
  showSteps(source.analysis.group, videoElement);
  const chosen = person ?? source.analysis.main_person_id;
  const analysis = source.analysis.people?.find((p) => p.id === chosen) || source.analysis;
  table = parseCsv(source.csv, chosen);
  symmetryCards(analysis.symmetry || {});
  destroy();
  choices();
  plots = [anglesPlot(analysis), energyPlot(analysis), visibilityPlot(analysis)];
  if (video === videoElement) return; // already following this video's playhead
  video = videoElement;
  video.addEventListener("timeupdate", followPlayhead);
  video.addEventListener("seeked", followPlayhead);
  video.addEventListener("play", () => {
    const step = () => {
      followPlayhead();
      if (!video.paused) following = requestAnimationFrame(step);
    };
    following = requestAnimationFrame(step);
  });
}

function destroy() {
  cancelAnimationFrame(following);
  for (const plot of plots) plot.destroy();
  plots = [];
}

// With several dancers the first column is `person`: only that person's rows are kept.
function parseCsv(text, person) {
  const [head, ...rows] = text.trim().split("\n");
  const names = head.split(",");
  const columns = Object.fromEntries(names.map((name) => [name, []]));
  for (const row of rows) {
    if (names[0] === "person" && row.slice(0, row.indexOf(",")) !== String(person)) continue;
    row.split(",").forEach((cell, i) => columns[names[i]].push(cell === "" ? null : Number(cell)));
  }
  return columns;
}

function make(id, series, data, extra = {}) {
  const element = $(id);
  element.replaceChildren();
  const plot = new uPlot(
    {
      width: Math.max(280, element.clientWidth || 600),
      height: 180,
      scales: { x: { time: false } },
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      series: [{ label: "time (s)" }, ...series],
      axes: [{ label: "s" }, {}],
      ...extra,
    },
    data,
    element,
  );
  element.dataset.points = String(data[0].length);
  plot.over.addEventListener("click", (event) => {
    const time = plot.posToVal(event.offsetX, "x");
    if (video && Number.isFinite(time)) video.currentTime = Math.max(0, time);
  });
  return plot;
}

function choices() {
  const box = $("angle-choices");
  const boxes = JOINTS.filter((name) => table[name]).map((name) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = name;
    input.checked = CHOSEN.has(name);
    input.addEventListener("change", () => {
      if (input.checked) CHOSEN.add(name);
      else CHOSEN.delete(name);
      plots[0].destroy();
      plots[0] = anglesPlot(null);
    });
    label.append(input, ` ${name.replace("_", " ")}`);
    return label;
  });
  box.replaceChildren(...boxes);
}

let lastAnalysis = null;

function anglesPlot(analysis) {
  lastAnalysis = analysis || lastAnalysis;
  const names = JOINTS.filter((name) => CHOSEN.has(name) && table[name]);
  const plot = make(
    "plot-angles",
    names.map((name) => ({
      label: name.replace("_", " "),
      stroke: COLOURS[JOINTS.indexOf(name) % COLOURS.length],
      spanGaps: false,
    })),
    [table.time_s, ...names.map((name) => table[name])],
  );
  const summary = lastAnalysis?.angles?.summary || {};
  $("plot-angles-text").textContent = names
    .map((name) => {
      const s = summary[name] || {};
      const label = name.replace("_", " ");
      // min and max are the 5th and 95th percentiles; a null range says why in range_note
      return s.range_of_motion === null || s.range_of_motion === undefined
        ? `${label}: ${s.range_note || "never seen"}`
        : `${label}: ${Math.round(s.min)}° to ${Math.round(s.max)}° (range ${Math.round(s.range_of_motion)}°)`;
    })
    .join("; ");
  return plot;
}

function markers(times, colour) {
  return (u) => {
    const { ctx } = u;
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1;
    for (const t of times) {
      const x = Math.round(u.valToPos(t, "x", true));
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  };
}

function energyPlot(analysis) {
  const frames = analysis.per_frame || { time_s: [], energy: [] };
  const music = analysis.music || {};
  const accents = analysis.movement?.accent_times || [];
  const beats = music.available ? music.beat_times || [] : [];
  const plot = make(
    "plot-energy",
    [{ label: "energy", stroke: "#35356b", spanGaps: false }],
    [frames.time_s, frames.energy],
    { hooks: { draw: [markers(beats, "#56b4e9aa"), markers(accents, "#e69f00")] } },
  );
  const tempo = analysis.movement?.tempo?.bpm;
  const parts = [`${accents.length} movement accents`];
  parts.push(tempo ? `movement tempo ${Math.round(tempo)} BPM` : "no steady movement tempo");
  parts.push(
    music.available
      ? `music ${Math.round(music.tempo_bpm)} BPM, ${beats.length} beats, on the beat ${Math.round(100 * (music.on_beat_score || 0))} %`
      : `music: ${music.reason}`,
  );
  $("plot-energy-text").textContent = parts.join("; ");
  return plot;
}

function visibilityPlot(analysis) {
  const frames = analysis.per_frame || { time_s: [], visibility: [] };
  const plot = make(
    "plot-visibility",
    [{ label: "visibility", stroke: "#009e73", spanGaps: false }],
    [frames.time_s, frames.visibility],
    { scales: { x: { time: false }, y: { range: [0, 1] } } },
  );
  const found = frames.visibility.filter((v) => v !== null).length;
  $("plot-visibility-text").textContent =
    `pose found in ${found} of ${frames.visibility.length} frames`;
  return plot;
}

// Left/right symmetry of the main joints: the smaller range of motion over the larger.
function symmetryCards(symmetry) {
  for (const joint of ["knee", "hip", "elbow", "shoulder"]) {
    const ratio = symmetry[joint]?.range_ratio;
    if (ratio === null || ratio === undefined) continue;
    const element = document.createElement("div");
    element.className = "card";
    element.setAttribute("role", "group");
    const text = `${Math.round(100 * ratio)} %`;
    element.setAttribute("aria-label", `${joint} symmetry: ${text}`);
    const name = document.createElement("div");
    name.textContent = `${joint} symmetry`;
    const value = document.createElement("div");
    value.className = "value";
    value.textContent = text;
    element.append(name, value);
    $("cards").append(element);
  }
}

function followPlayhead() {
  if (!video) return;
  for (const plot of plots) {
    const left = plot.valToPos(video.currentTime, "x");
    if (Number.isFinite(left)) plot.setCursor({ left, top: plot.over.clientHeight / 2 });
  }
}
