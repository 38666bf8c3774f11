// Pages that show a running job (export, training, comparison, re-scoring) reload every few
// seconds while the job runs, so its progress and log tail stay current without a click.
(function () {
  var marker = document.querySelector("[data-job-running]");
  if (!marker) return;
  var seconds = parseInt(marker.getAttribute("data-job-running"), 10) || 3;
  window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
})();
