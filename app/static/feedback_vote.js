// A person's click on a rating in the email counts at once: this page sends the rating its
// link names. A link scanner that fetches the page without running scripts records nothing.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (form) {
    form.submit();
  }
})();
