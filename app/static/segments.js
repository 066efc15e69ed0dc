// Live member and recipient counts while a segment expression is typed.
(function () {
  "use strict";
  var output = document.getElementById("segment-count");
  if (!output || !window.fetch) return;
  var input = document.getElementById(output.dataset.for || "segment");
  var url = output.dataset.countUrl || input.dataset.countUrl;
  var timer = null;
  var latest = 0;

  function refresh() {
    var sequence = ++latest;
    var expression = input.value.trim();
    if (!expression) { output.textContent = ""; output.classList.remove("error"); return; }
    fetch(url + "?expression=" + encodeURIComponent(expression), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (sequence !== latest) return;
        if (data.error) {
          output.textContent = data.error + " (at position " + data.position + ")";
          output.classList.add("error");
        } else {
          output.textContent = data.members + " members match; a send would reach " + data.recipients + ".";
          output.classList.remove("error");
        }
      })
      .catch(function () { /* the Filter button still works without live counts */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  if (input.value.trim()) refresh();
})();
