/* The voting page: proof of work, heartbeats, ballots. The two synchronised players are
   a ReelSyncPlayer (frontend/static/frontend/syncplayer.js, loaded first): blind (sides
   are "left" and "right"), with a loop switch, zoom and keyboard control. Its measured
   drift is exposed as window.reelSync (maxDriftMs excludes the short settling window
   right after a seek/play/loop, when both decoders are still catching up; maxDriftMsAll
   includes it) so a browser test can read it.

   Watch time is decided by the server: the page sends a heartbeat every second saying
   which sides are on screen and whether they play; the server credits wall-clock time
   between heartbeats and tells the page when the vote buttons may be enabled. */
(function () {
  "use strict";

  var HEARTBEAT_MS = 1000;
  // Django's JavaScript catalogue (jsi18n, loaded by the site shell) translates; without it, English.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, o) { return f.replace(/%\((\w+)\)s/g, function (m, k) { return String(o[k]); }); };

  var cfg = JSON.parse(document.getElementById("vote-config").textContent);
  var app = document.getElementById("vote-app");
  var $ = function (id) { return document.getElementById(id); };
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

  var player = window.ReelSyncPlayer.attach($("player"), {
    fps: cfg.fps || 24,
    zoom: true,
    keys: true,
    timeText: function (p) { return p.currentTime().toFixed(2); }
  });
  window.reelSync = player.stats;
  var state = { pairing: null, ready: false };

  // ------------------------------------------------------------------ watching and voting

  function showWatch(w) {
    var need = w.min_watch_seconds || 0;
    var have = Math.min(w.watched_left, w.watched_right);
    var share = need > 0 ? Math.min(1, have / need) : 1;
    $("watch-bar").style.width = (100 * share).toFixed(0) + "%";
    $("watch-label").textContent = w.ready ? gettext("Ready to vote") :
      interpolate(gettext("Watch both sides: left %(left)s s, right %(right)s s of %(need)s s"),
                  { left: w.watched_left.toFixed(0), right: w.watched_right.toFixed(0), need: need }, true);
    state.ready = !!w.ready;
    document.querySelectorAll(".choice").forEach(function (b) { b.disabled = !state.ready || voting; });
    app.dataset.ready = String(state.ready);
  }

  function heartbeat() {
    if (!state.pairing || voting) return;
    var isPlaying = player.playing() && document.visibilityState === "visible";
    // position: the server credits a beat only if the player's clock moved with its own.
    api(cfg.api.heartbeat, { pairing: state.pairing, visible: player.visibleSides(), playing: isPlaying,
                             position: player.currentTime() }).then(function (r) {
      if (r.ok && r.data.min_watch_seconds !== undefined) showWatch(r.data);
      else if (r.status === 410) closed();
    });
  }
  setInterval(heartbeat, HEARTBEAT_MS);

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
      if (!r.ok) { $("vote-message").textContent = r.data.error || gettext("Something went wrong."); return; }
      if (r.data.done) { app.dataset.state = "done"; $("player").hidden = true; $("done-note").hidden = false; return; }
      state.pairing = r.data.pairing;
      if (r.data.fps) player.setFps(r.data.fps);
      $("player").hidden = false;
      showWatch(r.data);
      player.pause();
      return player.load(r.data.left.src, r.data.right.src).then(function () {
        player.stats.reset();
        app.dataset.state = "watching";
        app.dataset.pairing = String(state.pairing);
        return player.play();
      });
    });
  }

  var voting = false;
  document.querySelectorAll(".choice").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!state.ready || voting) return;
      voting = true;
      document.querySelectorAll(".choice").forEach(function (b) { b.disabled = true; });
      $("vote-message").textContent = gettext("Sending…");
      powReady.then(function () {
        return api(cfg.api.ballot, { pairing: state.pairing, choice: button.dataset.choice });
      }).then(function (r) {
        voting = false;
        if (r.ok) {
          $("vote-message").textContent = "";
          player.pause();
          app.dataset.state = "voted";
          $("player").hidden = true;
          $("after-vote").hidden = false;
        } else if (r.status === 410) {
          closed();
        } else {
          $("vote-message").textContent = r.data.error || gettext("The vote was not accepted.");
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
  if (cfg.open) nextPair();
})();
