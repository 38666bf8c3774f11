// Worklist: tick each case's turnaround clock from its data-opened-at, and "n" = next case.
(function () {
  "use strict";
  const clocks = document.querySelectorAll("[data-opened-at]");

  function format(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return (h > 0 ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }

  function tick() {
    const now = Date.now();
    clocks.forEach(function (cell) {
      const opened = Date.parse(cell.dataset.openedAt);
      if (!Number.isNaN(opened)) cell.textContent = format(Math.max(0, Math.floor((now - opened) / 1000)));
    });
  }

  tick();
  window.setInterval(tick, 1000);

  document.addEventListener("keydown", function (e) {
    const tag = e.target.tagName;
    if (e.ctrlKey || e.metaKey || e.altKey || tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    if (e.key === "n") {
      e.preventDefault();
      document.getElementById("next-case-form").requestSubmit();
    }
  });
})();
