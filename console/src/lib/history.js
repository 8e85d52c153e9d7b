// An instance's audit log read page by page (GET /api/instances/{id}/history, auditors and
// operators): bounded, so a log of millions of records cannot hold the page forever.
import { api } from "../api.js";

export const PAGE = 1000;

/** Up to `maxPages` pages after seq `after`: {events, nextAfter} (nextAfter null at the end). */
export async function readHistory(instanceId, { after = 0, maxPages = 20, limit = PAGE, signal } = {}) {
  const events = [];
  let next = after;
  for (let i = 0; i < maxPages && next !== null; i++) {
    const page = await api(`/api/instances/${encodeURIComponent(instanceId)}/history?limit=${limit}&after=${next}`, { signal });
    events.push(...page.events);
    next = page.nextAfter;
  }
  return { events, nextAfter: next };
}

/** What the log says of the instance's relatives: the parent that called it (its first
 * record) and the element keys of its call activities, in order. */
export function relatives(events) {
  let parent = null;
  const calls = [];
  for (const e of events) {
    if (e.kind !== "EVENT" || e.intent !== "ELEMENT_ACTIVATED") continue;
    if (e.elementType === "process" && e.value?.parent?.instanceId) parent = e.value.parent.instanceId;
    if (e.elementType === "callActivity" && Number.isInteger(e.value?.key)) {
      calls.push({ key: e.value.key, elementId: e.elementId, seq: e.seq });
    }
  }
  return { parent, calls };
}
