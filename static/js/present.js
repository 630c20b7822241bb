// Present mode (courseware/present_consumers.py, docs/present.md). A cohort's instructor
// presents: their deck sends where it is, and the speaker view (S) shows in its notes how
// the class fares on the exercises these slides lead to. A trainee's deck follows the
// instructor's slide, until the trainee moves on their own ("browse freely"); "Follow"
// takes them back. The choice holds for the tab (sessionStorage), across the course's decks.
/* global Reveal */
(() => {
  const params = new URLSearchParams(window.location.search);
  // The speaker view's frames and the print layout are not people in the room.
  if (params.has("receiver") || params.has("print-pdf")) return;
  const body = document.body;
  const role = body.dataset.presentRole;
  const path = body.dataset.presentSocket;
  const module = body.dataset.module;
  const region = document.querySelector('[data-region="present"]');
  if (!role || !path || !region) return;
  const toggle = region.querySelector(".deck-present-toggle");
  const status = region.querySelector(".deck-present-status");
  const storeKey = `lotse-present:${path}`;

  let socket = null;
  let retry = 1000;
  let latest = null; // where the leader is, as the server last said
  let leading = role === "lead" && sessionStorage.getItem(storeKey) === "lead";
  let following = role === "follow" && sessionStorage.getItem(storeKey) !== "free";

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function here() {
    const at = Reveal.getIndices();
    return { type: "position", module, h: at.h, v: at.v || 0, f: at.f === undefined ? null : at.f };
  }

  function slideLabel(position) {
    return `“${position.title}”, slide ${position.h + 1}`;
  }

  function atLeader() {
    if (!latest || latest.module !== module) return false;
    const at = Reveal.getIndices();
    return at.h === latest.h && (at.v || 0) === latest.v;
  }

  function go(position) {
    if (position.module === module) {
      if (!atLeader()) Reveal.slide(position.h, position.v, position.f === null ? undefined : position.f);
      else if (position.f !== null) Reveal.slide(position.h, position.v, position.f);
      return;
    }
    window.location.assign(`${position.url}#/${position.h}/${position.v}`);
  }

  function render() {
    if (role === "lead") {
      toggle.textContent = leading ? "● Presenting: stop" : toggle.dataset.label;
      toggle.classList.toggle("is-live", leading);
      toggle.setAttribute("aria-pressed", leading ? "true" : "false");
      return;
    }
    status.hidden = toggle.hidden = latest === null;
    if (latest === null) return;
    status.textContent = following
      ? `Following ${latest.by}`
      : `${latest.by} is presenting ${slideLabel(latest)}`;
    toggle.textContent = following ? "Browse freely" : "Follow";
    toggle.dataset.action = following ? "browse" : "follow";
  }

  // -- the speaker view's class stats (leaders only) ---------------------------------------

  function statsNode(exercises) {
    const box = document.createElement("div");
    box.className = "lotse-class-stats";
    const heading = document.createElement("strong");
    heading.textContent = "Your class, live";
    box.append(heading);
    for (const exercise of exercises) {
      const title = document.createElement("div");
      title.textContent = `${exercise.title} (${exercise.trainees} trainee${exercise.trainees === 1 ? "" : "s"})`;
      const list = document.createElement("ul");
      for (const task of exercise.tasks) {
        const item = document.createElement("li");
        item.textContent =
          `${task.passed}/${exercise.trainees} passed ${task.title}` +
          (task.stuck ? `, ${task.stuck} stuck` : "");
        item.dataset.task = task.key;
        list.append(item);
      }
      box.append(title, list);
    }
    return box;
  }

  function showStats(message) {
    if (message.module !== module || !message.exercises.length) return;
    const html = statsNode(message.exercises).outerHTML;
    for (const slide of document.querySelectorAll(".reveal .slides section")) {
      if (slide.querySelector("section")) continue; // a stack: its slides get their own
      let notes = slide.querySelector(":scope > aside.notes");
      if (!notes) {
        notes = document.createElement("aside");
        notes.className = "notes";
        slide.append(notes);
      }
      // At the top: the class at a glance, above notes that may run long.
      const old = notes.querySelector(".lotse-class-stats");
      if (old) old.outerHTML = html;
      else notes.insertAdjacentHTML("afterbegin", html);
    }
    // The notes plugin sends the current slide's notes to the speaker view on reveal's
    // events; "resumed" is one that changes nothing else.
    document.querySelector(".reveal").dispatchEvent(new Event("resumed"));
  }

  // -- the socket ----------------------------------------------------------------------------

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + path);
    socket.addEventListener("open", () => {
      retry = 1000;
      if (role === "lead") {
        send({ type: "stats", module });
        if (leading) send(here());
      }
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "position") {
        latest = message.position;
        if (role === "follow" && following && latest) go(latest);
        render();
      } else if (message.type === "stats") {
        showStats(message);
      } else if (message.type === "error") {
        console.warn("present mode:", message.message);
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (event.code === 4403) return; // refused: retrying would not change that
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }

  toggle.dataset.label = toggle.textContent;
  toggle.addEventListener("click", () => {
    if (role === "lead") {
      leading = !leading;
      if (leading) sessionStorage.setItem(storeKey, "lead");
      else sessionStorage.removeItem(storeKey);
      send(leading ? here() : { type: "stop" });
    } else {
      following = !following;
      if (following) sessionStorage.removeItem(storeKey);
      else sessionStorage.setItem(storeKey, "free");
      if (following && latest) go(latest);
    }
    render();
  });

  function moved() {
    if (role === "lead" && leading) send(here());
    // A trainee who leaves the leader's slide browses freely from then on.
    if (role === "follow" && following && latest && !atLeader()) {
      following = false;
      sessionStorage.setItem(storeKey, "free");
      render();
    }
  }

  function start() {
    for (const event of ["slidechanged", "fragmentshown", "fragmenthidden"]) Reveal.on(event, moved);
    render();
    connect();
  }
  if (Reveal.isReady()) start();
  else Reveal.on("ready", start);
})();
