// The instructor's class dashboard, kept live. The server renders the grid; this module
// connects to ws/cohorts/<id>/dashboard/, takes the snapshot it sends first (and again after
// every reconnect, so the grid returns to the truth), then each change: results ("result"),
// labs ("lab"), raised hands ("help"), terminals as they connect or go away, and the
// terminals' activity it asks for every 30 s ("terminals"). It updates cells and rows in place, judges "stuck" again as time passes
// with the times it has, sorts and filters rows, opens the details panel of a cell or a
// trainee, and posts the actions without leaving the page. Plain DOM, no framework.

const root = document.querySelector("[data-dashboard-socket]");
const LABELS = {
  none: "Not opened",
  pending: "Not started",
  failing: "Not yet",
  passed: "Passed",
  error: "Error",
};
const TROUBLE = new Set(["failing", "error"]);
const TERMINALS_EVERY_MS = 30000;
const STUCK_EVERY_MS = 15000;

const trainees = new Map(); // enrolment id → the snapshot's trainee (lab, terminal, invite …)
const results = new Map(); // enrolment id → Map(task key → result)
let offsetMs = 0; // the server's clock minus ours, so "stuck" is judged on the server's time
let selected = null; // what the details panel shows: {enrolment, task} or {enrolment}

const stuckAfterMs = Number(root.dataset.stuckAfter) * 60000;
const titles = JSON.parse(document.getElementById("task-titles").textContent);
const columns = new Set(
  Array.from(root.querySelectorAll("th.col-task"), (head) => head.dataset.task)
);
const tbody = root.querySelector("table.grid tbody");
const controls = {
  sort: root.querySelector("[data-control=sort]"),
  stuck: root.querySelector("[data-control=stuck]"),
  query: root.querySelector("[data-control=query]"),
};

// -- small helpers --------------------------------------------------------------------------

function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function now() {
  return Date.now() + offsetMs;
}

function timeOf(iso, seconds) {
  if (!iso) return "";
  const options = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (seconds) options.second = "2-digit";
  return new Date(iso).toLocaleTimeString([], options);
}

