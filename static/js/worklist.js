// Worklist: tick each case's turnaround clock from its data-opened-at, refresh the list in
// the background (every data-refresh-seconds, on "r", and when the tab comes back into
// view), and "n" = next case.
(function () {
  "use strict";
  const table = document.getElementById("worklist");

  function format(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return (h > 0 ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-opened-at]").forEach(function (cell) {
      const opened = Date.parse(cell.dataset.openedAt);
      if (!Number.isNaN(opened)) cell.textContent = format(Math.max(0, Math.floor((now - opened) / 1000)));
    });
  }

  tick();
  window.setInterval(tick, 1000);

  // The refresh is marked as background: it must not keep an idle session alive. When the
  // session has expired the server answers with the sign-in page, so go there.
  let refreshing = false;
  function refresh() {
    if (!table || refreshing) return;
    refreshing = true;
    fetch(window.location.href, {
      credentials: "same-origin",
      headers: { "X-Background-Refresh": "1", "Accept": "text/html" },
    }).then(function (response) {
      if (response.redirected || !response.ok) {
        if (response.redirected) window.location.reload();
        return null;
      }
      return response.text();
    }).then(function (html) {
      if (!html) return;
      const fresh = new DOMParser().parseFromString(html, "text/html");
      const body = fresh.querySelector("#worklist tbody");
      const counts = fresh.querySelector(".status-counts");
      if (!body) return;
      table.querySelector("tbody").replaceWith(document.importNode(body, true));
      const oldCounts = document.querySelector(".status-counts");
      if (counts && oldCounts) oldCounts.replaceWith(document.importNode(counts, true));
      const stamp = new Date();
      document.getElementById("worklist-updated").textContent =
        "; updated " + stamp.toLocaleTimeString();
      table.dataset.refreshed = String(Number(table.dataset.refreshed || 0) + 1);
      tick();
    }).catch(function () {
      // Offline for a moment: the next refresh tries again.
    }).finally(function () {
      refreshing = false;
    });
  }

  if (table) {
    const seconds = parseInt(table.dataset.refreshSeconds, 10) || 30;
    window.setInterval(function () {
      if (document.visibilityState === "visible") refresh();
    }, seconds * 1000);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") refresh();
    });
  }

  document.addEventListener("keydown", function (e) {
    const tag = e.target.tagName;
    if (e.ctrlKey || e.metaKey || e.altKey || tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    if (e.key === "n") {
      e.preventDefault();
      document.getElementById("next-case-form").requestSubmit();
    } else if (e.key === "r") {
      e.preventDefault();
      refresh();
    }
  });
})();
