// The public start form (/forms/{processId}): no sign-in, a small bundle of its own. The
// form is the start form of the process's newest AUTHORIZED version; the answer is the
// reference the citizen can quote (the instance id).
import { h, replace, notice } from "./lib/dom.js";
import { renderForm, fieldErrors } from "./lib/jsonform.js";

async function main() {
  const root = document.getElementById("main");
  const m = /^\/forms\/([^/]+)\/?$/.exec(location.pathname);
  if (!m) {
    replace(root, h("h1", {}, "No such form"), notice("error", "This address names no form."));
    return;
  }
  const processId = decodeURIComponent(m[1]);
  let form;
  try {
    const res = await fetch(`/api/forms/${encodeURIComponent(processId)}`, { headers: { Accept: "application/json" } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.detail || `HTTP ${res.status}`);
    form = body;
  } catch (e) {
    replace(root, h("h1", {}, "This form is not open"), notice("error", e.message));
    return;
  }
  const title = form.title || form.schema?.title || processId;
  document.title = title;
  const rendered = renderForm(form.schema, {}, { idPrefix: "pf" });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, "Submit");
  const formEl = h("form", { novalidate: true, "aria-labelledby": "form-title", onsubmit: async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    replace(status);
    try {
      const res = await fetch(`/api/forms/${encodeURIComponent(processId)}`, {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(rendered.value()),
      });
      const body = await res.json().catch(() => ({}));
      if (res.status === 422) {
        rendered.showErrors(fieldErrors(body));
        replace(status, notice("error", "Please correct the fields marked below."));
      } else if (!res.ok) {
        const wait = res.headers.get("Retry-After");
        replace(status, notice("error", (body.detail || `The form was not accepted (HTTP ${res.status}).`) +
          (wait ? ` Try again in ${wait} s.` : "")));
      } else {
        replace(root, h("h1", {}, "Thank you"),
          h("p", { role: "status" }, "Your submission was received. Your reference is:"),
          h("p", { class: "reference", "data-testid": "reference" }, body.instanceId),
          h("p", { class: "hint" }, "Keep it: quote it when you contact us."));
        return;
      }
    } catch (e) {
      replace(status, notice("error", `The form could not be sent: ${e.message}`));
    }
    submit.disabled = false;
  } }, rendered.element, status, submit);
  replace(root, h("h1", { id: "form-title" }, title),
    form.schema?.description ? h("p", {}, form.schema.description) : null, formEl);
}

main();