function minutesSince(iso) {
  return Math.max(0, Math.round((now() - Date.parse(iso)) / 60000));
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function rowOf(enrolment) {
  return tbody.querySelector('tr[data-enrolment="' + enrolment + '"]');
}

function resultsOf(enrolment) {
  if (!results.has(enrolment)) results.set(enrolment, new Map());
  return results.get(enrolment);
}

function explanation(result) {
  const lines = [];
  (result.checks || []).forEach((check) => {
    if (check.state === "passed") return;
    lines.push(check.check);
    (check.differences || []).forEach((difference) => lines.push("  " + difference));
  });
  return lines;
}

// -- what a row shows -----------------------------------------------------------------------

function stuckSince(enrolment) {
  let latest = null;
  resultsOf(enrolment).forEach((result) => {
    if (TROUBLE.has(result.state) && result.changed_at) {
      const changed = Date.parse(result.changed_at);
      if (latest === null || changed > latest) latest = changed;
    }
  });
  if (latest === null) return null;
  const trainee = trainees.get(enrolment);
  const input = trainee && trainee.terminal.last_input;
  return input && Date.parse(input) > latest ? Date.parse(input) : latest;
}

function renderCell(row, result) {
  const cell = row.querySelector('td.cell[data-task="' + CSS.escape(result.task) + '"]');
  if (!cell) return;
  cell.dataset.state = result.state;
  const lines = [(titles[result.task] || {}).task || result.task, LABELS[result.state]];
  lines.push(...explanation(result));
  if (result.changed_at && result.state !== "none") lines.push("Changed " + timeOf(result.changed_at, true));
  if (result.passed_at && result.state !== "passed") lines.push("Passed at " + timeOf(result.passed_at));
  if (result.hint_opened_at) lines.push("Hint opened");
  if (result.solution_opened_at) lines.push("Solution opened");
  cell.title = lines.join("\n");
  cell.replaceChildren();
  if (result.hint_opened_at) cell.append(element("span", { class: "mark" }, "h"));
  if (result.solution_opened_at) cell.append(element("span", { class: "mark" }, "s"));
}

function renderSummary(enrolment) {
  const row = rowOf(enrolment);
  if (!row) return;
  let passed = 0;
  let current = null;
  resultsOf(enrolment).forEach((result) => {
    if (columns.has(result.task) && result.passed_at) passed += 1;
    const moment = Math.max(Date.parse(result.changed_at) || 0, Date.parse(result.opened_at) || 0);
    if (current === null || moment > current.moment) current = { moment, exercise: result.exercise };
  });
  row.dataset.passed = String(passed);
  row.querySelector("[data-region=passed]").textContent = passed + "/" + columns.size;
  if (current) {
    const title = exerciseTitle(current.exercise);
    const cell = row.querySelector("[data-region=current]");
    cell.textContent = title;
    cell.title = title;
  }
  renderStuck(enrolment);
}

let exercises = {}; // exercise slug → title, of the whole course (from the snapshot)

function exerciseTitle(slug) {
  return exercises[slug] || slug;
}

function renderStuck(enrolment) {
  const row = rowOf(enrolment);
  if (!row) return;
  const since = stuckSince(enrolment);
  const stuck = since !== null && now() - since >= stuckAfterMs;
  row.classList.toggle("is-stuck", stuck);
  row.dataset.stuckSince = stuck ? String(since) : "";
  const flag = row.querySelector("[data-region=stuck]");
  flag.hidden = !stuck;
  flag.title = stuck ? "No progress for " + minutesSince(new Date(since).toISOString()) + " min" : "";
}

function renderLab(enrolment) {
  const row = rowOf(enrolment);
  const trainee = trainees.get(enrolment);
  if (!row || !trainee) return;
  const lab = trainee.lab;
  const badge = row.querySelector("[data-region=lab]");
  badge.dataset.labState = lab.state;
  badge.title =
    "Lab: " + lab.label + (lab.step ? " (" + lab.step + ")" : "") + (lab.error ? ": " + lab.error : "");
  badge.replaceChildren();
  if (lab.state === "provisioning" || lab.state === "pending") {
    badge.append(element("progress", { max: "100", value: String(lab.progress) }, lab.progress + " %"));
  } else {
    badge.textContent = lab.label;
  }
}

function renderTerminal(enrolment) {
  const row = rowOf(enrolment);
  const trainee = trainees.get(enrolment);
  if (!row || !trainee) return;
  const dot = row.querySelector("[data-region=terminal]");
  const terminal = trainee.terminal;
  dot.dataset.connected = terminal.connected ? "yes" : "no";
  dot.title =
    (terminal.connected ? "Terminal connected" : "No terminal connected") +
    (terminal.last_input ? "; last input " + timeOf(terminal.last_input, true) : "; no input yet");
}

function renderRow(enrolment) {
  const row = rowOf(enrolment);
  if (!row) return;
  row.querySelectorAll("td.cell").forEach((cell) => {
    const result = resultsOf(enrolment).get(cell.dataset.task) || { task: cell.dataset.task, state: "none" };
    renderCell(row, result);
  });
  renderLab(enrolment);
  renderTerminal(enrolment);
  renderSummary(enrolment);
}

// -- sorting and filtering ------------------------------------------------------------------

function compare(a, b) {
  const sort = controls.sort.value;
  const byName = a.dataset.sortName.localeCompare(b.dataset.sortName);
  if (sort === "name") return byName;
  if (sort === "progress") return Number(a.dataset.passed) - Number(b.dataset.passed) || byName;
  if (sort === "-progress") return Number(b.dataset.passed) - Number(a.dataset.passed) || byName;
  const stuckA = a.dataset.stuckSince ? Number(a.dataset.stuckSince) : Infinity;
  const stuckB = b.dataset.stuckSince ? Number(b.dataset.stuckSince) : Infinity;
  if (stuckA !== stuckB) return stuckA < stuckB ? -1 : 1;
  return byName;
}

function arrange() {
  const rows = Array.from(tbody.querySelectorAll("tr.trainee-row"));
  const sorted = rows.slice().sort(compare);
  if (sorted.some((row, index) => row !== rows[index])) tbody.append(...sorted);
  const needle = controls.query.value.trim().toLowerCase();
  let shown = 0;
  rows.forEach((row) => {
    const visible =
      (!controls.stuck.checked || row.classList.contains("is-stuck")) &&
      (!needle || row.dataset.search.includes(needle));
    row.hidden = !visible;
    if (visible) shown += 1;
  });
  root.querySelector("[data-region=shown-count]").textContent = String(shown);
}

function rememberControls() {
  const url = new URL(window.location.href);
  url.searchParams.set("sort", controls.sort.value);
  if (controls.stuck.checked) url.searchParams.set("stuck", "1");
  else url.searchParams.delete("stuck");
  if (controls.query.value) url.searchParams.set("q", controls.query.value);
  else url.searchParams.delete("q");
  window.history.replaceState(null, "", url);
}

// -- the raised hands -----------------------------------------------------------------------

function renderHelp(help) {
  const list = root.querySelector("[data-region=help-list]");
  const old = list.querySelector('li[data-help="' + help.id + '"]');
  if (help.handled_at) {
    if (old) old.remove();
  } else if (!old) {
    list.append(helpItem(help));
  }
  countHands();
}

function helpItem(help) {
  const item = element("li", { class: "help-item", "data-help": help.id, "data-enrolment": help.enrolment });
  item.append(element("span", { class: "help-who" }, help.trainee));
  item.append(
    element("span", { class: "help-what" }, help.exercise_title + (help.task_title ? ": " + help.task_title : ""))
  );
  item.append(element("span", { class: "muted help-since" }, "since " + timeOf(help.created_at)));
  if (help.failing) item.append(element("span", { class: "help-failing", title: help.failing }, help.failing));
  const form = element("form", {
    method: "post",
    action: root.dataset.helpUrl.replace("/0/handled/", "/" + help.id + "/handled/"),
    "data-action-form": "",
  });
  form.append(element("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrfToken() }));
  form.append(element("button", { type: "submit" }, "Handled"));
  item.append(form);
  return item;
}

function countHands() {
  const count = root.querySelectorAll("[data-region=help-list] > li").length;
  root.querySelector("[data-region=help-count]").textContent = String(count);
  root.querySelector("[data-region=help-empty]").hidden = count > 0;
}

// -- the details panel ----------------------------------------------------------------------

const panel = root.querySelector("[data-region=details]");

function definitions(pairs) {
  const list = element("dl");
  pairs.forEach(([term, value]) => {
    if (!value) return;
    list.append(element("dt", {}, term), element("dd", {}, value));
  });
  return list;
}

function checksList(result) {
  const list = element("ul", { class: "check-list" });
  (result.checks || []).forEach((check) => {
    const item = element("li", { "data-state": check.state }, check.check);
    if (check.differences && check.differences.length) {
      const differences = element("ul", { class: "check-differences" });
      check.differences.forEach((text) => differences.append(element("li", {}, text)));
      item.append(differences);
    }
    list.append(item);
  });
  return list;
}

function showDetails() {
  if (!selected) return;
  const trainee = trainees.get(selected.enrolment);
  const row = rowOf(selected.enrolment);
  if (!trainee || !row) return;
  const body = panel.querySelector("[data-region=details-body]");
  body.replaceChildren();
  root.querySelectorAll("td.cell.is-selected").forEach((cell) => cell.classList.remove("is-selected"));
  if (selected.task) {
    const names = titles[selected.task] || { task: selected.task, exercise: "" };
    const result = resultsOf(selected.enrolment).get(selected.task) || { state: "none", checks: [] };
    panel.querySelector("[data-region=details-title]").textContent = trainee.name + ": " + names.task;
    body.append(
      definitions([
        ["Exercise", names.exercise],
        ["State", LABELS[result.state]],
        ["Changed", timeOf(result.changed_at, true)],
        ["First passed", timeOf(result.passed_at)],
        ["Last judged", timeOf(result.evaluated_at, true)],
        ["Hint opened", timeOf(result.hint_opened_at)],
        ["Solution opened", timeOf(result.solution_opened_at)],
      ])
    );
    if (result.state === "none") body.append(element("p", { class: "muted" }, "The trainee has not opened this exercise yet."));
    body.append(checksList(result));
    const cell = row.querySelector('td.cell[data-task="' + CSS.escape(selected.task) + '"]');
    if (cell) cell.classList.add("is-selected");
  } else {
    const lab = trainee.lab;
    const since = stuckSince(selected.enrolment);
    panel.querySelector("[data-region=details-title]").textContent = trainee.name;
    body.append(
      definitions([
        ["E-mail", trainee.email],
        ["Lab", lab.label + (lab.step && lab.state !== "ready" ? " (" + lab.step + ")" : "") + (lab.error ? ": " + lab.error : "")],
        ["Terminal", (trainee.terminal.connected ? "connected" : "not connected") +
          (trainee.terminal.last_input ? ", last input " + timeOf(trainee.terminal.last_input, true) : ", no input yet")],
        ["Working on", row.querySelector("[data-region=current]").textContent],
        ["Done", row.querySelector("[data-region=passed]").textContent],
        ["Stuck", row.classList.contains("is-stuck") ? "for " + minutesSince(new Date(since).toISOString()) + " min" : ""],
        ["Invite", trainee.invite.state + (trainee.invite.invited_at ? ", sent " + new Date(trainee.invite.invited_at).toLocaleString() : "") +
          (trainee.invite.accepted_at ? ", accepted " + new Date(trainee.invite.accepted_at).toLocaleString() : "")],
      ])
    );
    resultsOf(selected.enrolment).forEach((result) => {
      if (!TROUBLE.has(result.state)) return;
      body.append(element("h3", {}, (titles[result.task] || {}).task || result.task));
      body.append(checksList(result));
    });
  }
  const actions = panel.querySelector("[data-region=details-actions]");
  actions.replaceChildren(row.querySelector("[data-region=menu]").cloneNode(true));
  panel.hidden = false;
}

function select(enrolment, task) {
  selected = { enrolment, task };
  showDetails();
}

// -- the socket -----------------------------------------------------------------------------

function applySnapshot(message) {
  offsetMs = Date.parse(message.now) - Date.now();
  exercises = message.exercises;
  trainees.clear();
  results.clear();
  message.trainees.forEach((trainee) => trainees.set(trainee.enrolment, trainee));
  message.results.forEach((result) => resultsOf(result.enrolment).set(result.task, result));
  tbody.querySelectorAll("tr.trainee-row").forEach((row) => {
    const enrolment = Number(row.dataset.enrolment);
    row.classList.toggle("is-gone", !trainees.has(enrolment));
    renderRow(enrolment);
  });
  const joined = message.trainees.filter((trainee) => !rowOf(trainee.enrolment)).length;
  if (joined) say((joined === 1 ? "A trainee has" : joined + " trainees have") + " joined: reload to see them.", true);
  const list = root.querySelector("[data-region=help-list]");
  list.replaceChildren(...message.help.map(helpItem));
  countHands();
  arrange();
  showDetails();
}

function applyResult(result) {
  resultsOf(result.enrolment).set(result.task, result);
  const row = rowOf(result.enrolment);
  if (!row) return;
  renderCell(row, result);
  renderSummary(result.enrolment);
  arrange();
  if (selected && selected.enrolment === result.enrolment) showDetails();
}

function applyTerminals(message) {
  offsetMs = Date.parse(message.now) - Date.now();
  Object.entries(message.terminals).forEach(([enrolment, terminal]) => {
    const trainee = trainees.get(Number(enrolment));
    if (!trainee) return;
    trainee.terminal = terminal;
    renderTerminal(Number(enrolment));
    renderStuck(Number(enrolment));
  });
  arrange();
}

function liveState(state, text) {
  root.dataset.live = state;
  root.querySelector("[data-region=live-state]").textContent = text;
}

function connect(attempt) {
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + window.location.host + root.dataset.dashboardSocket);
  let poll = null;
  socket.addEventListener("open", () => {
    attempt = 0;
    liveState("connected", "Live");
    poll = window.setInterval(() => socket.send(JSON.stringify({ type: "terminals" })), TERMINALS_EVERY_MS);
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "snapshot") applySnapshot(message);
    else if (message.type === "result") applyResult(message.result);
    else if (message.type === "lab") {
      const trainee = trainees.get(message.enrolment);
      if (trainee) trainee.lab = message.lab;
      renderLab(message.enrolment);
    } else if (message.type === "help") renderHelp(message.help);
    else if (message.type === "terminals") applyTerminals(message);
  });
  socket.addEventListener("close", (event) => {
    if (poll !== null) window.clearInterval(poll);
    if (event.code === 4403) {
      liveState("disconnected", "Refused: you may not follow this cohort");
      return;
    }
    // 0.5 s doubling up to 30 s, times 0.5–1: a restarted server is not hit all at once.
    const delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
    liveState("disconnected", "Reconnecting in " + Math.ceil(delay / 1000) + " s");
    window.setTimeout(() => connect(attempt + 1), delay);
  });
}

// -- actions --------------------------------------------------------------------------------

function say(message, warning) {
  const status = root.querySelector("[data-region=action-status]");
  status.textContent = message;
  status.dataset.ok = warning ? "false" : "true";
}

root.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-action-form]");
  if (!form) return;
  event.preventDefault();
  const menu = form.closest("details.row-menu");
  if (menu) menu.open = false;
  fetch(form.action, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
  })
    .then((response) =>
      response
        .json()
        .catch(() => ({ message: "Lotse answered " + response.status + "; nothing was done." }))
        .then((answer) => {
          say(answer.message, !response.ok);
          const item = form.closest("li.help-item");
          if (item && response.ok) {
            item.remove();
            countHands();
          }
        })
    )
    .catch(() => say("Could not reach Lotse; nothing was done.", true));
});

