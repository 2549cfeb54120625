// es-visual UI behaviour: plain JS, no build step, no network beyond this app.
// Positions are set through element.style from here (allowed by the CSP), never inline.
"use strict";

function $(sel, root) { return (root || document).querySelector(sel); }
function $all(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

// --- search page: upload, drag and drop, auto-submitting refinements -----------------
function initSearch() {
  const form = $("#search-form");
  if (!form) return;
  const input = $("#image-input");
  input.addEventListener("change", () => { if (input.files.length) form.submit(); });

  const slider = $("#min_score");
  const out = $("#min_score_out");
  if (slider && out) slider.addEventListener("input", () => { out.textContent = Number(slider.value).toFixed(2); });
  $all(".auto-submit", form).forEach((el) => el.addEventListener("change", () => form.submit()));

  // Drop an image anywhere on the page: it goes into the file input, then the form posts.
  const overlay = $("#drop-overlay");
  let depth = 0;
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
  document.addEventListener("dragenter", (e) => { if (!hasFiles(e)) return; depth++; overlay.hidden = false; e.preventDefault(); });
  document.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
  document.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) overlay.hidden = true; });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0; overlay.hidden = true;
    const file = Array.from(e.dataTransfer.files).find((f) => f.type.startsWith("image/"));
    if (!file) return;
    const dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    form.submit();
  });
}

// --- asset page: boxes over the picture, drag a box to search by a crop ---------------
function initStage() {
  const stage = $("#stage");
  if (!stage) return;
  const img = $("#asset-img");
  const pct = (v) => (v * 100).toFixed(3) + "%";
  $all(".box", stage).forEach((box) => {
    const [x0, y0, x1, y1] = box.dataset.bbox.split(",").map(Number);
    box.style.left = pct(x0); box.style.top = pct(y0);
    box.style.width = pct(x1 - x0); box.style.height = pct(y1 - y0);
  });

  const draw = $("#draw");
  const actions = $("#draw-actions");
  const go = $("#draw-search");
  let start = null;
  let bbox = null;
  const clamp = (v) => Math.min(1, Math.max(0, v));
  const point = (e) => {
    const r = img.getBoundingClientRect();
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
  };
  const place = (a, b) => {
    const x0 = Math.min(a[0], b[0]), y0 = Math.min(a[1], b[1]);
    const x1 = Math.max(a[0], b[0]), y1 = Math.max(a[1], b[1]);
    draw.style.left = pct(x0); draw.style.top = pct(y0);
    draw.style.width = pct(x1 - x0); draw.style.height = pct(y1 - y0);
    return [x0, y0, x1, y1];
  };
  stage.addEventListener("pointerdown", (e) => {
    if (e.target.closest(".box, .draw-actions") || e.button !== 0) return;
    e.preventDefault();
    start = point(e);
    actions.hidden = true;
    draw.hidden = false;
    place(start, start);
    stage.setPointerCapture(e.pointerId);
  });
  stage.addEventListener("pointermove", (e) => { if (start) bbox = place(start, point(e)); });
  stage.addEventListener("pointerup", (e) => {
    if (!start) return;
    bbox = place(start, point(e));
    start = null;
    if (bbox[2] - bbox[0] < 0.02 || bbox[3] - bbox[1] < 0.02) { draw.hidden = true; return; }
    const params = new URLSearchParams({ region: stage.dataset.asset, bbox: bbox.map((v) => v.toFixed(4)).join(",") });
    go.href = stage.dataset.search + "?" + params.toString();
    actions.style.left = pct(bbox[0]);
    actions.style.top = "calc(" + pct(bbox[3]) + " + 8px)";
    actions.hidden = false;
  });
  $("#draw-cancel").addEventListener("click", () => { draw.hidden = true; actions.hidden = true; });
}

// --- asset page: video timeline -------------------------------------------------------
// The bar is to scale: left = start / duration, width = length / duration. Zoom makes the
// bar wider than its frame (which scrolls), so the same percentages hold at every level.
const ZOOMS = [1, 2, 4, 8, 16, 32, 64];

