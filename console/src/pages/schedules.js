// Schedules (`/schedules`, `/schedules/{id}`): the processes that start themselves, as the
// triggers service runs them (docs/triggers.md, "The API"). The list filters by process, type
// and whether retired schedules show (kept in the address, so a filtered list can be linked);
// a schedule's page shows its settings, its timer or webhook URL, the NAMES of its
// credentials, its recent fires and errors. Operators pause, resume, fire now and set the
// credentials; the routes check the role again, and their refusal is shown as it came.
// Credential values go one way only: typed into password fields, sent, and the fields cleared.
import { api, reason } from "../api.js";
import { hasRole } from "../auth.js";
import { h, notice, replace, time } from "../lib/dom.js";

// the built-in types (laneway/triggers/_registry.py BUILTINS); a plugin's own type is offered
// once a schedule of it is listed
const TYPES = ["timer", "feed", "folder", "webhook", "topic", "imap-mailbox", "graph-mailbox",
  "sharepoint-folder", "ai-listener"];
const STATUSES = { active: "active", paused: "paused", failing: "failing", retired: "retired" };
const ERROR_SHOWN = 90; // characters of the last error in the list; the whole one is its title
const MAX_ROWS = 20; // services/triggers/credentials.py MAX_CREDENTIALS

const schedulePath = (id) => `/api/schedules/${encodeURIComponent(id)}`;
const link = (href, ...text) => h("a", { href, "data-link": true }, ...text);
const shorten = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/** The status as a word in a coloured badge (the word carries it, not only the colour). */
export function statusBadge(status, attrs = {}) {
  const known = STATUSES[status] || "unknown";
  return h("span", { class: `badge schedule-${known}`, ...attrs }, status || "unknown");
}

export async function render(root, params, ctx) {
  if (params.scheduleId) return detailPage(root, params.scheduleId);
  return listPage(root, ctx);
}

// --- the list ---------------------------------------------------------------------------------

async function listPage(root, { navigate, search }) {
  const processId = (search.get("processId") || "").trim().slice(0, 255);
  const type = (search.get("type") || "").trim().slice(0, 100);
  const retired = search.get("includeRetired") === "1";

  const go = (p, t, r) => {
    const q = new URLSearchParams();
    if (p) q.set("processId", p);
    if (t) q.set("type", t);
    if (r) q.set("includeRetired", "1");
    navigate(`/schedules${q.toString() ? `?${q}` : ""}`);
  };

  const processInput = h("input", { id: "schedule-process", type: "search", list: "schedule-processes",
    value: processId, autocomplete: "off", placeholder: "any process", maxlength: 255 });
  const processes = h("datalist", { id: "schedule-processes" });
  const typeSelect = h("select", { id: "schedule-type",
    onchange: () => go(processInput.value.trim(), typeSelect.value, retiredBox.checked) },
    h("option", { value: "" }, "any type"),
    [...new Set([...TYPES, ...(type ? [type] : [])])].map((t) => h("option", { value: t, selected: t === type }, t)));
  const retiredBox = h("input", { type: "checkbox", id: "schedule-retired", checked: retired,
    onchange: () => go(processInput.value.trim(), typeSelect.value, retiredBox.checked) });
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter schedules",
    onsubmit: (ev) => { ev.preventDefault(); go(processInput.value.trim(), typeSelect.value, retiredBox.checked); } },
    h("div", { class: "filter" }, h("label", { for: "schedule-process" }, "Process"), processInput, processes),
    h("div", { class: "filter" }, h("label", { for: "schedule-type" }, "Type"), typeSelect),
    h("div", { class: "filter check" }, retiredBox, h("label", { for: "schedule-retired" }, "Include retired")),
    h("button", { type: "submit" }, "Filter"));
  const results = h("div", { "aria-live": "polite" }, h("p", { class: "loading" }, "Loading…"));
  replace(root, h("h1", {}, "Schedules"),
    h("p", { class: "hint" }, "The processes that start themselves: a timer start event, or a message start event that names a trigger (docs/triggers.md)."),
    filters, results);

  const q = new URLSearchParams();
  if (processId) q.set("processId", processId);
  if (type) q.set("type", type);
  if (retired) q.set("includeRetired", "true");
  let answer;
  try {
    answer = await api(`/api/schedules${q.toString() ? `?${q}` : ""}`);
  } catch (e) {
    replace(results, notice("error", reason(e)));
    return;
  }
  const items = answer?.items || [];
  for (const p of [...new Set(items.map((s) => s.processId))].slice(0, 500)) processes.append(h("option", { value: p }));
  for (const t of new Set(items.map((s) => s.type))) {
    if (!TYPES.includes(t) && t !== type) typeSelect.append(h("option", { value: t }, t));
  }
  if (!items.length) {
    replace(results, h("p", {}, processId || type ? "No schedule matches."
      : "No process starts itself yet: deploy one with a timer start event or a trigger, and authorize it."));
    return;
  }
  replace(results,
    h("table", { class: "list responsive schedules", "data-testid": "schedules" },
      h("thead", {}, h("tr", {}, ["Process", "Start event", "Type", "Status", "Next poll", "Last fire", "Fires", "Last error"]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, items.map((s) => h("tr", { "data-schedule": s.id, "data-process": s.processId },
        h("td", { "data-label": "Process" }, s.processId, h("span", { class: "hint" }, ` v${s.version}`)),
        h("td", { "data-label": "Start event" }, link(`/schedules/${encodeURIComponent(s.id)}`, s.startEventId)),
        h("td", { "data-label": "Type" }, s.type),
        h("td", { "data-label": "Status" }, statusBadge(s.status)),
        h("td", { "data-label": "Next poll" }, s.polled ? time(s.nextPollAt) : h("span", { class: "hint" }, "called, not polled")),
        h("td", { "data-label": "Last fire" }, time(s.lastFireAt)),
        h("td", { "data-label": "Fires", class: "number" }, String(s.firesTotal)),
        h("td", { "data-label": "Last error", class: "schedule-error" },
          s.lastError ? h("span", { title: s.lastError }, shorten(s.lastError, ERROR_SHOWN)) : "")))),
    ),
    h("p", { class: "hint" }, `${items.length} schedule${items.length === 1 ? "" : "s"}.`));
}

