// "Start process" on an AUTHORIZED version: its start form (the none start event's
// `laneway:form`, rendered from its JSON Schema), or the variables as JSON when it names none.
// The server judges the submission: its 422 field errors go on the fields they name, and a
// started instance opens at once.
import { api, reason } from "../api.js";
import { h, notice, replace } from "./dom.js";
import { fieldErrors, renderForm } from "./jsonform.js";

const path = (p, v) => `/api/definitions/${encodeURIComponent(p)}/versions/${v}`;

/** A card that starts `processId` version `version`; `navigate` opens the new instance. */
export function startCard(processId, version, navigate) {
  const card = h("section", { class: "card start-process", "aria-labelledby": "start-title" },
    h("h2", { id: "start-title" }, "Start process"), h("p", { class: "loading" }, "Loading the start form…"));
  (async () => {
    let form = null;
    let json = null;
    let jsonError = null;
    const parts = [];
    try {
      const { formId, schema } = await api(`${path(processId, version)}/start-form`);
      form = renderForm(schema, {}, { idPrefix: "start" });
      parts.push(h("p", { class: "hint" }, `The start form ${formId}.`), form.element);
    } catch (e) {
      // 404: the start event names no form; 409: it names one the registry lacks (say so)
      if (e.status !== 404) parts.push(notice("error", reason(e)));
      json = h("textarea", { id: "start-variables", class: "input json", rows: 6, spellcheck: "false",
        "aria-describedby": "start-variables-error" }, "{}");
      jsonError = h("p", { class: "field-error", id: "start-variables-error", role: "alert", hidden: true });
      parts.push(h("label", { for: "start-variables" }, "Variables (a JSON object)"), json, jsonError);
    }
    const outcome = h("div", { "aria-live": "polite" });
    const button = h("button", { type: "submit", class: "primary" }, "Start process");
    const formEl = h("form", { novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      replace(outcome);
      let variables;
      if (form) {
        form.clearErrors();
        variables = form.value();
      } else {
        jsonError.hidden = true;
        json.removeAttribute("aria-invalid");
        try {
          variables = JSON.parse(json.value || "{}");
          if (!variables || typeof variables !== "object" || Array.isArray(variables)) throw new Error("not an object");
        } catch {
          jsonError.hidden = false;
          jsonError.textContent = "Expected a JSON object, such as {\"amount\": 1500}.";
          json.setAttribute("aria-invalid", "true");
          json.focus();
          return;
        }
      }
      button.disabled = true;
      try {
        const { instanceId } = await api("/api/instances", { method: "POST",
          json: { processId, version: Number(version), variables } });
        navigate(`/instances/${encodeURIComponent(instanceId)}`);
      } catch (e) {
        const errors = fieldErrors(e.problem);
        if (e.status === 422 && form && errors.length) form.showErrors(errors);
        replace(outcome, notice("error", `Not started: ${reason(e)}`));
      } finally {
        button.disabled = false;
      }
    } }, parts, h("p", {}, button), outcome);
    replace(card, h("h2", { id: "start-title" }, "Start process"), formEl);
  })();
  return card;
}
