// Times typed in <input type=datetime-local> are the editor's wall clock: send the browser's
// UTC offset at the chosen date (DST included) and say so, instead of the no-script "UTC".
(function () {
  "use strict";

  function offsetText(minutes) {
    var sign = minutes < 0 ? "-" : "+";
    var abs = Math.abs(minutes);
    var hours = String(Math.floor(abs / 60)).padStart(2, "0");
    return "UTC" + sign + hours + ":" + String(abs % 60).padStart(2, "0");
  }

  function offsetAt(value) {
    var date = value ? new Date(value) : new Date();  // no zone in the text: local time
    if (isNaN(date.getTime())) date = new Date();
    return -date.getTimezoneOffset();
  }

  document.querySelectorAll("input[type=datetime-local][data-offset-field]").forEach(function (input) {
    var form = input.form;
    var hidden = form && form.elements[input.dataset.offsetField];
    if (!hidden) return;
    var label = document.querySelector('label[for="' + input.id + '"]');
    var help = document.getElementById(input.id + "-help");
    var later = form.querySelector("input[type=radio][value=later]");

    function update() {
      var minutes = offsetAt(input.value);
      hidden.value = String(minutes);
      if (label) label.textContent = label.textContent.replace(/\(.*\)$/, "(your time zone, " + offsetText(minutes) + ")");
      if (help) help.textContent = "Read in your browser's time zone, " + offsetText(minutes) + ".";
    }

    input.addEventListener("input", function () {
      if (later && input.value) later.checked = true;
      update();
    });
    form.addEventListener("submit", update);
    update();
  });
})();
