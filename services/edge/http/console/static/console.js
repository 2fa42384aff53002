// ticketflow console: a live countdown beside each due time. No inline script (the
// Content-Security-Policy forbids it); everything a customer typed stays text.
"use strict";
(function () {
  function left(due) {
    const seconds = Math.round((Date.parse(due) - Date.now()) / 1000);
    const sign = seconds < 0 ? "-" : "";
    let s = Math.abs(seconds);
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return sign + (h ? h + "h " : "") + String(m).padStart(2, "0") + "m " + String(s).padStart(2, "0") + "s";
  }
  function tick() {
    document.querySelectorAll("time[data-countdown]").forEach(function (node) {
      const due = node.getAttribute("datetime");
      if (due) { node.textContent = left(due); node.title = due; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
