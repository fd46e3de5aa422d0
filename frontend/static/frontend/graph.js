// The report's moral graph: a filter by context and, on selecting a value, its card, its arrows and their stories.
// The page works without this script (every graph is drawn by the server); the script only adds interaction.
(function () {
  "use strict";

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function percent(x) {
    return x === null || x === undefined ? "—" : Math.round(x * 100) + "%";
  }

  function edgeItem(edge, values, fromSide) {
    var item = element("li");
    var source = values[String(edge.source)], target = values[String(edge.target)];
    var line = element("p");
    line.appendChild(element("strong", source ? source.title : "?"));
    line.appendChild(document.createTextNode(" → "));
    line.appendChild(element("strong", target ? target.title : "?"));
    item.appendChild(line);
    if (edge.story) item.appendChild(element("blockquote", edge.story, "story-text"));
    item.appendChild(element("p",
      edge.wiser + " wiser, " + edge.notWiser + " not wiser, " + edge.unsure + " not sure (" +
      percent(edge.share) + " wiser); " + edge.reverse + " called the reverse move wiser.", "meta"));
    item.dataset.side = fromSide ? "out" : "in";
    return item;
  }

  // A rank is shown as its 95% range ("1–3"), never as a bare number when the range is wider.
  function rankLabel(value) {
    var low = value.rankInterval[0], high = value.rankInterval[1];
    return low === high ? String(low) : low + "–" + high;
  }

  function showDetails(panel, context, valueId) {
    var value = context.values[String(valueId)];
    if (!value) return;
    panel.replaceChildren();
    panel.appendChild(element("h3", value.title));
    panel.appendChild(element("p", value.description));
    panel.appendChild(element("p",
      "Rank " + rankLabel(value) + ", score " +
      value.score.toFixed(3) + " (95% interval " + value.scoreInterval[0].toFixed(3) + "–" +
      value.scoreInterval[1].toFixed(3) + "), first in " + percent(value.pTop) + " of the recomputations.", "score"));
    panel.appendChild(element("h4", "What people attend to"));
    var policies = element("ul");
    value.policies.forEach(function (p) { policies.appendChild(element("li", p)); });
    panel.appendChild(policies);
    var incoming = context.edges.filter(function (e) { return e.target === valueId; });
    var outgoing = context.edges.filter(function (e) { return e.source === valueId; });
    panel.appendChild(element("h4", "Moves to this value (" + incoming.length + ")"));
    var inList = element("ul", null, "edges");
    incoming.forEach(function (e) { inList.appendChild(edgeItem(e, context.values, false)); });
    if (!incoming.length) inList.appendChild(element("li", "None voted on."));
    panel.appendChild(inList);
    panel.appendChild(element("h4", "Moves away from this value (" + outgoing.length + ")"));
    var outList = element("ul", null, "edges");
    outgoing.forEach(function (e) { outList.appendChild(edgeItem(e, context.values, true)); });
    if (!outgoing.length) outList.appendChild(element("li", "None voted on."));
    panel.appendChild(outList);
    panel.hidden = false;
  }

  function select(svg, panel, context, node) {
    var valueId = Number(node.dataset.value);
    svg.querySelectorAll(".node.selected").forEach(function (n) {
      n.classList.remove("selected");
      n.setAttribute("aria-pressed", "false");
    });
    node.classList.add("selected");
    node.setAttribute("aria-pressed", "true");
    svg.classList.add("has-selection");
    svg.querySelectorAll(".edge").forEach(function (line) {
      var related = Number(line.dataset.source) === valueId || Number(line.dataset.target) === valueId;
      line.classList.toggle("related", related);
    });
    showDetails(panel, context, valueId);
  }

  // Arrow keys move between values: left and right along a row, up (wiser) and down to the nearest value of
  // the row above or below.
  function neighbour(svg, node, key) {
    var row = Number(node.dataset.row);
    var nodes = Array.prototype.slice.call(svg.querySelectorAll(".node[data-row]"));
    function at(r) { return nodes.filter(function (n) { return Number(n.dataset.row) === r; }); }
    if (key === "ArrowLeft" || key === "ArrowRight") {
      var index = nodes.indexOf(node) + (key === "ArrowLeft" ? -1 : 1);
      return nodes[index] || null;
    }
    if (key !== "ArrowUp" && key !== "ArrowDown") return null;
    var target = at(row + (key === "ArrowUp" ? -1 : 1));
    if (!target.length) return null;
    var x = node.querySelector("circle").cx.baseVal.value;
    target.sort(function (a, b) {
      return Math.abs(a.querySelector("circle").cx.baseVal.value - x) -
        Math.abs(b.querySelector("circle").cx.baseVal.value - x);
    });
    return target[0];
  }

  function setUp() {
    var source = document.getElementById("graph-data");
    var panel = document.getElementById("graph-details");
    if (!source || !panel) return;
    var data = JSON.parse(source.textContent);
    document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
    panel.hidden = true;
    var figures = Array.prototype.slice.call(document.querySelectorAll("figure.graph"));

    figures.forEach(function (figure) {
      var context = data[figure.dataset.context];
      var svg = figure.querySelector("svg");
      if (!context || !svg) return;
      svg.setAttribute("role", "group");
      svg.querySelectorAll(".node").forEach(function (node) {
        var value = context.values[node.dataset.value];
        if (!value) return;
        node.setAttribute("role", "button");
        node.setAttribute("tabindex", "0");
        node.setAttribute("aria-pressed", "false");
        node.setAttribute("aria-label", value.title + ", rank " + rankLabel(value) + ": show its card and stories");
        node.addEventListener("click", function () { select(svg, panel, context, node); });
        node.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            select(svg, panel, context, node);
            return;
          }
          var next = neighbour(svg, node, event.key);
          if (next) {
            event.preventDefault();
            next.focus();
          }
        });
      });
    });

    var chooser = document.getElementById("graph-context");
    function show(contextId) {
      figures.forEach(function (figure) { figure.hidden = figure.dataset.context !== contextId; });
      panel.hidden = true;
      panel.replaceChildren();
    }
    if (chooser) {
      chooser.addEventListener("change", function () { show(chooser.value); });
      show(chooser.value);
    }

    window.addEventListener("beforeprint", function () {
      figures.forEach(function (figure) { figure.hidden = false; });
    });
    window.addEventListener("afterprint", function () {
      if (chooser) show(chooser.value);
    });
  }

  // Printing (the full report or the brief): every closed section is opened for the paper, then closed again.
  function setUpPrint() {
    var opened = [];
    window.addEventListener("beforeprint", function () {
      opened = Array.prototype.slice.call(document.querySelectorAll("details:not([open])"));
      opened.forEach(function (d) { d.open = true; });
    });
    window.addEventListener("afterprint", function () {
      opened.forEach(function (d) { d.open = false; });
    });
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  }

  function start() {
    setUpPrint();
    setUp();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
