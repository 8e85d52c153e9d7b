// Forms rendered from a JSON Schema (the same schema the server validates with). The browser
// does not validate (`novalidate`): the server's 422 is the one judgment, and its field errors
// are shown on the fields they name, so a citizen sees the same words the API gives.
//
// Supported: objects (nested as fieldsets), strings (long ones as text areas, `format` email,
// date, date-time, uri), numbers, integers, booleans, `enum` (a select with an empty choice),
// arrays of strings/numbers (one per line). Anything else is edited as JSON.
import { h } from "./dom.js";

const MAX_DEPTH = 8;
let counter = 0;

/**
 * renderForm(schema, data) → {element, value(), showErrors(errors), clearErrors()}.
 * `errors` are the server's `[{field, message}]`: `applicant.email`, a JSON pointer
 * (`/items/0`) or "" for the whole submission.
 */
export function renderForm(schema, data = {}, { idPrefix = "f" } = {}) {
  const prefix = `${idPrefix}${++counter}`;
  const fields = new Map(); // path "a.b" → {input, error, kind}
  const root = h("div", { class: "jsonform" });
  const whole = h("p", { class: "field-error", role: "alert", hidden: true });
  root.append(whole);
  const getValue = build(schema || {}, data, [], root, 0, schema?.required || []);
  return {
    element: root,
    value: getValue,
    clearErrors() {
      whole.hidden = true;
      for (const f of fields.values()) {
        f.error.hidden = true;
        f.error.textContent = "";
        f.input.removeAttribute("aria-invalid");
      }
    },
    showErrors(errors) {
      this.clearErrors();
      let first = null;
      for (const { field, message } of errors || []) {
        const path = toPath(field);
        const f = fields.get(path) || nearest(path);
        if (!f) {
          whole.hidden = false;
          whole.textContent = whole.textContent ? `${whole.textContent} ${message}` : message;
          continue;
        }
        f.error.hidden = false;
        f.error.textContent = f.error.textContent ? `${f.error.textContent} ${message}` : message;
        f.input.setAttribute("aria-invalid", "true");
        first = first || f.input;
      }
      first?.focus();
    },
  };

  function nearest(path) {
    const parts = path.split(".");
    while (parts.length) {
      parts.pop();
      const f = fields.get(parts.join("."));
      if (f) return f;
    }
    return null;
  }

  function build(s, value, path, parent, depth, required) {
    const key = path.join(".");
    if (value === undefined && s.default !== undefined) value = s.default;
    const name = path[path.length - 1];
    const id = `${prefix}-${key.replace(/[^A-Za-z0-9_-]/g, "_") || "root"}`;
    const label = s.title || (name ? humanize(name) : "");
    const isRequired = name !== undefined && required.includes(name);
    if (depth < MAX_DEPTH && (s.type === "object" || (s.properties && !s.type))) {
      const box = path.length ? h("fieldset", { class: "group" }, h("legend", {}, label)) : parent;
      if (path.length) parent.append(box);
      if (s.description && path.length) box.append(h("p", { class: "hint" }, s.description));
      const getters = [];
      for (const [prop, sub] of ordered(s)) {
        const v = value && typeof value === "object" ? value[prop] : undefined;
        getters.push([prop, build(sub || {}, v, [...path, prop], box, depth + 1, s.required || [])]);
      }
      return () => {
        const out = {};
        for (const [prop, get] of getters) {
          const v = get();
          if (v !== undefined) out[prop] = v;
        }
        return out;
      };
    }
    const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true, "aria-live": "polite" });
    const hint = s.description ? h("p", { class: "hint", id: `${id}-hint` }, s.description) : null;
    const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
    const common = { id, name: key, "aria-describedby": describedBy, "aria-required": isRequired ? "true" : null };
    let input;
    let get;
    const enumValues = s.enum || (s.const !== undefined ? [s.const] : null);
    if (enumValues) {
      input = h("select", common, h("option", { value: "" }, "— choose —"),
        enumValues.map((v, i) => h("option", { value: String(i), selected: value === v }, String(v))));
      get = () => (input.value === "" ? undefined : enumValues[Number(input.value)]);
    } else if (s.type === "boolean") {
      input = h("input", { ...common, type: "checkbox", checked: value === true });
      get = () => input.checked;
    } else if (s.type === "number" || s.type === "integer") {
      input = h("input", { ...common, type: "number", step: s.type === "integer" ? "1" : "any",
                           value: typeof value === "number" ? value : null });
      get = () => (input.value === "" ? undefined : Number(input.value));
    } else if (s.type === "string") {
      const long = !s.format && (s.maxLength === undefined || s.maxLength > 300);
      const type = { email: "email", date: "date", "date-time": "datetime-local", uri: "url" }[s.format] || "text";
      const limits = { maxlength: Number.isInteger(s.maxLength) ? s.maxLength : null,
                       autocomplete: s.format === "email" ? "email" : null };
      input = long ? h("textarea", { ...common, ...limits, rows: 4 }) : h("input", { ...common, ...limits, type });
      if (type === "datetime-local") {
        // the input shows local time without an offset; the schema wants RFC 3339 with one
        input.value = typeof value === "string" ? toLocalInput(value) : "";
        get = () => (input.value === "" ? undefined : fromLocalInput(input.value));
      } else {
        input.value = typeof value === "string" ? value : "";
        get = () => (input.value === "" ? undefined : input.value);
      }
    } else if (s.type === "array" && ["string", "number", "integer"].includes(s.items?.type)) {
      input = h("textarea", { ...common, rows: 3, placeholder: "one per line" });
      input.value = Array.isArray(value) ? value.join("\n") : "";
      get = () => {
        const lines = input.value.split("\n").map((l) => l.trim()).filter(Boolean);
        return s.items.type === "string" ? lines : lines.map(Number);
      };
    } else {
      input = h("textarea", { ...common, rows: 4, class: "json", spellcheck: "false" });
      input.value = value === undefined ? "" : JSON.stringify(value, null, 2);
      get = () => {
        if (input.value.trim() === "") return undefined;
        try { return JSON.parse(input.value); } catch { return input.value; }
      };
    }
    const row = s.type === "boolean"
      ? h("div", { class: "field checkbox" }, input, h("label", { for: id }, label, isRequired ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null), hint, error)
      : h("div", { class: "field" }, h("label", { for: id }, label || "Value", isRequired ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null), input, hint, error);
    parent.append(row);
    fields.set(key, { input, error });
    return get;
  }
}

