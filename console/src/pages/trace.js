// An instance's trace (one instance, one trace: its id is the instance id's 32 hex digits),
// read through the audit service (GET /api/instances/{id}/trace, from the Jaeger query API
// the server names) and drawn as a waterfall: one row per span under its parent, its service
// in a colour of its own, its start and length on the trace's scale, errors marked; a click on
// a row shows its attributes, events and links. It stands in for a tracing UI where there is
// none (the local stack's Jaeger has no UI) and is for operators and auditors, as the route.
//
// Everything shown comes from spans the services wrote, so it goes in as text (lib/dom.js).
import { api, reason } from "../api.js";
import { hasRole, loadConfig } from "../auth.js";
import { h, replace, notice } from "../lib/dom.js";
import { instanceOfTrace, micros, serviceColours, span as extent, traceLink, treeRows } from "../lib/trace-tree.js";

export async function render(root, { instanceId }) {
  const enc = encodeURIComponent(instanceId);
  const stop = new AbortController();
  const back = h("a", { href: `/instances/${enc}`, "data-link": true }, "Back to the instance");
  if (!hasRole("operator", "auditor")) {
    replace(root, h("h1", {}, "Trace"),
      notice("error", "Traces are for operators and auditors."), h("p", {}, back));
    return null;
  }
  const jaeger = traceLink((await loadConfig()).tracesUrl, instanceId);
  const state = h("div", { "data-testid": "trace-state", "aria-live": "polite" });
  const body = h("div", {});
  const refresh = h("button", { type: "button", "data-testid": "trace-refresh", onclick: load }, "Refresh");
  replace(root,
    h("div", { class: "instance-head" }, h("h1", {}, "Trace"), back,
      jaeger ? h("a", { href: jaeger, target: "_blank", rel: "noopener noreferrer", "data-testid": "trace" }, "Open in Jaeger") : null),
    h("p", { class: "hint" }, "Instance ", h("code", {}, instanceId)),
    h("div", { class: "toolbar" }, refresh, state),
    body);

  async function load() {
    refresh.disabled = true;
    replace(state, h("span", { class: "hint" }, "Reading the trace…"));
    try {
      const trace = await api(`/api/instances/${enc}/trace`, { signal: stop.signal });
      replace(state);
      replace(body, ...draw(trace));
    } catch (e) {
      if (stop.signal.aborted) return;
      replace(body);
      if (e.status === 404) {
        replace(state, h("div", { class: "notice", role: "status", "data-testid": "trace-empty" },
          h("strong", {}, "No trace yet. "),
          "The services send their spans in batches, a few seconds after the work; an instance " +
          "whose services export no spans (no OTEL_EXPORTER_OTLP_ENDPOINT) has none. Refresh in a moment."));
      } else {
        const what = e.status === 503 || e.status === 502 ? "The tracing backend cannot give the trace" : "The trace could not be read";
        replace(state, h("div", { class: "notice error", role: "alert", "data-testid": "trace-error" },
          `${what}: ${reason(e)}`));
      }
    } finally {
      refresh.disabled = false;
    }
  }
  await load();
  return () => stop.abort();
}

