// The labelling page: linked zoom and pan over the four panels, class hotkeys, active-time counting,
// and answers that are never lost: each answer goes into a queue in localStorage first and leaves it
// only once the server has acknowledged it, so a failed request, a reload or moving on to the next
// sample keeps it and sends it later, in the order it was given. Each answer carries how long ago it
// was given (by this browser's clock, which need not agree with the server's), so one sent an hour
// late keeps the time it was given. An answer refused because the study is closed (423) is not dropped
// either: it stays queued, the page says when the study closed, and it is sent if the coordinator
// extends the reading window. Any other refusal (a 4xx) is final: sending it again would be refused
// again, so the page says why and stops; only a failed connection or a server error (5xx) is tried
// again, and a request turned away as one too many (429) waits as long as the server asks.
(function () {
  "use strict";

  const queueHolder = document.querySelector("[data-queue-key]");
  if (!queueHolder) {
    return;
  }
  const queueKey = queueHolder.dataset.queueKey;
  const page = document.getElementById("labelling");
  const statusLine = document.getElementById("save-status");
  // A page served read-only (the study closed, the answers submitted, a study that allows no change)
  // says so from the start; an empty queue does not hide it.
  const fixedOnLoad = Boolean(statusLine && ["closed", "read-only"].indexOf(statusLine.dataset.state) >= 0);

  // ---------------------------------------------------------------- the answer queue
  let memoryQueue = [];

  function loadQueue() {
    try {
      return JSON.parse(window.localStorage.getItem(queueKey) || "[]");
    } catch (error) {
      return memoryQueue;
    }
  }

  function storeQueue(queue) {
    memoryQueue = queue;
    try {
      window.localStorage.setItem(queueKey, JSON.stringify(queue));
    } catch (error) {
      // Private browsing without storage: the in-memory queue still survives failed requests.
    }
  }

  function dropEntry(id) {
    storeQueue(loadQueue().filter(function (entry) { return entry.id !== id; }));
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : queueHolder.dataset.csrfToken;
  }

  const OUTSIDE_THE_WINDOW = 423;
  const TOO_MANY_REQUESTS = 429;
  const SIGNED_OUT = 401;
  const FIRST_RETRY_MS = 1000;
  const LONGEST_RETRY_MS = 30000;
  // While the study is closed, ask again now and then: the coordinator may extend it.
  const CLOSED_RETRY_MS = 60000;
  let studyClosed = false;
  let flushing = null;
  let retryDelay = FIRST_RETRY_MS;
  let retryTimer = null;
  const failedIds = new Set();
  const listeners = [];

  let lastMessage = "";

  function showStatus(text, kind) {
    lastMessage = text;
    if (statusLine) {
      statusLine.textContent = text;
      statusLine.dataset.state = kind;
    }
    listeners.forEach(function (listener) { listener(kind); });
  }

  async function errorText(response) {
    try {
      return (await response.json()).error || response.statusText;
    } catch (error) {
      return response.statusText || "the server refused it";
    }
  }

  async function sendOne(entry) {
    let response = null;
    try {
      response = await fetch(entry.url, {
        method: "POST",
        credentials: "same-origin",
        // The CSRF check needs the Origin header, which a "no-referrer" policy would blank out.
        referrerPolicy: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body: JSON.stringify({
          class_index: entry.class_index,
          arm: entry.arm || "unaided",
          session: Number(entry.session || 1),
          active_seconds: entry.active_seconds,
          answered_seconds_ago: entry.chosen_at ? Math.max(0, (Date.now() - entry.chosen_at) / 1000) : 0,
        }),
      });
    } catch (error) {
      return { state: "retry", message: "no connection" };
    }
    if (response.ok) {
      return { state: "saved", result: await response.json() };
    }
    if (response.status === OUTSIDE_THE_WINDOW) {
      return { state: "closed", message: await errorText(response) };
    }
    if (response.status === SIGNED_OUT) {
      return { state: "retry", message: "you are signed out; sign in again in another tab" };
    }
    if (response.status === TOO_MANY_REQUESTS) {
      const seconds = Number(response.headers.get("Retry-After")) || 1;
      return { state: "retry", message: "the server is busy", afterMs: Math.min(seconds, 60) * 1000 };
    }
    if (response.status >= 400 && response.status < 500) {
      return { state: "refused", message: await errorText(response) };
    }
    return { state: "retry", message: "the server did not answer (" + response.status + ")" };
  }

  async function drain() {
    for (;;) {
      const queue = loadQueue();
      if (!queue.length) {
        retryDelay = FIRST_RETRY_MS;
        if (!failedIds.size && !fixedOnLoad) {
          showStatus("All answers saved", "saved");
        }
        return;
      }
      const entry = queue[0];
      showStatus("Saving…", "pending");
      const outcome = await sendOne(entry);
      studyClosed = outcome.state === "closed";
      if (outcome.state === "saved") {
        dropEntry(entry.id);
        acknowledged(outcome.result);
      } else if (outcome.state === "closed") {
        // Kept in the queue, with everything after it: nothing is lost, and the order holds.
        const waiting = loadQueue().length;
        const deadline = document.getElementById("deadline");
        if (deadline) {
          deadline.hidden = true; // it said when the study would close; the status now says it has
        }
        showStatus(outcome.message + " (" + waiting + " answer" + (waiting === 1 ? "" : "s") + " waiting in this browser.)", "closed");
        window.clearTimeout(retryTimer);
        retryTimer = window.setTimeout(flush, CLOSED_RETRY_MS);
        return;
      } else if (outcome.state === "refused") {
        dropEntry(entry.id);
        failedIds.add(entry.id);
        showStatus("Sample " + entry.number + " was not saved: " + outcome.message, "refused");
      } else {
        showStatus("Not saved yet — retrying (" + outcome.message + "). Your answer is kept in this browser.", "retrying");
        window.clearTimeout(retryTimer);
        retryTimer = window.setTimeout(flush, outcome.afterMs || retryDelay);
        retryDelay = Math.min(retryDelay * 2, LONGEST_RETRY_MS);
        return;
      }
    }
  }

  function flush() {
    if (!flushing) {
      flushing = drain().finally(function () { flushing = null; });
    }
    return flushing;
  }

  window.addEventListener("online", flush);

  // ---------------------------------------------------------------- progress
  const answeredNumbers = new Set(page ? JSON.parse(document.getElementById("answered-numbers").textContent) : []);
  const progressBar = document.getElementById("progress");
  const progressText = document.getElementById("progress-text");

  // The bar counts what the server has saved, as the submission page does; answers still in this
  // browser's queue are counted apart, so that a closed study never shows more than it holds.
  function showProgress() {
    if (!page) {
      return;
    }
    const waiting = new Set();
    loadQueue().forEach(function (entry) {
      if (!answeredNumbers.has(entry.number)) {
        waiting.add(entry.number);
      }
    });
    progressBar.value = answeredNumbers.size;
    progressText.textContent = answeredNumbers.size + " / " + page.dataset.total + " answered" +
      (waiting.size ? " (" + waiting.size + " more waiting to be saved)" : "");
  }

  function acknowledged(result) {
    // An answer alone, before the suggestion, does not finish its case.
    if (result.finished !== false) {
      answeredNumbers.add(result.number);
    }
    showProgress();
  }

  // ---------------------------------------------------------------- the submission page
  const submitButton = document.querySelector("[data-waits-for-queue]");
  if (submitButton) {
    // The counts on the page were made before these answers reached the server: show them anew.
    let hadQueue = loadQueue().length > 0;
    listeners.push(function (state) {
      const waiting = loadQueue().length > 0;
      if (hadQueue && !waiting) {
        hadQueue = false;
        window.location.reload();
      }
      submitButton.disabled = waiting;
      const note = document.getElementById("queue-note");
      note.hidden = !waiting;
      note.textContent = !waiting ? "" : state === "closed" ? lastMessage
        : "Saving answers from this browser first… (" + state + ")";
    });
  }

  flush();
  if (!page) {
    return;
  }

  // ---------------------------------------------------------------- active time
  // Time counts while the page is visible and the participant did something in the last minute.
  const IDLE_AFTER_MS = 60000;
  let lastInput = Date.now();
  let lastTick = Date.now();
  let wasVisible = document.visibilityState === "visible";
  let activeMs = 0;

  function tick() {
    const now = Date.now();
    if (wasVisible && now - lastInput < IDLE_AFTER_MS) {
      activeMs += now - lastTick;
    }
    lastTick = now;
    wasVisible = document.visibilityState === "visible";
  }

  // The most a save may report (annotator.answers.MOST_ACTIVE_SECONDS_REPORTED).
  const MOST_ACTIVE_SECONDS = 86400;

  function takeActiveSeconds() {
    tick();
    const seconds = Math.min(activeMs / 1000, MOST_ACTIVE_SECONDS);
    activeMs = 0;
    return Math.round(seconds * 10) / 10;
  }

  window.setInterval(tick, 1000);
  document.addEventListener("visibilitychange", tick);
  ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"].forEach(function (type) {
    window.addEventListener(type, function () {
      tick();
      lastInput = Date.now();
    }, { capture: true, passive: true });
  });

  // ---------------------------------------------------------------- answering
  const number = Number(page.dataset.number);
  const readOnly = page.dataset.readOnly === "true";
  const buttons = Array.prototype.slice.call(page.querySelectorAll("button.class-choice"));
  const byHotkey = new Map(buttons.map(function (button) { return [button.dataset.hotkey, button]; }));
  const ADVANCE_AT_LATEST_MS = 1500;

  function highlight(classIndex) {
    buttons.forEach(function (button) {
      const chosen = Number(button.dataset.classIndex) === classIndex;
      button.classList.toggle("current", chosen);
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  function choose(classIndex) {
    if (readOnly) {
      return;
    }
    highlight(classIndex);
    const entry = {
      id: Date.now().toString(36) + Math.random().toString(36).slice(2),
      url: page.dataset.answerUrl,
      arm: page.dataset.arm,
      session: page.dataset.session,
      number: number,
      class_index: classIndex,
      active_seconds: takeActiveSeconds(),
      chosen_at: Date.now(),
    };
    const queue = loadQueue();
    queue.push(entry);
    storeQueue(queue);
    showProgress();
    const saved = flush();
    // Move on once the answer is saved, or after a short wait: the queue carries it over. The last
    // sample waits for the save, because the next page is the final submission, and so does an answer
    // alone in a sequential study, because the next page shows the suggestion only once it is saved.
    const waitsForSave = number === Number(page.dataset.total) || page.dataset.waitsForSave === "true";
    const wait = waitsForSave ? saved : Promise.race([saved, new Promise(function (resolve) {
      window.setTimeout(resolve, ADVANCE_AT_LATEST_MS);
    })]);
    wait.then(function () {
      if (!navigator.onLine) {
        // The next page would not load: stay, and let the queue send everything when the
        // connection returns.
        showStatus("You are offline. Your answers are kept in this browser and sent, in order, when the connection returns.", "retrying");
      } else if (!failedIds.has(entry.id) && !studyClosed && !(waitsForSave && loadQueue().length)) {
        window.location.assign(page.dataset.afterUrl);
      }
    });
  }

  buttons.forEach(function (button) {
    button.addEventListener("click", function () { choose(Number(button.dataset.classIndex)); });
  });

  // An answer given here that is still waiting in the queue is this sample's answer.
  loadQueue().forEach(function (entry) {
    if (entry.url === page.dataset.answerUrl && (entry.arm || "unaided") === page.dataset.arm) {
      highlight(entry.class_index);
    }
  });
  showProgress();

  // ---------------------------------------------------------------- linked zoom and pan
  const MAX_SCALE = 16;
  const images = Array.prototype.slice.call(page.querySelectorAll(".viewport img"));
  const viewports = Array.prototype.slice.call(page.querySelectorAll(".viewport"));
  const view = { scale: 1, x: 0, y: 0 }; // x, y: offset of the image in viewport widths/heights

  function clamp(value, low, high) {
    return Math.min(Math.max(value, low), high);
  }

  function applyView() {
    view.scale = clamp(view.scale, 1, MAX_SCALE);
    view.x = clamp(view.x, 1 - view.scale, 0);
    view.y = clamp(view.y, 1 - view.scale, 0);
    const transform = "translate(" + view.x * 100 + "%, " + view.y * 100 + "%) scale(" + view.scale + ")";
    images.forEach(function (image) { image.style.transform = transform; });
    page.dataset.zoom = view.scale.toFixed(2);
  }

  // Zoom by ``factor`` keeping the point (px, py) (fractions of the viewport) where it is.
  function zoomAt(factor, px, py) {
    const scale = clamp(view.scale * factor, 1, MAX_SCALE);
    view.x = px - (px - view.x) * (scale / view.scale);
    view.y = py - (py - view.y) * (scale / view.scale);
    view.scale = scale;
    applyView();
  }

  function panBy(dx, dy) {
    view.x += dx;
    view.y += dy;
    applyView();
  }

  function resetView() {
    view.scale = 1;
    view.x = 0;
    view.y = 0;
    applyView();
  }

  function relative(viewport, clientX, clientY) {
    const box = viewport.getBoundingClientRect();
    return { x: (clientX - box.left) / box.width, y: (clientY - box.top) / box.height, box: box };
  }

  viewports.forEach(function (viewport) {
    const pointers = new Map();
    let pinchDistance = 0;

    viewport.addEventListener("wheel", function (event) {
      event.preventDefault();
      const at = relative(viewport, event.clientX, event.clientY);
      zoomAt(Math.exp(-event.deltaY * 0.002), at.x, at.y);
    }, { passive: false });

    viewport.addEventListener("pointerdown", function (event) {
      viewport.setPointerCapture(event.pointerId);
      pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      viewport.classList.add("dragging");
    });

    viewport.addEventListener("pointermove", function (event) {
      const previous = pointers.get(event.pointerId);
      if (!previous) {
        return;
      }
      const box = viewport.getBoundingClientRect();
      pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      if (pointers.size === 1) {
        panBy((event.clientX - previous.x) / box.width, (event.clientY - previous.y) / box.height);
      } else if (pointers.size === 2) {
        const points = Array.from(pointers.values());
        const distance = Math.hypot(points[0].x - points[1].x, points[0].y - points[1].y);
        if (pinchDistance > 0) {
          const at = relative(viewport, (points[0].x + points[1].x) / 2, (points[0].y + points[1].y) / 2);
          zoomAt(distance / pinchDistance, at.x, at.y);
        }
        pinchDistance = distance;
      }
    });

    function release(event) {
      pointers.delete(event.pointerId);
      pinchDistance = 0;
      if (!pointers.size) {
        viewport.classList.remove("dragging");
      }
    }
    viewport.addEventListener("pointerup", release);
    viewport.addEventListener("pointercancel", release);
  });

  // ---------------------------------------------------------------- full resolution
  const FULL_KEY = "labelling-full-resolution";
  const fullButton = document.getElementById("full-resolution");

  function showFullResolution(on) {
    images.forEach(function (image) {
      const source = on ? image.dataset.fullSrc : image.dataset.displaySrc;
      if (image.getAttribute("src") !== source) {
        image.setAttribute("src", source);
      }
    });
    fullButton.setAttribute("aria-pressed", on ? "true" : "false");
    try {
      window.localStorage.setItem(FULL_KEY, on ? "1" : "0");
    } catch (error) {
      // Without storage the choice holds for this page only.
    }
  }

  function fullResolutionChosen() {
    try {
      return window.localStorage.getItem(FULL_KEY) === "1";
    } catch (error) {
      return false;
    }
  }

  fullButton.addEventListener("click", function () {
    showFullResolution(fullButton.getAttribute("aria-pressed") !== "true");
  });
  if (fullResolutionChosen()) {
    showFullResolution(true);
  }

  document.getElementById("zoom-in").addEventListener("click", function () { zoomAt(1.25, 0.5, 0.5); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomAt(0.8, 0.5, 0.5); });
  document.getElementById("zoom-reset").addEventListener("click", resetView);

  // ---------------------------------------------------------------- keyboard
  const PAN_STEP = 0.1;
  const pageKeys = {
    "+": function () { zoomAt(1.25, 0.5, 0.5); },
    "=": function () { zoomAt(1.25, 0.5, 0.5); },
    "-": function () { zoomAt(0.8, 0.5, 0.5); },
    "_": function () { zoomAt(0.8, 0.5, 0.5); },
    "ArrowLeft": function () { panBy(PAN_STEP, 0); },
    "ArrowRight": function () { panBy(-PAN_STEP, 0); },
    "ArrowUp": function () { panBy(0, PAN_STEP); },
    "ArrowDown": function () { panBy(0, -PAN_STEP); },
    "Escape": resetView,
    "f": function () { fullButton.click(); },
    "[": function () { if (page.dataset.previousUrl) { window.location.assign(page.dataset.previousUrl); } },
    "]": function () { if (page.dataset.nextUrl) { window.location.assign(page.dataset.nextUrl); } },
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.target.closest("input, textarea, select")) {
      return;
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (pageKeys[key]) {
      event.preventDefault();
      pageKeys[key]();
    } else if (byHotkey.has(key) && !event.repeat) {
      event.preventDefault();
      choose(Number(byHotkey.get(key).dataset.classIndex));
    }
  });
})();
