// What the engine answered a command an operation sent. The operation's route answers 202 with
// the command's id; the engine applies the command or refuses it (a REJECTION with a reason)
// a moment later, and the audit log has either: GET /api/instances/{id}/commands/{commandId}
// reads it (PENDING until then). So the page polls it with a deadline and shows the answer
// beside the control that sent the command.
import { api, reason } from "../api.js";
import { h, replace } from "./dom.js";

const FIRST_POLL_MS = 250;
const MAX_POLL_MS = 2000;
export const ANSWER_DEADLINE_MS = 30_000;

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

/**
 * The engine's answer to `commandId`: {state: "DONE" | "REFUSED" | "PENDING", intent,
 * rejectionType, reason}; PENDING when none came within `deadlineMs` (or the page was left).
 */
export async function commandOutcome(instanceId, commandId, { signal, deadlineMs = ANSWER_DEADLINE_MS } = {}) {
  const path = `/api/instances/${encodeURIComponent(instanceId)}/commands/${encodeURIComponent(commandId)}`;
  const deadline = Date.now() + deadlineMs;
  let pause = FIRST_POLL_MS;
  let last = { state: "PENDING" };
  while (!signal?.aborted) {
    try {
      last = await api(path, { signal });
      if (last.state !== "PENDING") return last;
    } catch (e) {
      if (signal?.aborted) break;
      // no role to read the log: waiting longer does not help
      if (e.status === 401 || e.status === 403) return { state: "PENDING", error: reason(e) };
    }
    if (Date.now() + pause > deadline) break;
    await sleep(pause, signal);
    pause = Math.min(pause * 2, MAX_POLL_MS);
  }
  return last;
}

/** A status line beside a control: "waiting for the engine…", then done or the refusal. */
export function outcomeLine(testid = "op-outcome") {
  return h("span", { class: "op-outcome", role: "status", "aria-live": "polite", "data-testid": testid });
}

/**
 * Send with `send()` (a promise of the 202's answer holding `commandId`), then show in `line`
 * what the engine answered; `done` is the text for an applied command. Resolves to the outcome.
 */
export async function followOperation(line, instanceId, send, { done = "done", signal } = {}) {
  line.dataset.state = "sending";
  replace(line, "sending…");
  let sent;
  try {
    sent = await send();
  } catch (e) {
    line.dataset.state = "REFUSED";
    replace(line, h("strong", {}, "Refused: "), reason(e));
    return { state: "REFUSED", reason: reason(e) };
  }
  if (!sent?.commandId) {
    line.dataset.state = "sent";
    replace(line, "sent");
    return { state: "PENDING" };
  }
  line.dataset.state = "PENDING";
  replace(line, "sent, waiting for the engine…");
  const outcome = await commandOutcome(instanceId, sent.commandId, { signal });
  if (signal?.aborted) return outcome;
  line.dataset.state = outcome.state;
  if (outcome.state === "DONE") replace(line, done);
  else if (outcome.state === "REFUSED") {
    replace(line, h("strong", {}, "Refused by the engine: "), outcome.reason || "no reason given",
      outcome.rejectionType ? ` (${outcome.rejectionType})` : "");
  } else {
    replace(line, outcome.error
      ? `sent; its answer cannot be read: ${outcome.error}`
      : `sent; no answer from the engine within ${Math.round(ANSWER_DEADLINE_MS / 1000)} s (the audit timeline will have it)`);
  }
  return outcome;
}
