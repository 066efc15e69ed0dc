// Live preview for the issue editor. Without JavaScript the "Preview" button does the same.
(function () {
  "use strict";
  var form = document.getElementById("issue-form");
  var target = document.getElementById("preview");
  if (!form || !target || !window.fetch) return;
  var body = form.querySelector("textarea[name=body_markdown]");
  var token = form.querySelector("input[name=csrf_token]");
  var timer = null;
  var latest = 0;

  function refresh() {
    var sequence = ++latest;
    var data = new FormData(form);  // the body, title, excerpt and visibility all shape the preview
    fetch(target.dataset.url, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        // The server renders with the same sanitizing renderer readers get.
        if (html !== null && sequence === latest) target.innerHTML = html;
      })
      .catch(function () { /* keep the last preview; the Preview button still works */ });
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
})();
