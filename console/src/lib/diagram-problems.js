// The server's problems of a diagram (POST /api/definitions/check, or a refused deploy's 422),
// shown twice: on the canvas, as a marker and a count on each element a problem names, and as a
// list whose items select and show their element. The text is the server's, as
// `laneway validate` prints it.
import { h, replace } from "./dom.js";

const MARKER = "lw-problem"; // an element with an error
const WARNED = "lw-warning"; // an element with warnings only
const OVERLAY = "lw-problems";

/** Problems from either answer: check `{problems: [{element, line, message, severity}]}` or a
 * deploy's 422 `{errors: [{file, line, elementId, message}]}`. */
export function normalise(answer) {
  const items = answer?.problems || answer?.errors || [];
  return (Array.isArray(items) ? items : []).map((p) => ({
    element: p.element ?? p.elementId ?? null,
    line: p.line ?? null,
    message: String(p.message ?? p.msg ?? ""),
    severity: p.severity || "error",
  }));
}

export class ProblemView {
  /** `modeler` a bpmn-js Modeler; `list` the element the list goes in. */
  constructor(modeler, list) {
    this.modeler = modeler;
    this.list = list;
    this.marked = [];
  }

  clear() {
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    for (const id of this.marked) {
      try {
        canvas.removeMarker(id, MARKER);
        canvas.removeMarker(id, WARNED);
      } catch { /* the element is gone */ }
    }
    overlays.remove({ type: OVERLAY });
    this.marked = [];
    replace(this.list);
  }

  /** Show `problems` (normalise()'s); returns how many were errors. */
  show(problems, title) {
    this.clear();
    const registry = this.modeler.get("elementRegistry");
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    const counts = new Map(); // element id → {n, error}
    for (const p of problems) {
      if (!p.element || !registry.get(p.element)) continue;
      const c = counts.get(p.element) || { n: 0, error: false };
      counts.set(p.element, { n: c.n + 1, error: c.error || p.severity === "error" });
    }
    for (const [id, { n, error }] of counts) {
      canvas.addMarker(id, error ? MARKER : WARNED);
      this.marked.push(id);
      overlays.add(id, OVERLAY, {
        position: { top: -10, right: 10 },
        html: h("span", { class: `lw-problem-count${error ? "" : " warning"}`, title: `${n} problem(s)` }, String(n)),
      });
    }
    const items = problems.map((p) => {
      const where = [p.element ? `${p.element}` : null, p.line ? `line ${p.line}` : null].filter(Boolean).join(", ");
      const text = [h("span", { class: `badge ${p.severity === "error" ? "bad" : "warn"}` }, p.severity), " ",
        where ? h("strong", {}, where, ": ") : null, p.message];
      const shape = p.element && registry.get(p.element);
      return h("li", { class: `problem ${p.severity}`, "data-element": p.element || null },
        shape ? h("button", { type: "button", class: "link", onclick: () => this.select(p.element) }, text) : text);
    });
    const errors = problems.filter((p) => p.severity === "error").length;
    replace(this.list,
      h("h2", {}, title),
      items.length ? h("ul", { class: "problems", "aria-label": "Problems" }, items)
        : h("p", { class: "notice ok", role: "status" }, "No problems: a deploy would accept this diagram."));
    return errors;
  }

  select(id) {
    const shape = this.modeler.get("elementRegistry").get(id);
    if (!shape) return;
    this.modeler.get("selection").select(shape);
    try { this.modeler.get("canvas").scrollToElement(shape); } catch { /* a root element */ }
  }
}