/** The properties in the order a person should meet them. The registry keeps schemas as
 * PostgreSQL jsonb, which does not keep the order of an object's keys (shorter keys come
 * first), but arrays keep theirs: `ui:order` (as react-jsonschema-form names it) when the
 * schema gives one, else the required properties in the order `required` lists them, then
 * the rest by name. */
function ordered(s) {
  const props = s.properties && typeof s.properties === "object" ? s.properties : {};
  const names = Object.keys(props);
  const listed = [...(Array.isArray(s["ui:order"]) ? s["ui:order"] : []),
                  ...(Array.isArray(s.required) ? s.required : [])];
  const first = [...new Set(listed.filter((n) => Object.hasOwn(props, n)))];
  const rest = names.filter((n) => !first.includes(n)).sort();
  return [...first, ...rest].map((n) => [n, props[n]]);
}

function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(text) {
  const d = new Date(text); // read as local time
  return Number.isNaN(d.getTime()) ? text : d.toISOString();
}

/** `applicant.email`, `/applicant/email` and `["applicant", "email"]` all name one field. */
function toPath(field) {
  if (Array.isArray(field)) return field.join(".");
  if (!field) return "";
  if (field.startsWith("/")) {
    return field.slice(1).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~")).join(".");
  }
  return field;
}

function humanize(name) {
  const words = String(name).replace(/([a-z])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The server's field errors of a 422 problem, whatever member holds them. */
export function fieldErrors(problem) {
  const errors = problem?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((e) => ({
    field: e.field ?? (Array.isArray(e.loc) ? e.loc.filter((p) => p !== "body").join(".") : ""),
    message: e.message ?? e.msg ?? String(e),
  }));
}