function fmtTime(t) {
  t = Math.max(0, t);
  const m = Math.floor(t / 60), s = t - 60 * m;
  return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
}

// The last kept frame at or before t (what the timeline stands for there), else the first.
function frameAt(times, t) {
  let lo = 0, hi = times.length - 1, found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t + 1e-6) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return times[found];
}

function initTimeline() {
  const timeline = $("#timeline");
  if (!timeline) return;
  const player = $("#player");
  const frame = $("#timeline-frame");
  let duration = Number(timeline.dataset.duration) || 0;
  const layout = () => {
    if (!duration) return;
    $all(".segment", timeline).forEach((seg) => {
      const s = Number(seg.dataset.start), e = Number(seg.dataset.end);
      seg.style.left = (100 * s / duration) + "%";
      seg.style.width = (100 * (e - s) / duration) + "%";
    });
  };
  const ticks = $all(".tick", timeline);
  ticks.forEach((t) => { t.style.left = t.dataset.left + "%"; });
  const times = ticks.map((t) => Number(t.dataset.t)).sort((a, b) => a - b);
  layout();
  const find = $("#find-image");
  if (find) find.addEventListener("change", () => { if (find.files.length) find.form.submit(); });

  // Zoom: the bar is ZOOMS[level] times its frame's width; the point under focus stays put.
  let level = 0;
  const zoomIn = $("#zoom-in"), zoomOut = $("#zoom-out"), zoomLabel = $("#zoom-level");
  const setZoom = (next, focusT) => {
    next = Math.max(0, Math.min(ZOOMS.length - 1, next));
    const width = frame.clientWidth;
    const at = focusT != null && duration ? focusT / duration : (frame.scrollLeft + width / 2) / timeline.offsetWidth;
    level = next;
    timeline.style.width = (100 * ZOOMS[level]) + "%";
    frame.scrollLeft = Math.max(0, at * timeline.offsetWidth - width / 2);
    zoomLabel.textContent = ZOOMS[level] + "×";
    zoomOut.disabled = level === 0;
    zoomIn.disabled = level === ZOOMS.length - 1;
    timeline.dataset.zoom = String(ZOOMS[level]);
  };
  const focus = () => (player && player.currentTime > 0 ? player.currentTime : null);
  if (zoomIn) zoomIn.addEventListener("click", () => setZoom(level + 1, focus()));
  if (zoomOut) zoomOut.addEventListener("click", () => setZoom(level - 1, focus()));
  frame.addEventListener("wheel", (e) => {
    if (!e.ctrlKey || !duration) return;  // ctrl + wheel zooms around the pointer
    e.preventDefault();
    setZoom(level + (e.deltaY < 0 ? 1 : -1), timeAt(e.clientX));
  }, { passive: false });

  const timeAt = (clientX) => {
    const r = timeline.getBoundingClientRect();
    return Math.max(0, Math.min(duration, duration * (clientX - r.left) / r.width));
  };

  // Hover: the kept frame at that moment, from the thumbnail route (a seek, cached).
  const preview = $("#frame-preview");
  const previewImg = preview ? $("img", preview) : null;
  const previewTime = $("#frame-preview-time");
  const thumbBase = timeline.dataset.thumb;
  timeline.addEventListener("pointermove", (e) => {
    if (!duration || !preview) return;
    const t = timeAt(e.clientX);
    if (thumbBase && times.length) {
      const ft = frameAt(times, t);
      const src = thumbBase + (thumbBase.includes("?") ? "&" : "?") + "t=" + ft.toFixed(3);
      if (previewImg.dataset.t !== String(ft)) { previewImg.src = src; previewImg.dataset.t = String(ft); }
    }
    previewTime.textContent = fmtTime(t);
    // Fixed to the viewport, above the bar: the scrolling frame would clip it otherwise.
    const fr = frame.getBoundingClientRect();
    preview.style.left = Math.max(fr.left + 84, Math.min(fr.right - 84, e.clientX)) + "px";
    preview.style.top = fr.top + "px";
    preview.hidden = false;
  });
  timeline.addEventListener("pointerleave", () => { if (preview) preview.hidden = true; });

  if (!player) return;
  const frameT = $("#frame-t"), frameLabel = $("#frame-t-label");
  player.addEventListener("loadedmetadata", () => {
    if (!duration && isFinite(player.duration)) { duration = player.duration; layout(); }
    const t = Number(player.dataset.start);
    if (player.dataset.start !== "" && isFinite(t)) player.currentTime = t;
  });
  const head = $("#playhead");
  player.addEventListener("timeupdate", () => {
    const t = player.currentTime;
    if (frameT) { frameT.value = t.toFixed(3); frameLabel.textContent = fmtTime(t); }
    if (!duration) return;
    head.style.left = (100 * t / duration) + "%";
    // Zoomed in: keep the playhead in view while playing.
    const x = timeline.offsetWidth * t / duration;
    if (level && !player.paused && (x < frame.scrollLeft || x > frame.scrollLeft + frame.clientWidth)) {
      frame.scrollLeft = Math.max(0, x - frame.clientWidth / 4);
    }
  });
  $all(".segment", timeline).forEach((seg) => seg.addEventListener("click", () => {
    player.currentTime = Number(seg.dataset.start);
    player.play().catch(() => {});
  }));
  timeline.addEventListener("click", (e) => {
    if (e.target.closest(".segment") || !duration) return;
    player.currentTime = timeAt(e.clientX);
  });
}

