// Comparison of an attempt with a reference: POST /api/comparisons, poll it, then show the
// scores, the side-by-side video (comparison.mp4) with a strip of every beat's judgement
// under it, the feedback and the weakest moves; a click on a beat, a feedback line or a
// move jumps the video there. A comparison made without a video shows both jobs' videos
// instead, the attempt kept in step with the reference along the alignment path.

import { card } from "./card.js";

const $ = (id) => document.getElementById(id);
const MIRROR = { auto: "auto", on: true, off: false };
let api = null;
let report = null; // comparison.json
let syncing = 0;

export function setUpCompare(apiCall) {
  api = apiCall;
  $("compare-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("compare-error").textContent = "";
    const body = {
      reference_job_id: $("compare-reference").value,
      attempt_job_id: $("compare-attempt").value,
      mirror: MIRROR[$("compare-mirror").value],
      video: $("compare-video").checked,
    };
    const response = await api("/api/comparisons", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (response.status !== 202) {
      $("compare-error").textContent = `${answer.message} (${answer.code})`;
      return;
    }
    await follow(answer, body);
  });
}

export function listForComparison(jobs) {
  const done = jobs.filter((job) => job.status === "succeeded");
  for (const id of ["compare-reference", "compare-attempt"]) {
    const select = $(id);
    const kept = select.value;
    select.replaceChildren(
      ...done.map((job) => {
        const option = document.createElement("option");
        option.value = job.job_id;
        option.textContent = `${job.input?.filename || job.job_id} · ${new Date(job.created_at).toLocaleString()}`;
        return option;
      }),
    );
    if (kept) select.value = kept;
  }
  $("compare-button").disabled = done.length === 0;
}

async function follow(comparison, body) {
  const box = $("comparison");
  box.hidden = false;
  box.dataset.status = comparison.status;
  $("similarity").textContent = "…";
  $("comparison-status").textContent = comparison.status;
  while (!["succeeded", "failed"].includes(comparison.status)) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    comparison = await (await api(`/api/comparisons/${comparison.comparison_id}`)).json();
    $("comparison-status").textContent = comparison.status;
  }
  if (comparison.status === "failed") {
    box.dataset.status = comparison.status;
    $("compare-error").textContent = `${comparison.error.message} (${comparison.error.code})`;
    return;
  }
  report = await (await fetch(comparison.result.report_url)).json();
  $("similarity").textContent = `${report.score.toFixed(1)} / 100`;
  $("comparison-status").textContent = "";
  cards(report);
  warnings(report.warnings);
  beats(report.moments, report.judgements);
  feedback(report.feedback);
  worst(report.worst_segments);
  if (comparison.result.video_url) {
    cancelAnimationFrame(syncing);
    $("side-by-side").hidden = true;
    $("comparison-figure").hidden = false;
    $("comparison-video").src = comparison.result.video_url;
  } else {
    await showBothVideos(body);
  }
  box.dataset.status = comparison.status; // last: the view is complete
}

function cards(r) {
  const score = (value) => (value === null ? "—" : `${Math.round(value)}`);
  const timing = r.timing.basis === "music" ? "on the music" : "against its own tempo";
  $("comparison-cards").replaceChildren(
    card("Pose", score(r.scores.pose)),
    card(`Timing (${timing})`, score(r.scores.timing)),
    card("Amplitude", score(r.scores.amplitude)),
    card("Timing", r.timing.verdict),
    card("Compared", `${Math.round(r.coverage * 100)} % of the reference`),
    card("Mirrored", r.mirror ? "yes" : "no"),
  );
}

function warnings(list) {
  $("comparison-warnings").replaceChildren(
    ...list.map((w) => {
      const item = document.createElement("li");
      item.textContent = w.message;
      return item;
    }),
  );
}

function jump(referenceTime) {
  if (!$("comparison-figure").hidden) {
    // comparison.mp4 starts at the path's first reference time
    const video = $("comparison-video");
    video.currentTime = Math.max(0, referenceTime - report.path.reference_time_s[0]);
    return;
  }
  $("reference-video").currentTime = referenceTime;
  $("attempt-video").currentTime = attemptTime(referenceTime);
}

