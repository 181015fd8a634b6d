/* ReelSyncPlayer: two <video> elements played as one, for comparing restorations.

   Used by the voting page (voting/static/voting/vote.js), the curators' review page and
   the public gallery (frontend/static/frontend/compare.js). Plain browser JavaScript, no
   build step; load it before the page's own script.

   Sync rule: the left video is the master clock. Every animation frame the right
   video's drift (right.currentTime - left.currentTime) is measured; drift past
   NUDGE_FROM_S is corrected by nudging the right video's playbackRate, drift past
   HARD_SEEK_S by re-seeking it. When paused, both sit on exactly the same time.

   Markup (everything is looked up inside the root element; all but the videos and the
   stage are optional):
     video.v-left, video.v-right   the two videos (left is the master)
     .vstage                       holds .vpane.pane-left, .vpane.pane-right; gets
                                   class "vstage mode-<mode>", --wipe and --ar
     .mode[data-mode]              mode buttons: side / wipe / toggle (aria-pressed)
     .wipe-range                   wipe position 0..100, shown in wipe mode only
     .toggle-side                  "Showing <side> · tap to switch" (toggle mode)
     .c-play .c-back .c-fwd        play/pause, one frame back, one frame forward
     .c-seek                       position slider, 0..1000
     .c-time                       time read-out (see options.timeText)
     .c-loop                       checkbox: loop at the end (else options.loop)
     .c-zoom-in .c-zoom-out .c-zoom-reset .c-zoom-level   zoom (options.zoom)
   The same voting.css styles every page's player.

   API:
     var p = ReelSyncPlayer.attach(root, options)
     options (all optional):
       fps        frames per second (default root's data-fps, else 24)
       mode       first mode: "side", "wipe" or "toggle" (default root's data-mode, else "side")
       names      {left: "...", right: "..."}: words for the toggle button
                  (default root's data-left-name / data-right-name, else "left"/"right")
       timeText   function (player) -> string for .c-time
                  (default "frame <n> · <seconds> s")
       loop       true/false when there is no .c-loop checkbox (default true)
       zoom       true: zoom 1..8×, wheel zoom and drag-to-pan on the stage (default false)
       keys       true: Space plays/pauses, ←/→ step a frame, "t" toggles (default false)
     p.play() -> Promise, p.pause(), p.togglePlay(), p.playing()
     p.seek(seconds), p.seekFrame(n) (pauses, lands mid-frame), p.step(+1 / -1) (pauses)
     p.currentTime(), p.currentFrame(), p.duration(), p.setFps(fps), p.fps()
     p.setMode(mode), p.mode(), p.setWipe(percent), p.toggleSide(), p.visibleSides()
       ("left", "right" or "both": what the viewer can see now)
     p.setZoom(z), p.zoomBy(factor), p.resetZoom(), p.zoom()
     p.load(leftSrc, rightSrc) -> Promise resolved once both videos have a frame
     p.gestures(on): false hands clicks on the stage to the page (no wipe drag, pan
       or tap-to-toggle), e.g. while pinning a note
     p.pictureRect(pane): the picture's box inside a pane, bars of object-fit excluded
     p.stats: {maxDriftMs, maxDriftMsAll, lastDriftMs, samples, nudges, hardSeeks,
       settleUntil, reset()}; maxDriftMs leaves out the settling window after a
       seek/play/loop, when both decoders are still catching up. p.maxDriftMs and
       p.samples read the same numbers.
     p.on(name, fn): listen to an event; fn gets the detail. Events are also dispatched
       on root as CustomEvent "syncplayer:<name>":
         time  {time, frame}  the shown time changed
         play, pause          playback started / stopped
         mode  {mode}         the mode changed
         ready                the left video has its first frame
     p.root, p.left, p.right, p.stage: the elements. */
