// A deployed diagram shown read-only (bpmn-js's NavigatedViewer: pan and zoom) with an
// instance drawn on it: a token badge with a count on every active element, the path taken,
// incidents (with a Retry button for operators) and the element a person clicked. Shared by
// the live instance page and the audit page's replay. Every badge is built with `h` (the
// diagram and the instance are someone else's text: never HTML strings).
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { h } from "./dom.js";

export const LANEWAY_NS = "http://laneway.dev/schema/1.0/bpmn";

// the process element's own id is not a place a token sits on the diagram
const NOT_A_PLACE = new Set(["process"]);

export class Diagram {
  constructor(container) {
    this.container = container;
    this.viewer = new NavigatedViewer({ container });
    this.overlayIds = [];
    this.markers = new Map(); // elementId -> Set of marker classes
    this.selected = null;
    this.clickHandlers = new Set();
    this.viewer.get("eventBus").on("element.click", (ev) => {
      const el = ev.element;
      if (!el || el.type === "label") return;
      this.select(el.id === this.rootId() ? null : el.id);
      for (const fn of this.clickHandlers) fn(this.selected);
    });
  }

  /** Draw the diagram; the lanes of `processId` (or of its first process). */
  async load(xml, processId) {
    await this.viewer.importXML(xml);
    this.processId = processId;
    this.fit();
  }

  // the whole diagram in view, but a small one not blown up past its drawn size
  fit() {
    const canvas = this.viewer.get("canvas");
    try {
      if (canvas.zoom("fit-viewport", "auto") > 1) canvas.zoom(1, "auto");
    } catch { /* not shown yet: no size to fit */ }
  }

  rootId() {
    return this.viewer.get("canvas").getRootElement()?.id;
  }

  destroy() {
    this.viewer.destroy();
  }

  onSelect(fn) {
    this.clickHandlers.add(fn);
  }

  has(id) {
    return Boolean(id && this.viewer.get("elementRegistry").get(id));
  }

  /** The name the diagram gives an element, else its id. */
  name(id) {
    const el = id && this.viewer.get("elementRegistry").get(id);
    return el?.businessObject?.name || id || "";
  }

  /** The `bpmn:Process` business object the instance runs. */
  process() {
    const defs = this.viewer.getDefinitions();
    const processes = (defs?.rootElements || []).filter((e) => e.$type === "bpmn:Process");
    return processes.find((p) => p.id === this.processId) || processes[0] || null;
  }

  /** Prefix -> namespace URI as the file declares them (definitions and the element). */
  namespaces(bo) {
    const ns = {};
    for (const holder of [this.viewer.getDefinitions(), bo]) {
      for (const [name, value] of Object.entries(holder?.$attrs || {})) {
        if (name.startsWith("xmlns:")) ns[name.slice(6)] = value;
      }
    }
    return ns;
  }

  /** A Laneway attribute (`laneway:<local>`), whatever prefix binds Laneway's namespace, as
   * the engine reads it (laneway/bpmn/_vendor.py `laneway_attr`). */
  lanewayAttr(bo, local) {
    const ns = this.namespaces(bo);
    let fallback = null;
    for (const [name, value] of Object.entries(bo?.$attrs || {})) {
      const i = name.indexOf(":");
      if (i < 0 || name.slice(i + 1) !== local) continue;
      const prefix = name.slice(0, i);
      if (ns[prefix] === LANEWAY_NS) return value;
      if (prefix === "laneway") fallback = value;
    }
    return fallback;
  }

  /**
   * The lanes of the process, innermost ones (those that hold flow nodes directly), in
   * diagram order: [{id, name, persona, nodes: Set(flowNodeId)}].
   */
  lanes() {
    const out = [];
    const walk = (laneSets, inherited) => {
      for (const set of laneSets || []) {
        for (const lane of set.lanes || []) {
          const persona = this.lanewayAttr(lane, "persona") || inherited;
          const children = lane.childLaneSet ? [lane.childLaneSet] : [];
          if (children.length && children[0].lanes?.length) {
            walk(children, persona);
          } else {
            out.push({ id: lane.id, name: lane.name || lane.id, persona: persona || null,
                       nodes: new Set((lane.flowNodeRef || []).map((n) => n.id)) });
          }
        }
      }
    };
    walk(this.process()?.laneSets, null);
    return out;
  }

  /** What a person sees of an element: its type, name and attribute bag (its attributes in
   * other namespaces, as written, and its extension elements). */
  attributes(id) {
    const el = id && this.viewer.get("elementRegistry").get(id);
    if (!el) return null;
    const bo = el.businessObject;
    const attrs = Object.entries(bo.$attrs || {}).filter(([k]) => !k.startsWith("xmlns"));
    const extensions = (bo.extensionElements?.values || []).map((x) => plain(x));
    return { id: bo.id, type: bo.$type, name: bo.name || "", attrs, extensions };
  }

