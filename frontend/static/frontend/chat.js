// The chat page works without this script; it only says that the assistant is thinking and keeps the
// latest message in view. Model text is never inserted here: the server renders it, escaped.
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  if (!form) { return; }
  var status = document.getElementById("chat-status");
  var latest = document.getElementById("latest");
  if (latest && window.location.hash === "#latest") { latest.scrollIntoView({ block: "end" }); }
  var sent = false;
  form.addEventListener("submit", function (event) {
    if (sent) { event.preventDefault(); return; }
    sent = true;
    var clicked = event.submitter;
    if (clicked && clicked.name) {
      // Disabled buttons are not submitted, so the chosen action travels in a hidden field instead.
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = clicked.name;
      hidden.value = clicked.value;
      form.appendChild(hidden);
    }
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (button) { button.disabled = true; });
    if (status) { status.textContent = form.dataset.thinking || ""; }
  });
})();
