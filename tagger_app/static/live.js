// The live dashboard refreshes itself: every few seconds it fetches the server-rendered panel
// (/live/panel, same charts and tables as the page) and swaps it in when its stamp changed (a new
// prediction, check or promotion), keeping open <details> open. No inline script: the CSP forbids it.
(function () {
  "use strict";
  var panel = document.getElementById("live-panel");
  var status = document.getElementById("live-status");
  if (!panel || !status) { return; }
  var src = panel.getAttribute("data-src");
  var every = parseInt(panel.getAttribute("data-poll-ms"), 10) || 2000;

  function stampOf(root) {
    var inner = root.querySelector("[data-stamp]");
    return inner ? inner.getAttribute("data-stamp") : "";
  }

  function swap(fresh) {
    var open = Array.prototype.map.call(panel.querySelectorAll("details[open][id]"), function (d) { return d.id; });
    panel.replaceChildren(document.importNode(fresh, true));
    open.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) { d.open = true; }
    });
    status.textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC.";
  }

  function tick() {
    fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("the server answered " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-stamp]");
        if (fresh && fresh.getAttribute("data-stamp") !== stampOf(panel)) { swap(fresh); }
      })
      .catch(function (error) { status.textContent = "Could not refresh (" + error.message + "); trying again."; })
      .then(function () { window.setTimeout(tick, every); });
  }
  window.setTimeout(tick, every);
}());
