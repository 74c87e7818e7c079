// Improves the page, which works without it: polls /live for the same content and swaps it in,
// announces a short sentence politely when the figures change, never moves focus, and can be
// paused (WCAG 2.2.2). Served by the dashboard itself; no other origin is contacted.
(function () {
  "use strict";
  var updates = document.getElementById("updates");
  var content = document.getElementById("live-content");
  if (!updates || !content) { return; }
  var button = document.getElementById("pause-updates");
  var stateText = document.getElementById("update-state");
  var lastChecked = document.getElementById("last-checked");
  var announcer = document.getElementById("announcer");
  var everyMs = Number(updates.getAttribute("data-poll-ms")) || 5000;
  var storageKey = "modelship-dashboard-paused";
  var paused = false;
  try { paused = window.sessionStorage.getItem(storageKey) === "1"; } catch (e) { paused = false; }
  var timer = null;
  var stopped = false;
  var lastSentence = content.getAttribute("data-announce") || "";

  function describe() {
    var seconds = Math.round(everyMs / 1000);
    if (stopped) {
      stateText.textContent = "Automatic updates stopped: sign in again to resume them.";
    } else if (paused) {
      stateText.textContent = "Automatic updates are paused. Resume them, or use Refresh now.";
    } else {
      stateText.textContent = "Automatic updates are on: every " + seconds + " seconds.";
    }
    button.textContent = paused ? "Resume updates" : "Pause updates";
    button.hidden = stopped;
  }

  function announce(sentence) {
    if (!sentence || sentence === lastSentence) { return; }
    lastSentence = sentence;
    announcer.textContent = sentence;
  }

  function swap(fresh) {
    var focused = document.activeElement;
    var focusedId = focused && content.contains(focused) ? focused.id : null;
    content.replaceChildren.apply(content, Array.prototype.slice.call(fresh.childNodes));
    ["data-digest", "data-announce", "data-state", "data-read-at"].forEach(function (name) {
      content.setAttribute(name, fresh.getAttribute(name) || "");
    });
    // The same control in the new content keeps the focus it had; nothing else takes it.
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) { again.focus({ preventScroll: true }); }
    }
  }

  function poll() {
    timer = null;
    if (paused || stopped) { return; }
    fetch("/live", { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html;
        var fresh = template.content.getElementById("live-content");
        if (!fresh) { throw new Error("no content"); }
        lastChecked.textContent = "Read from the service at " + fresh.getAttribute("data-read-at") + ".";
        if (fresh.getAttribute("data-digest") !== content.getAttribute("data-digest")) {
          swap(fresh);
          announce(fresh.getAttribute("data-announce"));
        }
        if (fresh.getAttribute("data-state") === "signed-out") {
          stopped = true;
          describe();
        }
      })
      .catch(function () {
        announce("The dashboard's own server did not answer; it tries again shortly.");
      })
      .then(schedule);
  }

  function schedule() {
    if (!paused && !stopped && timer === null) { timer = window.setTimeout(poll, everyMs); }
  }

  button.addEventListener("click", function () {
    paused = !paused;
    try { window.sessionStorage.setItem(storageKey, paused ? "1" : "0"); } catch (e) { /* private mode */ }
    if (paused && timer !== null) { window.clearTimeout(timer); timer = null; }
    describe();
    schedule();
  });

  button.hidden = false;
  describe();
  schedule();
})();
