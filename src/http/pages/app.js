// jitgate console: progressive enhancement only. Every page works without this file; it adds
// copy buttons and a confirmation before forms that take access away.
(function () {
  "use strict";

  // <form data-confirm="…">: ask before sending.
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      // The clipboard API can refuse (no focus, no permission): fall back to selecting.
      return navigator.clipboard.writeText(text).catch(function () { return copyBySelection(text); });
    }
    return copyBySelection(text);
  }

  function copyBySelection(text) {
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

  // <button class="copy" data-copy="element-id" hidden>: copies that element's text.
  Array.prototype.forEach.call(document.querySelectorAll("button.copy[data-copy]"), function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = (target.value !== undefined ? target.value : target.textContent).trim();
      copyText(text).then(function () {
        button.textContent = "Copied";
        button.classList.add("copied");
        window.setTimeout(function () {
          button.textContent = "Copy";
          button.classList.remove("copied");
        }, 2000);
      }, function () {
        button.textContent = "Select and copy";
      });
    });
  });
})();

// Portal (/portal): a request page follows its request (`data-poll` on #request-status, a JSON
// endpoint of the same session) and reloads once it is ready or refused; the TOTP code rolls
// over to the next ones it was given (`data-next`) and counts its seconds down.
(function () {
  "use strict";

  var status = document.getElementById("request-status");
  if (status && status.getAttribute("data-poll")) {
    var url = status.getAttribute("data-poll");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.status && body.status !== "pending") {
            window.location.reload();
          } else {
            window.setTimeout(poll, 1500);
          }
        }, function () { window.setTimeout(poll, 5000); });
    };
    window.setTimeout(poll, 1000);
  }

  var code = document.getElementById("totp-code");
  var seconds = document.getElementById("totp-seconds");
  if (code && seconds && code.getAttribute("data-seconds")) {
    var left = parseInt(code.getAttribute("data-seconds"), 10) || 30;
    var next = (code.getAttribute("data-next") || "").split(" ").filter(function (c) { return c; });
    window.setInterval(function () {
      left -= 1;
      if (left <= 0) {
        if (next.length === 0) {
          code.textContent = "—";
          seconds.textContent = "0";
          return;
        }
        code.textContent = next.shift();
        left = 30; // Entra's authenticator codes change every 30 seconds
      }
      seconds.textContent = String(left);
    }, 1000);
  }
})();