  select(id) {
    if (this.selected) this.unmark(this.selected, "lw-selected");
    this.selected = id && this.has(id) ? id : null;
    if (this.selected) this.mark(this.selected, "lw-selected");
  }

  mark(id, cls) {
    if (!this.has(id)) return;
    const set = this.markers.get(id) || new Set();
    if (set.has(cls)) return;
    set.add(cls);
    this.markers.set(id, set);
    this.viewer.get("canvas").addMarker(id, cls);
  }

  unmark(id, cls) {
    const set = this.markers.get(id);
    if (!set?.has(cls)) return;
    set.delete(cls);
    this.viewer.get("canvas").removeMarker(id, cls);
  }

  /** Set `cls` on exactly the ids given. */
  markOnly(ids, cls) {
    const want = new Set([...ids].filter((id) => this.has(id)));
    for (const [id, set] of this.markers) if (set.has(cls) && !want.has(id)) this.unmark(id, cls);
    for (const id of want) this.mark(id, cls);
  }

  /**
   * Draw the instance: `tokens` Map(elementId -> count), `path` Set of element and flow ids
   * taken, `incidents` [{id, elementId, errorType, message}]; `retry(incident, button)` when
   * the person may retry (a button on each incident).
   */
  show({ tokens, path, incidents = [], retry = null }) {
    const overlays = this.viewer.get("overlays");
    for (const oid of this.overlayIds) overlays.remove(oid);
    this.overlayIds = [];
    const active = [];
    for (const [id, count] of tokens) {
      if (count <= 0 || !this.has(id) || NOT_A_PLACE.has(this.type(id))) continue;
      active.push(id);
      this.overlayIds.push(overlays.add(id, "lw-token", {
        position: { bottom: 10, left: -10 },
        html: h("span", { class: "lw-token", "data-element": id, "data-count": count,
                          title: `${count} token${count === 1 ? "" : "s"} on ${this.name(id)}` },
                String(count)),
      }));
    }
    this.markOnly(active, "lw-active");
    this.markOnly(path, "lw-taken");
    const held = new Map();
    for (const inc of incidents) {
      if (!this.has(inc.elementId)) continue;
      if (!held.has(inc.elementId)) held.set(inc.elementId, []);
      held.get(inc.elementId).push(inc);
    }
    this.markOnly(held.keys(), "lw-incident");
    for (const [id, list] of held) {
      const box = h("div", { class: "lw-incident-box", "data-element": id, role: "group",
                             "aria-label": `Incident on ${this.name(id)}` },
        list.map((inc) => h("div", { class: "lw-incident-item", "data-incident": inc.id || "" },
          h("strong", {}, "Incident"), " ", h("span", { class: "lw-incident-type" }, inc.errorType || ""),
          h("div", { class: "lw-incident-message" }, clip(inc.message || "", 300)),
          retry && inc.id ? h("button", { type: "button", class: "danger lw-retry",
                                          "data-incident": inc.id,
                                          onclick: (ev) => retry(inc, ev.currentTarget) }, "Retry")
            : null)));
      // below the element, where it hides the least of the diagram
      this.overlayIds.push(overlays.add(id, "lw-incident", { position: { bottom: -12, left: -20 }, html: box }));
    }
  }

  type(id) {
    const el = this.viewer.get("elementRegistry").get(id);
    return el?.businessObject?.$type?.replace(/^bpmn:/, "").replace(/^./, (c) => c.toLowerCase());
  }
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n)}…` : text;
}

// an extension element (a moddle object) as plain data: its type and its own properties
function plain(obj, depth = 0) {
  if (obj === null || typeof obj !== "object") return obj;
  if (depth > 6) return "…";
  if (Array.isArray(obj)) return obj.slice(0, 100).map((x) => plain(x, depth + 1));
  const out = {};
  if (obj.$type) out.$type = obj.$type;
  for (const [k, v] of Object.entries(obj)) {
    if (k.startsWith("$") && k !== "$body" && k !== "$children") continue;
    out[k] = plain(v, depth + 1);
  }
  for (const [k, v] of Object.entries(obj.$attrs || {})) out[k] = v;
  return out;
}

/**
 * The instance the engine starts for a call activity: uuid5 of "<parent>/<element key>" in
 * the engine's namespace (laneway/engine/processors/call_activity.py `child_instance_id`: the
 * engine derives it so that replays and retries name the same child). null where the browser
 * has no SHA-1 (not a secure context).
 */
const CHILD_NAMESPACE = "6f1c2c53-5a53-4d0e-9b7c-2b3c0e0d4a11";

export async function childInstanceId(parentId, elementKey) {
  if (!globalThis.crypto?.subtle) return null;
  const ns = CHILD_NAMESPACE.replace(/-/g, "").match(/../g).map((x) => parseInt(x, 16));
  const name = new TextEncoder().encode(`${parentId}/${elementKey}`);
  const data = new Uint8Array(ns.length + name.length);
  data.set(ns, 0);
  data.set(name, ns.length);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-1", data)).slice(0, 16);
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
