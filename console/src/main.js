// The console's shell: the header (who is signed in), the router (History API; the edge
// answers every console path with index.html) and the sign-in page. Each page is a module in
// pages/ exporting `render(root, params, ctx)`, which may return a function that stops what
// the page started (a live stream, a timer) when the person leaves it.
import { h, replace, notice } from "./lib/dom.js";
import { currentPrincipal, devSignIn, devUsers, loadConfig, oidcCallback, oidcSignIn,
         onSessionChange, resume, signOut, hasRole } from "./auth.js";
// each page is loaded when first shown: a case worker's worklist does not download the
// modeler (esbuild splits the bundle at these imports; shared code goes in common chunks)
const home = () => import("./pages/home.js");
const modeler = () => import("./pages/modeler.js");
const definitions = () => import("./pages/definitions.js");
const instances = () => import("./pages/instances.js");
const instance = () => import("./pages/instance.js");
const audit = () => import("./pages/audit.js");
const tasks = () => import("./pages/tasks.js");
const schedules = () => import("./pages/schedules.js");
const trace = () => import("./pages/trace.js");
const migrate = () => import("./pages/migrate.js");

const ROUTES = [
  [/^\/$/, home],
  [/^\/modeler$/, modeler],
  [/^\/modeler\/(?<processId>[^/]+)\/(?<version>\d+)$/, modeler],
  [/^\/definitions$/, definitions],
  [/^\/definitions\/(?<processId>[^/]+)\/(?<version>\d+)$/, definitions],
  [/^\/instances$/, instances],
  [/^\/instances\/(?<instanceId>[^/]+)$/, instance],
  [/^\/instances\/(?<instanceId>[^/]+)\/audit$/, audit],
  [/^\/instances\/(?<instanceId>[^/]+)\/trace$/, trace],
  [/^\/tasks$/, tasks],
  [/^\/tasks\/(?<taskId>[^/]+)$/, tasks],
  [/^\/schedules$/, schedules],
  [/^\/schedules\/(?<scheduleId>[^/]+)$/, schedules],
  [/^\/migrate\/(?<processId>[^/]+)\/(?<version>\d+)$/, migrate],
  [/^\/migrations\/(?<batchId>[^/]+)$/, migrate],
];

const NAV = [
  ["/definitions", "Definitions"],
  ["/modeler", "Modeler", () => hasRole("modeler")],
  ["/instances", "Instances"],
  ["/tasks", "Worklist"],
  // the roles the schedules API lets read (services/triggers/routes.py; admin holds every role)
  ["/schedules", "Schedules", () => hasRole("modeler", "operator", "auditor")],
];

let cleanup = null;

export function navigate(path, { replace: swap = false } = {}) {
  if (swap) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

function header() {
  const el = document.getElementById("header");
  const p = currentPrincipal();
  const here = location.pathname;
  replace(el,
    h("a", { href: "/", class: "brand", "data-link": true }, "Laneway"),
    p && h("nav", { "aria-label": "Main" },
      NAV.filter(([, , may]) => !may || may()).map(([href, label]) =>
        h("a", { href, "data-link": true, "aria-current": here.startsWith(href) ? "page" : null }, label))),
    p ? h("div", { class: "who", "data-testid": "who" },
          h("span", { class: "user" }, p.id),
          p.roles.length ? h("span", { class: "roles" }, "roles: ", p.roles.join(", ")) : null,
          p.personas.length ? h("span", { class: "personas" }, "personas: ", p.personas.join(", ")) : null,
          p.groups.length ? h("span", { class: "groups" }, "groups: ", p.groups.join(", ")) : null,
          h("button", { type: "button", class: "link", onclick: () => { signOut(); navigate("/sign-in"); } }, "Sign out"))
      : h("a", { href: "/sign-in", "data-link": true }, "Sign in"));
}

async function signInPage(root) {
  const cfg = await loadConfig();
  const returnTo = new URLSearchParams(location.search).get("next") || "/";
  const parts = [h("h1", {}, "Sign in")];
  if (cfg.oidc) {
    parts.push(h("p", {}, h("button", { type: "button", class: "primary",
      onclick: () => oidcSignIn(returnTo).catch((e) => root.append(notice("error", e.message))) },
      `Sign in with ${new URL(cfg.oidc.issuer).host}`)));
  }
  if (cfg.devSignIn) {
    parts.push(h("h2", {}, "Development users"),
      h("p", { class: "hint" }, "Development sign-in is on (LANEWAY_DEV_SIGNIN): pick who you are. It is off in production."));
    const list = h("ul", { class: "dev-users" });
    parts.push(list);
    try {
      for (const u of await devUsers()) {
        list.append(h("li", {}, h("button", { type: "button", "data-user": u.id,
          onclick: async () => {
            try { await devSignIn(u.id); navigate(returnTo, { replace: true }); }
            catch (e) { root.append(notice("error", e.message)); }
          } },
          h("strong", {}, u.name || u.id), " ", h("code", {}, u.id)),
          h("span", { class: "hint" }, [u.roles?.length ? `roles: ${u.roles.join(", ")}` : null,
            u.personas?.length ? `personas: ${u.personas.join(", ")}` : null,
            u.groups?.length ? `groups: ${u.groups.join(", ")}` : null].filter(Boolean).join(" · ")),
          u.description ? h("span", { class: "hint" }, " — ", u.description) : null));
      }
    } catch (e) {
      parts.push(notice("error", e.message));
    }
  }
  if (!cfg.oidc && !cfg.devSignIn) {
    parts.push(notice("error", "No sign-in is configured: set LANEWAY_OIDC_ISSUER and LANEWAY_OIDC_CLIENT_ID (or LANEWAY_DEV_SIGNIN=1 on a development machine)."));
  }
  replace(root, ...parts);
}

async function route() {
  if (cleanup) { try { cleanup(); } catch { /* a page's cleanup must not stop the next page */ } }
  cleanup = null;
  const root = document.getElementById("main");
  const path = location.pathname;
  header();
  if (path === "/sign-in/callback") {
    try {
      const next = await oidcCallback(location.search);
      navigate(next, { replace: true });
    } catch (e) {
      replace(root, h("h1", {}, "Sign-in failed"), notice("error", e.message),
        h("p", {}, h("a", { href: "/sign-in", "data-link": true }, "Try again")));
    }
    return;
  }
  if (path === "/sign-in") return signInPage(root);
  if (!currentPrincipal()) {
    navigate(`/sign-in?next=${encodeURIComponent(path + location.search)}`, { replace: true });
    return;
  }
  for (const [pattern, page] of ROUTES) {
    const m = pattern.exec(path);
    if (!m) continue;
    const params = Object.fromEntries(Object.entries(m.groups || {}).map(([k, v]) => [k, decodeURIComponent(v)]));
    replace(root, h("p", { class: "loading" }, "Loading…"));
    try {
      const module = await page();
      cleanup = (await module.render(root, params, { navigate, search: new URLSearchParams(location.search) })) || null;
    } catch (e) {
      replace(root, h("h1", {}, "Something went wrong"), notice("error", e.message || String(e)));
    }
    root.focus({ preventScroll: true });
    return;
  }
  replace(root, h("h1", {}, "Not found"), h("p", {}, "No page of the console has this address. ",
    h("a", { href: "/", "data-link": true }, "Home")));
}

// links inside the console move without a reload (a live page keeps its stream)
document.addEventListener("click", (ev) => {
  const a = ev.target.closest?.("a[data-link]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  ev.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);
onSessionChange(() => header());

(async () => {
  await resume();
  await route();
})();
