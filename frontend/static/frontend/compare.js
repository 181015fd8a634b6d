/* Before/after players on the review page and in the gallery.

   Every element with [data-compare] (markup: frontend/templates/frontend/_compare_player.html)
   becomes a ReelSyncPlayer (frontend/static/frontend/syncplayer.js, loaded first), non-blind,
   with a frame counter. Each is exposed as window.ReelCompare.players[i] (currentFrame(),
   seekFrame(n), maxDriftMs and samples; a browser test reads them).

   Notes, where the player names a form (data-note-form) and a json_script of notes
   (data-notes): in "pin" mode a click on the picture fills the form's frame/x/y fields
   with the current frame and the point clicked as fractions of the picture; notes within
   a frame of the current one are drawn on the picture; links with data-seek-frame jump
   to their frame. */
(function () {
  "use strict";
  // Django's JavaScript catalogue (jsi18n, loaded by the site shell) translates; without it, English.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, o) { return f.replace(/%\((\w+)\)s/g, function (m, k) { return String(o[k]); }); };

  function notes(player) {
    var root = player.root, stage = player.stage;
    var form = root.dataset.noteForm ? document.getElementById(root.dataset.noteForm) : null;
    var notesEl = root.dataset.notes ? document.getElementById(root.dataset.notes) : null;
    var list = notesEl ? JSON.parse(notesEl.textContent) : [];
    var pinning = false;

    var pin = root.querySelector(".c-pin");
    if (pin) pin.addEventListener("click", function () {
      pinning = !pinning;
      pin.setAttribute("aria-pressed", String(pinning));
      root.classList.toggle("pinning", pinning);
      player.gestures(!pinning);
      if (pinning) player.pause();
    });

    stage.addEventListener("click", function (e) {
      if (!pinning || !form || e.target.closest("button")) return;
      var pane = e.target.closest(".vpane") || stage.querySelector(".pane-right");
      var r = player.pictureRect(pane);
      var x = (e.clientX - r.left) / r.width, y = (e.clientY - r.top) / r.height;
      if (x < 0 || x > 1 || y < 0 || y > 1) return;
      var frame = player.currentFrame();
      form.elements.frame.value = frame;
      form.elements.x.value = x.toFixed(4);
      form.elements.y.value = y.toFixed(4);
      var where = form.querySelector(".note-where");
      if (where) where.textContent = interpolate(gettext("frame %(frame)s at %(x)s across, %(y)s down"),
        { frame: frame, x: Math.round(100 * x) + "%", y: Math.round(100 * y) + "%" }, true);
      form.hidden = false;
      form.elements.text.focus();
      showMarkers();
    });

    function showMarkers() {
      stage.querySelectorAll(".note-marker").forEach(function (m) { m.remove(); });
      if (!list.length) return;
      var frame = player.currentFrame();
      var pr = player.pictureRect(), sr = stage.getBoundingClientRect();
      list.forEach(function (n) {
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
    player.on("time", showMarkers);
    document.querySelectorAll("[data-seek-frame]").forEach(function (el) {
      el.addEventListener("click", function (e) { e.preventDefault(); player.seekFrame(Number(el.dataset.seekFrame)); });
    });
  }

  var players = [];
  document.querySelectorAll("[data-compare]").forEach(function (root) {
    var player = window.ReelSyncPlayer.attach(root);
    notes(player);
    players.push(player);
  });
  window.ReelCompare = { players: players };
})();
