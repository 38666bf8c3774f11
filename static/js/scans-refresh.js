// Scan pages refresh themselves while a prediction is pending: "My uploads" re-fetches its
// table; a scan page asks the list API for its status (no audit noise) and reloads once done.
// Both are background requests: they do not keep an idle session alive.
(function () {
  "use strict";
  const table = document.getElementById("uploads-table");
  const detail = document.getElementById("scan-detail");

  function refreshTable() {
    const el = document.getElementById("uploads-table");
    if (!el || !el.dataset.refreshSeconds) return;
    setTimeout(function () {
      fetch(window.location.href, {
        credentials: "same-origin", headers: { "X-Background-Refresh": "1" },
      })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("uploads-table");
          if (fresh) el.replaceWith(fresh);
          refreshTable();
        })
        .catch(function () { refreshTable(); });
    }, parseInt(el.dataset.refreshSeconds, 10) * 1000);
  }

  function pollDetail() {
    if (!detail || !detail.dataset.refreshSeconds) return;
    const id = detail.dataset.scanId;
    setTimeout(function () {
      fetch("/api/v1/scans/?id=" + encodeURIComponent(id), {
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-Background-Refresh": "1" },
      })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          const scan = data.results && data.results[0];
          if (scan && scan.status !== "queued") window.location.reload();
          else pollDetail();
        })
        .catch(function () { pollDetail(); });
    }, parseInt(detail.dataset.refreshSeconds, 10) * 1000);
  }

  if (table) refreshTable();
  if (detail) pollDetail();
})();
