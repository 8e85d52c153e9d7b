// The lanes a reviewer gives personas to: every lane that holds a user task of the process, as
// the engine finds a task's lane (docs/people.md, "Personas on lanes"): the innermost lane that
// names the task, or, for a task inside a subprocess that no lane names, its subprocess's lane.
// Read from the moddle tree of the version's XML (bpmn-js' own moddle), not from the canvas, so
// it works for a file whose diagram interchange is missing or partial.

const MAX_DEPTH = 100; // lanes and subprocesses nest at most this deep in a file the server took

/**
 * lanesHoldingUserTasks(definitions, processId) → [{id, name, persona, inherited, tasks: [name]}]
 * `persona` is the lane's own `laneway:persona`, else the nearest enclosing lane's
 * (`inherited` true): what the engine uses when the reviewer gives no mapping.
 */
export function lanesHoldingUserTasks(definitions, processId) {
  const process = (definitions?.rootElements || []).find(
    (e) => e.$type === "bpmn:Process" && e.id === processId);
  if (!process) return [];
  const laneOf = new Map(); // flow node id → {lane, parents}
  const walkLanes = (laneSets, parents, depth) => {
    if (depth > MAX_DEPTH) return;
    for (const set of laneSets || []) {
      for (const lane of set.lanes || []) {
        for (const ref of lane.flowNodeRef || []) {
          // deeper lanes are walked after their parent: the innermost one wins
          laneOf.set(ref.id, { lane, parents });
        }
        walkLanes(lane.childLaneSet ? [lane.childLaneSet] : [], [lane, ...parents], depth + 1);
      }
    }
  };
  walkLanes(process.laneSets, [], 0);

  const found = new Map(); // lane id → entry
  const visit = (container, inheritedLane, depth) => {
    if (depth > MAX_DEPTH) return;
    for (const el of container.flowElements || []) {
      const here = laneOf.get(el.id) || inheritedLane;
      if (el.$type === "bpmn:UserTask" && here) {
        const entry = found.get(here.lane.id) || describe(here);
        entry.tasks.push(el.name || el.id);
        found.set(here.lane.id, entry);
      }
      if (el.flowElements) visit(el, here, depth + 1);
    }
  };
  visit(process, null, 0);
  return [...found.values()];
}

function describe({ lane, parents }) {
  const own = personaOf(lane);
  const enclosing = own ? null : parents.map(personaOf).find(Boolean);
  return { id: lane.id, name: lane.name || lane.id, persona: own || enclosing || "",
           inherited: !own && Boolean(enclosing), tasks: [] };
}

function personaOf(lane) {
  const value = lane.get ? lane.get("laneway:persona") : lane.$attrs?.["laneway:persona"];
  return typeof value === "string" ? value.trim() : "";
}
