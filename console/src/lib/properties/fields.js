// What Laneway reads from a diagram, by element: the fields of the properties panel's "Laneway"
// group. Each field is an attribute in Laneway's namespace (laneway-moddle.json names them),
// except the message correlation key a catch event waits for, which Laneway reads from
// `zeebe:subscription` on the message (docs/bpmn.md, "Vendor mappings"), and the called
// process, BPMN's own `calledElement`. The sources of truth: laneway/bpmn/_vendor.py,
// docs/people.md (personas, assignment, SLA), element-templates/ (connector attributes).
import { is, getBusinessObject } from "bpmn-js/lib/util/ModelUtil";
// the element templates of element-templates/ (bundled by build.mjs), made by `laneway
// templates` from each connector's declared attributes: the connector forms below come from
// them, so the panel asks for what the deploy checks
import TEMPLATES from "laneway:element-templates";

const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

const duration = (value) =>
  !value || DURATION.test(value.trim()) ? null : "An ISO 8601 duration, e.g. PT30S, PT5M or P1D";
const wholeNumber = (value) =>
  !value || /^\s*[1-9]\d*\s*$/.test(value) ? null : "A whole number of at least 1";
const positiveNumber = (value) =>
  !value || (Number.isFinite(Number(value)) && Number(value) > 0) ? null : "A number greater than 0";

/** The attribute fields, by name; `attr` is the local name in Laneway's namespace. */
const F = {
  persona: { attr: "persona", label: "Persona",
    description: "Who may act in this lane (e.g. Case Worker); the engine refuses anyone without it. A reviewer may set it on approval instead." },
  form: { attr: "form", label: "Form",
    description: "The id of a JSON Schema form in the form registry (PUT /api/form-schemas/{id})." },
  assignee: { attr: "assignee", label: "Assignee",
    description: "A user id, or an expression (=expr, ${expr}) evaluated when the task is created." },
  candidateGroups: { attr: "candidateGroups", label: "Candidate groups",
    description: "Comma-separated groups (or roles, personas) that may work the task; or an expression." },
  candidateUsers: { attr: "candidateUsers", label: "Candidate users",
    description: "Comma-separated user ids; or an expression." },
  slaMinutes: { attr: "slaMinutes", label: "SLA (minutes)", validate: positiveNumber,
    description: "The task is due this many minutes after it is created; overdue tasks are escalated once." },
  escalationConnector: { attr: "escalationConnector", label: "Escalation connector", kind: "select",
    options: [["", "— none —"], ["email", "email"], ["http", "http"]],
    description: "A connector run once when the task is overdue, with the attributes below." },
  type: { attr: "type", label: "Connector type",
    description: "The job type a connector serves: http and email ship with Laneway. Empty: the task's kind (service, send, business-rule)." },
  retries: { attr: "retries", label: "Retries", validate: wholeNumber,
    description: "Attempts in all before an incident (default 3)." },
  retryBackoff: { attr: "retryBackoff", label: "Retry backoff", validate: duration,
    description: "Before the second attempt, doubled each time (default PT1S)." },
  retryBackoffMax: { attr: "retryBackoffMax", label: "Retry backoff at most", validate: duration,
    description: "Default PT5M." },
  timeout: { attr: "timeout", label: "Timeout", validate: duration,
    description: "One attempt may take this long (default PT30S)." },
  resultVariable: { attr: "resultVariable", label: "Result variable",
    description: "The variable the connector's result goes to." },
  decision: { attr: "decision", label: "Decided by", kind: "select",
    options: [["", "the conditions on its flows"], ["handler", "a decision handler (a decision job)"]],
    description: "A decision handler is asked which flows to take." },
  throwKey: { attr: "correlationKey", label: "Correlation key",
    description: "An expression (e.g. =orderId): the published message meets the instance waiting with this key." },
  publishers: { attr: "publishers", label: "Publishers", on: "message",
    description: "Personas that may publish this message through the API (comma-separated); operators always may." },
  catchKey: { special: "subscription", label: "Correlation key",
    description: "An expression (e.g. =orderId) evaluated when the instance starts waiting; a message with this key meets it (zeebe:subscription)." },
  calledElement: { special: "calledElement", label: "Called process",
    description: "The process id to start (its newest AUTHORIZED version)." },
};

const PREFIX = "laneway:";

/** A field of the panel from an element template's property (a `laneway:` binding). */
export function templateField(prop) {
  const field = { attr: prop.binding.name.slice(PREFIX.length), label: prop.label,
                  description: prop.description, group: prop.group };
  const notEmpty = prop.constraints?.notEmpty;
  const pattern = prop.constraints?.pattern;
  const regex = pattern && new RegExp(pattern.value);
  field.validate = (value) => {
    const text = (value || "").trim();
    if (!text) return notEmpty ? "Required" : null;
    return regex && !regex.test(text) ? pattern.message : null;
  };
  if (prop.type === "Dropdown") {
    // empty: the attribute is left out and the default applies, as the deploy reads it
    field.kind = "select";
    field.options = [["", `${prop.value} (default)`], ...prop.choices.map((c) => [c.value, c.name])];
  } else if (prop.type === "Boolean") {
    field.kind = "select";
    field.options = [["", `${prop.value} (default)`], ["true", "true"], ["false", "false"]];
  } else if (prop.type === "Text") {
    field.kind = "textarea";
  }
  return field;
}

const fixed = (template, name) =>
  template.properties.find((p) => p.type === "Hidden" && p.binding.name === name)?.value;

