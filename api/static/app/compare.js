// Comparison of an attempt with a reference: POST /api/comparisons, poll it, then show both
// videos side by side, the attempt kept in step with the reference along the alignment path,
// a strip of the similarity per second and the weakest moments (click to jump).

const $ = (id) => document.getElementById(id);
let api = null;
let path = null; // {reference_time_s: [...], attempt_time_s: [...]}
let syncing = 0;

export function setUpCompare(apiCall) {
  api = apiCall;
  $("compare-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("compare-error").textContent = "";
    const body = {
      reference_job_id: $("compare-reference").value,
      attempt_job_id: $("compare-attempt").value,
      mirror: $("compare-mirror").checked,
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
  const [reference, attempt] = await Promise.all(
    [body.reference_job_id, body.attempt_job_id].map((id) =>
      api(`/api/jobs/${id}`).then((r) => r.json()),
    ),
  );
  while (!["succeeded", "failed"].includes(comparison.status)) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    comparison = await (await api(`/api/comparisons/${comparison.comparison_id}`)).json();
    $("comparison-status").textContent = comparison.status;
  }
  box.dataset.status = comparison.status;
  if (comparison.status === "failed") {
    $("compare-error").textContent = `${comparison.error.message} (${comparison.error.code})`;
    return;
  }
  const report = await (await fetch(comparison.result.report_url)).json();
  path = report.path;
  const summary = comparison.summary;
  $("similarity").textContent = `${summary.similarity.toFixed(1)} / 100`;
  $("comparison-status").textContent = "";
  const referenceVideo = $("reference-video");
  const attemptVideo = $("attempt-video");
  referenceVideo.src = reference.result.video_url;
  attemptVideo.src = attempt.result.video_url;
  strip(summary.segments);
  worst(summary.worst_segments);
  keepInStep(referenceVideo, attemptVideo);
}

function colour(similarity) {
  const hue = Math.max(0, Math.min(120, (similarity - 40) * 2)); // red below 40, green at 100
  return `hsl(${hue}, 70%, 45%)`;
}

function jump(referenceTime) {
  const referenceVideo = $("reference-video");
  referenceVideo.currentTime = referenceTime;
  $("attempt-video").currentTime = attemptTime(referenceTime);
}

function strip(segments) {
  const buttons = segments.map((segment) => {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "listitem");
    button.style.background = colour(segment.similarity);
    button.style.flexGrow = String(segment.reference_end_s - segment.reference_start_s);
    const label = `${segment.reference_start_s.toFixed(1)}–${segment.reference_end_s.toFixed(1)} s: ${Math.round(segment.similarity)}`;
    button.title = label;
    button.setAttribute("aria-label", `reference ${label}`);
    button.addEventListener("click", () => jump(segment.reference_start_s));
    return button;
  });
  $("segment-strip").replaceChildren(...buttons);
}

function worst(segments) {
  const items = segments.map((segment) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.dataset.referenceStart = String(segment.reference_start_s);
    button.textContent =
      `reference ${segment.reference_start_s.toFixed(1)}–${segment.reference_end_s.toFixed(1)} s, ` +
      `attempt ${segment.attempt_start_s.toFixed(1)}–${segment.attempt_end_s.toFixed(1)} s: ` +
      `${Math.round(segment.similarity)}`;
    button.addEventListener("click", () => jump(segment.reference_start_s));
    item.append(button);
    return item;
  });
  $("worst-segments").replaceChildren(...items);
}

function attemptTime(referenceTime) {
  // the alignment path, read as a function of the reference's time (linear in between)
  const ref = path.reference_time_s;
  const att = path.attempt_time_s;
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