// --- jobs page: poll running jobs -------------------------------------------------------
function initJobs() {
  const jobs = $all(".job");
  jobs.forEach((el) => setBar(el, Number($(".bar", el).dataset.done), Number($(".bar", el).dataset.total), el.dataset.state));
  const live = jobs.filter((el) => el.dataset.state === "running" || el.dataset.state === "queued");
  live.forEach((el) => poll(el));
}

function setBar(el, done, total, state) {
  const bar = $(".bar", el);
  const pctDone = state === "done" ? 100 : total ? Math.min(100, 100 * done / total) : (state === "running" ? 8 : 0);
  bar.style.width = pctDone + "%";
}

function poll(el) {
  fetch(el.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((r) => r.ok ? r.json() : Promise.reject(r.status))
    .then((job) => {
      el.dataset.state = job.state;
      el.className = "job job-" + job.state;
      $(".state-pill", el).textContent = job.state;
      $(".js-done", el).textContent = job.done;
      const total = $(".js-total", el);
      if (total && job.total != null) total.textContent = job.total;
      $(".js-written", el).textContent = job.written;
      $(".js-skipped", el).textContent = job.skipped;
      $(".js-failed", el).textContent = job.failed;
      $(".js-seconds", el).textContent = job.seconds + " s";
      setBar(el, job.done, job.total, job.state);
      if (job.error) { const p = $(".js-error", el); p.textContent = job.error; p.hidden = false; }
      if (job.failures.length) {
        const body = $(".js-failures", el);
        body.replaceChildren(...job.failures.map((f) => {
          const tr = document.createElement("tr");
          [f.origin || f.id, f.stage, f.reason].forEach((text, i) => {
            const td = document.createElement("td");
            if (i === 0) td.className = "mono";
            td.textContent = text;  // textContent: file names are never parsed as HTML
            tr.appendChild(td);
          });
          return tr;
        }));
        $(".failures", el).hidden = false;
      }
      if (job.state === "running" || job.state === "queued") setTimeout(() => poll(el), 700);
    })
    .catch(() => setTimeout(() => poll(el), 3000));
}

// --- index page: the duplicates threshold slider shows its value ------------------------
function initDuplicates() {
  const slider = $("#dup-threshold");
  const out = $("#dup-threshold-out");
  if (!slider || !out) return;
  slider.addEventListener("input", () => { out.textContent = Number(slider.value).toFixed(2); });
  slider.addEventListener("change", () => slider.form.submit());
}

document.addEventListener("DOMContentLoaded", () => {
  initDuplicates();
  initSearch();
  initStage();
  initTimeline();
  initJobs();
});
