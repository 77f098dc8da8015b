// Whether each dancer is in step at the video's current time, from analysis.json's `group`
// (several dancers): in the 2-second window under the playhead, a dancer is in step when
// the mean of their pairs' window scores is IN_STEP or more; their offset against the
// others (ms, positive: behind) is said when it is 50 ms or more.

const IN_STEP = 75;
const $ = (id) => document.getElementById(id);

let group = null;

export function showSteps(analysisGroup, video) {
  group = analysisGroup && analysisGroup.pairs?.some((p) => p.segments) ? analysisGroup : null;
  const box = $("group-steps");
  box.hidden = group === null;
  if (group === null) return;
  if (box.dataset.following !== "yes") {
    box.dataset.following = "yes";
    for (const event of ["timeupdate", "seeked", "loadeddata"]) {
      video.addEventListener(event, () => update(video.currentTime));
    }
  }
  update(video.currentTime);
}

// Each dancer's state at `time` (seconds): {id, state: "in"|"out"|"unknown", offsetMs}.
export function stepsAt(analysisGroup, time) {
  return analysisGroup.dancers.map(({ id }) => {
    const scores = [];
    const offsets = [];
    for (const pair of analysisGroup.pairs) {
      if (!pair.segments || !pair.dancers.includes(id)) continue;
      const window = pair.segments.find((w) => w.start_s <= time && time < w.end_s);
      if (!window || window.score === null) continue;
      scores.push(window.score);
      offsets.push(pair.dancers[1] === id ? window.offset_ms : -window.offset_ms);
    }
    if (!scores.length) return { id, state: "unknown", offsetMs: null };
    const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
    return {
      id,
      state: mean(scores) >= IN_STEP ? "in" : "out",
      offsetMs: Math.round(mean(offsets)),
    };
  });
}

function update(time) {
  if (group === null) return;
  const badges = stepsAt(group, time).map(({ id, state, offsetMs }) => {
    const badge = document.createElement("span");
    badge.className = `step ${state}`;
    badge.dataset.person = String(id);
    badge.dataset.state = state;
    const words = { in: "in step", out: "out of step", unknown: "not compared here" }[state];
    const lag = offsetMs !== null && Math.abs(offsetMs) >= 50
      ? `, ${Math.abs(offsetMs)} ms ${offsetMs > 0 ? "behind" : "ahead"}`
      : "";
    badge.textContent = `#${id} ${words}${lag}`;
    return badge;
  });
  $("group-steps").replaceChildren(...badges);
}
