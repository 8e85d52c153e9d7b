// The live instance: the diagram with a token on every active element, the path taken, the
// incidents (an operator retries them here), one strip per lane (who has work now), and the
// variables, the clicked element's attributes and the called instances one click away.
//
// It moves by itself: GET /api/instances/{id}/live is a text/event-stream read with fetch()
// (EventSource cannot send the token). After its `ready` frame the page reads the instance
// (nothing committed from then on is missed) and applies each event as it comes; a debounced
// read of the projection reconciles what the events left out (variables). The stream is opened
// again with a growing pause when it ends, until the instance ends.
import { api, reason } from "../api.js";
import { hasRole, loadConfig } from "../auth.js";
import { Diagram, childInstanceId } from "../lib/diagram.js";
import { h, replace, time, notice } from "../lib/dom.js";
import { readHistory, relatives } from "../lib/history.js";
import { laneStrips } from "../lib/lane-strips.js";
import { readFrames } from "../lib/sse.js";
import { InstanceModel, isEnded, pathFromHistory } from "../lib/tokens.js";
import { traceLink } from "../lib/trace-tree.js";
import { followOperation, outcomeLine } from "../lib/command-outcome.js";

const MAX_WAIT_START_MS = 30_000; // an instance opened right after its start is not projected yet
const RECONCILE_MS = 800;
const CATCH_UP_MS = [1000, 4000];
const MIN_RECONCILE_GAP_MS = 2000;
// events that change what the projection shows beyond tokens and path
const NEEDS_PROJECTION = new Set(["VARIABLES_UPDATED", "INCIDENT_CREATED", "INCIDENT_RESOLVED"]);
const MAX_BACKOFF_MS = 15_000;
const MAX_CHILDREN = 50;
const MAX_LIVE_RECORDS = 100_000; // window.__lanewayLive, read by the benchmark

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

