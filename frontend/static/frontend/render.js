/* Live render progress: frames done, fps, ETA and state of a job, pushed over the
   job's websocket topic. On (re)connect the server sends the current state first. */
(function () {
  "use strict";
  function eta(seconds) {
    if (seconds === null || seconds === undefined) return "";
    seconds = Math.round(seconds);
    return seconds >= 60 ? Math.floor(seconds / 60) + " min " + (seconds % 60) + " s left" : seconds + " s left";
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
        var parts = [done + " / " + total + " frames"];
        if (msg.status === "running" && msg.fps) parts.push(msg.fps.toFixed(1) + " fps", eta(msg.eta_seconds));
        if (msg.attempts > 1) parts.push("attempt " + msg.attempts);
        label.textContent = parts.filter(Boolean).join(" · ");
      }
      if (status) { status.textContent = msg.status; status.className = "status status-" + msg.status; }
      if (error) error.textContent = msg.error || "";
      if (msg.status === "done" && !msg.snapshot && document.body.dataset.reloadOnDone !== "no") {
        // The finished file's player and links come from the server.
        setTimeout(function () { location.reload(); }, 800);
      }
    });
  }
  window.ReelRender = { watchJob: watchJob };
})();
