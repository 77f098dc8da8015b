// The web page: sign in, upload, follow a job live (Server-Sent Events read with fetch,
// since EventSource cannot send the API key; polling when the stream fails), the result,
// the history. Plain ES module, no build step.

import { card } from "./card.js";
import { listForComparison, setUpCompare } from "./compare.js";
import { showPlots } from "./plots.js";

const KEY_STORAGE = "dance.apiKey";
const TERMINAL = new Set(["succeeded", "failed", "deleted", "expired"]);
const $ = (id) => document.getElementById(id);

let apiKey = localStorage.getItem(KEY_STORAGE) || "";
let following = null; // AbortController of the job being followed

function headers(extra = {}) {
  return apiKey ? { ...extra, Authorization: `Bearer ${apiKey}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (response.status === 401) {
    showSignIn("That API key was not accepted.");
    throw new Error("unauthorized");
  }
  return response;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return `${body.message || response.statusText} (${body.code || response.status})`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

// --- sign-in -------------------------------------------------------------------------------

function showSignIn(message = "") {
  $("sign-in").hidden = false;
  $("workspace").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in-error").textContent = message;
  $("api-key").focus();
}

async function enter() {
  const response = await fetch("/api/jobs?limit=1", { headers: headers() });
  if (response.status === 401) {
    showSignIn(apiKey ? "That API key was not accepted." : "");
    return;
  }
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("sign-out").hidden = !apiKey; // with auth off (the embedded demo) there is no key
  await loadHistory();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  apiKey = $("api-key").value.trim();
  localStorage.setItem(KEY_STORAGE, apiKey);
  $("api-key").value = "";
  await enter();
});

$("sign-out").addEventListener("click", () => {
  apiKey = "";
  localStorage.removeItem(KEY_STORAGE);
  if (following) following.abort();
  $("job").hidden = true;
  showSignIn();
});

// --- upload --------------------------------------------------------------------------------

const drop = $("drop-zone");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files.length) $("video-file").files = event.dataTransfer.files;
});

function options() {
  return JSON.stringify({
    min_detection_confidence: Number($("min-detection").value),
    min_tracking_confidence: Number($("min-tracking").value),
    angle_labels: $("angle-labels").checked,
    max_people: Number($("max-people").value),
    model: $("model").value,
    smoothing: $("smoothing").value,
    exports: [...document.querySelectorAll("#exports input:checked")].map((box) => box.value),
  });
}

// What each motion file is opened with (docs/motion.md has the units, axes and steps).
const MOTION_HINTS = {
  bvh: "a skeleton's joint rotations: Blender (File › Import › Motion Capture (.bvh)), "
    + "MotionBuilder, Maya",
  trc: "marker trajectories for OpenSim (Tools › Inverse Kinematics), as Sports2D writes them",
  csv: "the 3D landmarks in metres: a spreadsheet, or pandas.read_csv",
};

// Files from this size go straight to storage (presigned POST), sparing the gateway; the
// size can be lowered for a test with localStorage "dance.directUploadBytes".
const DIRECT_UPLOAD_BYTES = Number(localStorage.getItem("dance.directUploadBytes") ?? 32 * 2 ** 20);

// XMLHttpRequest, not fetch: it reports the bytes sent. Resolves with {status, body}.
function send(url, form, requestHeaders = {}) {
  const bar = $("upload-progress");
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    for (const [name, value] of Object.entries(requestHeaders)) {
      request.setRequestHeader(name, value);
    }
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    request.addEventListener("loadend", () => {
      let body = {};
      try {
        body = JSON.parse(request.responseText || "{}");
      } catch {
        body = {};
      }
      resolve({ status: request.status, body });
    });
    request.send(form);
  });
}

function failed(answer, what) {
  if (answer.status === 401) return showSignIn("That API key was not accepted.");
  const body = answer.body || {};
  $("upload-error").textContent = body.message
    ? `${body.message} (${body.code})`
    : `${what} failed (${answer.status || "no answer"})`;
}

async function uploadThroughTheGateway(file) {
  const form = new FormData();
  form.append("video", file, file.name);
  form.append("options", options());
  return send("/api/jobs", form, headers());
}

async function uploadStraightToStorage(file) {
  const grant = await api("/api/uploads", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ filename: file.name, content_type: file.type || "application/octet-stream" }),
  });
  const ticket = await grant.json();
  if (grant.status !== 201) return { status: grant.status, body: ticket };
  if (file.size > ticket.max_bytes) {
    return { status: 413, body: { code: "file_too_large", message: `larger than ${ticket.max_bytes} bytes` } };
  }
  const form = new FormData();
  for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
  form.append("file", file, file.name); // the file comes last
  const stored = await send(ticket.url, form);
  if (stored.status < 200 || stored.status >= 300) {
    return { status: stored.status, body: { code: "storage_refused", message: "storage refused the upload" } };
  }
  const job = await api("/api/jobs", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ upload_id: ticket.upload_id, options: JSON.parse(options()) }),
  });
  return { status: job.status, body: await job.json() };
}

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("video-file").files[0];
  if (!file) return;
  const bar = $("upload-progress");
  bar.hidden = false;
  bar.value = 0;
  $("upload-error").textContent = "";
  $("upload-button").disabled = true;
  const direct = file.size >= DIRECT_UPLOAD_BYTES;
  $("upload").dataset.route = direct ? "direct" : "gateway";
  try {
    const answer = await (direct ? uploadStraightToStorage(file) : uploadThroughTheGateway(file));
    if (answer.status === 202) {
      bar.value = 100;
      follow(answer.body);
      loadHistory();
    } else {
      failed(answer, "the upload");
    }
  } catch (error) {
    if (error.message !== "unauthorized") $("upload-error").textContent = `the upload failed: ${error.message}`;
  } finally {
    $("upload-button").disabled = false;
  }
});

// --- one job, live -------------------------------------------------------------------------

function render(status) {
  $("job").hidden = false;
  $("job").dataset.jobId = status.job_id;
  $("job").dataset.status = status.status;
  $("job-name").textContent = status.input?.filename || status.job_id;
  $("job-status").textContent = status.status;
  $("job-percent").textContent = `${status.progress}%`;
  $("job-progress").value = status.progress;
  $("job-error").textContent = status.error ? `${status.error.message} (${status.error.code})` : "";
  const seen = ($("job").dataset.progressSeen || "").split(",").filter(Boolean);
  seen.push(String(status.progress));
  $("job").dataset.progressSeen = seen.join(",");
  if (status.status === "succeeded" && status.result) showResult(status);
}

function showResult(status) {
  const video = $("result-video");
  if (video.dataset.jobId === status.job_id) return; // shown already
  video.dataset.jobId = status.job_id;
  video.src = status.result.video_url;
  const people = status.analysis?.people;
  const choice = $("dancer");
  choice.replaceChildren(
    ...(people || []).map((person) => new Option(`#${person.id}`, String(person.id))),
  );
  choice.value = String(status.analysis?.main_person_id ?? "");
  choice.onchange = () => showDancer(status, video, Number(choice.value));
  $("dancer-choice").hidden = !people?.length;
  showDancer(status, video, people ? Number(choice.value) : null);
  const links = [
    ["Video", status.result.video_url],
    ["Keypoints", status.result.keypoints_url],
    ["Angles (CSV)", status.result.angles_url],
    ["Analysis (JSON)", status.result.analysis_url],
  ]
    .filter(([, url]) => url)
    .map(([label, url]) => {
      const link = document.createElement("a");
      link.href = url;
      link.textContent = `Download ${label}`;
      link.setAttribute("download", "");
      return link;
    });
  $("downloads").replaceChildren(...links);
  showMotionFiles(status);
  $("result").hidden = false;
}

