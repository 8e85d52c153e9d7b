// The worklist (/tasks) and a task's page (/tasks/{taskId}).
//
// The worklist service decides what a person sees (GET /api/tasks: the tasks they hold, completed,
// or may claim by persona and candidates); the engine decides what they may do. So the page offers
// the buttons that fit the task's state and shows the engine's answer as it comes back, refusal
// and reason included, never a guess of its own. The list refreshes itself by asking again every
// few seconds while the tab is visible: one small indexed query per person, cheaper than a live
// stream per instance shown, and it also picks up tasks of instances the page has never seen.
import { api, ApiError, reason } from "../api.js";
import { currentPrincipal } from "../auth.js";
import { renderForm, fieldErrors } from "../lib/jsonform.js";
import { h, replace, time, notice } from "../lib/dom.js";

const PAGE_SIZE = 20;
const POLL_MS = 4000;
const MAX_SHOWN_VARIABLES = 200;

// the list's filters as the URL keeps them (a reload or a shared link shows the same list)
const STATES = {
  active: ["To do (open or claimed)", ["open", "claimed"]],
  open: ["Open", ["open"]],
  claimed: ["Claimed", ["claimed"]],
  completed: ["Completed", ["completed"]],
  cancelled: ["Cancelled", ["cancelled"]],
  all: ["Any state", []],
};
const SORTS = {
  "due-asc": ["Due date, soonest first", "due", "asc"],
  "due-desc": ["Due date, latest first", "due", "desc"],
  "created-desc": ["Newest first", "created", "desc"],
  "created-asc": ["Oldest first", "created", "asc"],
  "name-asc": ["Name", "name", "asc"],
};
const DEFAULTS = { state: "active", sort: "due-asc", process: "", overdue: "", mine: "", page: "1" };

// what the task page says on the list it goes back to after a completion
let flash = null;

export async function render(root, params, ctx) {
  return params.taskId ? taskPage(root, params.taskId, ctx) : worklist(root, ctx);
}

// --- the worklist -----------------------------------------------------------------------------

function readFilters(search) {
  const f = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS)) {
    const v = search.get(key);
    if (v !== null) f[key] = v.slice(0, 200);
  }
  if (!STATES[f.state]) f.state = DEFAULTS.state;
  if (!SORTS[f.sort]) f.sort = DEFAULTS.sort;
  const page = Number.parseInt(f.page, 10);
  f.page = String(Number.isFinite(page) && page >= 1 && page <= 100_000 ? page : 1);
  return f;
}

function listQuery(f) {
  const q = new URLSearchParams();
  for (const s of STATES[f.state][1]) q.append("state", s);
  const [, sort, order] = SORTS[f.sort];
  q.set("sort", sort);
  q.set("order", order);
  if (f.process) q.set("processId", f.process);
  if (f.overdue) q.set("overdue", "true");
  if (f.mine) q.set("assignee", currentPrincipal()?.id || "");
  q.set("limit", String(PAGE_SIZE));
  q.set("offset", String((Number(f.page) - 1) * PAGE_SIZE));
  return q;
}

function keepInUrl(f) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v && v !== DEFAULTS[k]) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, "", s ? `/tasks?${s}` : "/tasks");
}

