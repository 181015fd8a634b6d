/* The review player's position as SMPTE timecode (output#review-timecode).

   data-base: the timecode clock's frame count at the excerpt's first frame (from the
   source's start timecode, computed on the server with OpenTimelineIO); data-fps: the
   nominal rate (24, 25, 30...); data-drop="1": drop-frame counting (29.97/59.94: frame
   numbers 00 and 01, or 00-03 at 59.94, are skipped each minute except every tenth). */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function timecode(frame, fps, drop) {
    if (drop) {
      var d = Math.round(fps / 15), perMin = fps * 60 - d, per10 = fps * 600 - 9 * d;
      var tens = Math.floor(frame / per10), rest = frame % per10;
      frame += 9 * d * tens + (rest > d ? d * Math.floor((rest - d) / perMin) : 0);
    }
    var ff = frame % fps, s = Math.floor(frame / fps);
    return pad(Math.floor(s / 3600) % 24) + ":" + pad(Math.floor(s / 60) % 60) + ":" +
           pad(s % 60) + (drop ? ";" : ":") + pad(ff);
  }

  window.ReelTimecode = timecode;

  var out = document.getElementById("review-timecode");
  if (!out || !window.ReelCompare || !window.ReelCompare.players.length) return;
  var player = window.ReelCompare.players[0];
  var base = Number(out.dataset.base), fps = Number(out.dataset.fps), drop = out.dataset.drop === "1";
  function show() { out.textContent = timecode(base + player.currentFrame(), fps, drop); }
  player.on("time", show);
  show();
})();
