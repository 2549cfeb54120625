// es-visual UI behaviour: plain JS, no build step, no network beyond this app.
// Positions are set through element.style from here (allowed by the CSP), never inline.
"use strict";

function $(sel, root) { return (root || document).querySelector(sel); }
function $all(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

// --- uploads: a file over the limit is refused here, before it is sent ------------------
function mb(bytes) { return (bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0) + " MB"; }

// True when the file may be sent; else the reason is shown next to the input (role=alert)
// and the input is emptied, so nothing is posted and the page, search and all, stays.
function fileFits(input, file) {
  const max = Number(input.dataset.maxBytes) || 0;
  const out = input.dataset.error ? document.getElementById(input.dataset.error) : null;
  if (max && file && file.size > max) {
    if (out) {
      out.textContent = "“" + file.name + "” is " + mb(file.size) + "; files up to " + mb(max) +
        " can be searched by. Pick a smaller one, or save it smaller first.";
      out.hidden = false;
    }
    input.value = "";
    return false;
  }
  if (out) { out.hidden = true; out.textContent = ""; }
  return true;
}

// Auto-submitting controls put the keyboard focus back where it was once the page reloads.
const FOCUS_KEY = "es-visual-focus";
function submitKeepingFocus(form, control) {
  try { if (control && control.id) sessionStorage.setItem(FOCUS_KEY, control.id); } catch (e) { /* private mode */ }
  form.submit();
}
function restoreFocus() {
  let id = null;
  try { id = sessionStorage.getItem(FOCUS_KEY); sessionStorage.removeItem(FOCUS_KEY); } catch (e) { return; }
  const el = id ? document.getElementById(id) : null;
  if (el && !el.disabled) el.focus({ preventScroll: true });
}

// A range input applied when released: a pointer's release at once, arrow keys after a
// pause (each key press fires "change" too), leaving the field at once.
function applyOnRelease(slider, output, apply) {
  const show = () => { if (output) output.textContent = Number(slider.value).toFixed(2); };
  let applied = slider.value, keyed = false, timer = null;
  const commit = () => {
    clearTimeout(timer); timer = null;
    if (slider.value !== applied) { applied = slider.value; apply(); }
  };
  slider.addEventListener("input", show);
  slider.addEventListener("pointerdown", () => { keyed = false; });
  slider.addEventListener("keydown", (e) => { keyed = true; if (e.key === "Enter") commit(); });
  slider.addEventListener("change", () => {
    show();
    if (!keyed) { commit(); return; }
    clearTimeout(timer);
    timer = setTimeout(commit, 800);
  });
  slider.addEventListener("blur", () => { if (timer) commit(); });
}

// --- search page: upload, drag and drop, auto-submitting refinements -----------------
function initSearch() {
  const form = $("#search-form");
  if (!form) return;
  const input = $("#image-input");
  input.addEventListener("change", () => {
    if (input.files.length && fileFits(input, input.files[0])) form.submit();
  });

  const slider = $("#min_score");
  if (slider) applyOnRelease(slider, $("#min_score_out"), () => submitKeepingFocus(form, slider));
  $all(".auto-submit", form).forEach((el) => el.addEventListener("change", () => submitKeepingFocus(form, el)));

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
    if (!file || !fileFits(input, file)) return;
    const dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    form.submit();
  });
}

// --- search page: the next page loads as the end of the results comes into view ---------
// The "Next page" link stays a plain link (no script, or the keyboard); with a script the
// next page is fetched and its cards appended, and the address becomes that page's, whose
// "Previous page" leads back.
function initInfiniteScroll() {
  const grid = $("#results");
  const pager = $("#pager");
  if (!grid || !pager || !("IntersectionObserver" in window)) return;
  const heading = $("#result-count");
  const status = $("#results-status");
  const firstShown = Number(grid.dataset.start) || 1;
  let loading = false;
  const lastGroup = () => { const heads = $all(".group-head", grid); return heads.length ? heads[heads.length - 1].dataset.group : null; };
  const observer = new IntersectionObserver((entries) => {
    if (loading || !entries.some((e) => e.isIntersecting)) return;
    const next = $("#next-page", pager);
    if (!next) { observer.disconnect(); return; }
    loading = true;
    pager.classList.add("loading");
    fetch(next.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const more = $("#results", doc);
        if (!more) return Promise.reject(new Error("no results on the next page"));
        let group = lastGroup();
        const added = [];
        Array.from(more.children).forEach((el) => {
          if (el.classList.contains("group-head")) {
            if (el.dataset.group === group) return;  // the same day continues
            group = el.dataset.group;
          }
          const node = document.adoptNode(el);
          grid.appendChild(node);
          added.push(node);
        });
        const newPager = $("#pager", doc);
        pager.replaceChildren(...(newPager ? Array.from(newPager.childNodes).map((n) => document.adoptNode(n)) : []));
        history.replaceState(history.state, "", next.href);
        const shown = $all(".card", grid).length;
        const total = heading && heading.dataset.total;
        const last = firstShown + shown - 1;
        if (heading) heading.textContent = total ? firstShown + "–" + last + " of " + total + " results" : firstShown + "–" + last + (newPager && $("#next-page", newPager) ? "+" : "") + " results";
        if (status) status.textContent = added.filter((n) => n.classList.contains("card")).length + " more results loaded, " + shown + " shown.";
        added.forEach((n) => initPreviews(n));
        loading = false;
        pager.classList.remove("loading");
        observer.unobserve(pager);  // observed again: a callback comes if it is still in view
        observer.observe(pager);
      })
      .catch(() => { loading = false; pager.classList.remove("loading"); });  // the link still works
  }, { rootMargin: "400px 0px" });
  observer.observe(pager);
}

