// Every page: a form that comes back refused puts the keyboard on its first field in error (the
// error summary above lists them all, each a link to its field).
(function () {
  "use strict";
  const invalid = document.querySelector("main [aria-invalid='true']:not([disabled])");
  if (invalid) {
    invalid.focus();
    const summary = document.getElementById("error-summary");
    (summary || invalid).scrollIntoView({ block: "start" });
  }
})();