root.addEventListener("click", (event) => {
  const cell = event.target.closest("td.cell");
  if (cell) {
    select(Number(cell.closest("tr").dataset.enrolment), cell.dataset.task);
    return;
  }
  const trainee = event.target.closest("[data-action=trainee]");
  if (trainee && trainee.closest("tr")) {
    const menu = trainee.closest("details.row-menu");
    if (menu) menu.open = false;
    select(Number(trainee.closest("tr").dataset.enrolment), null);
    return;
  }
  if (event.target.closest("[data-action=close]")) {
    selected = null;
    panel.hidden = true;
    root.querySelectorAll("td.cell.is-selected").forEach((c) => c.classList.remove("is-selected"));
  }
});

root.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !panel.hidden) panel.querySelector("[data-action=close]").click();
});

root.querySelector("[data-region=tools] select[name=day]").addEventListener("change", (event) => {
  event.target.form.submit(); // another day has other columns: the server draws them
});
Object.values(controls).forEach((control) =>
  control.addEventListener("input", () => {
    arrange();
    rememberControls();
  })
);
root.querySelector("[data-region=tools]").addEventListener("submit", (event) => {
  event.preventDefault(); // Enter in the name filter: it filters already, no reload
});

window.setInterval(() => {
  trainees.forEach((_, enrolment) => renderStuck(enrolment));
  arrange();
  if (selected && !selected.task) showDetails();
}, STUCK_EVERY_MS);

connect(0);
