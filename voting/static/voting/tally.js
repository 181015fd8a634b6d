/* Live tally: renders a contest.tally payload (ratings with intervals, decision) into a
   .tally block, and keeps it current over the contest's websocket topic. Shared by the
   voting page, the public results page and the technician dashboard. */
(function () {
  "use strict";

  // Django's JavaScript catalogue (jsi18n, loaded by the site shell) translates; without it, English.
  var gettext = window.gettext || function (s) { return s; };
  var ngettext = window.ngettext || function (s, p, n) { return n === 1 ? s : p; };
  var interpolate = window.interpolate || function (f, o) { return f.replace(/%\((\w+)\)s/g, function (m, k) { return String(o[k]); }); };

  function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

  // Why the rule's decision is held back (voting.stats.robust reason codes); the same
  // sentences as voting.services.held_reason_text, which renders the page's first view.
  function heldText(held) {
    var p = held.params || {};
    switch (held.code) {
      case "networks":
        return interpolate(ngettext("The votes that count come from %(have)s network; %(need)s are needed.",
          "The votes that count come from %(have)s networks; %(need)s are needed.", p.have), p, true);
      case "duration":
        return interpolate(gettext("The votes span %(seconds)s s; %(need)s s are needed."), p, true);
      case "trim":
        return interpolate(gettext("%(winner)s leads, but not by enough: it must still win without the %(percent)s %% of the votes most favourable to it (the most an attacker may hold)."),
          { winner: p.winner, percent: Math.round(100 * Number(p.share)) }, true).replace("%%", "%");
      case "one_network":
        return interpolate(gettext("The result does not hold without the %(ballots)s votes from one network."), p, true);
    }
    return "";
  }

  function decisionText(t) {
    var d = t.decision || {};
    if (t.status === "closed" && !d.decided) return gettext("Closed without a decision.");
    if (!d.decided && d.held) {
      var why = heldText(d.held);
      return gettext("Not decided") + (why ? " (" + why + ")" : "");
    }
    if (d.decided) return interpolate(gettext("Winner: %(winner)s"), { winner: d.winner }, true) + " — " + (d.reason || "");
    var more = !d.more_votes ? "" : " — " + interpolate(
      ngettext("about %(n)s more vote needed", "about %(n)s more votes needed", d.more_votes), { n: d.more_votes }, true);
    return gettext("Not decided") + more + (d.reason ? " (" + d.reason + ")" : "");
  }

  function render(root, t, legend) {
    if (!root || !t || t.type !== "contest.tally") return;
    root.dataset.version = t.version;
    root.dataset.ballots = t.n_ballots;
    root.dataset.decided = t.decision && t.decision.decided ? "true" : "false";
    var set = function (name, value) {
      var el = root.querySelector('[data-tally="' + name + '"]');
      if (el) el.textContent = value;
    };
    set("n_ballots", t.n_ballots);
    set("n_raters", t.n_raters);
    set("n_excluded", t.n_excluded === undefined ? "" : t.n_excluded);
    set("decision", decisionText(t));
    var body = root.querySelector('[data-tally="items"]');
    if (!body) return;
    var lo = 0, hi = 0;
    t.items.forEach(function (it) {
      lo = Math.min(lo, it.lower === null ? it.score : it.lower);
      hi = Math.max(hi, it.upper === null ? it.score : it.upper);
    });
    var span = Math.max(hi - lo, 1e-6);
    var pos = function (x) { return (100 * (x - lo) / span).toFixed(1) + "%"; };
    body.textContent = "";
    t.items.forEach(function (it) {
      var tr = document.createElement("tr");
      tr.dataset.label = it.label;
      if (t.decision && t.decision.winner === it.label) tr.className = "winner";
      var cells = [it.label];
      if (legend) cells.push(legend[it.label] || "");
      cells.push(fmt(it.score, 2), null, fmt(it.p_best, 2), it.wins + " / " + it.losses + " / " + it.ties);
      cells.forEach(function (value) {
        var td = document.createElement("td");
        if (value === null) {
          td.className = "interval-col";
          var track = document.createElement("div");
          track.className = "interval";
          if (it.lower !== null) {
            var bar = document.createElement("span");
            bar.className = "range";
            bar.style.left = pos(it.lower);
            bar.style.width = "calc(" + pos(it.upper) + " - " + pos(it.lower) + ")";
            track.appendChild(bar);
          }
          var dot = document.createElement("span");
          dot.className = "dot";
          dot.style.left = pos(it.score);
          track.appendChild(dot);
          track.title = it.lower === null ? gettext("no comparisons yet") : fmt(it.lower, 2) + " … " + fmt(it.upper, 2);
          td.appendChild(track);
        } else {
          td.textContent = value;
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    document.querySelectorAll("img[data-plot]").forEach(function (img) {
      var base = img.getAttribute("data-plot");
      var next = base + "?v=" + encodeURIComponent(t.version + ":" + t.status);
      if (img.getAttribute("src") !== next) img.setAttribute("src", next);
    });
    root.dispatchEvent(new CustomEvent("tally", { detail: t }));
  }

  /* Watch the contest topic; each tally (and the snapshot on (re)connect) re-renders. */
  function follow(root, legend, onOther) {
    var topic = root.getAttribute("data-topic");
    var last = null;
    return window.ReelLive.watch(topic, function (msg) {
      if (msg.type === "contest.tally") {
        if (last && msg.computed_at && last.computed_at && msg.computed_at < last.computed_at) return;
        last = msg;
        render(root, msg, legend);
      } else if (onOther) {
        onOther(msg);
      }
    }, function (state) { root.dataset.socket = state; });
  }

  window.ReelTally = { render: render, follow: follow, decisionText: decisionText, heldText: heldText };
})();