// --- search page: a video card plays a short muted preview under the mouse or focus -------
const PREVIEW_SPAN = 3;  // seconds around the best moment, looped
function initPreviews(root) {
  const cards = root.matches && root.matches(".card[data-preview]") ? [root] : $all(".card[data-preview]", root);
  cards.forEach((card) => {
    const thumb = $(".thumb", card);
    if (!thumb) return;
    let video = null, timer = null;
    const stop = () => {
      clearTimeout(timer);
      timer = null;
      if (video) { video.pause(); video.removeAttribute("src"); video.load(); video.remove(); video = null; }
      card.classList.remove("previewing");
    };
    const start = () => {
      if (video || timer) return;
      timer = setTimeout(() => {
        timer = null;
        const t = Number(card.dataset.previewT) || 0;
        video = document.createElement("video");
        video.className = "hover-preview";
        video.muted = true;
        video.playsInline = true;
        video.preload = "auto";
        video.setAttribute("aria-hidden", "true");
        video.addEventListener("error", stop);
        video.addEventListener("playing", () => card.classList.add("previewing"));
        video.addEventListener("timeupdate", () => {
          if (video && video.currentTime > t + PREVIEW_SPAN) video.currentTime = t;
        });
        video.addEventListener("ended", () => { if (video) { video.currentTime = t; video.play().catch(() => {}); } });
        video.src = card.dataset.preview + "#t=" + t.toFixed(3);
        thumb.appendChild(video);
        video.play().catch(() => {});
      }, 200);
    };
    card.addEventListener("pointerenter", (e) => { if (e.pointerType === "mouse") start(); });
    card.addEventListener("pointerleave", stop);
    thumb.addEventListener("focus", start);
    thumb.addEventListener("blur", stop);
  });
}

// --- confirmations: a form with data-confirm asks first, in the page --------------------
function initConfirm() {
  $all("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (e) => {
      if (form.dataset.confirmed === "1") return;
      e.preventDefault();
      const submitter = e.submitter || null;
      const dialog = document.createElement("dialog");
      dialog.className = "confirm-dialog";
      dialog.setAttribute("aria-labelledby", "confirm-title");
      const title = document.createElement("h2");
      title.id = "confirm-title";
      title.textContent = form.dataset.confirm;
      const row = document.createElement("div");
      row.className = "confirm-actions";
      const cancel = document.createElement("button");
      cancel.type = "button"; cancel.className = "btn"; cancel.textContent = "Cancel";
      const ok = document.createElement("button");
      ok.type = "button"; ok.className = "btn primary" + (form.dataset.confirmDanger ? " danger" : "");
      ok.id = "confirm-ok";
      ok.textContent = form.dataset.confirmButton || "Confirm";
      row.append(cancel, ok);
      dialog.append(title, row);
      document.body.appendChild(dialog);
      const close = () => { dialog.close(); dialog.remove(); if (submitter) submitter.focus(); };
      cancel.addEventListener("click", close);
      dialog.addEventListener("cancel", (ev) => { ev.preventDefault(); close(); });  // Escape
      ok.addEventListener("click", () => {
        dialog.close(); dialog.remove();
        form.dataset.confirmed = "1";
        if (submitter) form.requestSubmit(submitter); else form.requestSubmit();
      });
      dialog.showModal();
      cancel.focus();
    });
  });
}