async function worklist(root, ctx) {
  const f = readFilters(ctx.search);
  const seenProcesses = new Set();
  const processList = h("datalist", { id: "task-processes" });
  const results = h("div", { class: "task-results", "data-testid": "task-results" });
  const count = h("p", { class: "hint", role: "status", "data-testid": "task-count" });
  const updated = h("p", { class: "hint updated" });
  let last = null; // the last answer, as text: a poll that changes nothing redraws nothing
  let inflight = null;
  let stopped = false;

  const apply = (changes) => {
    Object.assign(f, changes, changes.page ? {} : { page: "1" });
    keepInUrl(f);
    last = null;
    load();
  };

  const select = (id, label, value, options, key) => h("div", { class: "filter" },
    h("label", { for: id }, label),
    h("select", { id, onchange: (e) => apply({ [key]: e.target.value }) },
      Object.entries(options).map(([v, [text]]) => h("option", { value: v, selected: v === value }, text))));
  const check = (id, label, key) => h("div", { class: "filter check" },
    h("input", { type: "checkbox", id, checked: Boolean(f[key]),
                 onchange: (e) => apply({ [key]: e.target.checked ? "1" : "" }) }),
    h("label", { for: id }, label));

  const processInput = h("input", { id: "task-process", type: "search", list: "task-processes",
    value: f.process, autocomplete: "off", placeholder: "any process", maxlength: 200,
    onchange: (e) => apply({ process: e.target.value.trim() }) });

  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter tasks",
                             onsubmit: (e) => { e.preventDefault(); apply({ process: processInput.value.trim() }); } },
    select("task-state", "State", f.state, STATES, "state"),
    h("div", { class: "filter" }, h("label", { for: "task-process" }, "Process"), processInput, processList),
    select("task-sort", "Sort by", f.sort, SORTS, "sort"),
    check("task-overdue", "Overdue only", "overdue"),
    check("task-mine", "Assigned to me", "mine"));

  const shown = flash;
  flash = null;
  replace(root, h("h1", {}, "Worklist"),
    shown ? notice("ok", shown) : null,
    h("p", { class: "hint" }, "The tasks you hold, and the open ones your personas and groups let you take. It updates by itself."),
    filters, count, results, updated);

  async function load() {
    inflight?.abort();
    const ctl = new AbortController();
    inflight = ctl;
    let data;
    try {
      data = await api(`/api/tasks?${listQuery(f)}`, { signal: ctl.signal });
    } catch (e) {
      if (ctl.signal.aborted || stopped) return;
      last = null;
      replace(results, notice("error", `The worklist did not answer: ${reason(e)}`));
      return;
    }
    if (stopped || inflight !== ctl) return;
    inflight = null;
    replace(updated, "Updated ", time(new Date().toISOString()));
    const text = JSON.stringify(data);
    if (text === last) return;
    last = text;
    draw(data);
  }

  function draw(data) {
    const items = Array.isArray(data?.items) ? data.items : [];
    const total = Number(data?.count) || 0;
    const page = Number(f.page);
    for (const t of items) {
      if (!seenProcesses.has(t.processId) && seenProcesses.size < 100) {
        seenProcesses.add(t.processId);
        processList.append(h("option", { value: t.processId }));
      }
    }
    const first = total ? (page - 1) * PAGE_SIZE + 1 : 0;
    count.textContent = total === 0 ? "No tasks match."
      : `${total} task${total === 1 ? "" : "s"}; showing ${first}–${first + items.length - 1}.`;
    if (!items.length) {
      replace(results, page > 1 && total > 0
        ? h("p", {}, h("button", { type: "button", onclick: () => apply({ page: "1" }) }, "Back to the first page"))
        : h("p", { class: "empty" }, "Nothing to do here."));
      return;
    }
    const [, sortKey, order] = SORTS[f.sort];
    const dueSort = sortKey === "due" ? (order === "asc" ? "ascending" : "descending") : null;
    const cell = (label, ...content) => h("td", { "data-label": label }, ...content);
    const table = h("table", { class: "list responsive tasks" },
      h("caption", { class: "visually-hidden" }, "Your tasks"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Task"), h("th", { scope: "col" }, "Process"),
        h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Assignee"),
        h("th", { scope: "col", "aria-sort": dueSort }, "Due"), h("th", { scope: "col" }, "Created"))),
      h("tbody", {}, items.map((t) => h("tr", { "data-task-id": t.taskId, class: t.overdue ? "overdue" : null },
        cell("Task", h("a", { href: taskHref(t.taskId), "data-link": true },
          t.elementName || t.elementId),
          t.persona ? h("span", { class: "hint lane" }, ` ${t.persona}`) : null),
        cell("Process", t.processId, h("span", { class: "hint" }, ` v${t.version}`)),
        cell("State", stateBadge(t.state)),
        cell("Assignee", t.assignee || h("span", { class: "hint" }, "nobody")),
        cell("Due", dueView(t)),
        cell("Created", time(t.createdAt))))));
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const pager = pages > 1 ? h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: page <= 1, onclick: () => apply({ page: String(page - 1) }) }, "Previous"),
      h("span", {}, `Page ${page} of ${pages}`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => apply({ page: String(page + 1) }) }, "Next"))
      : null;
    replace(results, table, pager);
  }

  const tick = () => { if (document.visibilityState === "visible") load(); };
  const onVisible = () => { if (document.visibilityState === "visible") load(); };
  document.addEventListener("visibilitychange", onVisible);
  const timer = setInterval(tick, POLL_MS);
  await load();
  return () => {
    stopped = true;
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisible);
    inflight?.abort();
  };
}

