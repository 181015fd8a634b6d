/* Synchronised before/after player for the review page and the gallery.

   Same picture layout as the voting page's comparison player (voting/static/voting/
   voting.css: .vstage, .vpane, modes side/wipe/toggle, --wipe) and the same sync rule:
   the left video is the master clock; the right one's drift is corrected by nudging
   its playbackRate, and past HARD_SEEK_S by re-seeking. Unlike the voting player it
   is not blind, needs no server round trips, and can be placed several times on a
   page: every element with [data-compare] becomes one player.

   Each player is exposed as window.ReelCompare.players[i] with currentFrame(),
   seekFrame(n), maxDriftMs (a browser test reads it), and, where the page has a note
   form, clicking the picture in "pin" mode fills the form's frame/x/y fields with
   the current frame and the point clicked as fractions of the picture. */
(function () {
  "use strict";

  var HARD_SEEK_S = 0.15, NUDGE_FROM_S = 0.008, NUDGE_GAIN = 2.0, SETTLE_MS = 400;

  function Player(root) {
    var self = this;
    var q = function (sel) { return root.querySelector(sel); };
    var left = q("video.v-left"), right = q("video.v-right"), stage = q(".vstage");
    var fps = Number(root.dataset.fps) || 24;
    var state = { mode: root.dataset.mode || "side", shown: "left", wipe: 50, pin: false };
    var settleUntil = 0, seeking = false;
    self.maxDriftMs = 0;
    self.samples = 0;
    self.root = root;

    function duration() { return isFinite(left.duration) ? left.duration : 0; }
    function playing() { return !left.paused && !left.ended; }
    function settle() { settleUntil = performance.now() + SETTLE_MS; }

    // Frame n is shown from n/fps; aim at the middle of the frame so rounding in the
    // decoder never lands on the previous one.
    self.currentFrame = function () { return Math.max(0, Math.floor(left.currentTime * fps + 1e-3)); };
    self.seekFrame = function (n) { pause(); seek((n + 0.5) / fps); };

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
      left.pause(); right.pause();
      right.playbackRate = 1;
      right.currentTime = left.currentTime;
      update();
    }
    self.play = play;
    self.pause = pause;

    function update() {
      var d = duration();
      var t = q(".c-time"), s = q(".c-seek"), b = q(".c-play");
      if (t) t.textContent = "frame " + self.currentFrame() + " · " + left.currentTime.toFixed(2) + " s";
      if (s && d && !seeking) s.value = Math.round(1000 * left.currentTime / d);
      if (b) { b.textContent = playing() ? "❚❚" : "▶"; b.setAttribute("aria-label", playing() ? "Pause" : "Play"); }
      root.dispatchEvent(new CustomEvent("compare:time", { detail: { frame: self.currentFrame() } }));
    }

    function tick() {
      if (playing() && left.readyState >= 2 && right.readyState >= 2) {
        if (right.paused && !right.ended) right.play().catch(function () {});
        var drift = right.currentTime - left.currentTime;
        if (performance.now() > settleUntil) {
          self.samples++;
          self.maxDriftMs = Math.max(self.maxDriftMs, Math.abs(drift) * 1000);
        }
        if (Math.abs(drift) > HARD_SEEK_S) { right.currentTime = left.currentTime; right.playbackRate = 1; settle(); }
        else if (Math.abs(drift) > NUDGE_FROM_S) right.playbackRate = Math.max(0.9, Math.min(1.1, 1 - NUDGE_GAIN * drift));
        else if (right.playbackRate !== 1) right.playbackRate = 1;
        update();
      }
      requestAnimationFrame(tick);
    }

    left.addEventListener("ended", function () { seek(0); play(); });
    left.addEventListener("seeked", function () { settle(); update(); });
    left.addEventListener("loadeddata", function () {
      if (left.videoWidth) stage.style.setProperty("--ar", left.videoWidth + " / " + left.videoHeight);
      root.dataset.ready = "true";
      update();
    });
    if (left.readyState >= 2) { root.dataset.ready = "true"; if (left.videoWidth) stage.style.setProperty("--ar", left.videoWidth + " / " + left.videoHeight); }

    var on = function (sel, ev, fn) { var el = q(sel); if (el) el.addEventListener(ev, fn); };
    on(".c-play", "click", function () { if (playing()) pause(); else play(); });
    on(".c-back", "click", function () { pause(); seek(left.currentTime - 1 / fps); });
    on(".c-fwd", "click", function () { pause(); seek(left.currentTime + 1 / fps); });
    on(".c-seek", "input", function () { seeking = true; seek(duration() * this.value / 1000); });
    on(".c-seek", "change", function () { seeking = false; });
    on(".wipe-range", "input", function () { state.wipe = Number(this.value); view(); });

    function setMode(mode) {
      state.mode = mode;
      stage.className = "vstage mode-" + mode;
      root.querySelectorAll(".mode").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.mode === mode)); });
      var w = q(".wipe-range"); if (w) w.hidden = mode !== "wipe";
      view();
    }
    root.querySelectorAll(".mode").forEach(function (b) { b.addEventListener("click", function () { setMode(b.dataset.mode); }); });
    on(".toggle-side", "click", function (e) { e.stopPropagation(); state.shown = state.shown === "left" ? "right" : "left"; view(); });

    function view() {
      stage.style.setProperty("--wipe", state.wipe + "%");
      stage.querySelector(".pane-left").classList.toggle("pane-hidden", state.mode === "toggle" && state.shown !== "left");
      stage.querySelector(".pane-right").classList.toggle("pane-hidden", state.mode === "toggle" && state.shown !== "right");
      var t = q(".toggle-side"); if (t) t.textContent = "Showing " + (state.shown === "left" ? "before" : "after") + " · tap to switch";
    }

    // The picture's box inside a pane (object-fit: contain leaves bars around it).
    function pictureRect(pane) {
      var r = pane.getBoundingClientRect();
      var vw = left.videoWidth || 4, vh = left.videoHeight || 3;
      var scale = Math.min(r.width / vw, r.height / vh);
      var w = vw * scale, h = vh * scale;
      return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h };
    }
    self.pictureRect = function () { return pictureRect(stage.querySelector(".pane-right")); };

    var dragging = false;
    stage.addEventListener("pointerdown", function (e) {
      if (e.target.closest("button")) return;
      if (state.mode === "wipe" && !state.pin) { dragging = true; stage.setPointerCapture(e.pointerId); wipeTo(e); }
    });
    stage.addEventListener("pointermove", function (e) { if (dragging) wipeTo(e); });
    stage.addEventListener("pointerup", function () { dragging = false; });
    function wipeTo(e) {
      var rect = stage.getBoundingClientRect();
      state.wipe = Math.max(0, Math.min(100, 100 * (e.clientX - rect.left) / rect.width));
      var w = q(".wipe-range"); if (w) w.value = state.wipe;
      view();
    }

    // Pinning notes: the form lives outside the player, named by data-note-form.
    var form = root.dataset.noteForm ? document.getElementById(root.dataset.noteForm) : null;
    on(".c-pin", "click", function () {
      state.pin = !state.pin;
      this.setAttribute("aria-pressed", String(state.pin));
      root.classList.toggle("pinning", state.pin);
      if (state.pin) pause();
    });
    stage.addEventListener("click", function (e) {
      if (!state.pin || !form || e.target.closest("button")) return;
      var pane = e.target.closest(".vpane") || stage.querySelector(".pane-right");
      var r = pictureRect(pane);
      var x = (e.clientX - r.left) / r.width, y = (e.clientY - r.top) / r.height;
      if (x < 0 || x > 1 || y < 0 || y > 1) return;
      form.elements.frame.value = self.currentFrame();
      form.elements.x.value = x.toFixed(4);
      form.elements.y.value = y.toFixed(4);
      var where = form.querySelector(".note-where");
      if (where) where.textContent = "frame " + self.currentFrame() + " at " + Math.round(100 * x) + "% across, " + Math.round(100 * y) + "% down";
      form.hidden = false;
      form.elements.text.focus();
      showMarkers();
    });

    // Markers of existing notes near the current frame.
    var notes = [];
    var notesEl = root.dataset.notes ? document.getElementById(root.dataset.notes) : null;
    if (notesEl) notes = JSON.parse(notesEl.textContent);
    function showMarkers() {
      stage.querySelectorAll(".note-marker").forEach(function (m) { m.remove(); });
      var frame = self.currentFrame();
      var pane = stage.querySelector(".pane-right");
      var pr = pictureRect(pane), sr = stage.getBoundingClientRect();
      notes.forEach(function (n) {
        if (Math.abs(n.frame - frame) > 1) return;
        var m = document.createElement("span");
        m.className = "note-marker";
        m.title = n.text;
        m.textContent = n.index;
        m.style.left = (pr.left - sr.left + n.x * pr.width) + "px";
        m.style.top = (pr.top - sr.top + n.y * pr.height) + "px";
        stage.appendChild(m);
      });
    }
    root.addEventListener("compare:time", showMarkers);
    document.querySelectorAll("[data-seek-frame]").forEach(function (el) {
      el.addEventListener("click", function (e) { e.preventDefault(); self.seekFrame(Number(el.dataset.seekFrame)); });
    });

    setMode(state.mode);
    requestAnimationFrame(tick);
  }

  var players = [];
  document.querySelectorAll("[data-compare]").forEach(function (root) { players.push(new Player(root)); });
  window.ReelCompare = { players: players, Player: Player };
})();