/** Connector type -> its fields, from the templates that fix `laneway:type`. */
const CONNECTOR = Object.fromEntries(TEMPLATES
  .filter((t) => fixed(t, "laneway:type"))
  .map((t) => [fixed(t, "laneway:type"),
               t.properties.filter((p) => p.type !== "Hidden" && p.binding.name.startsWith(PREFIX))
                 .map(templateField)]));
F.escalationConnector.options = [["", "— none —"], ...Object.keys(CONNECTOR).map((t) => [t, t])];

// The connector types that can decide a gateway (answer a decision job with a `Decision`):
// neither the templates nor the attribute declarations say which can, so this list does; a
// type named here gets its template's fields on the gateway. `laneway:decision="<type>"` with
// any other type is kept as written (the select shows it) and the deploy judges it.
const DECIDING = ["llm"].filter((t) => CONNECTOR[t]);
F.decision.options = [...F.decision.options,
  ...DECIDING.map((t) => [t, `the ${t} connector (a decision job of type ${t})`])];
F.decision.description = `A decision handler is asked which flows to take; ${DECIDING.join(", ")}: that connector chooses, with the fields below.`;

/** Trigger type -> its fields, from the templates of triggers (id dev.laneway.trigger.<type>):
 * each fixes `laneway:trigger` on a message start event, except `timer`'s (a timer start event
 * is the timer type), whose settings are its start event's too. */
const TRIGGER_ID = "dev.laneway.trigger.";
const TRIGGER = Object.fromEntries(TEMPLATES
  .filter((t) => t.id.startsWith(TRIGGER_ID))
  .map((t) => [fixed(t, "laneway:trigger") || t.id.slice(TRIGGER_ID.length),
               t.properties.filter((p) => p.type !== "Hidden" && p.binding.name.startsWith(PREFIX))
                 .map(templateField)]));
F.trigger = { attr: "trigger", label: "Trigger", kind: "select",
  options: [["", "— none: started by a published message —"],
            ...Object.keys(TRIGGER).filter((t) => t !== "timer").map((t) => [t, t])],
  description: "A trigger type starts the process by itself (docs/triggers.md), with the settings below, written on the start event as its element template does; a trigger named on the message wins, setting by setting." };
F.type.description = `The job type a connector serves: ${Object.keys(CONNECTOR).join(", ")} ship with Laneway (each shows its form). Empty: the task's kind (service, send, business-rule).`;

const JOB_TASKS = ["bpmn:ServiceTask", "bpmn:SendTask", "bpmn:BusinessRuleTask", "bpmn:ScriptTask"];

function messageDefinition(bo) {
  return (bo.eventDefinitions || []).find((d) => is(d, "bpmn:MessageEventDefinition"));
}

/** The message a catching or throwing element names, if any. */
export function messageOf(element) {
  const bo = getBusinessObject(element);
  if (is(bo, "bpmn:ReceiveTask")) return bo.messageRef || null;
  return messageDefinition(bo)?.messageRef || null;
}

const attr = (bo, name) => {
  const v = bo.get(`laneway:${name}`);
  return typeof v === "string" ? v.trim() : "";
};

const triggerOfMessage = (message) => (message ? attr(message, "trigger") : "");

/** The Laneway fields of an element, in order; [] when Laneway reads nothing from it. */
export function fieldsFor(element) {
  const bo = getBusinessObject(element);
  if (is(bo, "bpmn:Lane")) return [F.persona];
  if (is(bo, "bpmn:UserTask")) {
    const via = attr(bo, "escalationConnector");
    const escalation = (CONNECTOR[via] || []).filter((f) => f.group !== "retries");
    return [F.form, F.assignee, F.candidateGroups, F.candidateUsers, F.slaMinutes,
            F.escalationConnector, ...(via ? [...escalation, F.retries] : [])];
  }
  if (JOB_TASKS.some((t) => is(bo, t))) {
    // a known connector: its template's fields (result and retries included); else the
    // attributes every job has
    return [F.type, ...(CONNECTOR[attr(bo, "type")] || [F.resultVariable, F.retries,
            F.retryBackoff, F.retryBackoffMax, F.timeout])];
  }
  if (is(bo, "bpmn:CallActivity")) return [F.calledElement];
  if (is(bo, "bpmn:ExclusiveGateway") || is(bo, "bpmn:InclusiveGateway")) {
    const by = attr(bo, "decision");
    return [F.decision, ...(DECIDING.includes(by) ? CONNECTOR[by] : [])];
  }
  const message = is(bo, "bpmn:ReceiveTask") || messageDefinition(bo);
  if (is(bo, "bpmn:IntermediateThrowEvent") || is(bo, "bpmn:EndEvent")) {
    return message ? [F.throwKey] : [];
  }
  const out = [];
  if (is(bo, "bpmn:StartEvent") && !(bo.eventDefinitions || []).length) out.push(F.form);
  // a message start event starts an instance: there is none waiting to correlate with
  if (message) out.push(...(is(bo, "bpmn:StartEvent") ? [] : [F.catchKey]), F.publishers);
  if (is(bo, "bpmn:StartEvent") && message) {
    // the start event's own trigger (what a template writes); when only the message names
    // one, the trigger and its settings are the message's (which wins) and are edited there
    const own = attr(bo, "trigger");
    const onMessage = !own && triggerOfMessage(messageOf(element));
    const type = own || onMessage;
    const settings = [F.trigger, ...(type !== "timer" && TRIGGER[type] || [])];
    out.push(...(onMessage ? settings.map((f) => ({ ...f, on: "message" })) : settings));
  }
  const timer = (bo.eventDefinitions || []).some((d) => is(d, "bpmn:TimerEventDefinition"));
  if (is(bo, "bpmn:StartEvent") && timer) out.push(...(TRIGGER.timer || []));
  return out;
}