/** A task's address: ids are `<instanceId>:<key>`, and a colon may stay as it is in a path. */
function taskHref(taskId) {
  return `/tasks/${encodeURIComponent(taskId).replace(/%3A/gi, ":")}`;
}

function stateBadge(state) {
  return h("span", { class: `badge task-${state}` }, state);
}

/** The due date, and "Overdue" in words (not only a colour) when it has passed. */
function dueView(t) {
  if (!t.dueDate) return h("span", { class: "hint" }, "no due date");
  return h("span", { class: "due" }, time(t.dueDate),
    t.overdue ? [" ", h("span", { class: "badge overdue", "data-testid": "overdue" }, "⚠ Overdue")] : null,
    t.escalatedAt ? [" ", h("span", { class: "badge", title: "The engine escalated it" }, "Escalated")] : null);
}

// --- a task's page ----------------------------------------------------------------------------

async function taskPage(root, taskId, ctx) {
  let task;
  try {
    task = await api(`/api/tasks/${encodeURIComponent(taskId)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return notVisible(root, taskId);
    throw e;
  }
  const form = await taskForm(task);
  const caseData = await instanceVariables(task.instanceId);
  drawTask(root, task, form, caseData, ctx);
}

/** The task is not one the person may see (or does not exist: the answer is the same, so
 * ids reveal nothing). The engine, not the list, decides commands: someone sent a link can
 * still ask to claim it, and sees the engine's answer; the audit records that they tried. */
function notVisible(root, taskId) {
  const status = h("div", { class: "task-status", "aria-live": "polite" });
  const claim = h("button", { type: "button", onclick: async () => {
    claim.disabled = true;
    replace(status, h("p", { class: "loading" }, "Asking the engine…"));
    try {
      await api(`/api/tasks/${encodeURIComponent(taskId)}/claim`, { method: "POST" });
      location.reload(); // it is the person's now, so the page can show it
    } catch (e) {
      replace(status, refusal(e));
      claim.disabled = false;
    }
  } }, "Ask to claim it");
  replace(root,
    h("p", {}, h("a", { href: "/tasks", "data-link": true }, "← Worklist")),
    h("h1", {}, "Not in your worklist"),
    h("p", {}, "There is no task ", h("code", {}, taskId), " that you may see: it does not exist, or it is in a lane whose persona you do not hold."),
    h("p", { class: "hint" }, "If it was sent to you, you can still ask to claim it: the engine decides, and the audit records that you asked."),
    h("div", { class: "toolbar" }, claim), status);
}

/** {schema, formId, problem}: the task's form from the registry, if it names one. */
async function taskForm(task) {
  if (!task.form) return { schema: null };
  const path = String(task.form).split("/").map(encodeURIComponent).join("/");
  try {
    return { formId: task.form, schema: await api(`/api/form-schemas/${path}`) };
  } catch (e) {
    return { formId: task.form, schema: null, problem: `Its form “${task.form}” could not be read: ${reason(e)}` };
  }
}

/** The instance's variables, when the person may read the instance (who took part in it:
 * someone who has only the lane's persona may read it once they have claimed the task). */
async function instanceVariables(instanceId) {
  try {
    const inst = await api(`/api/instances/${encodeURIComponent(instanceId)}`);
    return inst && typeof inst.variables === "object" && inst.variables ? inst.variables : {};
  } catch {
    return null;
  }
}

async function readable(instanceId, waitMs = 5000) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const vars = await instanceVariables(instanceId);
    if (vars !== null || Date.now() > deadline) return vars;
    await new Promise((ok) => setTimeout(ok, 300));
  }
}

function drawTask(root, task, form, caseData, ctx) {
  const me = currentPrincipal()?.id;
  const active = task.state === "open" || task.state === "claimed";
  const status = h("div", { class: "task-status", "aria-live": "polite", "data-testid": "task-status" });

  const command = (verb) => async (ev) => {
    const button = ev.currentTarget;
    button.disabled = true;
    replace(status, h("p", { class: "loading" }, verb === "claim" ? "Claiming…" : "Giving it back…"));
    try {
      const now = await api(`/api/tasks/${encodeURIComponent(task.taskId)}/${verb}`, { method: "POST" });
      // a claim makes the person part of the instance; its data may take a moment to open up
      const data = caseData ?? (verb === "claim" ? await readable(now.instanceId) : null);
      drawTask(root, now, form, data, ctx);
      root.querySelector(".task-status")?.replaceChildren(
        notice("ok", verb === "claim" ? "You hold this task now." : "The task is open again for your lane."));
      // the button pressed is gone with the redraw: keep the keyboard where it was
      root.querySelector(".task-actions button")?.focus();
    } catch (e) {
      replace(status, refusal(e));
      button.disabled = false;
    }
  };
  const buttons = [];
  if (task.state === "open" && task.assignee !== me) {
    buttons.push(h("button", { type: "button", onclick: command("claim") }, "Claim"));
  }
  if (task.state === "claimed" && task.assignee === me) {
    buttons.push(h("button", { type: "button", onclick: command("unclaim") }, "Unclaim"));
  }

  const candidates = [...(task.candidateUsers || []), ...(task.candidateGroups || []).map((g) => `group ${g}`)];
  const fact = (label, ...value) => [h("dt", {}, label), h("dd", {}, ...value)];
  const facts = h("dl", { class: "facts" },
    fact("Process", h("a", { href: `/definitions/${encodeURIComponent(task.processId)}/${task.version}`, "data-link": true },
      task.processId), h("span", { class: "hint" }, ` version ${task.version}`)),
    fact("Instance", h("a", { href: `/instances/${encodeURIComponent(task.instanceId)}`, "data-link": true,
                             "data-testid": "instance-link" }, task.instanceId)),
    fact("Lane", task.lane || "—", task.persona ? h("span", { class: "hint" }, ` (persona ${task.persona})`) : null),
    fact("Due", dueView(task)),
    fact("Assignee", task.assignee || h("span", { class: "hint" }, "nobody yet")),
    fact("Candidates", candidates.length ? candidates.join(", ") : h("span", { class: "hint" }, "anyone with the lane's persona")),
    fact("Created", time(task.createdAt)),
    task.completedAt ? fact("Completed", time(task.completedAt), task.completedBy ? ` by ${task.completedBy.id}` : "") : null,
    task.cancelledAt ? fact("Cancelled", time(task.cancelledAt)) : null);

  replace(root,
    h("p", {}, h("a", { href: "/tasks", "data-link": true }, "← Worklist")),
    h("h1", {}, task.elementName || task.elementId, " ", stateBadge(task.state)),
    facts,
    buttons.length ? h("div", { class: "toolbar task-actions" }, buttons) : null,
    status,
    caseSection(caseData),
    active ? completeSection(task, form, caseData, ctx)
      : task.result ? h("section", { "aria-labelledby": "task-result" },
          h("h2", { id: "task-result" }, "Result"), variablesList(task.result)) : null);
}

function caseSection(caseData) {
  return h("section", { class: "case", "aria-labelledby": "case-title" },
    h("h2", { id: "case-title" }, "Case data"),
    caseData === null
      ? h("p", { class: "hint" }, "The instance's data shows here once you take part in it (claim the task).")
      : variablesList(caseData));
}

/** Variables as a definition list: nested objects as dotted names, bounded. */
function variablesList(vars) {
  const rows = [];
  const walk = (value, path, depth) => {
    if (rows.length >= MAX_SHOWN_VARIABLES) return;
    if (value && typeof value === "object" && !Array.isArray(value) && depth < 4) {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k], depth + 1);
      return;
    }
    const text = typeof value === "string" ? value : JSON.stringify(value);
    rows.push(h("dt", {}, path.join(".")), h("dd", {}, text.length > 2000 ? `${text.slice(0, 2000)}…` : text));
  };
  walk(vars || {}, [], 0);
  return rows.length ? h("dl", { class: "facts variables" }, rows) : h("p", { class: "hint" }, "No data.");
}

function completeSection(task, form, caseData, ctx) {
  // the answer shows beside the button that asked, where the person is looking
  const status = h("div", { class: "task-status", "aria-live": "polite", "data-testid": "complete-status" });
  const data = { ...(caseData || {}), ...(task.variables || {}) };
  let rendered = null;
  let jsonInput = null;
  const parts = [];
  if (form.schema) {
    rendered = renderForm(form.schema, data, { idPrefix: "task" });
    parts.push(rendered.element);
  } else {
    if (form.problem) parts.push(notice("warn", form.problem));
    const id = "task-variables";
    const err = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
    jsonInput = h("textarea", { id, class: "json input", rows: 6, spellcheck: "false",
                                "aria-describedby": `${id}-error` }, "{}");
    jsonInput.error = err;
    parts.push(h("div", { class: "field" }, h("label", { for: id }, "Variables (a JSON object)"), jsonInput, err));
  }
  const submit = h("button", { type: "submit", class: "primary" }, "Complete");
  const title = form.schema?.title || "Complete the task";
  return h("section", { class: "task-form", "aria-labelledby": "task-form-title" },
    h("h2", { id: "task-form-title" }, title),
    h("form", { novalidate: true, "aria-labelledby": "task-form-title", onsubmit: async (ev) => {
      ev.preventDefault();
      let variables;
      if (rendered) {
        rendered.clearErrors();
        variables = rendered.value();
      } else {
        try {
          variables = JSON.parse(jsonInput.value || "{}");
          if (!variables || typeof variables !== "object" || Array.isArray(variables)) throw new Error("not an object");
          jsonInput.error.hidden = true;
          jsonInput.removeAttribute("aria-invalid");
        } catch {
          jsonInput.error.textContent = "Expected a JSON object such as {\"approved\": true}.";
          jsonInput.error.hidden = false;
          jsonInput.setAttribute("aria-invalid", "true");
          jsonInput.focus();
          return;
        }
      }
      submit.disabled = true;
      replace(status, h("p", { class: "loading" }, "Completing…"));
      try {
        await api(`/api/tasks/${encodeURIComponent(task.taskId)}/complete`, { method: "POST", json: { variables } });
        flash = `Completed “${task.elementName || task.elementId}”.`;
        ctx.navigate("/tasks");
        return;
      } catch (e) {
        if (e instanceof ApiError && e.status === 422 && rendered) {
          replace(status, notice("error", "Please correct the fields marked below."));
          rendered.showErrors(fieldErrors(e.problem));
        } else {
          replace(status, refusal(e));
        }
      }
      submit.disabled = false;
    } }, parts, status, h("div", { class: "toolbar" }, submit)));
}

/** The server's answer to a command that did not go through: the engine's refusal with its
 * reason and type, or what else happened (no answer in time, the service down). */
function refusal(e) {
  if (e instanceof ApiError) {
    const p = e.problem || {};
    if (e.status === 504) {
      return notice("warn", `The engine has not answered in time; the command may still be processed${p.commandId ? ` (command ${p.commandId})` : ""}. Reload the page to see.`);
    }
    const refused = e.status === 403 || e.status === 409 || (e.status === 404 && p.rejectionType);
    return h("div", { class: "notice error refusal", role: "alert", "data-testid": "refusal" },
      h("strong", {}, refused ? "Refused: " : `Not done (HTTP ${e.status}): `),
      p.detail || p.title || e.message,
      p.rejectionType ? [" ", h("code", { class: "rejection-type" }, p.rejectionType)] : null);
  }
  return notice("error", `The request failed: ${reason(e)}`);
}
