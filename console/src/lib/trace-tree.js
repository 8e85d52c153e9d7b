// An instance's trace as the trace view draws it: the spans of GET /api/instances/{id}/trace
// put in tree order (each span under its parent, siblings by start), with their depth, and
// what the waterfall scales by. The spans come from a tracing backend, so nothing here trusts
// their shape: a parent that is not in the trace makes a root, a cycle of parents is broken
// (every span shows once), and the walk is a loop, not a recursion.

/** [{span, depth, orphan}] in the order the rows are drawn. `orphan`: it names a parent the
 * trace does not have (not there yet, or cut by the bound on spans). */
export function treeRows(spans) {
  const byId = new Map();
  for (const s of spans) if (s.spanId && !byId.has(s.spanId)) byId.set(s.spanId, s);
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    const parent = s.parentSpanId && s.parentSpanId !== s.spanId ? byId.get(s.parentSpanId) : null;
    if (parent) {
      if (!children.has(parent.spanId)) children.set(parent.spanId, []);
      children.get(parent.spanId).push(s);
    } else {
      roots.push(s);
    }
  }
  const byStart = (a, b) => a.startTime - b.startTime;
  const rows = [];
  const seen = new Set();
  const walk = (starts) => {
    const stack = [...starts].sort(byStart).reverse().map((span) => ({ span, depth: 0 }));
    while (stack.length) {
      const { span, depth } = stack.pop();
      if (seen.has(span)) continue;
      seen.add(span);
      rows.push({ span, depth, orphan: depth === 0 && !!span.parentSpanId });
      const kids = (children.get(span.spanId) || []).slice().sort(byStart).reverse();
      for (const kid of kids) stack.push({ span: kid, depth: depth + 1 });
    }
  };
  walk(roots);
  // spans only reachable through a cycle of parents: each starts a tree of its own
  const left = spans.filter((s) => !seen.has(s));
  while (left.length) {
    walk([left.shift()]);
    for (let i = left.length - 1; i >= 0; i -= 1) if (seen.has(left[i])) left.splice(i, 1);
  }
  return rows;
}

/** The trace's first start and its length (µs, at least 1: a bar needs a width to scale to). */
export function span(spans) {
  if (!spans.length) return { start: 0, length: 1 };
  let start = Infinity;
  let end = -Infinity;
  for (const s of spans) {
    start = Math.min(start, s.startTime);
    end = Math.max(end, s.startTime + s.duration);
  }
  return { start, length: Math.max(1, end - start) };
}

/** A duration in µs as people read it: 850 µs, 12.3 ms, 4.07 s. */
export function micros(us) {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

/** Where the instance's trace is: one instance, one trace, whose id is the instance id's 32 hex
 * digits (a UUID's 128 bits), in the tracing UI the server names (`LANEWAY_TRACES_URL`); null
 * when none is set or the id is not a UUID. */
export function traceLink(tracesUrl, instanceId) {
  const hex = String(instanceId).replace(/-/g, "").toLowerCase();
  if (!tracesUrl || !/^[0-9a-f]{32}$/.test(hex)) return null;
  return `${tracesUrl.replace(/\/+$/, "")}/trace/${hex}`;
}

/** The instance whose trace a trace id is: its 32 hex digits as a UUID; null otherwise. */
export function instanceOfTrace(traceId) {
  const hex = String(traceId).toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// distinct at a glance (and not the error red); past ten services the hue comes from the name
const PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#393b79"];

/** A colour per service, in the order the services first appear. */
export function serviceColours(spans) {
  const colours = new Map();
  for (const s of spans) {
    if (colours.has(s.service)) continue;
    const i = colours.size;
    if (i < PALETTE.length) {
      colours.set(s.service, PALETTE[i]);
    } else {
      let hash = 0;
      for (const c of s.service) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
      colours.set(s.service, `hsl(${hash % 360} 55% 42%)`);
    }
  }
  return colours;
}
