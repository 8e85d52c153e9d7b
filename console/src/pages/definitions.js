// Definitions (`/definitions`): every deployed version with its state, author and deploy time.
// A version (`/definitions/{processId}/{version}`): its diagram (read only), its history (who
// moved it, when, with which comment), the lifecycle buttons the signed-in person's roles allow
// in its state (docs/api.md, "The definition lifecycle"), and "Start process" once AUTHORIZED.
// The four-eyes rule and the persona check are the server's: their refusal is shown with the
// server's reason, never guessed here.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { api, reason } from "../api.js";
import { currentPrincipal, hasRole } from "../auth.js";
import { h, notice, replace, time } from "../lib/dom.js";
import { lanesHoldingUserTasks } from "../lib/lanes.js";
import lanewayModdle from "../lib/laneway-moddle.json";
import { startCard } from "../lib/start-process.js";

// services/definitions/lifecycle.py RULES: from, to, the roles that may take it (admin holds
// every role), what the button says
const TRANSITIONS = [
  ["DRAFT", "REVIEW", ["modeler"], "Submit for review"],
  ["REVIEW", "APPROVED", ["reviewer"], "Approve"],
  ["REVIEW", "DRAFT", ["modeler", "reviewer"], "Send back to draft"],
  ["APPROVED", "AUTHORIZED", ["authorizer"], "Authorize"],
  ["APPROVED", "DRAFT", ["authorizer"], "Send back to draft"],
  ["AUTHORIZED", "RETIRED", ["authorizer"], "Retire"],
];
const FOUR_EYES = new Set(["APPROVED", "AUTHORIZED"]);

const versionPath = (p, v) => `/api/definitions/${encodeURIComponent(p)}/versions/${v}`;
const versionLink = (p, v, text) =>
  h("a", { href: `/definitions/${encodeURIComponent(p)}/${v}`, "data-link": true }, text);
const badge = (state, attrs = {}) => h("span", { class: `badge ${state}`, ...attrs }, state);
const who = (principal) => (principal && typeof principal === "object" ? principal.id : principal) || "—";

export async function render(root, params, ctx) {
  if (!params.processId) return listPage(root, ctx);
  const page = { viewer: null }; // the diagram viewer shown now (a transition draws the page again)
  await versionPage(root, params.processId, Number(params.version), ctx, page);
  return () => page.viewer?.destroy();
}

async function listPage(root, { search }) {
  const list = await api("/api/definitions");
  const filter = h("input", { id: "definitions-filter", class: "input", type: "search",
    value: search.get("q") || "", placeholder: "process id or name" });
  const body = h("tbody");
  const show = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = (list || []).filter((d) => !q || d.processId.toLowerCase().includes(q)
      || (d.name || "").toLowerCase().includes(q));
    replace(body, rows.length ? rows.map((d) => h("tr", { "data-process": d.processId, "data-version": d.version },
      h("td", {}, versionLink(d.processId, d.version, d.processId)),
      h("td", {}, d.name || ""),
      h("td", {}, String(d.version)),
      h("td", {}, badge(d.state)),
      h("td", {}, d.author || "—"),
      h("td", {}, time(d.deployedAt))))
      : h("tr", {}, h("td", { colspan: 6 }, list?.length ? "No version matches." : "Nothing is deployed yet.")));
  };
  filter.addEventListener("input", show);
  show();
  replace(root,
    h("h1", {}, "Definitions"),
    h("div", { class: "toolbar" },
      h("label", { for: "definitions-filter" }, "Filter"), filter,
      hasRole("modeler") ? h("a", { href: "/modeler", class: "button", "data-link": true }, "New diagram") : null),
    h("table", { class: "list responsive definitions" },
      h("thead", {}, h("tr", {}, ["Process", "Name", "Version", "State", "Author", "Deployed"].map((t) => h("th", { scope: "col" }, t)))),
      body));
}

