// Reactions in place: the same POST the button makes without JavaScript, answered with JSON,
// so the page does not reload and scroll. Any failure falls back to the plain form submit.
(function () {
  "use strict";
  if (!window.fetch || !window.FormData) return;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("reaction-form")) return;
    event.preventDefault();
    var button = form.querySelector("button.reaction");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (result) {
        button.setAttribute("aria-pressed", result.pressed ? "true" : "false");
        button.querySelector(".count").textContent = String(result.count);
        button.disabled = false;
      })
      .catch(function () { form.submit(); });
  });
})();