(function () {
  "use strict";

  var HARD_SEEK_S = 0.15;      // re-seek the follower past this drift
  var NUDGE_FROM_S = 0.008;    // below this, play at normal rate
  var NUDGE_GAIN = 2.0;        // playbackRate = 1 - gain * drift, clamped
  var SETTLE_MS = 400;         // leave drift out of maxDriftMs this long after a seek/play/loop
  var MAX_ZOOM = 8;

  // Django's JavaScript catalogue (jsi18n, loaded by the site shell) translates; without it, English.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, o) { return f.replace(/%\((\w+)\)s/g, function (m, k) { return String(o[k]); }); };

  function defaultTimeText(p) {
    return interpolate(gettext("frame %(frame)s · %(seconds)s s"),
                       { frame: p.currentFrame(), seconds: p.currentTime().toFixed(2) }, true);
  }

  function attach(root, options) {
    options = options || {};
    var q = function (sel) { return root.querySelector(sel); };
    var left = q("video.v-left"), right = q("video.v-right"), stage = q(".vstage");
    var fps = Number(options.fps) || Number(root.dataset.fps) || 24;
    var names = {
      left: (options.names && options.names.left) || root.dataset.leftName || gettext("left"),
      right: (options.names && options.names.right) || root.dataset.rightName || gettext("right")
    };
    var timeText = options.timeText || defaultTimeText;
    var state = { mode: options.mode || root.dataset.mode || "side", shown: "left", wipe: 50,
                  zoom: 1, panX: 0, panY: 0, gestures: true };
    var seeking = false, lastShown = null, wasPlaying = false;
    var p = { root: root, left: left, right: right, stage: stage };

    var stats = p.stats = {
      maxDriftMs: 0, maxDriftMsAll: 0, lastDriftMs: 0, samples: 0, nudges: 0, hardSeeks: 0,
      settleUntil: 0,
      reset: function () { this.maxDriftMs = this.maxDriftMsAll = this.lastDriftMs = 0; this.samples = this.nudges = this.hardSeeks = 0; }
    };
    Object.defineProperty(p, "maxDriftMs", { get: function () { return stats.maxDriftMs; } });
    Object.defineProperty(p, "samples", { get: function () { return stats.samples; } });

    function emit(name, detail) { root.dispatchEvent(new CustomEvent("syncplayer:" + name, { detail: detail || {} })); }
    p.on = function (name, fn) { root.addEventListener("syncplayer:" + name, function (e) { fn(e.detail); }); return p; };

    function settle() { stats.settleUntil = performance.now() + SETTLE_MS; }
    function duration() { return isFinite(left.duration) ? left.duration : 0; }
    function playing() { return !left.paused && !left.ended; }
    function currentFrame() { return Math.max(0, Math.floor(left.currentTime * fps + 1e-3)); }
    p.duration = duration;
    p.playing = playing;
    p.currentTime = function () { return left.currentTime; };
    p.currentFrame = currentFrame;
    p.fps = function () { return fps; };
    p.setFps = function (v) { fps = Number(v) || fps; update(); };

    // ------------------------------------------------------------ transport

    function seek(t) {
      t = Math.max(0, Math.min(t, Math.max(duration() - 0.001, 0)));
      left.currentTime = t;
      right.currentTime = t;
      settle();
      update();
    }
    function play() {
      if (left.ended || left.currentTime >= duration() - 0.01) seek(0);
      right.currentTime = left.currentTime;
      settle();
      return Promise.all([left.play(), right.play()]).catch(function () {}).then(update);
    }
    function pause() {
      left.pause();
      right.pause();
      right.playbackRate = 1;
      right.currentTime = left.currentTime; // paused: line the frames up exactly
      update();
    }
    function togglePlay() { if (playing()) pause(); else play(); }
    function step(dir) { pause(); seek(left.currentTime + dir / fps); }
    p.seek = seek;
    p.play = play;
    p.pause = pause;
    p.togglePlay = togglePlay;
    p.step = step;
    // Frame n is shown from n/fps; aim at the middle of the frame so rounding in the
    // decoder never lands on the previous one.
    p.seekFrame = function (n) { pause(); seek((n + 0.5) / fps); };

    function loops() { var box = q(".c-loop"); return box ? box.checked : options.loop !== false; }
    left.addEventListener("ended", function () { if (loops()) { seek(0); play(); } else pause(); });
    left.addEventListener("seeked", function () { settle(); update(); });

    function update() {
      var d = duration(), now = playing();
      var t = q(".c-time"), s = q(".c-seek"), b = q(".c-play");
      if (t) t.textContent = timeText(p);
      if (s && d && !seeking) s.value = Math.round(1000 * left.currentTime / d);
      if (b) { b.textContent = now ? "❚❚" : "▶"; b.setAttribute("aria-label", now ? gettext("Pause") : gettext("Play")); }
      if (now !== wasPlaying) { wasPlaying = now; emit(now ? "play" : "pause"); }
      var shown = currentFrame() + ":" + left.currentTime;
      if (shown !== lastShown) { lastShown = shown; emit("time", { time: left.currentTime, frame: currentFrame() }); }
    }

    function tick() {
      if (playing() && left.readyState >= 2 && right.readyState >= 2) {
        if (right.paused && !right.ended) right.play().catch(function () {});
        var drift = right.currentTime - left.currentTime;
        var ms = Math.abs(drift) * 1000;
        stats.lastDriftMs = ms;
        stats.maxDriftMsAll = Math.max(stats.maxDriftMsAll, ms);
        if (performance.now() > stats.settleUntil) {
          stats.samples++;
          stats.maxDriftMs = Math.max(stats.maxDriftMs, ms);
        }
        if (Math.abs(drift) > HARD_SEEK_S) {
          right.currentTime = left.currentTime;
          right.playbackRate = 1;
          stats.hardSeeks++;
          settle();
        } else if (Math.abs(drift) > NUDGE_FROM_S) {
          right.playbackRate = Math.max(0.9, Math.min(1.1, 1 - NUDGE_GAIN * drift));
          stats.nudges++;
        } else if (right.playbackRate !== 1) {
          right.playbackRate = 1;
        }
      }
      update();
      requestAnimationFrame(tick);
    }

    function aspect() { if (left.videoWidth) stage.style.setProperty("--ar", left.videoWidth + " / " + left.videoHeight); }
    function ready() { aspect(); root.dataset.ready = "true"; update(); emit("ready"); }
    left.addEventListener("loadeddata", ready);
    if (left.readyState >= 2) { aspect(); root.dataset.ready = "true"; }

    function loadOne(video, src) {
      return new Promise(function (resolve) {
        var done = function () { video.removeEventListener("loadeddata", done); resolve(); };
        video.addEventListener("loadeddata", done);
        video.src = src;
        video.load();
      });
    }
    p.load = function (leftSrc, rightSrc) {
      return Promise.all([loadOne(left, leftSrc), loadOne(right, rightSrc)]).then(aspect);
    };

    var on = function (sel, ev, fn) { var el = q(sel); if (el) el.addEventListener(ev, fn); };
    on(".c-play", "click", togglePlay);
    on(".c-back", "click", function () { step(-1); });
    on(".c-fwd", "click", function () { step(1); });
    on(".c-seek", "input", function () { seeking = true; seek(duration() * this.value / 1000); });
    on(".c-seek", "change", function () { seeking = false; });

    // ------------------------------------------------------------ modes, wipe, zoom

    function setMode(mode) {
      state.mode = mode;
      stage.className = "vstage mode-" + mode;
      root.querySelectorAll(".mode[data-mode]").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.mode === mode)); });
      var w = q(".wipe-range"); if (w) w.hidden = mode !== "wipe";
      view();
      emit("mode", { mode: mode });
    }
    root.querySelectorAll(".mode[data-mode]").forEach(function (b) { b.addEventListener("click", function () { setMode(b.dataset.mode); }); });
    p.setMode = setMode;
    p.mode = function () { return state.mode; };

    function setWipe(pct) {
      state.wipe = Math.max(0, Math.min(100, Number(pct)));
      var w = q(".wipe-range"); if (w) w.value = state.wipe;
      view();
    }
    on(".wipe-range", "input", function () { state.wipe = Number(this.value); view(); });
    p.setWipe = setWipe;

    function toggleSide() { state.shown = state.shown === "left" ? "right" : "left"; view(); }
    on(".toggle-side", "click", function (e) { e.stopPropagation(); toggleSide(); });
    p.toggleSide = toggleSide;
    p.visibleSides = function () {
      if (state.mode === "toggle") return state.shown;
      if (state.mode === "wipe") return state.wipe < 5 ? "right" : state.wipe > 95 ? "left" : "both";
      return "both";
    };

    function view() {
      stage.style.setProperty("--wipe", state.wipe + "%");
      stage.querySelector(".pane-left").classList.toggle("pane-hidden", state.mode === "toggle" && state.shown !== "left");
      stage.querySelector(".pane-right").classList.toggle("pane-hidden", state.mode === "toggle" && state.shown !== "right");
      var t = q(".toggle-side"); if (t) t.textContent = interpolate(gettext("Showing %(side)s · tap to switch"), { side: names[state.shown] }, true);
      if (options.zoom) {
        var limit = (state.zoom - 1) / 2;
        state.panX = Math.max(-limit, Math.min(limit, state.panX));
        state.panY = Math.max(-limit, Math.min(limit, state.panY));
        var transform = "translate(" + (state.panX * 100) + "%, " + (state.panY * 100) + "%) scale(" + state.zoom + ")";
        left.style.transform = right.style.transform = transform;
        var z = q(".c-zoom-level"); if (z) z.textContent = state.zoom.toFixed(state.zoom % 1 ? 1 : 0) + "×";
      }
    }

    function setZoom(z) { if (!options.zoom) return; state.zoom = Math.max(1, Math.min(MAX_ZOOM, Number(z) || 1)); view(); }
    function zoomBy(factor) { setZoom(state.zoom * factor); }
    function resetZoom() { state.zoom = 1; state.panX = state.panY = 0; view(); }
    p.setZoom = setZoom;
    p.zoomBy = zoomBy;
    p.resetZoom = resetZoom;
    p.zoom = function () { return state.zoom; };
    if (options.zoom) {
      on(".c-zoom-in", "click", function () { zoomBy(1.5); });
      on(".c-zoom-out", "click", function () { zoomBy(1 / 1.5); });
      on(".c-zoom-reset", "click", resetZoom);
      stage.addEventListener("wheel", function (e) { e.preventDefault(); zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15); }, { passive: false });
    }

    // Pointer on the stage: drag pans when zoomed, else moves the wipe line in wipe
    // mode; a tap (no drag) in toggle mode switches sides.
    p.gestures = function (enabled) { state.gestures = !!enabled; drag = null; };
    var drag = null;
    function wipeTo(e) {
      var rect = stage.getBoundingClientRect();
      setWipe(100 * (e.clientX - rect.left) / rect.width);
    }
    stage.addEventListener("pointerdown", function (e) {
      if (!state.gestures || e.target.closest("button")) return;
      drag = { x: e.clientX, y: e.clientY, panX: state.panX, panY: state.panY, moved: false };
      stage.setPointerCapture(e.pointerId);
      if (state.zoom === 1 && state.mode === "wipe") wipeTo(e);
    });
    stage.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
      if (state.zoom > 1) {
        var pane = stage.querySelector(".vpane");
        // translate() comes before scale() in the transform, so it is in screen pixels.
        state.panX = drag.panX + dx / pane.clientWidth;
        state.panY = drag.panY + dy / pane.clientHeight;
        view();
      } else if (state.mode === "wipe") {
        wipeTo(e);
      }
    });
    stage.addEventListener("pointerup", function () {
      if (drag && !drag.moved && state.mode === "toggle") toggleSide();
      drag = null;
    });
    stage.addEventListener("pointercancel", function () { drag = null; });

    if (options.keys) {
      document.addEventListener("keydown", function (e) {
        if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
        if (e.target.tagName === "TEXTAREA") return;
        if (e.key === " ") { e.preventDefault(); togglePlay(); }
        else if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
        else if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
        else if (e.key === "t") { if (state.mode !== "toggle") setMode("toggle"); else toggleSide(); }
      });
    }

    // The picture's box inside a pane (object-fit: contain leaves bars around it).
    p.pictureRect = function (pane) {
      var r = (pane || stage.querySelector(".pane-right")).getBoundingClientRect();
      var vw = left.videoWidth || 4, vh = left.videoHeight || 3;
      var scale = Math.min(r.width / vw, r.height / vh);
      var w = vw * scale, h = vh * scale;
      return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h };
    };

    setMode(state.mode);
    requestAnimationFrame(tick);
    return p;
  }

  window.ReelSyncPlayer = { attach: attach };
})();
