// Home (`/`): what the signed-in person can do here (by role and persona), with what waits for
// them (open tasks, versions to review or authorize), and the instances they can see, newest
// change first. Each part asks its own route; one that fails says so and the others still show.
import { api, reason } from "../api.js";
import { currentPrincipal, hasRole } from "../auth.js";
import { h, notice, replace, time } from "../lib/dom.js";

const link = (href, text) => h("a", { href, "data-link": true }, text);
// a service that does not answer gets a short line, not the proxy's error page
const why = (e) => (e.status >= 500 ? `its service does not answer (HTTP ${e.status})` : reason(e));
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export async function render(root) {
  const p = currentPrincipal();
  const tasks = h("span", { "data-testid": "open-tasks" }, "…");
  const waiting = h("ul", { class: "waiting" });
  const recent = h("div", { class: "recent" }, h("p", { class: "loading" }, "Loading…"));

  const can = [
    h("li", {}, link("/tasks", "Worklist"), ": your tasks — ", tasks, "."),
    h("li", {}, link("/definitions", "Definitions"), ": every process version, its history; start an authorized one."),
    h("li", {}, link("/instances", "Instances"),
      hasRole("operator", "auditor") ? ": every instance, its audit timeline." : ": the instances you take part in."),
    hasRole("modeler") ? h("li", {}, link("/modeler", "Modeler"), ": draw a process, check it, deploy it as a draft.") : null,
    hasRole("modeler", "operator", "auditor") ? h("li", {}, link("/schedules", "Schedules"),
      hasRole("operator") ? ": the processes that start themselves; pause, resume, fire, set credentials." : ": the processes that start themselves.") : null,
    hasRole("reviewer") ? h("li", {}, "Review: approve versions in REVIEW (not your own), with a persona for every lane.") : null,
    hasRole("authorizer") ? h("li", {}, "Authorize: put APPROVED versions into production, retire old ones.") : null,
  ];

  replace(root,
    h("h1", {}, `Hello, ${p.id}`),
    h("section", { class: "card" }, h("h2", {}, "What you can do"), h("ul", { class: "can" }, can), waiting),
    h("section", { class: "card" }, h("h2", {}, "Recent instances"), recent));

  const openTasks = api("/api/tasks?state=open&state=claimed&limit=1").then(
    (answer) => replace(tasks, plural(answer.count ?? 0, "open task", "open tasks")),
    (e) => replace(tasks, `not available: ${why(e)}`));

  // what waits for this person's roles in the lifecycle
  const lifecycle = hasRole("reviewer", "authorizer") ? api("/api/definitions").then((list) => {
    const count = (state) => (list || []).filter((d) => d.state === state).length;
    const items = [];
    if (hasRole("reviewer") && count("REVIEW")) items.push(h("li", {}, link("/definitions", plural(count("REVIEW"), "version waits", "versions wait")), " for review."));
    if (hasRole("authorizer") && count("APPROVED")) items.push(h("li", {}, link("/definitions", plural(count("APPROVED"), "version waits", "versions wait")), " for authorization."));
    replace(waiting, items);
  }, (e) => replace(waiting, h("li", {}, notice("error", `Definitions: ${why(e)}`)))) : null;

  const instances = api("/api/instances?limit=10").then((answer) => {
    const items = answer?.items || [];
    if (!items.length) {
      replace(recent, h("p", { class: "hint" }, "No instance you can see yet. Start one from an authorized definition."));
      return;
    }
    replace(recent, h("table", { class: "list responsive" },
      h("thead", {}, h("tr", {}, ["Instance", "Process", "Status", "Updated"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, items.map((i) => h("tr", {},
        h("td", {}, link(`/instances/${encodeURIComponent(i.instanceId)}`, i.instanceId.slice(0, 8))),
        h("td", {}, `${i.processId} v${i.version}`),
        h("td", {}, h("span", { class: `badge ${i.status}` }, i.status)),
        h("td", {}, time(i.updatedAt)))))),
      answer.count > items.length ? h("p", {}, link("/instances", `All ${answer.count} instances`)) : null);
  }, (e) => replace(recent, notice("error", `Instances: ${why(e)}`)));

  await Promise.all([openTasks, lifecycle, instances]);
}