async function versionPage(root, processId, version, ctx, page, flash = null) {
  const [versions, history, xml] = await Promise.all([
    api(`/api/definitions?processId=${encodeURIComponent(processId)}`),
    api(`${versionPath(processId, version)}/history`),
    api(`${versionPath(processId, version)}/xml`, { headers: { Accept: "application/xml" } }),
  ]);
  const summary = (versions || []).find((d) => d.version === version);
  if (!summary) {
    replace(root, h("h1", {}, `${processId} version ${version}`), notice("error", "No such version."));
    return;
  }
  const steps = history?.steps || [];
  const author = summary.author || who(steps.find((s) => s.seq === 0)?.principal);

  const diagram = h("div", { class: "definition-diagram", "aria-label": "The diagram (read only)", role: "img" });
  page.viewer?.destroy();
  const viewer = new NavigatedViewer({ container: diagram, moddleExtensions: { laneway: lanewayModdle } });
  page.viewer = viewer;
  let lanes = [];
  try {
    const { rootElement } = await viewer.get("moddle").fromXML(String(xml));
    lanes = lanesHoldingUserTasks(rootElement, processId);
  } catch { /* the viewer says why below */ }

  const again = (message) => versionPage(root, processId, version, ctx, page, message);
  replace(root,
    h("p", { class: "crumbs" }, h("a", { href: "/definitions", "data-link": true }, "Definitions"), " / ", processId),
    h("div", { class: "definition-head" },
      h("h1", {}, summary.name || processId, " ", h("span", { class: "version" }, `version ${version}`)),
      badge(summary.state, { "data-testid": "state" })),
    h("p", { class: "hint" }, `Process ${processId} · deployed by ${author} · `, time(summary.deployedAt),
      hasRole("modeler") ? [" · ", h("a", { href: `/modeler/${encodeURIComponent(processId)}/${version}`, "data-link": true }, "Open in modeler")] : null,
      // the running instances of this version to another one (pages/migrate.js)
      hasRole("operator") ? [" · ", h("a", { href: `/migrate/${encodeURIComponent(processId)}/${version}`, "data-link": true, "data-testid": "migrate-version" }, "Migrate instances")] : null,
      schedulesLink(processId)),
    flash,
    lifecycleCard(processId, version, summary.state, author, lanes, again),
    summary.state === "AUTHORIZED" ? startCard(processId, version, ctx.navigate) : null,
    h("section", { class: "card" }, h("h2", {}, "Diagram"), diagram),
    historyCard(steps),
    otherVersions(versions, version));

  // a transition drew the page again: its outcome takes the focus the pressed button had
  if (flash) {
    flash.setAttribute("tabindex", "-1");
    flash.focus();
  }
  try {
    await viewer.importXML(String(xml));
    viewer.get("canvas").resized();
    viewer.get("canvas").zoom("fit-viewport", "auto");
  } catch (e) {
    diagram.replaceWith(notice("warn", `The diagram cannot be drawn: ${e.message || e}`));
  }
}

// " · Schedules" once the triggers service says the process starts itself (a timer, a
// trigger); nothing for those who may not read schedules or when that service does not answer
function schedulesLink(processId) {
  if (!hasRole("modeler", "operator", "auditor")) return null;
  const slot = h("span", { "data-testid": "schedules-link" });
  api(`/api/schedules?processId=${encodeURIComponent(processId)}`).then((answer) => {
    if (answer?.items?.length) {
      replace(slot, " · ", h("a", { href: `/schedules?processId=${encodeURIComponent(processId)}`, "data-link": true }, "Schedules"));
    }
  }).catch(() => {});
  return slot;
}

