// The modeler (`/modeler`, `/modeler/{processId}/{version}`): bpmn-js with its properties panel
// and Laneway's group (lib/properties), a toolbar to start anew, open a deployed version, import
// a file (Camunda Modeler, bpmn.io, Signavio exports), export the XML, check it against the
// server's rules and deploy it as a DRAFT. The XML goes to the server as bpmn-js writes it:
// attributes and elements of other namespaces stay as they were read (bpmn-moddle keeps what
// it does not know), so a Camunda or vendor extension survives the round trip.
import Modeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import { api, reason } from "../api.js";
import { hasRole } from "../auth.js";
import { h, notice, replace } from "../lib/dom.js";
import { ProblemView, normalise } from "../lib/diagram-problems.js";
import LanewayPropertiesProviderModule from "../lib/properties/index.js";
import lanewayModdle from "../lib/laneway-moddle.json";

const MAX_FILE_BYTES = 20 * 1024 * 1024; // the server's default diagram limit (LANEWAY_MAX_DIAGRAM_BYTES)

function blankDiagram() {
  const id = `Process_${Math.random().toString(36).slice(2, 9)}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" id="Definitions_${id}" targetNamespace="http://laneway.dev/bpmn">
  <bpmn:process id="${id}" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_${id}">
    <bpmndi:BPMNPlane id="Plane_${id}" bpmnElement="${id}">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="180" y="160" width="36" height="36"/>
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>`;
}

// the whole diagram in view, at most at full size, clear of the palette on the left
function fit(canvas) {
  canvas.resized(); // the canvas was measured before the page was on screen
  const { inner, outer } = canvas.viewbox();
  if (!inner.width || !inner.height) return;
  const left = 140;
  const pad = 20;
  const scale = Math.min(1, (outer.width - left - pad) / inner.width, (outer.height - 2 * pad) / inner.height);
  canvas.viewbox({ x: inner.x - left / scale, y: inner.y - pad / scale,
                   width: outer.width / scale, height: outer.height / scale });
}