// --- one schedule -----------------------------------------------------------------------------

async function detailPage(root, id, flash = null) {
  let s;
  try {
    s = await api(schedulePath(id));
  } catch (e) {
    replace(root, crumbs(id), h("h1", {}, "Schedule"), notice("error", reason(e)));
    return;
  }
  const again = (message) => detailPage(root, id, message);
  const operator = hasRole("operator");
  replace(root,
    crumbs(s.startEventId),
    h("div", { class: "schedule-head" },
      h("h1", {}, s.processId, " ", h("span", { class: "version" }, `· ${s.startEventId}`)),
      statusBadge(s.status, { "data-testid": "status" }),
      h("button", { type: "button", onclick: () => again(null) }, "Refresh")),
    flash,
    facts(s),
    operator ? actionsCard(s, again) : null,
    s.hookPath ? hookCard(s) : null,
    settingsCard(s),
    credentialsCard(s, operator, again),
    firesCard(s.recentFires || []),
    errorsCard(s.recentErrors || []));
  // an action drew the page again: its outcome takes the focus the pressed button had
  if (flash) {
    flash.setAttribute("tabindex", "-1");
    flash.focus();
  }
}

function crumbs(last) {
  return h("p", { class: "crumbs" }, link("/schedules", "Schedules"), " / ", last);
}

function facts(s) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  return h("section", { class: "card" },
    h("dl", { class: "facts", "data-testid": "facts" },
      row("Type", s.type),
      row("Process", [link(`/definitions/${encodeURIComponent(s.processId)}/${s.version}`, s.processId), ` version ${s.version}`]),
      row("Start event", h("code", {}, s.startEventId)),
      s.timer ? row("Timer", [h("span", { class: "hint" }, `${s.timer[0]} `), h("code", { "data-testid": "timer" }, s.timer[1])]) : null,
      s.polled ? row("Next poll", s.status === "retired" ? "never (retired)" : s.status === "paused" ? "paused" : time(s.nextPollAt))
        : row("Started by", "calls to its webhook URL (not polled)"),
      s.polled ? row("Last poll", time(s.lastPollAt)) : null,
      row("Last fire", time(s.lastFireAt)),
      row("Fires", String(s.firesTotal)),
      s.failures ? row("Failures in a row", String(s.failures)) : null,
      s.lastError ? row("Last error", [h("span", { class: "schedule-error-text" }, s.lastError), " ", time(s.lastErrorAt)]) : null,
      row("Schedule id", h("code", {}, s.id))));
}

