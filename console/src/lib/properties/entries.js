// The properties panel entries of the "Laneway" group: preact components built with the panel's
// own entry components (@bpmn-io/properties-panel), the way bpmn-js-properties-panel's providers
// write theirs (its compiled JSX calls `jsx(Component, props)`; so do we, with no JSX step).
// Every change goes through bpmn-js' command stack, so undo and redo cover it.
import { jsx } from "@bpmn-io/properties-panel/preact/jsx-runtime";
import { SelectEntry, TextAreaEntry, TextFieldEntry, isSelectEntryEdited,
         isTextAreaEntryEdited, isTextFieldEntryEdited } from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject } from "bpmn-js/lib/util/ModelUtil";
import { messageOf } from "./fields.js";

export const ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0";

const blankToUndefined = (value) => (value === "" || value == null ? undefined : value);

/** An entry descriptor for the panel's Group: {id, component, isEdited}. */
export function entryFor(field) {
  const id = `laneway-${field.special || field.attr}`;
  const component = field.special === "subscription" ? SubscriptionEntry
    : field.special === "calledElement" ? CalledElementEntry : AttributeEntry;
  const isEdited = field.kind === "select" ? isSelectEntryEdited
    : field.kind === "textarea" ? isTextAreaEntryEdited : isTextFieldEntryEdited;
  // the Group spreads an entry into its component's props; a stable component per kind (not a
  // closure per render) keeps preact from remounting the input, and its focus, on every change
  return { id, component, field, isEdited };
}

function textual(field, options) {
  if (field.kind === "select") {
    return jsx(SelectEntry, { ...options, getOptions: () => selectOptions(field, options.getValue()) });
  }
  if (field.kind === "textarea") return jsx(TextAreaEntry, { ...options, rows: 3, monospace: true, autoResize: true });
  return jsx(TextFieldEntry, options);
}

// a value the diagram holds that the list does not name is kept as a choice, not dropped
function selectOptions(field, current) {
  const options = field.options.map(([value, label]) => ({ value, label }));
  if (current && !field.options.some(([value]) => value === current)) {
    options.push({ value: current, label: `${current} (as written)` });
  }
  return options;
}

/** A `laneway:<attr>` attribute of the element (or, `on: "message"`, of its message). */
function AttributeEntry({ element, id, field }) {
  const modeling = useService("modeling");
  const debounce = useService("debounceInput");
  const translate = useService("translate");
  const name = `laneway:${field.attr}`;
  const onMessage = field.on === "message";
  const target = onMessage ? messageOf(element) : getBusinessObject(element);
  return textual(field, {
    element,
    id,
    label: translate(field.label),
    description: onMessage && !target
      ? translate("Choose or create the message in the Message group first.")
      : field.description && translate(field.description),
    disabled: !target,
    debounce,
    validate: field.validate,
    getValue: () => (target ? target.get(name) || "" : ""),
    setValue: (value) => {
      if (!target) return;
      if (onMessage) modeling.updateModdleProperties(element, target, { [name]: blankToUndefined(value) });
      else modeling.updateProperties(element, { [name]: blankToUndefined(value) });
    },
  });
}

function subscriptionOf(message) {
  const values = message?.get("extensionElements")?.get("values") || [];
  return values.find((v) => v.$descriptor?.ns?.uri === ZEEBE_NS && v.$descriptor.ns.localName === "subscription");
}

/** The correlation key a catching element waits with: `zeebe:subscription correlationKey` on
 * its message, which is where Laneway (and Camunda 8) read it. */
function SubscriptionEntry({ element, id, field }) {
  const commandStack = useService("commandStack");
  const bpmnFactory = useService("bpmnFactory");
  const moddle = useService("moddle");
  const debounce = useService("debounceInput");
  const translate = useService("translate");
  const message = messageOf(element);
  return textual(field, {
    element,
    id,
    label: translate(field.label),
    description: message ? translate(field.description)
      : translate("Choose or create the message in the Message group first."),
    disabled: !message,
    debounce,
    getValue: () => subscriptionOf(message)?.correlationKey || "",
    setValue: (value) => {
      if (!message) return;
      const sub = subscriptionOf(message);
      const ext = message.get("extensionElements");
      if (sub && value) {
        commandStack.execute("element.updateModdleProperties",
          { element, moddleElement: sub, properties: { correlationKey: value } });
      } else if (sub) {
        commandStack.execute("element.updateModdleProperties",
          { element, moddleElement: ext, properties: { values: ext.get("values").filter((v) => v !== sub) } });
      } else if (value) {
        const commands = [];
        let container = ext;
        if (!container) {
          container = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
          container.$parent = message;
          commands.push({ cmd: "element.updateModdleProperties",
            context: { element, moddleElement: message, properties: { extensionElements: container } } });
        }
        const created = moddle.createAny("zeebe:subscription", ZEEBE_NS, { correlationKey: value });
        created.$parent = container;
        commands.push({ cmd: "element.updateModdleProperties",
          context: { element, moddleElement: container, properties: { values: [...container.get("values"), created] } } });
        commandStack.execute("properties-panel.multi-command-executor", commands);
      }
    },
  });
}

/** A call activity's target: BPMN's `calledElement` (a `zeebe:calledElement processId`, if the
 * file has one, wins in Laneway as in Camunda 8: the description says so). */
function CalledElementEntry({ element, id, field }) {
  const modeling = useService("modeling");
  const debounce = useService("debounceInput");
  const translate = useService("translate");
  const bo = getBusinessObject(element);
  const zeebe = (bo.get("extensionElements")?.get("values") || []).find(
    (v) => v.$descriptor?.ns?.uri === ZEEBE_NS && v.$descriptor.ns.localName === "calledElement");
  return textual(field, {
    element,
    id,
    label: translate(field.label),
    description: zeebe?.processId
      ? `${translate("The file's zeebe:calledElement names")} ${zeebe.processId}, ${translate("which wins.")}`
      : translate(field.description),
    debounce,
    getValue: () => bo.get("calledElement") || "",
    setValue: (value) => modeling.updateProperties(element, { calledElement: blankToUndefined(value) }),
  });
}