function lifecycleCard(processId, version, state, author, lanes, again) {
  const allowed = TRANSITIONS.filter(([from, , roles]) => from === state && hasRole(...roles));
  if (!allowed.length) {
    return h("section", { class: "card lifecycle" }, h("h2", {}, "Lifecycle"),
      h("p", { class: "hint" }, state === "RETIRED" ? "A retired version: its running instances go on, none start."
        : "Your roles allow no step from this state."));
  }
  const me = currentPrincipal()?.id;
  const outcome = h("div", { class: "lifecycle-outcome", "aria-live": "polite" });
  const comment = h("textarea", { id: "transition-comment", class: "input", rows: 2, maxlength: 4000 });
  const personaInputs = new Map();
  const approving = allowed.some(([, to]) => to === "APPROVED");
  const personaFields = approving ? personasFieldset(lanes, personaInputs) : null;

  const take = async (to, button) => {
    const body = { to };
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (to === "APPROVED" && personaInputs.size) {
      body.personas = Object.fromEntries([...personaInputs].map(([lane, input]) => [lane, input.value.trim()])
        .filter(([, persona]) => persona));
    }
    button.disabled = true;
    replace(outcome);
    let answer;
    try {
      answer = await api(`${versionPath(processId, version)}/transitions`, { method: "POST", json: body });
    } catch (e) {
      replace(outcome, notice("error", `Refused: ${reason(e)}`));
      button.disabled = false;
      return;
    }
    const personas = Object.entries(answer.personas || {});
    const done = `Version ${version} is ${answer.state}.`
      + (personas.length ? ` Lane personas: ${personas.map(([l, p]) => `${l} → ${p}`).join(", ")}.` : "");
    await again(notice("ok", done)).catch((e) =>
      replace(outcome, notice("warn", `${done} The page could not be read again: ${reason(e)}`)));
  };
  const buttons = allowed.map(([, to, , label]) => {
    const button = h("button", { type: "button", class: to === "DRAFT" || to === "RETIRED" ? "danger" : "primary",
      "data-to": to, onclick: () => take(to, button) }, label);
    return button;
  });
  return h("section", { class: "card lifecycle" }, h("h2", {}, "Lifecycle"),
    allowed.some(([, to]) => FOUR_EYES.has(to)) && me === author
      ? h("p", { class: "hint" }, "You deployed this version: another person must approve and authorize it (four eyes).")
      : null,
    personaFields,
    h("div", { class: "field" }, h("label", { for: "transition-comment" }, "Comment"), comment),
    h("div", { class: "toolbar" }, buttons),
    outcome);
}

function personasFieldset(lanes, inputs) {
  if (!lanes.length) {
    return h("p", { class: "hint" }, "No lane holds a user task: approving sets no personas.");
  }
  return h("fieldset", { class: "personas" },
    h("legend", {}, "Personas for the lanes that hold user tasks (set on approval)"),
    lanes.map((lane) => {
      const id = `persona-${lane.id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      const input = h("input", { id, class: "input", type: "text", value: lane.persona, "data-lane": lane.id,
        "aria-describedby": `${id}-hint` });
      inputs.set(lane.id, input);
      return h("div", { class: "field" },
        h("label", { for: id }, lane.name, " ", h("code", {}, lane.id)), input,
        h("p", { class: "hint", id: `${id}-hint` },
          `User tasks: ${lane.tasks.join(", ")}. `,
          lane.persona ? (lane.inherited ? "The persona of an enclosing lane is filled in." : "The diagram's laneway:persona is filled in.")
            : "The diagram names no persona: give one, or the version cannot be authorized."));
    }));
}

function historyCard(steps) {
  return h("section", { class: "card" }, h("h2", {}, "History"),
    h("table", { class: "list responsive history" },
      h("thead", {}, h("tr", {}, ["When", "Who", "Step", "Comment"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, steps.map((s) => h("tr", { "data-seq": s.seq },
        h("td", {}, time(s.at)),
        h("td", {}, who(s.principal)),
        h("td", {}, s.from ? [badge(s.from), " → ", badge(s.to)] : ["deployed as ", badge(s.to)]),
        h("td", {}, s.comment || ""))))));
}

function otherVersions(versions, current) {
  const others = (versions || []).filter((d) => d.version !== current);
  if (!others.length) return null;
  return h("section", { class: "card" }, h("h2", {}, "Other versions"),
    h("ul", { class: "versions" }, others.map((d) =>
      h("li", {}, versionLink(d.processId, d.version, `version ${d.version}`), " ", badge(d.state)))));
}