function beats(moments, judgements) {
  const counts = judgements.counts;
  $("beat-legend").textContent =
    `${judgements.unit === "beat" ? "Beats" : "Seconds"}: ${counts.perfect} perfect, ` +
    `${counts.good} good, ${counts.ok} ok, ${counts.miss} miss, ${counts.not_judged} not judged`;
  const buttons = moments.map((m) => {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "listitem");
    button.className = m.judgement || "none";
    button.dataset.referenceStart = String(m.reference_start_s);
    button.style.flexGrow = String(m.reference_end_s - m.reference_start_s);
    const offset = m.timing_offset_s === null ? "" : `, ${m.timing_offset_s >= 0 ? "+" : ""}${m.timing_offset_s.toFixed(2)} s`;
    const label =
      `${m.reference_start_s.toFixed(1)}–${m.reference_end_s.toFixed(1)} s: ` +
      (m.judgement ? `${m.judgement} (pose ${Math.round(m.pose)}${offset})` : "not judged");
    button.title = label;
    button.setAttribute("aria-label", `reference ${label}`);
    button.addEventListener("click", () => jump(m.reference_start_s));
    return button;
  });
  $("beat-strip").replaceChildren(...buttons);
}

function listOfJumps(id, items, text) {
  $(id).replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.dataset.referenceStart = String(item.reference_start_s);
      button.textContent = text(item);
      button.addEventListener("click", () => jump(item.reference_start_s));
      li.append(button);
      return li;
    }),
  );
}

function feedback(items) {
  listOfJumps("feedback", items, (item) => item.text);
  if (items.length === 0) {
    const li = document.createElement("li");
    li.textContent = "Nothing to point out: every move scored 90 or more.";
    $("feedback").replaceChildren(li);
  }
}

function worst(segments) {
  listOfJumps("worst-segments", segments, (s) => {
    const attempt = s.attempt_start_s === null ? "" : `, attempt ${s.attempt_start_s.toFixed(1)}–${s.attempt_end_s.toFixed(1)} s`;
    return `reference ${s.reference_start_s.toFixed(1)}–${s.reference_end_s.toFixed(1)} s${attempt}: ${Math.round(s.score)}`;
  });
}

// --- without comparison.mp4: both jobs' videos, kept in step --------------------------------

async function showBothVideos(body) {
  const [reference, attempt] = await Promise.all(
    [body.reference_job_id, body.attempt_job_id].map((id) =>
      api(`/api/jobs/${id}`).then((r) => r.json()),
    ),
  );
  $("comparison-figure").hidden = true;
  $("side-by-side").hidden = false;
  const referenceVideo = $("reference-video");
  const attemptVideo = $("attempt-video");
  referenceVideo.src = reference.result.video_url;
  attemptVideo.src = attempt.result.video_url;
  keepInStep(referenceVideo, attemptVideo);
}

function attemptTime(referenceTime) {
  // the alignment path, read as a function of the reference's time (linear in between)
  const ref = report.path.reference_time_s;
  const att = report.path.attempt_time_s;
  if (referenceTime <= ref[0]) return att[0];
  for (let i = 1; i < ref.length; i += 1) {
    if (ref[i] >= referenceTime) {
      const span = ref[i] - ref[i - 1];
      const f = span > 0 ? (referenceTime - ref[i - 1]) / span : 1;
      return att[i - 1] + f * (att[i] - att[i - 1]);
    }
  }
  return att[att.length - 1];
}

function keepInStep(referenceVideo, attemptVideo) {
  cancelAnimationFrame(syncing);
  const step = () => {
    const target = attemptTime(referenceVideo.currentTime);
    const drift = attemptVideo.currentTime - target;
    if (referenceVideo.paused) {
      if (!attemptVideo.paused) attemptVideo.pause();
      if (Math.abs(drift) > 0.05) attemptVideo.currentTime = target;
    } else {
      if (attemptVideo.paused) attemptVideo.play().catch(() => {});
      if (Math.abs(drift) > 0.3) attemptVideo.currentTime = target;
      else {
        const ahead = attemptTime(referenceVideo.currentTime + 0.5) - target;
        const rate = Math.max(0.5, Math.min(2, (ahead / 0.5) * (1 - drift)));
        attemptVideo.playbackRate = rate;
      }
    }
    syncing = requestAnimationFrame(step);
  };
  syncing = requestAnimationFrame(step);
}
