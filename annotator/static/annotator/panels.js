// Panel images the server could not send yet. It answers 503 while a participant's other panels are
// being drawn or the sample is being drawn for someone else (Retry-After says when to ask again), and
// when it cannot store images (its disk is full), with a message for the reader; and 429 when this
// browser, or its address, has too many requests under way (Retry-After again), which is no news for
// the reader: the image just comes a moment later. An <img> only says that it failed, so the page asks
// again with fetch(), which can read the answer, shows the message, and shows the image once it comes.
(function () {
  "use strict";

  const RETRIES = 8;
  const LONGEST_WAIT_S = 30;
  const WAIT_AND_ASK_AGAIN = [429, 503];
  const note = document.getElementById("panel-status");
  const problems = new Map();
  const tries = new WeakMap();

  function showProblems() {
    if (!note) {
      return;
    }
    const messages = Array.from(new Set(problems.values()));
    note.hidden = messages.length === 0;
    note.textContent = messages.join(" ");
  }

  function retry(image) {
    const attempt = (tries.get(image) || 0) + 1;
    if (attempt > RETRIES) {
      return;
    }
    tries.set(image, attempt);
    const source = image.getAttribute("src");
    fetch(source, { credentials: "same-origin" }).then(async function (response) {
      if (image.getAttribute("src") !== source) {
        return; // the page moved on to another image (e.g. full resolution)
      }
      if (response.ok) {
        image.removeAttribute("src");
        image.setAttribute("src", source);
        return;
      }
      if (response.status !== 429 || attempt === RETRIES) {
        const text = response.status === 503 ? (await response.text()).trim() : "";
        problems.set(image, text || "An image could not be loaded (" + response.status + ").");
        showProblems();
      }
      if (WAIT_AND_ASK_AGAIN.indexOf(response.status) >= 0) {
        const wait = Math.min(Number(response.headers.get("Retry-After")) || 2, LONGEST_WAIT_S);
        window.setTimeout(function () { retry(image); }, wait * 1000);
      }
    }).catch(function () {
      problems.set(image, "An image could not be loaded: no connection.");
      showProblems();
      window.setTimeout(function () { retry(image); }, 5000);
    });
  }

  document.querySelectorAll("img[data-panel]").forEach(function (image) {
    image.addEventListener("error", function () { retry(image); });
    image.addEventListener("load", function () {
      tries.delete(image);
      problems.delete(image);
      showProblems();
    });
    if (image.complete && image.naturalWidth === 0 && image.getAttribute("src")) {
      retry(image); // it failed before this script ran
    }
  });
})();