function showMotionFiles(status) {
  const result = status.result;
  const several = (status.options?.max_people || 1) > 1;
  const items = (result.exports || []).map((file) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = file.url;
    link.textContent =
      several && file.person !== null ? `${file.name} (dancer #${file.person})` : file.name;
    link.setAttribute("download", "");
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = ` — ${MOTION_HINTS[file.format] || file.format}`;
    item.append(link, hint);
    return item;
  });
  $("motion-files").replaceChildren(...items);
  $("motion-note").textContent = result.exports_note || "";
  $("motion").hidden = !items.length && !result.exports_note;
}

// The cards and plots of one dancer: `person` is an id with several dancers, else null.
function showDancer(status, video, person) {
  const everyone = status.analysis || {};
  const analysis = everyone.people?.find((p) => p.id === person) || everyone;
  const music = analysis.music || {};
  const cards = [];
  if (everyone.people) cards.push(card("Dancers", String(everyone.people.length)));
  const group = everyone.group;  // how in step the dancers are (analysis.json's group)
  if (group) {
    const leads = group.leader !== null ? `, #${group.leader} leads` : "";
    const scored = group.score !== null && group.score !== undefined;
    const value = scored ? `${Math.round(group.score)} / 100${leads}` : "not comparable";
    cards.push(card("Group in step", value));
  }
  const tempo = analysis.movement_tempo_bpm;
  cards.push(card("Movement tempo", tempo ? `${Math.round(tempo)} BPM` : "none found"));
  cards.push(
    card("Music tempo", music.available ? `${Math.round(music.tempo_bpm)} BPM` : "no beat"),
  );
  if (music.available && music.on_beat_score !== null && music.on_beat_score !== undefined) {
    cards.push(card("On the beat", `${Math.round(100 * music.on_beat_score)} %`));
  }
  const metrics = status.metrics?.people?.find((p) => p.id === person) || status.metrics || {};
  if (metrics.detection_rate !== undefined) {
    cards.push(card("Pose found", `${Math.round(100 * metrics.detection_rate)} % of frames`));
  }
  const ranges = analysis.ranges_of_motion || {};
  for (const joint of ["right_knee", "left_knee", "right_elbow", "left_elbow"]) {
    if (ranges[joint] !== null && ranges[joint] !== undefined) {
      cards.push(card(`${joint.replace("_", " ")} range`, `${Math.round(ranges[joint])}°`));
    }
  }
  $("cards").replaceChildren(...cards);
  if (status.result.analysis_url && status.result.angles_url) {
    showPlots(status, video, person).catch((error) => {
      $("job-error").textContent = `the plots could not be drawn: ${error.message}`;
    });
  }
}

