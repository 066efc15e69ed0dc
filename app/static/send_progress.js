// Live send progress: every 2 s, while a send can still move, read its .json and update the
// numbers in place (the page works, with a reload, without this script).
(function () {
  "use strict";
  var INTERVAL = 2000;

  function show(article, data) {
    var shown = data.display;
    article.querySelectorAll("[data-field]").forEach(function (element) {
      var value = shown[element.dataset.field];
      if (value !== undefined && element.textContent !== value) element.textContent = value;
    });
    article.querySelectorAll("[data-optional]").forEach(function (element) {
      element.hidden = !shown[element.dataset.optional];
    });
    article.querySelectorAll("form[data-action]").forEach(function (form) {
      form.hidden = data.actions.indexOf(form.dataset.action) === -1;
    });
    var bar = article.querySelector("progress");
    if (bar) { bar.value = data.percent; bar.textContent = shown.percent; }
    article.dataset.live = data.live ? "true" : "false";
  }

  function follow(article) {
    var url = article.dataset.progressUrl;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (data) {
          show(article, data);
          if (data.live) setTimeout(poll, INTERVAL);
        })
        .catch(function () { setTimeout(poll, INTERVAL * 5); });  // a blip: try again, slower
    }
    setTimeout(poll, INTERVAL);
  }

  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  });
  if (!window.fetch) return;
  document.querySelectorAll("article.send[data-live=true]").forEach(follow);
})();
