// Live checks on the values card form. They mirror cards/validation.py; the server stays the authority.
// What is typed is also kept in this tab's storage, so a reload or a lost connection loses nothing.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) { return; }
  var data = form.dataset;
  var fillers = (data.filler || "").split(",").filter(Boolean);
  var draftKey = data.draftKey;
  var fields = ["context", "title", "description"];
  var policies = Array.prototype.slice.call(form.querySelectorAll("input.policy"));

  function words(text) { return text.trim().split(/\s+/).filter(Boolean); }

  function show(input, box, message) {
    box.textContent = message || "";
    if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (ids.indexOf(box.id) < 0) { ids.push(box.id); input.setAttribute("aria-describedby", ids.join(" ")); }
  }

  function checkTitle(final) {
    var input = form.elements.title, n = words(input.value).length;
    var message = "";
    if (n === 0) { message = final ? data.msgRequired : ""; }
    else if (n < 2 || n > 5) { message = data.msgTitleWords.replace("{n}", n); }
    show(input, document.getElementById("title-error"), message);
    return !message;
  }

  function checkDescription(final) {
    var input = form.elements.description, text = input.value.trim();
    var message = "";
    if (!text) { message = final ? data.msgRequired : ""; }
    else if ((text.match(/[.!?]+["'\u201d\u2019\u00bb)\]]*(\s|$)/g) || []).length > 1) { message = data.msgSentence; }
    show(input, document.getElementById("description-error"), message);
    return !message;
  }

  function checkPolicies(final) {
    var seen = {}, filled = 0, ok = true;
    policies.forEach(function (input) {
      var box = document.getElementById("policy-" + input.name.split("_")[1] + "-msg");
      var text = input.value.trim(), message = "";
      if (text) {
        filled += 1;
        var lowered = text.toLowerCase();
        var found = fillers.filter(function (w) { return new RegExp("\\b" + w + "\\b").test(lowered); });
        if (words(text).length < 3) { message = data.msgPolicyShort; }
        else if (found.length) { message = data.msgPolicyFiller.replace("{words}", found.join(", ")); }
        else if (seen[lowered]) { message = data.msgPolicySame; }
        seen[lowered] = true;
      }
      if (message) { ok = false; }
      show(input, box, message);
      if (!message && text && !/^[A-ZÁÉÍÓÚÑÜ]{2,}/.test(text)) { box.textContent = data.msgPolicyTip; }
    });
    var summary = document.getElementById("policies-error");
    var countMessage = final && (filled < 3 || filled > 7) ? data.msgPolicyCount.replace("{n}", filled) : "";
    summary.textContent = countMessage;
    return ok && !countMessage;
  }

  function saveDraft() {
    if (!window.sessionStorage) { return; }
    var draft = {};
    fields.concat(policies.map(function (p) { return p.name; })).forEach(function (name) {
      draft[name] = form.elements[name].value;
    });
    try { sessionStorage.setItem(draftKey, JSON.stringify(draft)); } catch (e) { /* storage full or blocked */ }
  }

  function restoreDraft() {
    var raw = window.sessionStorage && sessionStorage.getItem(draftKey);
    if (!raw) { return; }
    var draft;
    try { draft = JSON.parse(raw); } catch (e) { return; }
    var empty = fields.concat(policies.map(function (p) { return p.name; })).every(function (name) {
      return name === "context" || !form.elements[name].value;
    });
    if (!empty) { return; }
    Object.keys(draft).forEach(function (name) {
      if (form.elements[name] && draft[name]) { form.elements[name].value = draft[name]; }
    });
    var extra = form.querySelector("fieldset details");
    if (extra && policies.slice(4).some(function (p) { return p.value; })) { extra.open = true; }
  }

  restoreDraft();
  form.elements.title.addEventListener("blur", function () { checkTitle(false); });
  form.elements.description.addEventListener("blur", function () { checkDescription(false); });
  policies.forEach(function (p) { p.addEventListener("blur", function () { checkPolicies(false); }); });
  form.addEventListener("input", function (event) {
    saveDraft();
    if (event.target.getAttribute("aria-invalid") === "true") {
      if (event.target.name === "title") { checkTitle(false); }
      else if (event.target.name === "description") { checkDescription(false); }
      else if (event.target.classList.contains("policy")) { checkPolicies(false); }
    }
  });
  form.addEventListener("submit", function (event) {
    // "This is mine: use it" submits an existing value, not what is typed: nothing to check.
    if (event.submitter && event.submitter.name === "same_as") {
      try { sessionStorage.removeItem(draftKey); } catch (e) { /* nothing to clear */ }
      return;
    }
    var ok = [checkTitle(true), checkDescription(true), checkPolicies(true)].every(Boolean);
    if (!ok) {
      event.preventDefault();
      var first = form.querySelector("[aria-invalid=true]");
      if (first) { first.focus(); }
      return;
    }
    try { sessionStorage.removeItem(draftKey); } catch (e) { /* nothing to clear */ }
  });
}());
