// casebridge staff console: the little the pages do in the browser. Every
// page works without it; it adds live notices and jumping to a rule's line.
(function () {
  "use strict";

  var body = document.body;

  // showNotice puts a message with a refresh link in the live region, built
  // with text nodes only.
  function showNotice(text, href) {
    var box = document.getElementById("live-notice");
    if (!box) return;
    box.textContent = text + " ";
    var a = document.createElement("a");
    a.href = href;
    a.textContent = "Refresh";
    box.appendChild(a);
    box.hidden = false;
  }

  // edited says whether the person has typed or chosen something in a form
  // on the page, or is looking at a form's error: then the page must not
  // reload under them.
  function edited() {
    if (document.querySelector("[data-form-error]")) return true;
    var fields = document.querySelectorAll("main input, main textarea, main select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden" || f.type === "submit") continue;
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) return true;
      } else if (f.tagName === "SELECT") {
        // With no option marked selected, the first one is.
        var initial = 0;
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].defaultSelected) initial = j;
        }
        if (f.selectedIndex !== initial) return true;
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  // Live updates: the queue counts the cases that changed since it was
  // drawn; a case page reloads when its case changes, unless the person is
  // in the middle of a form.
  function live() {
    var mode = body.getAttribute("data-live");
    if (!mode || !window.EventSource) return;
    var ref = body.getAttribute("data-ref") || "";
    var version = Number(body.getAttribute("data-version") || 0);
    var department = body.getAttribute("data-department") || "";
    var here = body.getAttribute("data-url") || location.pathname + location.search;
    var query = [];
    if (ref) query.push("ref=" + encodeURIComponent(ref));
    if (department) query.push("department=" + encodeURIComponent(department));
    var source = new EventSource("/events" + (query.length ? "?" + query.join("&") : ""));
    source.onopen = function () { body.setAttribute("data-live-state", "open"); };
    source.onerror = function () { body.setAttribute("data-live-state", "retrying"); };
    var changed = {};
    var count = 0;
    // The dashboard fetches its figures again, at most once a second, and
    // swaps them in: the server draws them, chart included.
    var pending = false;
    function refreshDashboard() {
      if (pending) return;
      pending = true;
      setTimeout(function () {
        fetch(here + "?part=figures", { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
          .then(function (html) {
            var box = document.getElementById("dashboard-live");
            if (box) box.innerHTML = html;
            body.setAttribute("data-refreshed", String(Number(body.getAttribute("data-refreshed") || 0) + 1));
          })
          .catch(function () { showNotice("The figures could not be brought up to date.", here); })
          .then(function () { pending = false; });
      }, 1000);
    }
    source.addEventListener("case", function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      if (mode === "dashboard") {
        refreshDashboard();
        return;
      }
      if (mode === "case") {
        if (ev.ref !== ref || ev.version <= version) return;
        version = ev.version;
        if (edited()) {
          showNotice("This case has changed since you opened it.", here);
        } else {
          source.close();
          location.assign(here);
        }
        return;
      }
      if (!changed[ev.ref]) {
        changed[ev.ref] = true;
        count++;
      }
      showNotice(count === 1 ? "1 case changed." : count + " cases changed.", here);
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // A mistake's "Line 6, column 11" link selects that place in the editor.
  function jumpToLine(e) {
    var a = e.target.closest ? e.target.closest("a[data-line]") : null;
    if (!a) return;
    var area = document.getElementById(a.getAttribute("data-target"));
    if (!area) return;
    e.preventDefault();
    var line = Number(a.getAttribute("data-line")) || 1;
    var column = Number(a.getAttribute("data-column")) || 1;
    var lines = area.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    var end = start + (lines[line - 1] || "").length;
    area.focus();
    area.setSelectionRange(Math.min(start + column - 1, end), end);
    var lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
    area.scrollTop = Math.max(0, (line - 4) * lineHeight);
  }

  // A page shown again with a mistake starts at the message, so keyboard
  // and screen-reader users hear it first.
  function focusError() {
    var box = document.querySelector("[data-form-error]");
    if (!box) return;
    box.setAttribute("tabindex", "-1");
    box.focus();
  }

  live();
  focusError();
  document.addEventListener("click", jumpToLine);
})();
