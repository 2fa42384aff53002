// ticketflow console. No inline script (the Content-Security-Policy forbids it), and
// nothing a customer typed is ever turned into markup here.
"use strict";
(function () {
  // Countdowns run on the service's clock: the page says what time it was when served,
  // so a browser whose clock is wrong still counts correctly.
  let skew = 0;
  function now() { return Date.now() + skew; }
  function setClock() {
    const served = document.querySelector("[data-now]");
    const at = served && Date.parse(served.getAttribute("data-now"));
    if (at) { skew = at - Date.now(); }
  }

  function left(due) {
    const seconds = Math.round((Date.parse(due) - now()) / 1000);
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
      if (Date.parse(due) <= now() && state && !state.classList.contains("breached")) {
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
        .then(function (html) { area.innerHTML = html; setClock(); tick(); })  // server-rendered, escaped
        .catch(function () { /* the next change tries again */ });
    }
    const feed = new EventSource(area.getAttribute("data-live"));
    feed.addEventListener("changed", function () {
      if (!pending) { pending = setTimeout(refresh, 250); }
    });
  }

  // Keyboard: j/k or the arrows move through the board's rows, Enter opens the one
  // selected, "/" goes to the filters. The selection survives a live refresh.
  let selected = null;  // the selected row's ticket link
  function rows() { return Array.from(document.querySelectorAll("#board tbody tr")); }
  function mark() {
    rows().forEach(function (row) {
      row.classList.toggle("selected", row.getAttribute("data-href") === selected);
    });
  }
  function move(step) {
    const all = rows();
    if (!all.length) { return; }
    const at = all.findIndex(function (row) { return row.getAttribute("data-href") === selected; });
    const next = all[Math.min(Math.max(at + step, 0), all.length - 1)];
    selected = next.getAttribute("data-href");
    mark();
    next.scrollIntoView({ block: "nearest" });
  }
  function keys(event) {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName);
    if (typing || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "j" || event.key === "ArrowDown") { move(1); event.preventDefault(); }
    else if (event.key === "k" || event.key === "ArrowUp") { move(-1); event.preventDefault(); }
    else if (event.key === "Enter" && selected) { window.location.assign(selected); }
    else if (event.key === "/") {
      const first = document.querySelector("#filters select");
      if (first) { first.focus(); event.preventDefault(); }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setClock();
    tick();
    setInterval(tick, 1000);
    const area = document.getElementById("board-area");
    if (area) {
      follow(area);
      document.addEventListener("keydown", keys);
      new MutationObserver(mark).observe(area, { childList: true });
    }
    // A filter applies as soon as it changes; the button stays for keyboards.
    const filters = document.getElementById("filters");
    if (filters) {
      filters.addEventListener("change", function () { filters.submit(); });
    }
  });
})();
