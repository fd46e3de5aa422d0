// The dashboard polls its live part with htmx; when the server does not answer, say so instead of going stale.
document.addEventListener("DOMContentLoaded", function () {
  var status = document.getElementById("live-status");
  if (!status) { return; }
  function problem(text) { status.textContent = text; status.className = "live-status errors"; }
  document.body.addEventListener("htmx:responseError", function (event) {
    problem(status.dataset.msgError + " (" + event.detail.xhr.status + ")");
  });
  document.body.addEventListener("htmx:sendError", function () { problem(status.dataset.msgOffline); });
  document.body.addEventListener("htmx:afterSwap", function () { status.textContent = ""; status.className = "live-status"; });
});
