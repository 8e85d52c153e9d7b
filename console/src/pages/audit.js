// An instance's audit timeline (auditors and operators): every record of its hash-chained log
// in order with who caused it, "Verify" (the chain and its signed head, docs/audit.md), and a
// slider over the sequence numbers that replays the instance's state at that record on the
// diagram (GET .../replay?upTo=N: the engine's own appliers over the log).
import { api, reason } from "../api.js";
import { hasRole } from "../auth.js";
import { Diagram } from "../lib/diagram.js";
import { h, replace, time, notice } from "../lib/dom.js";
import { readHistory } from "../lib/history.js";
import { laneStrips } from "../lib/lane-strips.js";
import { fromReplay, isEnded, pathFromHistory } from "../lib/tokens.js";

const PAGES = 5; // records read at once: 5 pages of 1000, then "Load more"
const REPLAY_DEBOUNCE_MS = 150;

export async function render(root, { instanceId }) {
  const enc = encodeURIComponent(instanceId);
  const stop = new AbortController();
  const signal = stop.signal;
  if (!hasRole("auditor", "operator")) {
    replace(root, h("h1", {}, "Audit timeline"),
      notice("error", "The audit timeline is for auditors and operators."),
      h("p", {}, h("a", { href: `/instances/${enc}`, "data-link": true }, "Back to the instance")));
    return null;
  }

  let history;
  try {
    history = await readHistory(instanceId, { maxPages: PAGES, signal });
  } catch (e) {
    replace(root, h("h1", {}, "Audit timeline"), notice("error", reason(e)));
    return () => stop.abort();
  }
  const events = history.events;
  let nextAfter = history.nextAfter;

  // what the log belongs to: the process and version of its first record (a definition
  // version's log, `definition:<process>:<version>`, has no diagram to replay on)
  const start = events.find((e) => e.intent === "ELEMENT_ACTIVATED" && e.elementType === "process");
  const processId = start?.value?.processId;
  const version = start?.value?.version;

  const verifyOut = h("div", { "data-testid": "verify-result", "aria-live": "polite" });
  const verifyButton = h("button", { type: "button", class: "primary", onclick: verify }, "Verify");
  const slider = h("input", { type: "range", id: "replay-seq", min: 1, max: 1, value: 1, step: 1,
                              "aria-describedby": "replay-at", "data-testid": "replay" });
  const at = h("output", { id: "replay-at", for: "replay-seq", "data-testid": "replay-at" });
  const strips = h("div", { class: "lane-strips-box" });
  const canvas = h("div", { class: "lw-diagram", "data-testid": "diagram" });
  const body = h("tbody", {});
  const more = h("p", {});
  const messages = h("div", { class: "messages" });
  replace(root,
    h("div", { class: "instance-head" }, h("h1", {}, "Audit timeline"),
      instanceId.startsWith("definition:") ? null
        : h("a", { href: `/instances/${enc}`, "data-link": true }, "Live instance")),
    h("p", { class: "hint" }, h("code", {}, instanceId), processId ? ` · ${processId} v${version}` : null),
    messages,
    h("div", { class: "toolbar" }, verifyButton, verifyOut),
    processId ? [
      h("h2", {}, "Replay"),
      h("div", { class: "audit-replay" }, h("label", { for: "replay-seq" }, "State at record"), slider, at),
      strips, canvas] : null,
    h("h2", {}, "Records"),
    h("table", { class: "list audit-log", "data-testid": "audit-log" },
      h("thead", {}, h("tr", {}, ["Seq", "Time", "Principal", "Kind", "Intent", "Element"].map((t) => h("th", { scope: "col" }, t)))),
      body),
    more);

  let diagram = null;
  let lanes = [];
  if (processId) {
    diagram = new Diagram(canvas);
    try {
      await diagram.load(await api(`/api/definitions/${encodeURIComponent(processId)}/versions/${version}/xml`, { signal }), processId);
      lanes = diagram.lanes();
    } catch (e) {
      messages.append(notice("error", `The diagram could not be shown: ${reason(e)}`));
    }
  }
  const element = (id) => (id ? (diagram && diagram.name(id) !== id ? `${diagram.name(id)} (${id})` : id) : "");

  function rows(list) {
    return list.map((e) => h("tr", { class: e.kind, "data-seq": e.seq },
      h("td", { class: "seq" }, String(e.seq)),
      h("td", {}, time(e.time)),
      h("td", { class: "principal" }, h("span", { class: "principal-id" }, e.principal?.id || ""),
        " ", h("span", { class: "hint" }, `(${e.principal?.kind || "?"})`)),
      h("td", {}, e.kind),
      h("td", { class: "intent" }, e.intent),
      h("td", {}, element(e.elementId))));
  }

  function showMore() {
    replace(more, nextAfter === null ? null : h("button", { type: "button", onclick: async (ev) => {
      ev.currentTarget.disabled = true;
      try {
        const page = await readHistory(instanceId, { after: nextAfter, maxPages: PAGES, signal });
        events.push(...page.events);
        nextAfter = page.nextAfter;
        body.append(...rows(page.events));
        setRange();
        showMore();
      } catch (e) {
        messages.append(notice("error", reason(e)));
        showMore();
      }
    } }, "Load more"));
  }

  function setRange() {
    const last = events.length ? events[events.length - 1].seq : 1;
    const wasLast = Number(slider.value) === Number(slider.max);
    slider.max = String(last);
    if (wasLast) slider.value = String(last);
  }

  body.append(...rows(events));
  setRange();
  showMore();

  async function verify() {
    verifyButton.disabled = true;
    replace(verifyOut, h("span", { class: "loading" }, "Checking the chain…"));
    try {
      const r = await api(`/api/instances/${enc}/verify`, { signal });
      for (const tr of body.querySelectorAll("tr.bad")) tr.classList.remove("bad");
      if (r.ok) {
        replace(verifyOut, h("span", { class: "badge ok", "data-state": "ok" }, "chain intact"),
          h("span", { class: "hint" }, ` ${r.rows} records, each linked to the one before, ending at the signed head`));
      } else {
        replace(verifyOut, h("span", { class: "badge bad", "data-state": "bad" }, "chain broken"),
          " ", r.firstBadSeq != null ? `first bad record: seq ${r.firstBadSeq}` : "", r.check ? ` (${r.check})` : "",
          r.reason ? h("span", { class: "hint" }, ` — ${r.reason}`) : null);
        body.querySelector(`tr[data-seq="${Number(r.firstBadSeq)}"]`)?.classList.add("bad");
      }
    } catch (e) {
      replace(verifyOut, notice("error", reason(e)));
    } finally {
      verifyButton.disabled = false;
    }
  }

  // the replay: the newest request wins (a slider dragged fast sends many)
  let asked = 0;
  let timer = null;
  async function replay(upTo) {
    const mine = ++asked;
    const record = events.find((e) => e.seq === upTo);
    replace(at, `seq ${upTo} of ${slider.max}`, record ? ` — ${record.intent} ${element(record.elementId)}` : "");
    for (const tr of body.querySelectorAll("tr")) {
      const seq = Number(tr.dataset.seq);
      tr.classList.toggle("replayed-to", seq === upTo);
      tr.classList.toggle("after", seq > upTo);
    }
    try {
      const r = await api(`/api/instances/${enc}/replay?upTo=${upTo}`, { signal });
      if (mine !== asked || !diagram) return;
      const state = fromReplay(instanceId, r.state);
      diagram.show({ tokens: state.tokens, path: pathFromHistory(events, upTo), incidents: state.incidents });
      replace(strips, laneStrips(diagram, lanes, state.tokens, { ended: isEnded(state.status) }));
      canvas.dataset.replayedTo = String(r.upTo);
      if (!r.verified) messages.replaceChildren(notice("warn", `The records up to seq ${r.upTo} do not pass the chain check: verify.`));
    } catch (e) {
      if (mine === asked && !signal.aborted) replace(strips, notice("error", `Replay at seq ${upTo}: ${reason(e)}`));
    }
  }
  slider.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => replay(Number(slider.value)), REPLAY_DEBOUNCE_MS);
  });
  if (processId && events.length) await replay(Number(slider.value));

  return () => {
    stop.abort();
    clearTimeout(timer);
    diagram?.destroy();
  };
}