function actionsCard(s, again) {
  const outcome = h("div", { "aria-live": "polite" });
  const run = async (button, action, done) => {
    button.disabled = true;
    replace(outcome);
    let answer;
    try {
      answer = await api(`${schedulePath(s.id)}/${action}`, { method: "POST" });
    } catch (e) {
      replace(outcome, notice("error", `Refused: ${reason(e)}`));
      button.disabled = false;
      return;
    }
    await again(done(answer)).catch((e) => replace(outcome, notice("warn", `Done; the page could not be read again: ${reason(e)}`)));
  };
  const button = (label, action, done, cls = "") => {
    const b = h("button", { type: "button", class: cls || null, "data-action": action, onclick: () => run(b, action, done) }, label);
    return b;
  };
  const retired = s.status === "retired";
  const buttons = [
    !retired && s.status !== "paused" ? button("Pause", "pause", () => notice("ok", "Paused: nothing starts until it is resumed."), "danger") : null,
    s.status === "paused" ? button("Resume", "resume", () => notice("ok", "Resumed: it is polled at once, so what arrived meanwhile starts, once."), "primary") : null,
    s.polled && !retired ? button("Fire now", "fire", fired) : null,
  ].filter(Boolean);
  return h("section", { class: "card schedule-actions" }, h("h2", {}, "Manage"),
    buttons.length ? h("div", { class: "toolbar" }, buttons)
      : h("p", { class: "hint" }, "A retired schedule: its process no longer declares it, nothing starts."),
    s.polled ? h("p", { class: "hint" }, "Fire now polls at once (a timer starts one instance now), even while paused.") : null,
    outcome);
}

/** What a fire now started, as links to the instances. */
function fired(answer) {
  const ids = answer?.instanceIds || [];
  if (!ids.length) return notice("ok", "Fired: nothing new, no instance started.");
  return h("div", { class: "notice ok", role: "status", "data-testid": "fired" },
    `Fired: ${ids.length} instance${ids.length === 1 ? "" : "s"} started: `,
    ids.slice(0, 50).map((iid, n) => [n ? ", " : "", link(`/instances/${encodeURIComponent(iid)}`, h("code", {}, iid))]),
    ids.length > 50 ? ` and ${ids.length - 50} more (see Recent fires).` : ".");
}

function hookCard(s) {
  const url = new URL(s.hookPath, location.origin).href;
  const field = h("input", { id: "hook-url", class: "input", type: "text", readonly: true, value: url,
    "data-testid": "hook-url", "aria-describedby": "hook-hint" });
  const said = h("span", { role: "status", class: "hint" });
  const copy = h("button", { type: "button", onclick: async () => {
    try {
      await navigator.clipboard.writeText(url);
      replace(said, "Copied.");
    } catch {
      // no clipboard (an insecure origin, a refused permission): select it to copy by hand
      field.focus();
      field.select();
      replace(said, "Selected: copy it with Ctrl+C.");
    }
  } }, "Copy");
  return h("section", { class: "card" }, h("h2", {}, "Webhook"),
    h("label", { for: "hook-url" }, "URL the partner calls (POST)"),
    h("div", { class: "hook-url" }, field, copy, said),
    h("p", { class: "hint", id: "hook-hint" },
      "Each call is signed with the credential 'secret' (HMAC-SHA256 of '<timestamp>.<body>'); without it every call is refused (503). docs/triggers.md, \"webhook\", shows how a sender signs."));
}

