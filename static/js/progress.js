// Live check results. On an exercise page: each task's state and, for each check, what is
// still missing; "Check now"; telling the server when a hint or a solution is first opened;
// unlocking the next task of a gated exercise; "I need help" and what became of the raised
// hand. On a cohort page: "passed / total" per exercise. Results and hands come from
// ws/labs/<lab>/progress/: all of them on (re)connect, then each change. The page works
// without this script; it only keeps it current.
(function () {
  "use strict";

  const root = document.querySelector("[data-progress-socket]");
  const LABELS = { pending: "Not started", failing: "Not yet", passed: "Passed", error: "Error" };
  const known = new Map(); // task key → its latest result

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function timeOf(iso) {
    const when = new Date(iso);
    return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  }

  function renderChecks(item, result) {
    item.querySelectorAll(".check-list > li[data-check]").forEach(function (check) {
      const detail = result.checks[Number(check.dataset.check)];
      const old = check.querySelector(".check-differences");
      if (old) old.remove();
      if (!detail) {
        delete check.dataset.state;
        return;
      }
      check.dataset.state = detail.state;
      if (detail.differences.length) {
        const list = document.createElement("ul");
        list.className = "check-differences";
        detail.differences.forEach(function (text) {
          const line = document.createElement("li");
          line.textContent = text;
          list.appendChild(line);
        });
        check.appendChild(list);
      }
    });
  }

  function renderTask(result) {
    const item = document.querySelector('li.task[data-task="' + CSS.escape(result.task) + '"]');
    if (!item) return;
    const states = item.querySelector(".task-states");
    if (states) {
      const state = states.querySelector("[data-region=task-state]");
      state.dataset.state = result.state;
      state.textContent = LABELS[result.state] || result.state;
      let record = states.querySelector("[data-region=task-passed]");
      if (result.passed_at && result.state !== "passed") {
        if (!record) {
          record = document.createElement("span");
          record.className = "task-passed";
          record.dataset.region = "task-passed";
          states.append(" ", record);
        }
        record.textContent = "Passed at " + timeOf(result.passed_at);
      } else if (record) {
        record.remove();
      }
    }
    renderChecks(item, result);
    if (result.passed_at) unlockAfter(result.task);
  }

  function unlockAfter(key) {
    document.querySelectorAll('li.task[data-locked-by="' + CSS.escape(key) + '"]').forEach(
      function (item) {
        item.classList.remove("is-locked");
        delete item.dataset.lockedBy;
        const lock = item.querySelector("[data-region=task-lock]");
        if (lock) lock.remove();
        const body = item.querySelector(".task-body");
        if (body) body.hidden = false;
      }
    );
  }

  function renderExercises() {
    document.querySelectorAll("li[data-exercise]").forEach(function (item) {
      const counter = item.querySelector("[data-region=exercise-progress]");
      if (!counter) return;
      let done = 0;
      known.forEach(function (result) {
        if (result.exercise === item.dataset.exercise && result.passed_at) done += 1;
      });
      const total = Number(counter.dataset.total);
      counter.dataset.done = String(done);
      counter.textContent = done + " / " + total + " task" + (total === 1 ? "" : "s");
    });
  }

  function renderHelp(help) {
    const box = document.querySelector(
      '[data-region=help][data-exercise="' + CSS.escape(help.exercise) + '"]'
    );
    if (!box) return;
    const status = box.querySelector("[data-region=help-status]");
    const form = box.querySelector("form[data-raise-hand]");
    if (help.handled_at) {
      box.dataset.state = "handled";
      status.textContent =
        "Your request was handled at " +
        timeOf(help.handled_at) +
        (help.handled_by ? " by " + help.handled_by : "") +
        ".";
      if (form) form.hidden = false;
    } else {
      box.dataset.state = "open";
      status.textContent =
        "Your hand is up (since " + timeOf(help.created_at) + "): an instructor comes to you.";
      if (form) form.hidden = true;
    }
  }

  function take(result) {
    known.set(result.task, result);
    renderTask(result);
  }

  function connect(attempt) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + root.dataset.progressSocket);
    socket.addEventListener("open", function () {
      attempt = 0;
      root.dataset.live = "connected";
    });
    socket.addEventListener("message", function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "results") {
        known.clear();
        message.results.forEach(take);
      } else if (message.type === "result") {
        take(message.result);
      } else if (message.type === "hands") {
        message.hands.forEach(renderHelp);
        return;
      } else if (message.type === "help") {
        renderHelp(message.help);
        return;
      }
      renderExercises();
    });
    socket.addEventListener("close", function (event) {
      root.dataset.live = "disconnected";
      if (event.code === 4403) return; // refused: trying again would not help
      const delay = Math.min(10000, 500 * Math.pow(2, attempt));
      window.setTimeout(function () {
        connect(attempt + 1);
      }, delay);
    });
  }

  document.querySelectorAll("form[data-check-now]").forEach(function (form) {
    const status = form.querySelector(".check-now-message");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      })
        .then(function (response) {
          return response.json();
        })
        .then(function (answer) {
          status.textContent = answer.message;
        })
        .catch(function () {
          status.textContent = "Could not reach Lotse; the checks still run by themselves.";
        });
    });
  });

  document.querySelectorAll("form[data-raise-hand]").forEach(function (form) {
    const status = form.querySelector(".help-message");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(function (answer) {
            const box = form.closest("[data-region=help]");
            if (response.ok && box) {
              box.dataset.state = "open";
              box.querySelector("[data-region=help-status]").textContent = answer.message;
              form.hidden = true;
            } else {
              status.textContent = answer.message;
            }
          });
        })
        .catch(function () {
          status.textContent = "Could not reach Lotse: try again, or raise your actual hand.";
        });
    });
  });

  document.querySelectorAll("details[data-opened-url]").forEach(function (details) {
    details.addEventListener("toggle", function () {
      if (!details.open || details.dataset.recorded) return;
      details.dataset.recorded = "1";
      fetch(details.dataset.openedUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      });
    });
  });

  if (root) connect(0);
})();
