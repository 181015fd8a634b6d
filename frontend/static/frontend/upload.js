/* Resumable chunked upload with a progress bar.
   1. POST /api/uploads/ {film, filename, size} -> session (remembered per file in
      localStorage so choosing the same file again resumes it)
   2. PUT chunks with Content-Range; on a dropped connection, retry from the offset
      the server reports
   3. POST complete -> the server probes the file and answers with the clip or a
      clear reason for rejecting it.
   Several image files chosen at once are one sequence: the session is started with
   their names and sizes ("members"), and their bytes are sent one after another as
   if they were one file (a Blob of the files, sliced lazily; nothing is zipped or
   held in memory), so chunking and resuming work as for one file. */
(function () {
  "use strict";
  // Django's JavaScript catalogue (jsi18n, loaded by the site shell) translates; without it, English.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, o) { return f.replace(/%\((\w+)\)s/g, function (m, k) { return String(o[k]); }); };
  var form = document.getElementById("upload-form");
  if (!form) return;
  var progress = document.getElementById("upload-progress");
  var bar = progress.querySelector(".bar");
  var label = progress.querySelector(".label");
  var errorBox = document.getElementById("upload-error");
  var button = document.getElementById("upload-button");
  var csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
  var chunkSize = parseInt(form.dataset.chunkSize, 10);

  function fail(message) {
    errorBox.textContent = message; errorBox.hidden = false; button.disabled = false;
  }
  function api(method, url, body, headers) {
    return fetch(url, {
      method: method, body: body, credentials: "same-origin",
      headers: Object.assign({"X-CSRFToken": csrf}, headers || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { var e = new Error(data.error || ("HTTP " + response.status)); e.data = data; e.status = response.status; throw e; }
        return data;
      });
    });
  }
  function show(done, total, note) {
    progress.hidden = false;
    var pct = total ? Math.floor(100 * done / total) : 0;
    bar.style.width = pct + "%";
    label.textContent = note || interpolate(gettext("%(pct)s (%(done)s of %(total)s MB)"),
      { pct: pct + "%", done: (done / 1048576).toFixed(1), total: (total / 1048576).toFixed(1) }, true);
  }
  function keyFor(file) { return "reel-upload:" + form.dataset.film + ":" + file.name + ":" + file.size + ":" + file.lastModified; }
  var IMAGE = /\.(dpx|tiff?|exr|png)$/i;
  // The chosen files as what is sent: one file as it is, several image files as one
  // Blob with their names and sizes in the same order.
  function chosen(list) {
    var files = Array.prototype.slice.call(list);
    if (files.length <= 1) return { file: files[0], members: null };
    var notImage = files.filter(function (f) { return !IMAGE.test(f.name); });
    if (notImage.length) return { error: interpolate(gettext("%(name)s is not a DPX, TIFF, EXR or PNG frame; several files must all be frames of one sequence."), { name: notImage[0].name }, true) };
    var blob = new Blob(files);
    var last = files.reduce(function (a, f) { return Math.max(a, f.lastModified || 0); }, 0);
    return {
      file: { blob: blob, size: blob.size, name: files[0].name, lastModified: last, count: files.length },
      members: files.map(function (f) { return [f.name, f.size]; })
    };
  }
  function bytesOf(file) { return file.blob || file; }

  function sendFrom(session, file, offset, retries) {
    if (offset >= file.size) return Promise.resolve(session);
    var end = Math.min(offset + chunkSize, file.size);
    return api("PUT", form.dataset.startUrl + session.id + "/", bytesOf(file).slice(offset, end),
               {"Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size,
                "Content-Type": "application/octet-stream"})
      .then(function (s) { show(s.received, file.size); return sendFrom(s, file, s.received, 5); })
      .catch(function (err) {
        if (retries <= 0 || (err.status && err.status < 500 && err.status !== 409)) throw err;
        // Ask where the server is and continue from there.
        return new Promise(function (r) { setTimeout(r, 1000); })
          .then(function () { return api("GET", form.dataset.startUrl + session.id + "/"); })
          .then(function (s) { return sendFrom(s, file, s.received, retries - 1); });
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    var choice = chosen(document.getElementById("upload-file").files);
    if (choice.error) return fail(choice.error);
    var file = choice.file;
    if (!file) return fail(gettext("Choose a file first."));
    if (file.size === 0) return fail(gettext("The file is empty (0 bytes)."));
    if (file.size > parseInt(form.dataset.maxSize, 10)) return fail(gettext("The file is over the upload limit."));
    button.disabled = true;
    var key = keyFor(file) + (file.count ? ":" + file.count : "");
    var known = localStorage.getItem(key);
    var begin = known
      ? api("GET", form.dataset.startUrl + known + "/").catch(function () { return null; })
      : Promise.resolve(null);
    begin.then(function (session) {
      if (session && session.status === "receiving") return session;
      var start = {
        film: parseInt(form.dataset.film, 10), filename: choice.members ? "" : file.name, size: file.size,
        title: document.getElementById("upload-title").value,
        frame_rate: (document.getElementById("upload-frame-rate") || {value: ""}).value.trim()
      };
      if (choice.members) start.members = choice.members;
      return api("POST", form.dataset.startUrl, JSON.stringify(start), {"Content-Type": "application/json"});
    }).then(function (session) {
      localStorage.setItem(key, session.id);
      show(session.received, file.size);
      return sendFrom(session, file, session.received, 5);
    }).then(function (session) {
      show(file.size, file.size, gettext("Checking the file…"));
      return api("POST", form.dataset.startUrl + session.id + "/complete/");
    }).then(function (result) {
      localStorage.removeItem(key);
      show(file.size, file.size, gettext("Uploaded."));
      window.location.href = result.clip.url;
    }).catch(function (err) {
      if (err.status === 422) localStorage.removeItem(key);
      fail(interpolate(gettext("Upload rejected: %(reason)s"), { reason: err.message }, true));
    });
  });
})();
