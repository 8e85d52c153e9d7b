// The API client: every call carries the signed-in person's token and every error is the
// server's RFC 9457 problem, kept whole so pages show the server's reason, not a guess.
import { currentToken } from "./auth.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

/**
 * api("/api/tasks", {method: "POST", json: {...}}) → the parsed JSON answer (or text).
 * `anonymous: true` sends no token (the public form).
 */
export async function api(path, { method = "GET", json, body, headers = {}, anonymous = false,
                                  signal, raw = false } = {}) {
  const h = { Accept: "application/json, application/problem+json", ...headers };
  const token = anonymous ? null : currentToken();
  if (token) h.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const res = await fetch(path, { method, headers: h, body, signal, credentials: "omit" });
  if (raw) return res;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    throw new ApiError(res.status, typeof data === "object" && data ? data
      : { title: res.statusText, detail: typeof data === "string" && data ? data.slice(0, 300) : undefined });
  }
  return data;
}

/** The reason to show for a failed call. */
export function reason(err) {
  if (err instanceof ApiError) {
    const p = err.problem;
    const kind = p.rejectionType ? ` (${p.rejectionType})` : "";
    return `${p.detail || p.title || err.message}${kind}`;
  }
  return String(err?.message || err);
}
