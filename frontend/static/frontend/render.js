/* Live render progress: frames done, fps, ETA and state of a job, pushed over the
   job's websocket topic. On (re)connect the server sends the current state first. */
(function () {
  "use strict";
  // Django's JavaScript catalogue (jsi18n, loaded by the site shell) translates; without it, English.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, o) { return f.replace(/%\((\w+)\)s/g, function (m, k) { return String(o[k]); }); };

  // The states a clip or a render reports, as the server's models name them (one literal
  // per word so that makemessages finds them).
  var STATUS = {
    ingesting: gettext("ingesting"), probing: gettext("probing"), ready: gettext("ready"),
    failed: gettext("failed"),
    pending: gettext("pending"), queued: gettext("queued"), rendering: gettext("rendering"),
    running: gettext("running"), done: gettext("done"), cancelled: gettext("cancelled")
  };
  function statusText(status) { return STATUS[status] || status; }

  function eta(seconds) {
    if (seconds === null || seconds === undefined) return "";
    seconds = Math.round(seconds);
    return seconds >= 60 ?
      interpolate(gettext("%(min)s min %(s)s s left"), { min: Math.floor(seconds / 60), s: seconds % 60 }, true) :
      interpolate(gettext("%(s)s s left"), { s: seconds }, true);
  }
  function watchJob(jobId) {
    return ReelLive.watch("job-" + jobId, function (msg) {
      if (msg.type !== "render.progress") return;
      var total = msg.frames_total || 0, done = msg.frames_done || 0;
      var bar = document.getElementById("job-" + jobId + "-bar");
      var label = document.getElementById("job-" + jobId + "-label");
      var status = document.getElementById("job-" + jobId + "-status");
      var error = document.getElementById("job-" + jobId + "-error");
      if (bar) bar.style.width = (total ? Math.min(100, 100 * done / total) : 0) + "%";
      if (label) {
        var parts = [interpolate(gettext("%(done)s / %(total)s frames"), { done: done, total: total }, true)];
        if (msg.status === "running" && msg.fps) parts.push(msg.fps.toFixed(1) + " fps", eta(msg.eta_seconds));
        if (msg.attempts > 1) parts.push(interpolate(gettext("attempt %(n)s"), { n: msg.attempts }, true));
        label.textContent = parts.filter(Boolean).join(" · ");
      }
      if (status) { status.textContent = statusText(msg.status); status.className = "status status-" + msg.status; }
      // A page may show a stored reason in its reader's language (data-original holds it
      // as stored): only a reason that changed replaces it, in the words it came in.
      if (error && (msg.error || "") !== (error.dataset.original || "")) {
        error.textContent = msg.error || "";
        error.dataset.original = msg.error || "";
      }
      if (msg.status === "done" && !msg.snapshot && document.body.dataset.reloadOnDone !== "no") {
        // The finished file's player and links come from the server.
        setTimeout(function () { location.reload(); }, 800);
      }
    });
  }
  // An image sequence's master encode, as the clip page shows it.
  function ingestText(done, total) {
    return interpolate(gettext("%(done)s of %(total)s frames"), { done: done, total: total }, true);
  }
  window.ReelRender = { watchJob: watchJob, statusText: statusText, ingestText: ingestText };
})();
