/* The voting page: two synchronised players, proof of work, heartbeats, ballots.

   Sync: the left video is the master clock. Every animation frame the right video's
   drift (right.currentTime - left.currentTime) is measured; small drift is corrected by
   nudging the right video's playbackRate, drift past HARD_SEEK_S by re-seeking it. The
   measured drift is exposed as window.reelSync (maxDriftMs excludes the short settling
   window right after a seek/play/loop, when both decoders are still catching up;
   maxDriftMsAll includes it) so a browser test can read it.

   Watch time is decided by the server: the page sends a heartbeat every second saying
   which sides are on screen and whether they play; the server credits wall-clock time
   between heartbeats and tells the page when the vote buttons may be enabled. */
(function () {
  "use strict";

  var HARD_SEEK_S = 0.15;      // re-seek the follower past this drift
  var NUDGE_FROM_S = 0.008;    // below this, play at normal rate
  var NUDGE_GAIN = 2.0;        // playbackRate = 1 - gain * drift, clamped
  var SETTLE_MS = 400;         // ignore drift this long after a seek/play/loop
  var HEARTBEAT_MS = 1000;

  var cfg = JSON.parse(document.getElementById("vote-config").textContent);
  var app = document.getElementById("vote-app");
  var $ = function (id) { return document.getElementById(id); };
  var left = $("video-left"), right = $("video-right"), stage = $("stage");
  var tallyRoot = $("tally");

  // ------------------------------------------------------------------ http

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  function api(url, body) {
    var opts = { credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.method = "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRFToken"] = cookie("csrftoken");
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        return { status: r.status, ok: r.ok, data: data };
      });
    });
  }

  // ------------------------------------------------------------------ proof of work

  function digest(bytes) {
    if (window.crypto && window.crypto.subtle) {
      return window.crypto.subtle.digest("SHA-256", bytes).then(function (b) { return new Uint8Array(b); });
    }
    return Promise.resolve(window.reelSha256(bytes));
  }

  function zeroBits(d) {
    var bits = 0;
    for (var i = 0; i < d.length; i++) {
      if (d[i] === 0) { bits += 8; continue; }
      return bits + Math.clz32(d[i]) - 24;
    }
    return bits;
  }

  function solve(challenge, bits) {
    var enc = new TextEncoder(), nonce = 0;
    function batch() {
      var tries = [];
      for (var k = 0; k < 256; k++, nonce++) {
        (function (n) {
          tries.push(digest(enc.encode(challenge + ":" + n)).then(function (d) { return zeroBits(d) >= bits ? n : -1; }));
        })(nonce);
      }
      return Promise.all(tries).then(function (found) {
        for (var i = 0; i < found.length; i++) if (found[i] >= 0) return String(found[i]);
        return batch();
      });
    }
    return batch();
  }

  var powReady = api(cfg.api.pow).then(function (r) {
    if (!r.ok || r.data.solved) return true;
    var started = performance.now();
    return solve(r.data.challenge, r.data.bits).then(function (nonce) {
      window.reelPow = { bits: r.data.bits, ms: Math.round(performance.now() - started) };
      return api(cfg.api.pow, { challenge: r.data.challenge, nonce: nonce });
    }).then(function (res) { return res.ok; });
  });

  // ------------------------------------------------------------------ synchronised players

  var sync = window.reelSync = {
    maxDriftMs: 0, maxDriftMsAll: 0, lastDriftMs: 0, samples: 0, nudges: 0, hardSeeks: 0,
    settleUntil: 0,
    reset: function () { this.maxDriftMs = this.maxDriftMsAll = this.lastDriftMs = 0; this.samples = this.nudges = this.hardSeeks = 0; }
  };
  var fps = cfg.fps || 24;
  var state = { mode: "side", shown: "left", wipe: 50, zoom: 1, panX: 0, panY: 0, pairing: null, ready: false };

  function settle() { sync.settleUntil = performance.now() + SETTLE_MS; }
  function duration() { return isFinite(left.duration) ? left.duration : 0; }
  function playing() { return !left.paused && !left.ended; }

  function seekBoth(t) {
    t = Math.max(0, Math.min(t, Math.max(duration() - 0.001, 0)));
    left.currentTime = t;
    right.currentTime = t;
    settle();
    updateTime();
  }

  function playBoth() {
    if (left.ended || left.currentTime >= duration() - 0.01) seekBoth(0);
    right.currentTime = left.currentTime;
    settle();
    return Promise.all([left.play(), right.play()]).catch(function () {}).then(updateButtons);
  }

  function pauseBoth() {
    left.pause();
    right.pause();
    right.playbackRate = 1;
    right.currentTime = left.currentTime; // paused: line the frames up exactly
    updateButtons();
  }

  left.addEventListener("ended", function () {
    if ($("loop").checked) { seekBoth(0); playBoth(); } else { pauseBoth(); }
  });
  right.addEventListener("ended", function () { /* the master decides when to loop */ });
  left.addEventListener("seeked", settle);

  function tick() {
    if (playing() && left.readyState >= 2 && right.readyState >= 2) {
      if (right.paused && !right.ended) right.play().catch(function () {});
      var drift = right.currentTime - left.currentTime;
      var ms = Math.abs(drift) * 1000;
      sync.lastDriftMs = ms;
      sync.maxDriftMsAll = Math.max(sync.maxDriftMsAll, ms);
      if (performance.now() > sync.settleUntil) {
        sync.samples++;
        sync.maxDriftMs = Math.max(sync.maxDriftMs, ms);
      }
      if (Math.abs(drift) > HARD_SEEK_S) {
        right.currentTime = left.currentTime;
        right.playbackRate = 1;
        sync.hardSeeks++;
        settle();
      } else if (Math.abs(drift) > NUDGE_FROM_S) {
        right.playbackRate = Math.max(0.9, Math.min(1.1, 1 - NUDGE_GAIN * drift));
        sync.nudges++;
      } else if (right.playbackRate !== 1) {
        right.playbackRate = 1;
      }
    }
    updateTime();
    requestAnimationFrame(tick);
  }

  function updateTime() {
    var d = duration();
    $("time").textContent = left.currentTime.toFixed(2);
    if (d && !seeking) $("seek").value = Math.round(1000 * left.currentTime / d);
  }

  function updateButtons() { $("play").textContent = playing() ? "❚❚" : "▶"; $("play").setAttribute("aria-label", playing() ? "Pause" : "Play"); }

  var seeking = false;
  $("play").addEventListener("click", function () { if (playing()) pauseBoth(); else playBoth(); });
  $("seek").addEventListener("input", function () { seeking = true; seekBoth(duration() * this.value / 1000); });
  $("seek").addEventListener("change", function () { seeking = false; });
  function step(dir) { pauseBoth(); seekBoth(left.currentTime + dir / fps); }
  $("step-back").addEventListener("click", function () { step(-1); });
  $("step-fwd").addEventListener("click", function () { step(1); });

  // ------------------------------------------------------------------ modes, wipe, zoom

  function setMode(mode) {
    state.mode = mode;
    stage.className = "vstage mode-" + mode;
    document.querySelectorAll(".mode").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.mode === mode)); });
    $("wipe").hidden = mode !== "wipe";
    applyView();
  }
  document.querySelectorAll(".mode").forEach(function (b) { b.addEventListener("click", function () { setMode(b.dataset.mode); }); });
  $("wipe").addEventListener("input", function () { state.wipe = Number(this.value); applyView(); });

  function toggleSide() { state.shown = state.shown === "left" ? "right" : "left"; applyView(); }
  $("toggle-side").addEventListener("click", toggleSide);

  function applyView() {
    stage.style.setProperty("--wipe", state.wipe + "%");
    stage.querySelector(".pane-left").classList.toggle("pane-hidden", state.mode === "toggle" && state.shown !== "left");
    stage.querySelector(".pane-right").classList.toggle("pane-hidden", state.mode === "toggle" && state.shown !== "right");
    $("toggle-side").textContent = "Showing " + state.shown + " · tap to switch";
    var limit = (state.zoom - 1) / 2;
    state.panX = Math.max(-limit, Math.min(limit, state.panX));
    state.panY = Math.max(-limit, Math.min(limit, state.panY));
    var transform = "translate(" + (state.panX * 100) + "%, " + (state.panY * 100) + "%) scale(" + state.zoom + ")";
    left.style.transform = right.style.transform = transform;
    $("zoom-level").textContent = state.zoom.toFixed(state.zoom % 1 ? 1 : 0) + "×";
  }

  function zoomBy(factor) { state.zoom = Math.max(1, Math.min(8, state.zoom * factor)); applyView(); }
  $("zoom-in").addEventListener("click", function () { zoomBy(1.5); });
  $("zoom-out").addEventListener("click", function () { zoomBy(1 / 1.5); });
  $("zoom-reset").addEventListener("click", function () { state.zoom = 1; state.panX = state.panY = 0; applyView(); });
  stage.addEventListener("wheel", function (e) { e.preventDefault(); zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15); }, { passive: false });

  var drag = null;
  stage.addEventListener("pointerdown", function (e) {
    if (e.target.closest("button")) return;
    drag = { x: e.clientX, y: e.clientY, panX: state.panX, panY: state.panY, moved: false, w: e.currentTarget.clientWidth, h: e.currentTarget.clientHeight };
    stage.setPointerCapture(e.pointerId);
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
      applyView();
    } else if (state.mode === "wipe") {
      var rect = stage.getBoundingClientRect();
      state.wipe = Math.max(0, Math.min(100, 100 * (e.clientX - rect.left) / rect.width));
      $("wipe").value = state.wipe;
      applyView();
    }
  });
  stage.addEventListener("pointerup", function () {
    if (drag && !drag.moved && state.mode === "toggle") toggleSide();
    drag = null;
  });

  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
    if (e.key === " ") { e.preventDefault(); $("play").click(); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
    else if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
    else if (e.key === "t") { if (state.mode !== "toggle") setMode("toggle"); else toggleSide(); }
  });

  // ------------------------------------------------------------------ watching and voting

  function visibleSides() {
    if (state.mode === "toggle") return state.shown;
    if (state.mode === "wipe") return state.wipe < 5 ? "right" : state.wipe > 95 ? "left" : "both";
    return "both";
  }

  function showWatch(w) {
    var need = w.min_watch_seconds || 0;
    var have = Math.min(w.watched_left, w.watched_right);
    var share = need > 0 ? Math.min(1, have / need) : 1;
    $("watch-bar").style.width = (100 * share).toFixed(0) + "%";
    $("watch-label").textContent = w.ready ? "Ready to vote" :
      "Watch both sides: left " + w.watched_left.toFixed(0) + " s, right " + w.watched_right.toFixed(0) + " s of " + need + " s";
    state.ready = !!w.ready;
    document.querySelectorAll(".choice").forEach(function (b) { b.disabled = !state.ready || voting; });
    app.dataset.ready = String(state.ready);
  }

  function heartbeat() {
    if (!state.pairing || voting) return;
    var isPlaying = playing() && document.visibilityState === "visible";
    // position: the server credits a beat only if the player's clock moved with its own.
    api(cfg.api.heartbeat, { pairing: state.pairing, visible: visibleSides(), playing: isPlaying,
                             position: left.currentTime }).then(function (r) {
      if (r.ok && r.data.min_watch_seconds !== undefined) showWatch(r.data);
      else if (r.status === 410) closed();
    });
  }
  setInterval(heartbeat, HEARTBEAT_MS);

  function load(src, video) {
    return new Promise(function (resolve) {
      var done = function () { video.removeEventListener("loadeddata", done); resolve(); };
      video.addEventListener("loadeddata", done);
      video.src = src;
      video.load();
    });
  }

  function closed() {
    app.dataset.state = "closed";
    $("player").hidden = true;
    $("closed-note").hidden = false;
  }

  function nextPair() {
    app.dataset.state = "loading";
    $("after-vote").hidden = true;
    $("vote-message").textContent = "";
    return api(cfg.api.next).then(function (r) {
      if (r.status === 410) return closed();
      if (!r.ok) { $("vote-message").textContent = r.data.error || "Something went wrong."; return; }
      if (r.data.done) { app.dataset.state = "done"; $("player").hidden = true; $("done-note").hidden = false; return; }
      state.pairing = r.data.pairing;
      fps = r.data.fps || fps;
      $("player").hidden = false;
      showWatch(r.data);
      pauseBoth();
      return Promise.all([load(r.data.left.src, left), load(r.data.right.src, right)]).then(function () {
        if (left.videoWidth) stage.style.setProperty("--ar", left.videoWidth + " / " + left.videoHeight);
        sync.reset();
        app.dataset.state = "watching";
        app.dataset.pairing = String(state.pairing);
        return playBoth();
      });
    });
  }

  var voting = false;
  document.querySelectorAll(".choice").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!state.ready || voting) return;
      voting = true;
      document.querySelectorAll(".choice").forEach(function (b) { b.disabled = true; });
      $("vote-message").textContent = "Sending…";
      powReady.then(function () {
        return api(cfg.api.ballot, { pairing: state.pairing, choice: button.dataset.choice });
      }).then(function (r) {
        voting = false;
        if (r.ok) {
          $("vote-message").textContent = "";
          pauseBoth();
          app.dataset.state = "voted";
          $("player").hidden = true;
          $("after-vote").hidden = false;
        } else if (r.status === 410) {
          closed();
        } else {
          $("vote-message").textContent = r.data.error || "The vote was not accepted.";
          if (r.data.code === "duplicate_ballot") nextPair();
          else document.querySelectorAll(".choice").forEach(function (b) { b.disabled = !state.ready; });
        }
      });
    });
  });
  $("next-pair").addEventListener("click", nextPair);

  window.ReelTally.follow(tallyRoot, null, function (msg) {
    if (msg.type === "contest.status" && msg.status !== "open") closed();
    if (msg.type === "contest.decided") closed();
  });
  setMode("side");
  requestAnimationFrame(tick);
  if (cfg.open) nextPair();
})();