function draw(trace) {
  const spans = Array.isArray(trace.spans) ? trace.spans : [];
  const colours = serviceColours(spans);
  const { start, length } = extent(spans);
  const rows = treeRows(spans);
  const errors = spans.filter((s) => s.error).length;

  const legend = h("ul", { class: "trace-legend", "aria-label": "Services" },
    [...colours].map(([service, colour]) => h("li", {},
      h("span", { class: "trace-swatch", style: `background:${colour}` }), service)));
  const summary = h("p", { class: "hint", "data-testid": "trace-summary" },
    `${trace.spanCount} span${trace.spanCount === 1 ? "" : "s"} · ${colours.size} service${colours.size === 1 ? "" : "s"} · `,
    micros(length), errors ? [" · ", h("strong", { class: "trace-bad" }, `${errors} with errors`)] : null,
    " · trace ", h("code", {}, trace.traceId));
  const cut = trace.truncated
    ? notice("warn", `Showing the first ${spans.length.toLocaleString()} of ${trace.spanCount.toLocaleString()} spans (by start): the view draws at most that many.`)
    : null;

  // the other traces its spans link to: a call activity's child instance or its parent, and
  // the API requests that led here (an HTTP request has a trace of its own, linked from the
  // instance's span it started): both open in this view by their trace id
  const linked = new Map();
  for (const s of spans) for (const l of s.links || []) if (l.traceId !== trace.traceId) linked.set(l.traceId, l);
  const links = linked.size ? h("p", { "data-testid": "trace-links" },
    "Linked traces (instances called or calling this one, and the API requests that led here): ",
    [...linked.keys()].map((id, i) => [i ? ", " : null, traceAnchor(id)])) : null;

  const tbody = h("tbody", {});
  for (const row of rows) {
    const s = row.span;
    const colour = colours.get(s.service);
    const left = ((s.startTime - start) / length) * 100;
    const width = Math.max((s.duration / length) * 100, 0.3);
    const details = h("tr", { class: "trace-details", hidden: true, "data-testid": "span-details" },
      h("td", { colspan: 3 }, spanDetails(s, trace.traceId)));
    const toggle = () => {
      const open = details.hidden;
      details.hidden = !open;
      tr.setAttribute("aria-expanded", String(open));
    };
    const tr = h("tr", {
      class: `trace-row${s.error ? " error" : ""}`, tabindex: 0, "aria-expanded": "false",
      "data-testid": "span-row", "data-depth": row.depth, "data-span": s.spanId,
      onclick: toggle,
      onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(); } },
    },
      h("td", { class: "trace-name", style: `padding-left:${0.4 + Math.min(row.depth, 30) * 1.1}rem` },
        h("span", { class: "trace-swatch", style: `background:${colour}` }),
        h("span", { class: "trace-service", "data-testid": "span-service" }, s.service), " ",
        h("span", { class: "trace-op", "data-testid": "span-operation" }, s.operation),
        s.error ? h("span", { class: "badge trace-error", "data-testid": "span-error" }, "error") : null,
        row.orphan ? h("span", { class: "hint", title: "Its parent span is not in the trace (yet)" }, " (parent missing)") : null),
      h("td", { class: "trace-offset" }, `+${micros(s.startTime - start)}`),
      h("td", { class: "trace-bar-cell" },
        h("div", { class: "trace-bar", style: `left:${left}%;width:${width}%;background:${colour}` }),
        h("span", { class: "trace-duration" }, micros(s.duration))));
    tbody.append(tr, details);
  }
  const table = h("table", { class: "trace-waterfall", "data-testid": "trace-waterfall" },
    h("thead", {}, h("tr", {}, h("th", {}, "Service · operation"), h("th", {}, "Start"),
      h("th", {}, `Duration (of ${micros(length)})`))),
    tbody);
  return [summary, cut, legend, links, table];
}

function traceAnchor(traceId) {
  const other = instanceOfTrace(traceId);
  return other
    ? h("a", { href: `/instances/${encodeURIComponent(other)}/trace`, "data-link": true, "data-testid": "trace-link" }, other)
    : h("code", {}, traceId);
}

function spanDetails(s, traceId) {
  const attrs = s.attributes || [];
  const events = s.events || [];
  const links = s.links || [];
  return h("div", { class: "trace-detail-box" },
    h("p", { class: "hint" }, "span ", h("code", {}, s.spanId),
      s.parentSpanId ? [" · parent ", h("code", {}, s.parentSpanId)] : " · root",
      ` · ${micros(s.duration)}`),
    h("h3", {}, "Attributes"),
    attrs.length ? pairs(attrs, "span-attributes") : h("p", { class: "hint" }, "none"),
    events.length ? [h("h3", {}, "Events"), h("ol", { class: "trace-events", "data-testid": "span-events" },
      events.map((e) => h("li", {}, h("strong", {}, e.name || "event"),
        ` at +${micros(Math.max(0, e.time - s.startTime))}`, e.attributes?.length ? pairs(e.attributes) : null)))] : null,
    links.length ? [h("h3", {}, "Links"), h("ul", { "data-testid": "span-links" },
      links.map((l) => h("li", {}, `${l.kind === "CHILD_OF" ? "child of" : "follows from"} span `, h("code", {}, l.spanId),
        l.traceId === traceId ? " in this trace" : [" of ", traceAnchor(l.traceId)])))] : null);
}

function pairs(list, testid) {
  return h("table", { class: "trace-attrs", "data-testid": testid },
    h("tbody", {}, list.map((a) => h("tr", {}, h("th", { scope: "row" }, a.key), h("td", {}, a.value)))));
}
