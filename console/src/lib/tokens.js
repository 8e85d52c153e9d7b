// Where an instance's tokens are, kept from three sources: the projection
// (GET /api/instances/{id}: active element ids, each once, no keys), the live feed's events
// (each with its element instance key) and the audit log (history and replay). Pure data: the
// pages draw it.

const PATH_INTENTS = new Set(["ELEMENT_ACTIVATED", "ELEMENT_COMPLETED", "SEQUENCE_FLOW_TAKEN"]);
const ENDED = new Set(["COMPLETED", "TERMINATED"]);
const MAX_PATH = 10_000; // ids on one diagram: a bound on what a long-running loop adds

export function isEnded(status) {
  return ENDED.has(status);
}

function timeMs(at) {
  if (typeof at === "number") return at;
  const t = Date.parse(at || "");
  return Number.isNaN(t) ? 0 : t;
}

/** The instance as the live page knows it. */
export class InstanceModel {
  constructor(instanceId) {
    this.instanceId = instanceId;
    this.known = new Map(); // element instance key -> element id (from live events)
    this.unkeyed = new Map(); // element id -> tokens whose key is not known (projection)
    this.path = new Set();
    this.incidents = new Map(); // incident id (or a stand-in until it is known) -> incident
    this.status = null;
    this.variables = {};
    this.info = null; // the projection last read
    this.lastAt = 0; // the newest live event's time (ms)
    this.lastPosition = null;
  }

  /** Take the projection as the truth (the page's first load, and reconciling). */
  loadProjection(inst) {
    this.info = inst;
    this.status = inst.status;
    this.variables = inst.variables || {};
    const active = new Set(inst.activeElements || []);
    for (const [key, id] of this.known) if (!active.has(id)) this.known.delete(key);
    this.unkeyed.clear();
    for (const id of active) {
      if (!this.keyedOn(id)) this.unkeyed.set(id, 1);
      this.addPath(id);
    }
    this.incidents.clear();
    for (const inc of inst.incidents || []) {
      this.incidents.set(inc.id || `${this.instanceId}:${inc.key}`, {
        id: inc.id || `${this.instanceId}:${inc.key}`, key: inc.key, elementId: inc.elementId,
        errorType: inc.errorType, message: inc.message });
    }
  }

  keyedOn(id) {
    let n = 0;
    for (const v of this.known.values()) if (v === id) n++;
    return n;
  }

  addPath(id) {
    if (id && this.path.size < MAX_PATH) this.path.add(id);
  }

  /** Element id -> number of tokens on it. */
  tokens() {
    const out = new Map(this.unkeyed);
    for (const id of this.known.values()) out.set(id, (out.get(id) || 0) + 1);
    for (const [id, n] of out) if (n <= 0) out.delete(id);
    return out;
  }

  /** Whether the projection shows the tokens where this model has them. */
  agrees(inst) {
    const mine = [...this.tokens().keys()].sort();
    const theirs = [...new Set(inst.activeElements || [])].sort();
    return inst.status === this.status && mine.length === theirs.length
      && mine.every((id, i) => id === theirs[i]);
  }

  /** A position seen before (a reconnect may repeat some): true when the event is new. */
  fresh(position) {
    if (position == null) return true;
    const m = /^(\d+):(\d+)$/.exec(String(position));
    const last = this.lastPosition && /^(\d+):(\d+)$/.exec(this.lastPosition);
    // one instance's events are on one partition, in order: a lower offset is a repeat
    if (m && last && m[1] === last[1] && Number(m[2]) <= Number(last[2])) return false;
    this.lastPosition = String(position);
    return true;
  }

  /** Apply one live event ({intent, elementId, elementType, key, incident, at, ...}); true
   * when what the page shows changed. */
  apply(ev) {
    const at = timeMs(ev.at);
    if (at > this.lastAt) this.lastAt = at;
    const id = ev.elementId;
    const isProcess = ev.elementType === "process";
    switch (ev.intent) {
      case "ELEMENT_ACTIVATED":
        if (isProcess) {
          if (!this.status) this.status = "ACTIVE";
          return true;
        }
        this.addPath(id);
        if (ev.key != null && this.known.has(ev.key)) return false;
        if ((this.unkeyed.get(id) || 0) > 0 && ev.key != null) {
          // the projection's token on this element, now with its key
          this.unkeyed.set(id, this.unkeyed.get(id) - 1);
        }
        this.known.set(ev.key ?? `anon:${ev.position}`, id);
        return true;
      case "ELEMENT_COMPLETED":
      case "ELEMENT_TERMINATED":
        if (isProcess) {
          this.status = ev.intent === "ELEMENT_COMPLETED" ? "COMPLETED" : "TERMINATED";
          this.known.clear();
          this.unkeyed.clear();
          this.incidents.clear();
          return true;
        }
        if (ev.intent === "ELEMENT_COMPLETED") this.addPath(id);
        if (ev.key != null && this.known.has(ev.key)) {
          this.known.delete(ev.key);
        } else if ((this.unkeyed.get(id) || 0) > 0) {
          this.unkeyed.set(id, this.unkeyed.get(id) - 1);
        }
        return true;
      case "SEQUENCE_FLOW_TAKEN":
        this.addPath(id);
        return true;
      case "INCIDENT_CREATED": {
        const key = ev.incident?.key;
        const iid = key != null ? `${this.instanceId}:${key}` : `pending:${ev.position}`;
        this.incidents.set(iid, { id: key != null ? iid : null, key, elementId: id,
                                  errorType: ev.incident?.errorType || "", message: ev.incident?.message || "" });
        if (this.status === "ACTIVE") this.status = "INCIDENT";
        return true;
      }
      case "INCIDENT_RESOLVED": {
        const key = ev.incident?.key;
        for (const [iid, inc] of this.incidents) {
          if (key != null ? inc.key === key || iid === `${this.instanceId}:${key}` : inc.elementId === id) {
            this.incidents.delete(iid);
          }
        }
        if (this.status === "INCIDENT" && this.incidents.size === 0) this.status = "ACTIVE";
        return true;
      }
      default:
        return false;
    }
  }
}

/** The path taken up to seq `upTo` (every element and flow reached), from history records. */
export function pathFromHistory(events, upTo = Infinity) {
  const path = new Set();
  for (const e of events) {
    if (e.seq > upTo) break;
    if (e.kind === "EVENT" && PATH_INTENTS.has(e.intent) && e.elementType !== "process" && e.elementId) {
      path.add(e.elementId);
    }
  }
  return path;
}

/** Tokens and incidents of a replayed state (`InstanceState.to_dict()`, snake_case). */
export function fromReplay(instanceId, state) {
  const elements = state?.elements || {};
  const tokens = new Map();
  for (const el of Object.values(elements)) {
    if (el.kind === "process") continue;
    tokens.set(el.element_id, (tokens.get(el.element_id) || 0) + 1);
  }
  const incidents = Object.values(state?.incidents || {}).map((inc) => ({
    id: `${instanceId}:${inc.key}`, key: inc.key,
    elementId: elements[String(inc.element_key)]?.element_id || null,
    errorType: inc.error_type || "", message: inc.message || "" }));
  const status = state?.status === "ACTIVE" && incidents.length ? "INCIDENT" : state?.status;
  return { tokens, incidents, status };
}
