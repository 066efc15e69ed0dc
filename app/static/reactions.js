// Reactions in place: the same POST the button makes without JavaScript, answered with JSON,
// so the page does not reload and scroll. One form holds a post's buttons, each naming its
// kind; a browser that cannot tell which was pressed, and any failure, get the plain submit.
(function () {
  "use strict";
  if (!window.fetch || !window.FormData) return;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    if (!form.classList || !form.classList.contains("reaction-form")) return;
    if (!button || !button.classList.contains("reaction")) return;
    event.preventDefault();
    var body = new FormData(form);
    body.set(button.name, button.value);
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: body,
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
      .catch(function () {
        button.disabled = false;
        submitPlainly(form, button);
      });
  });

  // The plain POST with the pressed button's kind (form.submit() fires no submit event and
  // sends no button).
  function submitPlainly(form, button) {
    var kind = document.createElement("input");
    kind.type = "hidden";
    kind.name = button.name;
    kind.value = button.value;
    form.appendChild(kind);
    form.submit();
  }
})();