// --- asset page: boxes over the picture, drag a box to search by a crop ---------------
// A mouse drags a box anywhere. A finger scrolls the page as usual until "Select an area"
// is pressed; then it drags the box. The keyboard gets the same button: the box appears in
// the middle, the arrow keys move it, Shift + arrows resize it, Enter searches, Escape
// cancels (Escape cancels a box drawn any way).
const KEY_STEP = 0.02;
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
  const toggle = $("#draw-toggle");
  const status = $("#draw-status");
  let start = null;
  let bbox = null;
  let drawing = false;  // "Select an area" mode: touch drags draw, the keyboard moves the box
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
  const say = (text) => { if (status) status.textContent = text; };
  const describe = (b) => "Area " + Math.round(100 * (b[2] - b[0])) + "% wide, " + Math.round(100 * (b[3] - b[1])) +
    "% high, at " + Math.round(100 * b[0]) + "% from the left and " + Math.round(100 * b[1]) + "% from the top.";
  const offer = () => {  // the box is there: show "Search this area" under it
    const params = new URLSearchParams({ region: stage.dataset.asset, bbox: bbox.map((v) => v.toFixed(4)).join(",") });
    go.href = stage.dataset.search + "?" + params.toString();
    actions.style.left = pct(Math.min(bbox[0], 0.6));
    actions.style.top = "calc(" + pct(bbox[3]) + " + 8px)";
    actions.hidden = false;
  };
  const setMode = (on) => {
    drawing = on;
    stage.classList.toggle("drawing", on);
    if (toggle) { toggle.setAttribute("aria-pressed", on ? "true" : "false"); }
    draw.tabIndex = on ? 0 : -1;
  };
  const cancel = () => {
    start = null;
    bbox = null;
    draw.hidden = true;
    actions.hidden = true;
    setMode(false);
    say("Selection cancelled.");
  };

  stage.addEventListener("pointerdown", (e) => {
    if (e.target.closest(".box, .draw-actions") || e.button !== 0) return;
    if (e.pointerType !== "mouse" && !drawing) return;  // a finger scrolls until "Select an area"
    e.preventDefault();
    start = point(e);
    actions.hidden = true;
    draw.hidden = false;
    bbox = place(start, start);
    stage.setPointerCapture(e.pointerId);
  });
  stage.addEventListener("pointermove", (e) => { if (start) bbox = place(start, point(e)); });
  stage.addEventListener("pointerup", (e) => {
    if (!start) return;
    bbox = place(start, point(e));
    start = null;
    if (bbox[2] - bbox[0] < 0.02 || bbox[3] - bbox[1] < 0.02) { draw.hidden = true; bbox = null; return; }
    offer();
    say(describe(bbox) + " Press Search this area, or Escape to cancel.");
  });
  stage.addEventListener("pointercancel", () => { if (start) cancel(); });
  // A finger's tap on "Search this area" goes at once: a tap that comes while the browser
  // still reads the drag before it (a fling, a double tap) raises no click on its own.
  let leaving = false;
  go.addEventListener("pointerup", (e) => {
    if (e.pointerType !== "touch" || !bbox) return;
    leaving = true;
    window.location.assign(go.href);
  });
  go.addEventListener("click", (e) => { if (leaving) e.preventDefault(); });
  $("#draw-cancel").addEventListener("click", cancel);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && (start || !draw.hidden)) { e.preventDefault(); cancel(); if (toggle) toggle.focus(); }
  });

  if (toggle) toggle.addEventListener("click", () => {
    if (drawing) { cancel(); return; }
    setMode(true);
    bbox = bbox || [0.3, 0.3, 0.7, 0.7];
    place([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
    draw.hidden = false;
    offer();
    draw.focus();
    say(describe(bbox) + " Arrow keys move it, Shift and arrows resize it, Enter searches, Escape cancels.");
  });
  draw.addEventListener("keydown", (e) => {
    if (!bbox) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (e.key === "Enter") { e.preventDefault(); go.click(); return; }
    const m = moves[e.key];
    if (!m) return;
    e.preventDefault();
    let [x0, y0, x1, y1] = bbox;
    const dx = m[0] * KEY_STEP, dy = m[1] * KEY_STEP;
    if (e.shiftKey) {  // resize from the right and bottom edges, never below 4%
      x1 = clamp(Math.max(x0 + 0.04, x1 + dx));
      y1 = clamp(Math.max(y0 + 0.04, y1 + dy));
    } else {  // move, the size kept, inside the picture
      const w = x1 - x0, h = y1 - y0;
      x0 = Math.min(1 - w, Math.max(0, x0 + dx)); y0 = Math.min(1 - h, Math.max(0, y0 + dy));
      x1 = x0 + w; y1 = y0 + h;
    }
    bbox = place([x0, y0], [x1, y1]);
    offer();
    say(describe(bbox));
  });
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
  if (find) find.addEventListener("change", () => { if (find.files.length && fileFits(find, find.files[0])) find.form.submit(); });

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
  // A finger scrubs: the preview follows it and the player seeks where it is lifted.
  let scrubbing = false;
  timeline.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse" || !duration || e.target.closest(".segment")) return;
    scrubbing = true;
    timeline.setPointerCapture(e.pointerId);
  });
  timeline.addEventListener("pointermove", (e) => {  // zoomed in: scrubbing to an edge scrolls on
    if (!scrubbing || !level) return;
    const fr = frame.getBoundingClientRect();
    if (e.clientX < fr.left + 32) frame.scrollLeft -= 16;
    else if (e.clientX > fr.right - 32) frame.scrollLeft += 16;
  });
  timeline.addEventListener("pointerup", (e) => {
    if (!scrubbing) return;
    scrubbing = false;
    if (preview) preview.hidden = true;
    if (player) player.currentTime = timeAt(e.clientX);
  });
  timeline.addEventListener("pointercancel", () => { scrubbing = false; if (preview) preview.hidden = true; });

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
  restoreFocus();
  initDuplicates();
  initConfirm();
  initSearch();
  initInfiniteScroll();
  initPreviews(document);
  initStage();
  initTimeline();
  initJobs();
});
