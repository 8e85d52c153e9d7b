// The migration screen (operators): move running instances of a process version to another
// version (docs/instance-operations.md, "Migrate"). `/migrate/{processId}/{version}` picks
// the target version and maps the element ids (each prefilled with the same id when the
// target has it, editable), then migrates one instance (`?instance=ID`: POST
// /api/instances/{id}/migration, the engine's answer shown when it comes) or every running
// instance of the version (POST /api/migrations, then the batch's page).
// `/migrations/{batchId}` shows a batch's progress (done, refused with each reason, pending)
// and reads it again until nothing is pending.
import { api, reason } from "../api.js";
import { hasRole } from "../auth.js";
import { h, replace, notice } from "../lib/dom.js";
import { followOperation, outcomeLine } from "../lib/command-outcome.js";

const BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL";
// what holds a token, so what a mapping is about (not flows, not definitions of events)
const FLOW_NODE = /(Task|task|Event|Gateway|subProcess|transaction|callActivity|adHocSubProcess)$/;
const MAX_ROWS = 1000; // the API's bound on mappings
const FIRST_REFRESH_MS = 500;
const MAX_REFRESH_MS = 3000;
const MAX_REFRESHES = 400; // about 20 minutes at the slowest pace, then a Refresh button

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

export async function render(root, params, ctx) {
  const stop = new AbortController();
  if (!hasRole("operator")) {
    replace(root, h("h1", {}, "Migration"), notice("error", "Migrating instances needs the role operator."));
    return () => stop.abort();
  }
  if (params.batchId) await batchPage(root, params.batchId, stop.signal);
  else await migratePage(root, params.processId, Number(params.version), ctx, stop.signal);
  return () => stop.abort();
}

/** [{id, name, kind}] of the flow nodes of `processId` in a version's XML, in document order. */
export function flowNodes(xml, processId) {
  const doc = new DOMParser().parseFromString(String(xml), "application/xml");
  if (doc.getElementsByTagName("parsererror").length) return [];
  const process = [...doc.getElementsByTagNameNS(BPMN_NS, "process")].find((p) => p.getAttribute("id") === processId);
  if (!process) return [];
  return [...process.getElementsByTagNameNS(BPMN_NS, "*")]
    .filter((el) => FLOW_NODE.test(el.localName) && el.getAttribute("id"))
    .slice(0, MAX_ROWS)
    .map((el) => ({ id: el.getAttribute("id"), name: el.getAttribute("name") || "", kind: el.localName }));
}

const xmlOf = (processId, version) => api(`/api/definitions/${encodeURIComponent(processId)}/versions/${version}/xml`,
  { headers: { Accept: "application/xml" } });

async function migratePage(root, processId, version, ctx, signal) {
  const instanceId = ctx.search.get("instance");
  const [versions, sourceXml] = await Promise.all([
    api(`/api/definitions?processId=${encodeURIComponent(processId)}`, { signal }),
    xmlOf(processId, version),
  ]);
  const targets = (versions || []).filter((v) => v.processId === processId && v.version !== version && v.state === "AUTHORIZED")
    .sort((a, b) => b.version - a.version);
  const sources = flowNodes(sourceXml, processId);
  const crumbs = h("p", { class: "crumbs" },
    h("a", { href: `/definitions/${encodeURIComponent(processId)}/${version}`, "data-link": true }, `${processId} v${version}`),
    instanceId ? [" / ", h("a", { href: `/instances/${encodeURIComponent(instanceId)}`, "data-link": true }, "instance")] : null,
    " / migrate");
  const title = h("h1", {}, `Migrate ${processId} version ${version}`);
  if (!targets.length) {
    replace(root, crumbs, title, notice("warn", "No other AUTHORIZED version of this process to migrate to."));
    return;
  }

  const targetSelect = h("select", { id: "migrate-target", "data-testid": "migrate-target" },
    targets.map((t) => h("option", { value: String(t.version) }, `version ${t.version}${t.name ? ` — ${t.name}` : ""}`)));
  const scopeName = "migrate-scope";
  const one = instanceId
    ? h("input", { type: "radio", name: scopeName, value: "one", id: "scope-one", checked: true, "data-testid": "scope-one" })
    : null;
  const all = h("input", { type: "radio", name: scopeName, value: "all", id: "scope-all", checked: !instanceId, "data-testid": "scope-all" });
  const mapBody = h("tbody");
  const targetIds = h("datalist", { id: "migrate-target-ids" });
  const inputs = new Map(); // source id -> its input
  const status = h("div", { class: "messages" });
  const outcome = outcomeLine("migrate-outcome");
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "migrate-submit" }, "Migrate");

  // the rows are drawn again for each target: a value typed for one target is not meant
  // for another
  async function loadTarget() {
    const target = Number(targetSelect.value);
    replace(mapBody, h("tr", {}, h("td", { colspan: "3", class: "hint" }, "Loading the target's elements…")));
    let nodes;
    try {
      nodes = flowNodes(await xmlOf(processId, target), processId);
    } catch (e) {
      replace(mapBody, h("tr", {}, h("td", { colspan: "3" }, notice("error", `The target could not be read: ${reason(e)}`))));
      return;
    }
    const ids = new Set(nodes.map((n) => n.id));
    replace(targetIds, nodes.map((n) => h("option", { value: n.id }, n.name ? `${n.name} (${n.kind})` : n.kind)));
    inputs.clear();
    replace(mapBody, sources.map((s) => {
      const input = h("input", { type: "text", list: "migrate-target-ids", value: ids.has(s.id) ? s.id : "",
                                 "aria-label": `Target element of ${s.id}`, "data-source": s.id, maxlength: "256",
                                 placeholder: "not in the target: map it, or it must hold no token" });
      inputs.set(s.id, input);
      return h("tr", { class: ids.has(s.id) ? "" : "missing", "data-testid": "map-row" },
        h("td", {}, h("code", {}, s.id), s.name ? h("div", { class: "hint" }, s.name) : null),
        h("td", { class: "hint" }, s.kind),
        h("td", {}, input));
    }));
  }
  targetSelect.addEventListener("change", loadTarget);

  // only what differs from the same id is sent: an element not named keeps its id
  function mappings() {
    const out = {};
    for (const [source, input] of inputs) {
      const to = input.value.trim();
      if (to && to !== source) out[source] = to;
    }
    return out;
  }

  async function migrate(ev) {
    ev.preventDefault();
    submit.disabled = true;
    replace(status);
    const targetVersion = Number(targetSelect.value);
    try {
      if (one?.checked) {
        const answer = await followOperation(outcome, instanceId,
          () => api(`/api/instances/${encodeURIComponent(instanceId)}/migration`,
            { method: "POST", json: { targetVersion, mappings: mappings() }, signal }),
          { done: `Done: migrated to version ${targetVersion}.`, signal });
        if (answer.state === "DONE") {
          status.append(h("p", {}, h("a", { href: `/instances/${encodeURIComponent(instanceId)}`, "data-link": true }, "Open the instance")));
        }
      } else {
        replace(outcome);
        const batch = await api("/api/migrations", { method: "POST", signal,
          json: { processId, targetVersion, sourceVersion: version, mappings: mappings() } });
        ctx.navigate(`/migrations/${encodeURIComponent(batch.batchId)}`);
        return;
      }
    } catch (e) {
      replace(status, notice("error", `Refused: ${reason(e)}`));
    } finally {
      submit.disabled = false;
    }
  }

  replace(root, crumbs, title,
    h("form", { class: "card", "data-testid": "migrate-form", onsubmit: migrate },
      h("p", {}, h("label", { for: "migrate-target" }, "Target version "), targetSelect),
      h("fieldset", { class: "migrate-scope" }, h("legend", {}, "Which instances"),
        one ? h("label", {}, one, " this instance ", h("code", {}, instanceId)) : null,
        h("label", {}, all, ` every running instance of version ${version} (a batch)`)),
      h("h2", {}, "Element mapping"),
      h("p", { class: "hint" }, "Each element of this version and the element of the target it becomes. "
        + "Every element holding a token must map to one of the same kind in the same scope, or the engine refuses the migration."),
      targetIds,
      h("table", { class: "list migrate-map" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Element"), h("th", { scope: "col" }, "Kind"),
          h("th", { scope: "col" }, "Becomes in the target"))),
        mapBody),
      h("p", {}, submit, " ", outcome)),
    status);
  await loadTarget();
}

