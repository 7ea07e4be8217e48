// A practice sample of the training phase: a class's key chooses it (the form is sent and the page
// comes back with the correct location); once answered, Enter or "]" goes on to the next one.
(function () {
  "use strict";

  const page = document.getElementById("practice");
  if (!page) {
    return;
  }
  const buttons = Array.prototype.slice.call(page.querySelectorAll("button.class-choice"));
  const byHotkey = new Map(buttons.map(function (button) { return [button.dataset.hotkey, button]; }));
  const next = document.getElementById("next-practice");
  if (next) {
    next.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) {
      return;
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (next && (key === "]" || key === "Enter")) {
      event.preventDefault();
      window.location.assign(next.href);
    } else if (!next && byHotkey.has(key)) {
      event.preventDefault();
      byHotkey.get(key).click();
    }
  });
})();
