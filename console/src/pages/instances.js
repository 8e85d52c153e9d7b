// Instance search (GET /api/instances?processId=&status=&limit=&offset=): by process and
// status, most recently updated first, a page at a time; each row opens the live instance.
// The filters live in the address (?processId=&status=&offset=), so a search can be linked
// and the browser's back button returns to it. Without the role operator or auditor the
// server lists only the instances the person takes part in.
import { api, reason } from "../api.js";
import { hasRole } from "../auth.js";
import { h, replace, time, notice } from "../lib/dom.js";

const PAGE = 25;
const STATUSES = ["ACTIVE", "INCIDENT", "COMPLETED", "TERMINATED"];

export async function render(root, _params, { navigate, search }) {
  const processId = (search.get("processId") || "").trim();
  const status = STATUSES.includes(search.get("status")) ? search.get("status") : "";
  const offset = Math.max(0, Math.min(Number.parseInt(search.get("offset") || "0", 10) || 0, 1_000_000_000));

  const go = (p, s, o) => {
    const q = new URLSearchParams();
    if (p) q.set("processId", p);
    if (s) q.set("status", s);
    if (o) q.set("offset", String(o));
    navigate(`/instances${q.toString() ? `?${q}` : ""}`);
  };

  const processInput = h("input", { id: "f-process", class: "input", name: "processId", value: processId,
                                    list: "f-process-ids", autocomplete: "off" });
  const ids = h("datalist", { id: "f-process-ids" });
  const statusSelect = h("select", { id: "f-status", class: "input", name: "status" },
    h("option", { value: "" }, "any"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)));
  const form = h("form", { class: "instance-filters", role: "search",
                           onsubmit: (ev) => { ev.preventDefault(); go(processInput.value.trim(), statusSelect.value, 0); } },
    h("label", { for: "f-process" }, "Process id", processInput), ids,
    h("label", { for: "f-status" }, "Status", statusSelect),
    h("button", { type: "submit", class: "primary" }, "Search"));
  const results = h("div", { "aria-live": "polite" }, h("p", { class: "loading" }, "Loading…"));
  replace(root, h("h1", {}, "Instances"),
    hasRole("operator", "auditor") ? null
      : h("p", { class: "hint" }, "The instances you take part in (started, or worked a task of)."),
    form, results);

  // the process ids for the field's suggestions (a failure leaves the field plain)
  api("/api/definitions").then((defs) => {
    for (const p of [...new Set(defs.map((d) => d.processId))].slice(0, 500)) ids.append(h("option", { value: p }));
  }).catch(() => {});

  const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (processId) q.set("processId", processId);
  if (status) q.set("status", status);
  let page;
  try {
    page = await api(`/api/instances?${q}`);
  } catch (e) {
    replace(results, notice("error", reason(e)));
    return;
  }
  if (!page.items.length) {
    replace(results, h("p", {}, offset ? "No more instances." : "No instance matches."),
      offset ? h("button", { type: "button", onclick: () => go(processId, status, 0) }, "First page") : null);
    return;
  }
  const last = Math.min(offset + page.items.length, page.count);
  replace(results,
    h("table", { class: "list responsive instances", "data-testid": "instances" },
      h("thead", {}, h("tr", {}, ["Instance", "Process", "Status", "Business key", "Active", "Updated"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, page.items.map((it) => h("tr", { "data-instance": it.instanceId },
        h("td", {}, h("a", { href: `/instances/${encodeURIComponent(it.instanceId)}`, "data-link": true }, h("code", {}, it.instanceId.slice(0, 8)), "…")),
        h("td", {}, it.processId, h("span", { class: "hint" }, ` v${it.version}`)),
        h("td", {}, h("span", { class: `badge ${it.status}` }, it.status),
          it.incidents?.length ? h("span", { class: "hint" }, ` ${it.incidents.length} incident${it.incidents.length === 1 ? "" : "s"}`) : null),
        h("td", {}, it.businessKey || ""),
        h("td", {}, (it.activeElements || []).join(", ")),
        h("td", {}, time(it.updatedAt)))))),
    h("nav", { class: "instance-pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: offset === 0, onclick: () => go(processId, status, Math.max(0, offset - PAGE)) }, "Previous"),
      h("span", { "data-testid": "range" }, `${offset + 1}–${last} of ${page.count}`),
      h("button", { type: "button", disabled: last >= page.count, onclick: () => go(processId, status, offset + PAGE) }, "Next")));
}
