// The public start form (/forms/{processId}): no sign-in, a small bundle of its own (a citizen's
// phone should not load a modeler). The form is the start form of the process's newest
// AUTHORIZED version (GET /api/forms/{processId}); the answer to a submission is the reference
// the citizen can quote (the instance id). The server judges the submission: its 422 field
// errors show on the fields, its 429 (the rate limit) as a wait counted down on the button.
import { h, replace, notice } from "./lib/dom.js";
import { renderForm, fieldErrors } from "./lib/jsonform.js";

const MAX_WAIT_S = 3600;

async function fetchJson(url, init = {}) {
  const res = await fetch(url, { ...init, credentials: "omit",
    headers: { Accept: "application/json, application/problem+json", ...(init.headers || {}) } });
  const body = await res.json().catch(() => ({}));
  return { res, body: body && typeof body === "object" ? body : {} };
}

/** Retry-After in seconds (a number of seconds or an HTTP date), bounded; null if absent. */
function retryAfter(res) {
  const raw = res.headers.get("Retry-After");
  if (!raw) return null;
  let s = Number(raw);
  if (!Number.isFinite(s)) s = (Date.parse(raw) - Date.now()) / 1000;
  if (!Number.isFinite(s)) return null;
  return Math.min(MAX_WAIT_S, Math.max(1, Math.ceil(s)));
}

function unavailable(root, title, text) {
  document.title = title;
  replace(root, h("h1", {}, title), notice("error", text));
}

async function main() {
  const root = document.getElementById("main");
  const m = /^\/forms\/([^/]+)\/?$/.exec(location.pathname);
  if (!m) return unavailable(root, "No such form", "This address names no form.");
  let processId;
  try { processId = decodeURIComponent(m[1]); } catch { return unavailable(root, "No such form", "This address names no form."); }
  const url = `/api/forms/${encodeURIComponent(processId)}`;

  let form;
  try {
    const { res, body } = await fetchJson(url);
    if (res.status === 404) return unavailable(root, "This form is not open", body.detail || "There is no such form.");
    if (!res.ok) return unavailable(root, "This form cannot be shown", body.detail || `The server answered ${res.status}. Please try again later.`);
    form = body;
  } catch (e) {
    return unavailable(root, "This form cannot be shown", `The server could not be reached (${e.message}). Please try again later.`);
  }

  const title = form.title || form.schema?.title || processId;
  document.title = title;
  const rendered = renderForm(form.schema || {}, {}, { idPrefix: "pf" });
  const status = h("div", { class: "form-status", "aria-live": "polite", "data-testid": "form-status" });
  const submit = h("button", { type: "submit", class: "primary" }, "Submit");
  let waitTimer = null;

  // the rate limit's wait, counted down on the button; the form stays filled in
  const waitThen = (seconds, detail) => {
    let left = seconds;
    submit.disabled = true;
    const line = h("span", {});
    const say = () => {
      line.textContent = `You can send it again in ${left} second${left === 1 ? "" : "s"}.`;
      submit.textContent = `Wait ${left} s`;
    };
    say();
    replace(status, h("div", { class: "notice warn", role: "alert", "data-testid": "rate-limited" },
      h("strong", {}, "Too many submissions from your connection just now. "), line,
      detail ? h("span", { class: "hint" }, ` (${detail})`) : null));
    clearInterval(waitTimer);
    waitTimer = setInterval(() => {
      left -= 1;
      if (left > 0) return say();
      clearInterval(waitTimer);
      submit.disabled = false;
      submit.textContent = "Submit";
      replace(status, notice("ok", "You can send the form again now."));
    }, 1000);
  };

  const formEl = h("form", { novalidate: true, "aria-labelledby": "form-title", onsubmit: async (ev) => {
    ev.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    rendered.clearErrors();
    replace(status, h("p", { class: "loading" }, "Sending…"));
    try {
      const { res, body } = await fetchJson(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                                   body: JSON.stringify(rendered.value()) });
      if (res.status === 201 || (res.ok && body.instanceId)) {
        confirmation(root, title, body.instanceId);
        return;
      }
      if (res.status === 422) {
        replace(status, notice("error", "Please correct the fields marked below."));
        rendered.showErrors(fieldErrors(body));
      } else if (res.status === 429) {
        waitThen(retryAfter(res) ?? 5, body.detail);
        return;
      } else {
        const wait = retryAfter(res);
        replace(status, notice("error", `${body.detail || `The form was not accepted (HTTP ${res.status}).`}` +
          (wait ? ` Please try again in ${wait} second${wait === 1 ? "" : "s"}.` : "")));
      }
    } catch (e) {
      replace(status, notice("error", `The form could not be sent (${e.message}). Check your connection and try again.`));
    }
    submit.disabled = false;
  } }, rendered.element, status, submit);

  replace(root, h("h1", { id: "form-title" }, title),
    form.schema?.description ? h("p", {}, form.schema.description) : null,
    h("p", { class: "hint" }, "Fields marked ", h("span", { class: "req" }, "*"), " are required."),
    formEl);
}

function confirmation(root, title, reference) {
  document.title = `Received: ${title}`;
  const heading = h("h1", { tabindex: "-1" }, "Thank you");
  replace(root, heading,
    h("p", { role: "status" }, `Your submission “${title}” was received. Your reference is:`),
    h("p", { class: "reference", "data-testid": "reference" }, reference || "—"),
    h("p", { class: "hint" }, "Keep it: quote it when you contact us about this submission."),
    h("p", {}, h("a", { href: location.pathname }, "Fill in the form again")));
  heading.focus();
}

main();