export async function render(root, { instanceId }) {
  const stop = new AbortController();
  const signal = stop.signal;
  const enc = encodeURIComponent(instanceId);
  const mayAudit = hasRole("auditor", "operator");
  const mayRetry = hasRole("operator");
  // what the benchmark reads: each live event with when the page showed it
  window.__lanewayLive = [];

  const model = new InstanceModel(instanceId);
  const config = await loadConfig();
  // Jaeger's UI when the server names one; the console's own view when it can read traces
  // (both when both: the view is quicker to reach, the UI searches and compares)
  const trace = traceLink(config.tracesUrl, instanceId);
  const traceView = config.traceView && mayAudit;
  const inst = await firstRead(root, enc, signal);
  if (!inst) return () => stop.abort();
  model.loadProjection(inst);

  const title = h("h1", {}, "Instance");
  const statusBadge = h("span", { class: "badge", "data-testid": "status" });
  const liveState = h("span", { class: "live-state", "data-testid": "live", role: "status" }, "connecting…");
  // an operator's cancel: a second click confirms (no modal dialog to dismiss)
  const cancelButton = mayRetry
    ? h("button", { type: "button", class: "danger", "data-testid": "op-cancel", onclick: (ev) => cancelInstance(ev.currentTarget) }, "Cancel instance")
    : null;
  // the engine's answer to the last cancel, beside the button (which goes once it ended)
  const cancelOutcome = mayRetry ? outcomeLine("cancel-outcome") : null;
  const messages = h("div", { class: "messages" });
  const meta = h("p", { class: "hint instance-meta" });
  const strips = h("div", { class: "lane-strips-box" });
  const canvas = h("div", { class: "lw-diagram", "data-testid": "diagram" });
  const panels = tabs();
  replace(root,
    h("div", { class: "instance-head" }, title, statusBadge, liveState, cancelButton, cancelOutcome),
    meta, messages, strips, canvas, panels.element);

  const diagram = new Diagram(canvas);
  const personas = {}; // lane -> persona, from live events (the review's mapping)
  const children = new Map(); // element key -> {elementId, childId}
  let parent = null;
  const pendingShown = []; // live events applied, waiting for the next draw

  // a diagram without its drawing (no BPMNDI: generated files) still runs: the page then
  // lists where the tokens are in words
  let drawn = true;
  try {
    const xml = await api(`/api/definitions/${encodeURIComponent(inst.processId)}/versions/${inst.version}/xml`, { signal });
    await diagram.load(xml, inst.processId);
  } catch (e) {
    drawn = false;
    messages.append(notice("error", `The diagram could not be shown: ${reason(e)}`));
  }
  const activeList = h("p", { class: "hint", "data-testid": "active-elements" });
  if (!drawn) canvas.replaceWith(activeList);
  const lanes = diagram.lanes();

  // the path taken and the called instances, from the audit log for those who may read it
  // (read again from where it ended at every reconcile: the log has what the feed missed)
  let historySeq = 0;
  let logEnded = false;
  let historyWarned = false;
  async function readLog(maxPages) {
    if (!mayAudit) return;
    try {
      const { events } = await readHistory(instanceId, { after: historySeq, maxPages, signal });
      if (events.length) historySeq = events[events.length - 1].seq;
      logEnded = logEnded || events.some((e) => e.elementType === "process" && e.kind === "EVENT"
        && (e.intent === "ELEMENT_COMPLETED" || e.intent === "ELEMENT_TERMINATED"));
      for (const p of pathFromHistory(events)) model.addPath(p);
      const rel = relatives(events);
      parent = parent || rel.parent;
      for (const c of rel.calls) if (!children.has(c.key)) children.set(c.key, { elementId: c.elementId, childId: null });
    } catch (e) {
      // a log not written yet is a 404: the next reconcile reads it
      if (!signal.aborted && e.status !== 404 && !historyWarned) {
        historyWarned = true;
        messages.append(notice("warn", `The history could not be read: ${reason(e)}`));
      }
    }
  }
  await readLog(20);

  // once the instance ended, its last records may reach the log a moment after the
  // projection showed the end: read it again until the process's end is there (a few times)
  let settleTries = 0;
  let settling = false;
  function settleLog() {
    if (!mayAudit || logEnded || settling || !isEnded(model.status) || settleTries >= 8) return;
    settling = true;
    setTimeout(async () => {
      settling = false;
      settleTries += 1;
      if (signal.aborted) return;
      await readLog(2);
      queueDraw();
      settleLog();
    }, 500 * 2 ** Math.min(settleTries, 4));
  }

  // --- drawing -----------------------------------------------------------------------------

  let drawQueued = false;
  function draw() {
    drawQueued = false;
    if (signal.aborted) return;
    const info = model.info || inst;
    replace(title, "Instance of ", h("a", { href: `/definitions/${encodeURIComponent(info.processId)}/${info.version}`, "data-link": true },
      diagram.process()?.name || info.processId), ` v${info.version}`);
    statusBadge.className = `badge ${model.status}`;
    statusBadge.textContent = model.status || "";
    // (`hidden` would lose to the buttons' display rule)
    if (cancelButton) cancelButton.style.display = isEnded(model.status) ? "none" : "";
    replace(meta, h("code", {}, instanceId),
      info.businessKey ? [" · business key ", h("strong", {}, info.businessKey)] : null,
      " · updated ", time(info.updatedAt),
      mayAudit ? [" · ", h("a", { href: `/instances/${enc}/audit`, "data-link": true }, "Audit timeline")] : null,
      mayRetry && !isEnded(model.status)
        ? [" · ", h("a", { href: `/migrate/${encodeURIComponent(info.processId)}/${info.version}?instance=${enc}`,
                           "data-link": true, "data-testid": "op-migrate" }, "Migrate")] : null,
      traceView ? [" · ", h("a", { href: `/instances/${enc}/trace`, "data-link": true, "data-testid": "trace-view" }, "Trace")] : null,
      trace ? [" · ", h("a", { href: trace, target: "_blank", rel: "noopener noreferrer", "data-testid": "trace" },
        traceView ? "Trace in Jaeger" : "Trace")] : null,
      parent ? [" · called by ", h("a", { href: `/instances/${encodeURIComponent(parent)}`, "data-link": true }, parent)] : null);
    const tokens = model.tokens();
    if (drawn) {
      diagram.show({ tokens, path: model.path, incidents: [...model.incidents.values()],
                     retry: mayRetry ? retry : null });
    } else {
      const here = [...tokens].filter(([, n]) => n > 0).map(([id, n]) => (n > 1 ? `${id} (${n})` : id));
      replace(activeList, here.length ? `Tokens on: ${here.join(", ")}` : "No token is active.");
    }
    replace(strips, laneStrips(diagram, lanes, tokens, { ended: isEnded(model.status), personas }));
    panels.update();
    const shownAt = Date.now();
    for (const ev of pendingShown.splice(0)) {
      if (window.__lanewayLive.length >= MAX_LIVE_RECORDS) window.__lanewayLive.shift();
      window.__lanewayLive.push({ position: ev.position, at: ev.at, shownAt });
    }
  }

  function queueDraw() {
    if (drawQueued) return;
    drawQueued = true;
    queueMicrotask(draw);
  }

  // --- the panels: variables, the clicked element, incidents, called instances -------------

  function tabs() {
    const names = [["variables", "Variables"], ["element", "Element"], ["incidents", "Incidents"], ["children", "Called instances"]];
    const list = h("div", { class: "tabs", role: "tablist", "aria-label": "Instance details" });
    const bodies = {};
    const buttons = {};
    let current = "variables";
    for (const [id, label] of names) {
      buttons[id] = h("button", { type: "button", role: "tab", id: `tab-${id}`, "aria-controls": `panel-${id}`,
                                  "data-tab": id, onclick: () => open(id) }, label);
      bodies[id] = h("div", { role: "tabpanel", id: `panel-${id}`, "aria-labelledby": `tab-${id}`, class: "tab-panel" });
      list.append(buttons[id]);
    }
    function select(id) {
      current = id;
      for (const [name] of names) {
        buttons[name].setAttribute("aria-selected", String(name === id));
        buttons[name].tabIndex = name === id ? 0 : -1;
        bodies[name].hidden = name !== id;
      }
    }
    function open(id) {
      select(id);
      update({ opened: true });
    }
    // `opened`: the person opened the tab (the called instances' states are read then, not
    // at every event)
    let shownVariables = null;
    let childLooks = 0;
    let shownChildren = -1;
    function update({ opened = false } = {}) {
      const body = bodies[current];
      if (current === "variables") {
        if (opened || shownVariables !== model.variables) variablesView(body);
        shownVariables = model.variables;
      } else if (current === "element") replace(body, elementView());
      else if (current === "incidents") replace(body, incidentsView());
      else if (current === "children" && (opened || !body.firstChild || shownChildren !== children.size)) {
        shownChildren = children.size;
        childrenView().then((view) => {
          if (current !== "children") return;
          replace(body, view);
          // a child just started is projected a moment later: look again, a few times
          if ([...children.values()].some((c) => c.childId && !c.status) && childLooks++ < 20) {
            setTimeout(() => { if (current === "children" && !signal.aborted) update({ opened: true }); }, 1500);
          }
        }, (e) => replace(body, notice("error", reason(e))));
      }
      buttons.incidents.textContent = model.incidents.size ? `Incidents (${model.incidents.size})` : "Incidents";
    }
    // arrow keys move between the tabs (the WAI-ARIA tabs pattern)
    list.addEventListener("keydown", (ev) => {
      const order = names.map(([id]) => id);
      const step = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      const next = order[(order.indexOf(current) + step + order.length) % order.length];
      open(next);
      buttons[next].focus();
    });
    select("variables");
    const element = h("section", { class: "instance-panels card" }, list, Object.values(bodies));
    return { element, update, open };
  }

  // the variables' text changes in place: the operator's form beside it is never moved while
  // someone types in it
  const variablesText = h("pre", { class: "json", "data-testid": "variables" });
  function variablesView(body) {
    const text = JSON.stringify(model.variables || {}, null, 2);
    variablesText.textContent = text.length > 200_000 ? `${text.slice(0, 200_000)}\n…` : text;
    const form = mayRetry && !isEnded(model.status) ? variableForm : null;
    if (body.firstChild !== variablesText || (body.lastChild === variableForm) !== Boolean(form)) {
      replace(body, variablesText, form);
    }
  }

  // --- an operator's operations: set a variable, activate, terminate, move, cancel ----------
  // (docs/instance-operations.md). Each is a command: the engine applies it, or refuses it with
  // a reason; the line beside the control shows which (read from the audit log by the
  // command's id), and the page moves by the live feed as for any event.

  // built once, so what is typed survives the redraws a live event causes
  const varName = h("input", { type: "text", "aria-label": "Variable name", placeholder: "name", "data-testid": "var-name", maxlength: "256" });
  const varValue = h("input", { type: "text", "aria-label": "Value (JSON, else text)", placeholder: "value (JSON, else text)", "data-testid": "var-value" });
  const varOutcome = outcomeLine("var-outcome");
  const variableForm = h("form", { class: "op-form", "data-testid": "set-variable", onsubmit: (ev) => { ev.preventDefault(); setVariable(ev.submitter); } },
    h("strong", {}, "Set a variable "), varName, " = ", varValue, " ", h("button", { type: "submit" }, "Set"), " ", varOutcome);
  // the element operations' answer: one line, kept across the redraws of the element tab
  const opOutcome = outcomeLine("op-outcome");

  // `line` shows what the engine answered: done, or its refusal with the reason
  async function operation(path, json, done, button, line) {
    if (button) button.disabled = true;
    try {
      await followOperation(line, instanceId,
        () => api(`/api/instances/${enc}/${path}`, { method: "POST", json, signal }),
        { done: `Done: ${done}`, signal });
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function setVariable(button) {
    const name = varName.value.trim();
    if (!name) { replace(messages, notice("error", "Name the variable to set.")); return; }
    let value = varValue.value;
    try { value = JSON.parse(value); } catch { /* not JSON: the text itself */ }
    await operation("variables", { variables: { [name]: value } }, `${name} set.`, button, varOutcome);
    varName.value = ""; varValue.value = "";
  }

  function modify(instructions, done, button) {
    return operation("modification", { instructions }, done, button, opOutcome);
  }

  async function cancelInstance(button) {
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = "Confirm: cancel instance";
      return;
    }
    await operation("cancel", undefined, "the instance and the instances it called are terminated.", button, cancelOutcome);
  }

  let moveFrom = "";
  function operationsView(id, here) {
    if (!mayRetry || isEnded(model.status)) return null;
    const tokens = [...model.tokens()].filter(([el, n]) => n > 0 && el !== id).map(([el]) => el);
    if (!tokens.includes(moveFrom)) moveFrom = tokens[0] || "";
    const from = h("select", { "aria-label": "Move the token from", "data-testid": "op-move-from",
                               onchange: (ev) => { moveFrom = ev.currentTarget.value; } },
      tokens.map((el) => h("option", { value: el, selected: el === moveFrom }, diagram.name(el))));
    return h("div", { class: "op-form", "data-testid": "operations" },
      h("strong", {}, "Operations "),
      h("button", { type: "button", "data-testid": "op-activate",
                    onclick: (ev) => modify([{ type: "ACTIVATE", elementId: id }], `${diagram.name(id)} activated.`, ev.currentTarget) }, "Activate here"),
      " ",
      here ? h("button", { type: "button", class: "danger", "data-testid": "op-terminate",
                           onclick: (ev) => modify([{ type: "TERMINATE", elementId: id }], `${diagram.name(id)} terminated.`, ev.currentTarget) }, "Terminate here") : null,
      tokens.length ? [" ", h("button", { type: "button", "data-testid": "op-move",
                                           onclick: (ev) => modify([{ type: "MOVE", fromElementId: moveFrom, elementId: id }],
                                             `moved from ${diagram.name(moveFrom)} to ${diagram.name(id)}.`, ev.currentTarget) }, "Move a token here from"), " ", from] : null,
      " ", opOutcome);
  }

  function elementView() {
    const id = diagram.selected;
    if (!id) return h("p", { class: "hint" }, "Click an element of the diagram to see its attributes.");
    const a = diagram.attributes(id);
    if (!a) return h("p", { class: "hint" }, "Unknown element.");
    const n = model.tokens().get(id) || 0;
    return h("div", { "data-testid": "element", "data-element": id },
      h("h3", {}, a.name || a.id, " ", h("span", { class: "hint" }, a.type.replace(/^bpmn:/, ""), " · ", h("code", {}, a.id))),
      h("p", {}, n ? `${n} token${n === 1 ? "" : "s"} here now` : "No token here now",
        model.path.has(id) ? " · reached" : ""),
      operationsView(id, n > 0),
      a.attrs.length
        ? h("table", { class: "list attrs" }, h("thead", {}, h("tr", {}, h("th", {}, "attribute"), h("th", {}, "value"))),
            h("tbody", {}, a.attrs.map(([k, v]) => h("tr", {}, h("td", {}, h("code", {}, k)), h("td", {}, String(v))))))
        : h("p", { class: "hint" }, "No attributes besides BPMN's own."),
      a.extensions.length ? [h("h4", {}, "Extension elements"), h("pre", { class: "json" }, JSON.stringify(a.extensions, null, 2))] : null);
  }

  function incidentsView() {
    if (!model.incidents.size) return h("p", { class: "hint" }, "No open incident.");
    return h("ul", { class: "incident-list" }, [...model.incidents.values()].map((inc) => h("li", {},
      h("strong", {}, diagram.name(inc.elementId)), " ", h("span", { class: "badge INCIDENT" }, inc.errorType || "incident"),
      h("div", {}, inc.message || ""),
      mayRetry && inc.id ? h("button", { type: "button", class: "danger", onclick: (ev) => retry(inc, ev.currentTarget) }, "Retry") : null)));
  }

  async function childrenView() {
    if (!mayAudit && !children.size) {
      return h("p", { class: "hint" }, "The called instances are read from the audit log (auditors and operators), or seen here as they start.");
    }
    if (!children.size) return h("p", { class: "hint" }, "This instance called no other process.");
    const rows = [];
    for (const [key, c] of [...children].slice(0, MAX_CHILDREN)) {
      if (!c.childId) c.childId = await childInstanceId(instanceId, key);
      if (!c.childId) { rows.push(h("li", {}, diagram.name(c.elementId), ": the browser cannot derive its id here (not a secure context)")); continue; }
      if (!c.status || !isEnded(c.status)) {
        try { c.status = (await api(`/api/instances/${encodeURIComponent(c.childId)}`, { signal })).status; }
        catch { c.status = null; }
      }
      rows.push(h("li", {}, h("a", { href: `/instances/${encodeURIComponent(c.childId)}`, "data-link": true }, diagram.name(c.elementId)),
        " ", c.status ? h("span", { class: `badge ${c.status}` }, c.status) : h("span", { class: "hint" }, "(not started yet, or not yours to see)"),
        " ", h("code", { class: "hint" }, c.childId)));
    }
    return h("ul", { class: "children", "data-testid": "children" }, rows);
  }

  async function retry(inc, button) {
    if (button) { button.disabled = true; button.textContent = "Retrying…"; }
    try {
      await api(`/api/incidents/${encodeURIComponent(inc.id)}/resolve`, { method: "POST", json: { retries: 1 }, signal });
      if (button) button.textContent = "Retry sent";
      replace(messages, notice("ok", `Retry of the incident on ${diagram.name(inc.elementId)} sent: the engine runs the step again.`));
    } catch (e) {
      if (button) { button.disabled = false; button.textContent = "Retry"; }
      replace(messages, notice("error", `The retry was refused: ${reason(e)}`));
    }
  }

  // --- keeping up: the live feed, and the projection to reconcile ----------------------------

  // The projection is read again (a) after the stream is ready, twice more (what was committed
  // just before `ready` may not be projected yet, and a quiet instance sends nothing to make
  // the page look again), and (b) after events the page cannot apply in full: variables
  // changed (the feed never carries values), an incident (its id, for Retry), the end. At
  // most once every MIN_RECONCILE_GAP_MS: a busy instance is followed by its events, not by
  // reading the database at the pace of its events.
  let reconcileTimer = null;
  let lastReconcileAt = 0;
  let logReads = 0; // reads of the log still due since the last `ready`
  const catchUps = [];
  let reconcileTries = 0;
  function scheduleReconcile(ms = RECONCILE_MS) {
    if (reconcileTimer !== null || signal.aborted) return; // one already due: it reads it all
    const wait = Math.max(ms, lastReconcileAt + MIN_RECONCILE_GAP_MS - Date.now());
    reconcileTimer = setTimeout(reconcile, wait);
  }

  async function refresh() {
    const fresh = await api(`/api/instances/${enc}`, { signal });
    model.loadProjection(fresh);
    await readLog(2);
    queueDraw();
    settleLog();
    return fresh;
  }

  // the projection trails the events a little: take it when it shows what the events showed,
  // or is newer than the last event, or after a few tries (it is the truth in the end)
  async function reconcile() {
    reconcileTimer = null;
    if (signal.aborted) return;
    lastReconcileAt = Date.now();
    try {
      const fresh = await api(`/api/instances/${enc}`, { signal });
      const newer = Date.parse(fresh.updatedAt) >= model.lastAt;
      if (newer || model.agrees(fresh) || reconcileTries >= 3) {
        reconcileTries = 0;
        model.loadProjection(fresh);
        if (logReads > 0) {
          logReads -= 1;
          await readLog(2);
        }
        queueDraw();
        settleLog();
      } else {
        reconcileTries += 1;
        scheduleReconcile(RECONCILE_MS * 2 ** reconcileTries);
      }
    } catch {
      if (!signal.aborted) scheduleReconcile(RECONCILE_MS * 4);
    }
  }

  function onEvent(ev) {
    if (!ev || typeof ev !== "object" || (ev.instanceId && ev.instanceId !== instanceId)) return;
    if (!model.fresh(ev.position)) return;
    if (ev.lane && ev.persona) personas[ev.lane] = ev.persona;
    if (ev.intent === "ELEMENT_ACTIVATED" && ev.elementType === "callActivity" && Number.isInteger(ev.key)) {
      children.set(ev.key, { elementId: ev.elementId, childId: null });
    }
    model.apply(ev);
    pendingShown.push(ev);
    queueDraw();
    if (NEEDS_PROJECTION.has(ev.intent) || ev.truncated
        || (ev.elementType === "process" && ev.intent !== "ELEMENT_ACTIVATED")) scheduleReconcile();
  }

  // A hidden tab lets its stream go and opens it again when shown (then reads the
  // projection after `ready`): a browser keeps at most 6 HTTP/1.1 connections to one origin,
  // and a stream holds one for as long as it is open, so seven tabs on instances would
  // otherwise stall every request of the console, the seventh tab's included.
  let streamStop = null;
  let wake = null;
  const onVisibility = () => {
    if (document.visibilityState === "hidden") streamStop?.abort();
    else wake?.();
  };
  document.addEventListener("visibilitychange", onVisibility);

  async function follow() {
    let backoff = 500;
    let loading = null; // the read after `ready`; events wait for it
    let held = [];
    while (!signal.aborted) {
      if (document.visibilityState === "hidden") {
        liveState.textContent = "paused (tab hidden)";
        liveState.dataset.state = "paused";
        await new Promise((resolve) => {
          wake = resolve;
          signal.addEventListener("abort", resolve, { once: true });
        });
        wake = null;
        if (signal.aborted) return;
      }
      streamStop = new AbortController();
      const both = AbortSignal.any([signal, streamStop.signal]);
      let res = null;
      try {
        res = await api(`/api/instances/${enc}/live`, { raw: true, signal: both, headers: { Accept: "text/event-stream" } });
      } catch { /* the network: try again below */ }
      if (signal.aborted) return;
      if (streamStop.signal.aborted) continue; // hidden: wait to be shown
      if (res?.ok && res.body) {
        let ended = false;
        const opened = Date.now();
        liveState.textContent = "live";
        liveState.dataset.state = "live";
        try {
          await readFrames(res, (frame) => {
            if (frame.event === "ready") {
              held = [];
              loading = refresh().catch(() => scheduleReconcile()).finally(() => {
                loading = null;
                for (const ev of held.splice(0)) onEvent(ev);
              });
              // the projection trails the events topic: what was committed just before
              // `ready` may not be in the read above, and no event will come for it (an
              // incident leaves the instance quiet), so read it again twice
              for (const t of catchUps.splice(0)) clearTimeout(t);
              logReads = CATCH_UP_MS.length;
              for (const ms of CATCH_UP_MS) catchUps.push(setTimeout(() => scheduleReconcile(0), ms));
              return;
            }
            if (frame.event === "end") { ended = true; return; }
            let ev;
            try { ev = JSON.parse(frame.data); } catch { return; }
            if (loading) held.push(ev); else onEvent(ev);
          });
        } catch { /* the stream broke: open it again */ }
        if (signal.aborted) return;
        if (streamStop.signal.aborted) continue; // hidden: wait to be shown
        if (ended) {
          await loading;
          liveState.textContent = "ended";
          liveState.dataset.state = "ended";
          scheduleReconcile(0);
          return;
        }
        if (Date.now() - opened > 10_000) backoff = 500;
      } else if (res && (res.status === 401 || res.status === 403)) {
        liveState.textContent = "not live";
        liveState.dataset.state = "refused";
        replace(messages, notice("error", `The live feed was refused (HTTP ${res.status}): reload to sign in again.`));
        return;
      } else if (res?.status === 503) {
        const after = Number(res.headers.get("Retry-After"));
        if (after > 0) backoff = Math.min(Math.max(backoff, after * 1000), MAX_BACKOFF_MS);
      }
      liveState.textContent = "reconnecting…";
      liveState.dataset.state = "reconnecting";
      // meanwhile the projection keeps the page right, at the pace of the pauses
      try { await refresh(); } catch { /* shown as it was */ }
      if (isEnded(model.status)) {
        liveState.textContent = "ended";
        liveState.dataset.state = "ended";
        return;
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  diagram.onSelect(() => {
    // an answer about another element does not stay under this one (one still awaited does)
    if (!["sending", "PENDING"].includes(opOutcome.dataset.state)) {
      replace(opOutcome);
      delete opOutcome.dataset.state;
    }
    panels.open("element");
  });
  draw();
  follow().catch((e) => {
    if (signal.aborted) return;
    liveState.textContent = "not live";
    replace(messages, notice("error", `The live feed stopped: ${reason(e)}`));
  });
  return () => {
    stop.abort();
    document.removeEventListener("visibilitychange", onVisibility);
    clearTimeout(reconcileTimer ?? undefined);
    for (const t of catchUps) clearTimeout(t);
    diagram.destroy();
  };
}

/** The projection's instance; an instance opened right after its start is not there yet,
 * so a 404 is waited out for a while. */
async function firstRead(root, enc, signal) {
  const deadline = Date.now() + MAX_WAIT_START_MS;
  let pause = 250;
  for (;;) {
    try {
      return await api(`/api/instances/${enc}`, { signal });
    } catch (e) {
      if (signal.aborted) return null;
      if (e.status !== 404 || Date.now() > deadline) {
        replace(root, h("h1", {}, "Instance"), notice("error", reason(e)),
          h("p", {}, h("a", { href: "/instances", "data-link": true }, "Search instances")));
        return null;
      }
      replace(root, h("h1", {}, "Instance"), h("p", { class: "loading", role: "status" }, "Waiting for the instance to start…"));
      await sleep(pause, signal);
      pause = Math.min(pause * 2, 2000);
    }
  }
}