function settingsCard(s) {
  const table = (entries, caption) => h("table", { class: "list settings" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Value"))),
    h("tbody", {}, entries.map(([k, v]) => h("tr", { "data-setting": k }, h("th", { scope: "row" }, h("code", {}, k)), h("td", {}, String(v))))));
  const sorted = (o) => Object.entries(o || {}).sort(([a], [b]) => a.localeCompare(b));
  const settings = sorted(s.settings);
  const attributes = sorted(s.attributes);
  return h("section", { class: "card" }, h("h2", {}, "Settings"),
    settings.length ? table(settings, "Settings") : h("p", { class: "hint" }, "None: the type's defaults."),
    attributes.length ? [h("h3", {}, "Other attributes"), table(attributes, "Other attributes")] : null,
    s.cursor !== null && s.cursor !== undefined
      ? h("details", {}, h("summary", {}, "Cursor (where the next poll continues)"), h("pre", { class: "json" }, JSON.stringify(s.cursor, null, 2)))
      : null);
}

function credentialsCard(s, operator, again) {
  const names = s.credentialNames || [];
  const shown = h("p", { "data-testid": "credential-names" },
    names.length ? ["Set: ", names.map((n, i) => [i ? ", " : "", h("code", {}, n)])] : "None set.");
  return h("section", { class: "card credentials" }, h("h2", {}, "Credentials"),
    shown,
    h("p", { class: "hint" }, "Only their names are ever shown: values are stored encrypted and never read back."),
    operator ? credentialsForm(s, names, again) : null);
}

function credentialsForm(s, names, again) {
  const rows = h("div", { class: "credential-rows" });
  const outcome = h("div", { "aria-live": "polite" });
  let serial = 0;
  const addRow = (name = "") => {
    if (rows.children.length >= MAX_ROWS) return;
    serial += 1;
    const n = serial;
    const nameInput = h("input", { id: `cred-name-${n}`, class: "input", type: "text", value: name, maxlength: 100,
      autocomplete: "off", spellcheck: "false", "data-role": "name" });
    const valueInput = h("input", { id: `cred-value-${n}`, class: "input", type: "password", maxlength: 8192,
      autocomplete: "new-password", "data-role": "value" });
    const row = h("div", { class: "credential-row" },
      h("div", { class: "field" }, h("label", { for: `cred-name-${n}` }, "Name"), nameInput),
      h("div", { class: "field" }, h("label", { for: `cred-value-${n}` }, "Value"), valueInput),
      h("button", { type: "button", class: "link", "aria-label": `Remove credential row ${n}`,
        onclick: () => { row.remove(); if (!rows.children.length) addRow(); } }, "Remove"));
    rows.append(row);
  };
  for (const name of names) addRow(name);
  if (!names.length) addRow();

  const clearValues = () => { for (const input of rows.querySelectorAll("input[type=password]")) input.value = ""; };
  const send = async (values, button, done) => {
    button.disabled = true;
    replace(outcome);
    try {
      await api(`${schedulePath(s.id)}/credentials`, { method: "PUT", json: { values } });
    } catch (e) {
      // 409: no key is configured to encrypt them (the problem says which); 422: a name
      replace(outcome, notice("error", `Not saved: ${reason(e)}`));
      button.disabled = false;
      return;
    } finally {
      clearValues();
    }
    await again(notice("ok", done)).catch((e) => replace(outcome, notice("warn", `${done} The page could not be read again: ${reason(e)}`)));
  };

  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const clear = h("button", { type: "button", class: "danger", onclick: () => send({}, clear, "Saved: no credentials are set now.") },
    "Remove all");
  const form = h("form", { class: "credentials-form", "aria-label": "Set credentials", onsubmit: (ev) => {
    ev.preventDefault();
    const values = {};
    for (const row of rows.querySelectorAll(".credential-row")) {
      const name = row.querySelector("[data-role=name]").value.trim();
      const value = row.querySelector("[data-role=value]").value;
      if (!name && !value) continue;
      if (!name || !value) {
        replace(outcome, notice("error", "Give each credential a name and a value (or remove the row): saving replaces them all."));
        return;
      }
      if (Object.hasOwn(values, name)) {
        replace(outcome, notice("error", `The name '${name}' is given twice.`));
        return;
      }
      values[name] = value;
    }
    if (!Object.keys(values).length) {
      replace(outcome, notice("error", "Nothing to save: give a name and a value, or use Remove all."));
      return;
    }
    send(values, save, `Saved: ${Object.keys(values).join(", ")}. The values are not shown again.`);
  } },
    h("p", { class: "hint" }, "Saving replaces every credential of this schedule: give each one its value again. A failing schedule is polled at once."),
    rows,
    h("div", { class: "toolbar" },
      h("button", { type: "button", onclick: () => addRow() }, "Add a credential"),
      save, names.length ? clear : null),
    outcome);
  return form;
}

function firesCard(fires) {
  const summary = (o) => Object.entries(o || {}).slice(0, 10)
    .map(([k, v]) => `${k}: ${shorten(typeof v === "string" ? v : JSON.stringify(v), 80)}`).join(" · ");
  return h("section", { class: "card" }, h("h2", {}, "Recent fires"),
    fires.length ? h("table", { class: "list responsive fires", "data-testid": "fires" },
      h("thead", {}, h("tr", {}, ["Fired", "Dedup key", "Summary", "Instance", "Requested by"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, fires.map((f) => h("tr", { "data-dedup": f.dedupKey, class: f.refused ? "refused" : null },
        h("td", { "data-label": "Fired" }, time(f.firedAt)),
        h("td", { "data-label": "Dedup key" }, h("code", {}, f.dedupKey)),
        h("td", { "data-label": "Summary" }, summary(f.summary)),
        h("td", { "data-label": "Instance" }, f.refused
          ? h("span", { class: "refused-reason" }, h("strong", {}, "Not started: "), f.refused)
          : [link(`/instances/${encodeURIComponent(f.instanceId)}`, h("code", {}, f.instanceId.slice(0, 8)), "…"),
             h("span", { class: "hint" }, ` v${f.version}`)]),
        h("td", { "data-label": "Requested by" }, f.requestedBy || h("span", { class: "hint" }, "the schedule"))))))
      : h("p", { class: "hint" }, "Nothing started yet."));
}

function errorsCard(errors) {
  return h("section", { class: "card" }, h("h2", {}, "Recent errors"),
    errors.length ? h("ul", { class: "schedule-errors", "data-testid": "errors" },
      errors.map((e) => h("li", {}, time(e.at), " ", h("span", { class: "schedule-error-text" }, e.message))))
      : h("p", { class: "hint" }, "None."));
}
