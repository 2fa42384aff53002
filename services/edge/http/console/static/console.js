// ticketflow console. No inline script (the Content-Security-Policy forbids it), and
// nothing a customer typed is ever turned into markup here.
"use strict";
(function () {
  function left(due) {
    const seconds = Math.round((Date.parse(due) - Date.now()) / 1000);
    let s = Math.abs(seconds);
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (seconds < 0 ? "-" : "") + (h ? h + "h " : "") +
      String(m).padStart(2, "0") + "m " + String(s).padStart(2, "0") + "s";
  }

  // A live countdown beside each due time; a target whose time runs out turns breached.
  function tick() {
    document.querySelectorAll("time[data-countdown]").forEach(function (node) {
      const due = node.getAttribute("datetime");
      if (!due) { return; }
      node.title = node.title || node.textContent;
      node.textContent = left(due);
      const row = node.closest("tr");
      const state = row && row.querySelector(".state");
      if (Date.parse(due) <= Date.now() && state && !state.classList.contains("breached")) {
        state.className = "state breached";
        state.textContent = state.getAttribute("data-breached");
        row.className = "breached";
      }
    });
  }

  // The board follows the event stream: after a change it fetches its table again.
  function follow(area) {
    let pending = null;
    function refresh() {
      pending = null;
      fetch(area.getAttribute("data-table"), { credentials: "same-origin" })
        .then(function (reply) { return reply.ok ? reply.text() : Promise.reject(reply.status); })
        .then(function (html) { area.innerHTML = html; tick(); })  // server-rendered, escaped
        .catch(function () { /* the next change tries again */ });
    }
    const feed = new EventSource(area.getAttribute("data-live"));
    feed.addEventListener("changed", function () {
      if (!pending) { pending = setTimeout(refresh, 250); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    const area = document.getElementById("board-area");
    if (area) { follow(area); }
  });
})();