function follow(status) {
  if (following) following.abort();
  following = new AbortController();
  $("result").hidden = true;
  $("result-video").dataset.jobId = ""; // shown afresh, even the same job again
  $("job").dataset.progressSeen = "";
  render(status);
  if (!TERMINAL.has(status.status)) stream(status.job_id, following.signal);
}

// Server-Sent Events read with fetch: one `status` event per change; reconnects with
// Last-Event-ID; falls back to polling when the stream cannot be read.
async function stream(jobId, signal) {
  let lastId = "";
  let failures = 0;
  while (!signal.aborted) {
    try {
      const extra = lastId ? { "Last-Event-ID": lastId } : {};
      const response = await api(`/api/jobs/${jobId}/events`, { headers: extra, signal });
      if (response.status === 204) return; // ended, and we have its last status
      if (!response.ok || !response.body) throw new Error(await errorText(response));
      $("job").dataset.transport = "events";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let ended = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replaceAll("\r\n", "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = parseEvent(block);
          if (event && event.event === "status") {
            lastId = event.id || lastId;
            const status = JSON.parse(event.data);
            render(status);
            ended = TERMINAL.has(status.status);
          }
        }
      }
      if (ended) return loadHistory();
      failures = 0;
    } catch (error) {
      if (signal.aborted) return;
      failures += 1;
      if (failures >= 3) return poll(jobId, signal);
      await sleep(1000 * failures);
    }
  }
}

function parseEvent(block) {
  const event = { data: "" };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const name = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (name === "data") event.data += (event.data ? "\n" : "") + value;
    else event[name] = value;
  }
  return event.data ? event : null;
}

async function poll(jobId, signal) {
  $("job").dataset.transport = "polling";
  while (!signal.aborted) {
    const response = await api(`/api/status/${jobId}`, { signal });
    if (response.ok) {
      const status = await response.json();
      render(status);
      if (TERMINAL.has(status.status)) return loadHistory();
    }
    await sleep(1000);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- history -------------------------------------------------------------------------------

async function loadHistory() {
  const response = await api("/api/jobs?limit=50");
  if (!response.ok) return;
  const page = await response.json();
  const items = page.items.map((job) => {
    const item = document.createElement("li");
    item.dataset.jobId = job.job_id;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = `${job.input?.filename || job.job_id} · ${new Date(job.created_at).toLocaleString()}`;
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = job.status;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "secondary";
    open.textContent = "Open";
    open.addEventListener("click", () => follow(job));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete ${job.input?.filename || job.job_id}`);
    remove.addEventListener("click", async () => {
      if (!confirm(`Delete ${job.input?.filename || "this job"} and its files?`)) return;
      const answer = await api(`/api/jobs/${job.job_id}`, { method: "DELETE" });
      if (answer.ok) loadHistory();
    });
    item.append(name, status, open, remove);
    return item;
  });
  $("history-list").replaceChildren(...items);
  $("history-empty").hidden = items.length > 0;
  listForComparison(page.items);
}

$("refresh-history").addEventListener("click", loadHistory);
setUpCompare(api);

enter();
