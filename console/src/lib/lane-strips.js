// One strip per lane above the diagram: lanes are actors, so each says who (the lane's
// persona), whether they have work now and on which task: "Case Worker — active — Review
// case", "Supervisor — waiting".
import { h } from "./dom.js";

/**
 * lanes: Diagram.lanes(); tokens: Map(elementId -> count); ended: the instance is over;
 * personas: {laneId or lane name: persona} learnt from live events (a persona the review
 * mapped overrides the diagram's).
 */
export function laneStrips(diagram, lanes, tokens, { ended = false, personas = {} } = {}) {
  if (!lanes.length) return null;
  return h("ol", { class: "lane-strips", "aria-label": "Lanes" },
    lanes.map((lane) => {
      const here = [...tokens.keys()].filter((id) => lane.nodes.has(id) && tokens.get(id) > 0);
      const who = personas[lane.id] || personas[lane.name] || lane.persona || lane.name;
      const state = here.length ? "active" : ended ? "done" : "waiting";
      const label = [who, state, ...(here.length ? [here.map((id) => diagram.name(id)).join(", ")] : [])].join(" — ");
      return h("li", { class: `lane-strip ${state}`, "data-lane": lane.id, "data-state": state },
        h("span", { class: "lane-label" }, label),
        lane.name !== who ? h("span", { class: "hint" }, ` · lane ${lane.name}`) : null);
    }));
}
