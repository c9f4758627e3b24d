// jitgate credential page: progressive enhancement only. Everything works without this file;
// it adds copy buttons, the expiry in local time, live countdowns and the TOTP code rollover.
// Time runs from the page's time origin (performance.now), not the device clock, which may be
// wrong: the server sends durations, never asks the browser what time it is.
(function () {
  "use strict";

  function elapsed() {
    return performance.now() / 1000;
  }

  var announce = document.getElementById("announce");
  function say(text) {
    if (!announce) return;
    announce.textContent = "";
    window.setTimeout(function () { announce.textContent = text; }, 50);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  Array.prototype.forEach.call(document.querySelectorAll("button.copy"), function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    var what = button.getAttribute("data-what") || "Text";
    if (!target) return;
    button.hidden = false;
    button.setAttribute("aria-label", "Copy " + what.toLowerCase());
    button.addEventListener("click", function () {
      copyText(target.textContent.trim()).then(function () {
        button.textContent = "Copied";
        button.classList.add("copied");
        say(what + " copied");
        window.setTimeout(function () {
          button.textContent = "Copy";
          button.classList.remove("copied");
        }, 2000);
      }, function () {
        selectText(target);
        say("Could not copy. The text is selected: press Control C or Command C.");
      });
    });
  });

  var expires = document.getElementById("expires-at");
  var local = document.getElementById("local-time");
  if (expires && local) {
    try {
      var when = new Date(Number(expires.getAttribute("data-ms")));
      // In UTC already: the line above says it all.
      if (when.getTimezoneOffset() === 0) throw new Error("local time is UTC");
      local.textContent = "Your time: " + when.toLocaleString(undefined, {
        weekday: "short", day: "numeric", month: "short",
        hour: "2-digit", minute: "2-digit", timeZoneName: "short"
      });
      local.hidden = false;
    } catch (e) { /* keep the UTC time only */ }
  }

  function timeLeft(seconds) {
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    if (h > 0) return h + " h " + m + " min left";
    if (m > 0) return m + " min " + s + " s left";
    return s + " s left";
  }

  // A TOTP form that came back with an error: put the keyboard where the fix goes.
  var invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();

  var tickers = [];

  var countdown = document.getElementById("countdown");
  if (countdown) {
    var total = Number(countdown.getAttribute("data-seconds"));
    tickers.push(function () {
      var left = Math.max(0, Math.floor(total - elapsed()));
      countdown.textContent = left > 0 ? timeLeft(left) : "Access has ended";
      countdown.classList.toggle("ending", left < 600);
    });
  }

  var code = document.getElementById("totp-code");
  var codeHint = document.getElementById("totp-left");
  if (code && codeHint) {
    // [code, seconds from the time origin until it stops being current], in order.
    var schedule = [[code.textContent.trim(), Number(code.getAttribute("data-seconds"))]];
    (code.getAttribute("data-next") || "").split(" ").forEach(function (pair) {
      var parts = pair.split(":");
      if (parts.length === 2) schedule.push([parts[0], Number(parts[1])]);
    });
    var copyCode = document.querySelector('button.copy[data-copy="totp-code"]');
    tickers.push(function () {
      var t = elapsed();
      var i = 0;
      while (i < schedule.length && t >= schedule[i][1]) i++;
      if (i >= schedule.length) {
        code.textContent = "······";
        code.classList.add("stale");
        if (copyCode) copyCode.hidden = true;
        codeHint.textContent = "This code has expired. Reveal again for a fresh one.";
        return;
      }
      if (code.textContent !== schedule[i][0]) code.textContent = schedule[i][0];
      codeHint.textContent = "Valid for " + Math.max(1, Math.ceil(schedule[i][1] - t)) + " more seconds.";
    });
  }

  function tick() { tickers.forEach(function (f) { f(); }); }
  if (tickers.length) {
    tick();
    window.setInterval(tick, 500);
  }
})();
