/* Live updates over websockets, reconnecting with back-off. On every (re)connect the
   server first sends a snapshot of the current state, so a page that lost its
   connection catches up without a reload. */
(function () {
  "use strict";
  function watch(topic, onMessage, onState) {
    var delay = 500, socket = null, closed = false;
    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/ws/live/" + encodeURIComponent(topic) + "/");
      socket.onopen = function () { delay = 500; if (onState) onState("open"); };
      socket.onmessage = function (event) {
        try { onMessage(JSON.parse(event.data)); } catch (err) { console.error(err); }
      };
      socket.onclose = function () {
        if (onState) onState("closed");
        if (!closed) { setTimeout(connect, delay); delay = Math.min(delay * 2, 10000); }
      };
    }
    connect();
    return { close: function () { closed = true; if (socket) socket.close(); } };
  }
  window.ReelLive = { watch: watch };
})();