export async function render(root, params, { navigate }) {
  if (!hasRole("modeler")) {
    replace(root, h("h1", {}, "Modeler"),
      notice("error", "Deploying needs the role modeler: you can read definitions, not deploy them."),
      h("p", {}, h("a", { href: "/definitions", "data-link": true }, "Definitions")));
    return;
  }
  const status = h("div", { class: "modeler-status", "aria-live": "polite" });
  const problemList = h("div", { class: "modeler-problems" });
  const canvasEl = h("div", { class: "modeler-canvas", "data-testid": "canvas" });
  const panelEl = h("aside", { class: "modeler-panel", "aria-label": "Properties" });
  const fileName = { value: "diagram.bpmn" };
  const title = h("span", { class: "modeler-title" });

  const modeler = new Modeler({
    container: canvasEl,
    propertiesPanel: { parent: panelEl },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, LanewayPropertiesProviderModule],
    moddleExtensions: { laneway: lanewayModdle },
  });
  const problems = new ProblemView(modeler, problemList);

  const say = (kind, ...text) => replace(status, notice(kind, text.join("")));

  async function load(xml, name, label) {
    problems.clear();
    try {
      const imported = await modeler.importXML(xml);
      // a Laneway attribute named at run time (laneway:header.X, laneway:errorOn404) is not in
      // the descriptor: kept as written, nothing to warn about
      const warnings = imported.warnings.filter((w) => !/^unknown attribute <laneway:/.test(w.message));
      fileName.value = name;
      replace(title, label);
      fit(modeler.get("canvas"));
      if (warnings.length) {
        say("warn", `${label}: opened with ${warnings.length} warning(s) from the BPMN reader; the first: ${warnings[0].message}`);
      } else {
        replace(status);
      }
      return true;
    } catch (e) {
      say("error", `${label} could not be opened: ${e.message || e}`);
      return false;
    }
  }

  async function currentXml() {
    const { xml } = await modeler.saveXML({ format: true });
    return xml;
  }

  async function check() {
    say("info", "Checking…");
    try {
      const answer = await api("/api/definitions/check", { method: "POST", body: await currentXml(),
        headers: { "Content-Type": "application/xml", "X-File-Name": fileName.value } });
      const found = normalise(answer);
      const errors = problems.show(found, "Check");
      say(errors ? "error" : "ok", errors ? `${errors} problem(s): a deploy would be refused.`
        : found.length ? `No errors (${found.length} warning(s)): a deploy would accept it.`
          : "No problems: a deploy would accept it.");
    } catch (e) {
      if (e.status === 422 && e.problem?.errors) {
        problems.show(normalise(e.problem), "Check");
      }
      say("error", `Check failed: ${reason(e)}`);
    }
  }

  async function deploy() {
    say("info", "Deploying…");
    try {
      const answer = await api("/api/definitions", { method: "POST", body: await currentXml(),
        headers: { "Content-Type": "application/xml", "X-File-Name": fileName.value } });
      problems.clear();
      const deployed = answer?.deployed || [];
      replace(status, h("div", { class: "notice ok", role: "status", "data-testid": "deployed" },
        deployed.length > 1 ? "Deployed: " : "",
        deployed.map((d, i) => [i ? ", " : "",
          h("a", { href: `/definitions/${encodeURIComponent(d.processId)}/${d.version}`, "data-link": true },
            `${d.processId} version ${d.version}`),
          d.new ? " — a new DRAFT" : " — unchanged (this file is already that version)"])));
    } catch (e) {
      if (e.status === 422) problems.show(normalise(e.problem), "Deploy refused");
      say("error", `Deploy refused: ${reason(e)}`);
    }
  }

  async function exportXml() {
    const xml = await currentXml();
    const url = URL.createObjectURL(new Blob([xml], { type: "application/xml" }));
    const a = h("a", { href: url, download: fileName.value.endsWith(".bpmn") ? fileName.value : `${fileName.value}.bpmn` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  async function importFile(input) {
    const file = input.files?.[0];
    input.value = "";
    if (!file) return;
    if (file.size > MAX_FILE_BYTES) {
      say("error", `${file.name} is ${Math.round(file.size / 1048576)} MiB: the server takes at most 20 MiB.`);
      return;
    }
    await load(await file.text(), file.name, file.name);
  }

  // the deployed versions to open, newest deploy first
  const versions = h("select", { id: "modeler-open", class: "input" }, h("option", { value: "" }, "— a deployed version —"));
  api("/api/definitions").then((list) => {
    for (const d of list || []) {
      versions.append(h("option", { value: `${d.processId}/${d.version}` },
        `${d.processId} v${d.version}${d.name ? ` (${d.name})` : ""} — ${d.state}`));
    }
  }).catch((e) => say("error", `The deployed versions could not be listed: ${reason(e)}`));

  const fileInput = h("input", { id: "modeler-import", type: "file", accept: ".bpmn,.xml,.bpmn20.xml,application/xml,text/xml",
    class: "visually-hidden", onchange: (ev) => importFile(ev.target) });

  const toolbar = h("div", { class: "toolbar modeler-toolbar", role: "toolbar", "aria-label": "Diagram" },
    h("button", { type: "button", onclick: () => { navigate("/modeler"); } }, "New"),
    h("label", { for: "modeler-open", class: "visually-hidden" }, "Open a deployed version"),
    versions,
    h("button", { type: "button", onclick: () => {
      if (versions.value) navigate(`/modeler/${versions.value.split("/").map(encodeURIComponent).join("/")}`);
    } }, "Open"),
    // the input is hidden but focusable; its label, styled as a button, shows its focus
    fileInput,
    h("label", { for: "modeler-import", class: "button" }, "Import from disk…"),
    h("button", { type: "button", onclick: exportXml }, "Export XML"),
    h("button", { type: "button", onclick: check }, "Check"),
    h("button", { type: "button", class: "primary", onclick: deploy }, "Deploy"));

  replace(root,
    h("div", { class: "modeler-head" }, h("h1", {}, "Modeler"), title),
    toolbar, status, problemList,
    h("div", { class: "modeler" }, canvasEl, panelEl));
  root.classList.add("wide");

  if (params.processId) {
    const label = `${params.processId} version ${params.version}`;
    try {
      const xml = await api(`/api/definitions/${encodeURIComponent(params.processId)}/versions/${params.version}/xml`,
        { headers: { Accept: "application/xml" } });
      await load(String(xml), `${params.processId}.bpmn`, label);
    } catch (e) {
      say("error", `${label} could not be read: ${reason(e)}`);
      await load(blankDiagram(), "diagram.bpmn", "New diagram");
    }
  } else {
    await load(blankDiagram(), "diagram.bpmn", "New diagram");
  }

  return () => {
    root.classList.remove("wide");
    modeler.destroy();
  };
}