async function batchPage(root, batchId, signal) {
  const counts = h("div", { class: "batch-counts", "data-testid": "batch-counts" });
  const state = h("p", { class: "hint", role: "status", "data-testid": "batch-state" });
  const body = h("tbody");
  const title = h("h1", {}, "Migration batch");
  const refresh = h("button", { type: "button", onclick: () => follow(true) }, "Refresh");
  replace(root, title, h("p", { class: "hint" }, h("code", {}, batchId)), counts, state,
    h("table", { class: "list responsive", "data-testid": "batch-items" },
      h("thead", {}, h("tr", {}, ["Instance", "State", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
      body));

  function show(p) {
    replace(title, "Migration of ", h("a", { href: `/definitions/${encodeURIComponent(p.processId)}/${p.targetVersion}`, "data-link": true },
      p.processId), ` to version ${p.targetVersion}`);
    replace(counts,
      h("span", {}, "total ", h("strong", { "data-testid": "batch-total" }, String(p.total))),
      h("span", {}, "done ", h("strong", { "data-testid": "batch-done" }, String(p.done))),
      h("span", {}, "refused ", h("strong", { "data-testid": "batch-refused" }, String(p.refused))),
      h("span", {}, "pending ", h("strong", { "data-testid": "batch-pending" }, String(p.pending))));
    replace(body, p.items.map((i) => h("tr", { "data-testid": "batch-item", "data-instance": i.instanceId, "data-state": i.state },
      h("td", {}, h("a", { href: `/instances/${encodeURIComponent(i.instanceId)}`, "data-link": true }, h("code", {}, i.instanceId))),
      h("td", {}, h("span", { class: `badge ${i.state === "DONE" ? "ok" : i.state === "REFUSED" ? "INCIDENT" : ""}` }, i.state)),
      h("td", {}, i.reason ? [i.reason, i.rejectionType ? ` (${i.rejectionType})` : ""] : ""))));
  }

  let following = false;
  async function follow(byHand = false) {
    if (following) return;
    following = true;
    let pause = FIRST_REFRESH_MS;
    try {
      for (let n = 0; !signal.aborted; n++) {
        let p;
        try {
          p = await api(`/api/migrations/${encodeURIComponent(batchId)}`, { signal });
        } catch (e) {
          if (signal.aborted) return;
          replace(state, notice("error", reason(e)));
          if (e.status === 404 || e.status === 403 || e.status === 401) return;
          p = null;
        }
        if (p) {
          show(p);
          if (!p.pending) { replace(state, "Every instance answered."); return; }
          replace(state, `${p.pending} pending: read again every few seconds…`);
        }
        if (n >= MAX_REFRESHES && !byHand) {
          replace(state, "Still pending after a long while. ", refresh);
          return;
        }
        await sleep(pause, signal);
        pause = Math.min(pause * 2, MAX_REFRESH_MS);
      }
    } finally {
      following = false;
    }
  }
  // not awaited: the page returns its cleanup at once, which stops the reads when left
  follow().catch((e) => { if (!signal.aborted) replace(state, notice("error", reason(e))); });
}
