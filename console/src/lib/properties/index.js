// The Laneway properties provider: one "Laneway" group (after bpmn-js' own "General") holding
// what Laneway reads from the selected element (fields.js); every other provider's groups are
// left as they are. Registered with the bpmn-js Modeler as an additional module.
import { Group } from "@bpmn-io/properties-panel";
import { entryFor } from "./entries.js";
import { fieldsFor } from "./fields.js";

class LanewayPropertiesProvider {
  constructor(propertiesPanel, translate) {
    propertiesPanel.registerProvider(400, this);
    this._translate = translate;
  }

  getGroups(element) {
    return (groups) => {
      const fields = fieldsFor(element);
      if (!fields.length) return groups;
      const group = { id: "laneway", label: this._translate("Laneway"), component: Group,
                      shouldOpen: true, entries: fields.map(entryFor) };
      const general = groups.findIndex((g) => g.id === "general");
      const out = groups.slice();
      out.splice(general < 0 ? 0 : general + 1, 0, group);
      return out;
    };
  }
}
LanewayPropertiesProvider.$inject = ["propertiesPanel", "translate"];

export default {
  __init__: ["lanewayPropertiesProvider"],
  lanewayPropertiesProvider: ["type", LanewayPropertiesProvider],
};
