// Sign-in. Production: OpenID Connect, authorization code with PKCE (S256) against the issuer
// the server names in /api/console/config; the tokens live in this module's memory only (not
// localStorage, where any script injected into the origin could read them) and the access
// token is refreshed a minute before it expires. Development (`LANEWAY_DEV_SIGNIN=1`, which
// `make up` sets): a picker of development users whose tokens the server signs with the
// development key. What survives a reload is only what the redirect needs (the PKCE verifier
// and state, one use) and, in development, which user was picked.

let session = null; // {token, principal, expiresAt, refreshToken, mode}
let config = null;
let refreshTimer = null;
const listeners = new Set();

const DEV_USER = "laneway.devUser";
const PKCE = "laneway.pkce";

export function currentToken() {
  return session?.token || null;
}

export function currentPrincipal() {
  return session?.principal || null;
}

export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setSession(next) {
  session = next;
  clearTimeout(refreshTimer);
  if (session?.refreshToken && session.expiresAt) {
    const wait = Math.max(5_000, session.expiresAt - Date.now() - 60_000);
    refreshTimer = setTimeout(() => refresh().catch(() => setSession(null)), wait);
  }
  for (const fn of listeners) fn(session);
}

/** What the server says about signing in: {devSignIn, oidc: {issuer, clientId, scopes}|null}. */
export async function loadConfig() {
  if (config) return config;
  try {
    const res = await fetch("/api/console/config", { headers: { Accept: "application/json" } });
    config = res.ok ? await res.json() : { devSignIn: false, oidc: null };
  } catch {
    config = { devSignIn: false, oidc: null };
  }
  return config;
}

/** The claims a token carries, for display (the server verifies; this only reads). */
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part), (c) =>
      "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    const c = JSON.parse(json);
    return { id: c.sub, kind: c.kind || "human", roles: c.roles || [], personas: c.personas || [],
             groups: c.groups || [], exp: c.exp };
  } catch {
    return { id: "?", kind: "human", roles: [], personas: [], groups: [] };
  }
}

// --- development users ---------------------------------------------------------------------

export async function devUsers() {
  const res = await fetch("/api/dev/users", { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(`Development sign-in is off (HTTP ${res.status})`);
  return res.json();
}

export async function devSignIn(user) {
  const res = await fetch("/api/dev/token", {
    method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || `Sign-in refused (HTTP ${res.status})`);
  sessionStorage.setItem(DEV_USER, user);
  setSession({ token: body.token, principal: claims(body.token), mode: "dev",
               expiresAt: body.expiresAt ? Date.parse(body.expiresAt) : null });
  return session;
}

// --- OpenID Connect ------------------------------------------------------------------------

function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(n = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function discovery(issuer) {
  const url = issuer.replace(/\/$/, "") + "/.well-known/openid-configuration";
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(`The issuer ${issuer} did not answer its discovery document (HTTP ${res.status})`);
  const doc = await res.json();
  if (!doc.authorization_endpoint || !doc.token_endpoint) {
    throw new Error(`The issuer ${issuer} names no authorization or token endpoint`);
  }
  return doc;
}

function redirectUri() {
  return `${location.origin}/sign-in/callback`;
}

/** Send the browser to the issuer; it comes back to /sign-in/callback. */
export async function oidcSignIn(returnTo = "/") {
  const { oidc } = await loadConfig();
  if (!oidc) throw new Error("No OpenID Connect issuer is configured");
  const doc = await discovery(oidc.issuer);
  const verifier = randomString(48);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = randomString(16);
  const nonce = randomString(16);
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, nonce, returnTo }));
  const url = new URL(doc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: oidc.clientId, redirect_uri: redirectUri(),
    scope: (oidc.scopes || ["openid"]).join(" "), state, nonce,
    code_challenge: b64url(digest), code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

async function tokenRequest(params) {
  const { oidc } = await loadConfig();
  const doc = await discovery(oidc.issuer);
  const res = await fetch(doc.token_endpoint, {
    method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ client_id: oidc.clientId, ...params }).toString(),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.access_token) {
    throw new Error(body.error_description || body.error || `The issuer refused the token request (HTTP ${res.status})`);
  }
  setSession({ token: body.access_token, principal: claims(body.access_token), mode: "oidc",
               refreshToken: body.refresh_token || session?.refreshToken || null,
               expiresAt: body.expires_in ? Date.now() + body.expires_in * 1000 : null });
  return session;
}

/** Finish the redirect: check the state, trade the code and verifier for tokens. */
export async function oidcCallback(search) {
  const params = new URLSearchParams(search);
  const saved = JSON.parse(sessionStorage.getItem(PKCE) || "null");
  sessionStorage.removeItem(PKCE); // one use
  if (params.get("error")) throw new Error(params.get("error_description") || params.get("error"));
  if (!saved || params.get("state") !== saved.state) {
    throw new Error("The sign-in answer does not match a sign-in this page started (state); sign in again");
  }
  await tokenRequest({ grant_type: "authorization_code", code: params.get("code") || "",
                       redirect_uri: redirectUri(), code_verifier: saved.verifier });
  return saved.returnTo || "/";
}

async function refresh() {
  if (!session?.refreshToken) return;
  await tokenRequest({ grant_type: "refresh_token", refresh_token: session.refreshToken });
}

/** After a reload: sign the development user in again (development only). */
export async function resume() {
  const cfg = await loadConfig();
  const user = sessionStorage.getItem(DEV_USER);
  if (cfg.devSignIn && user) {
    try { await devSignIn(user); } catch { sessionStorage.removeItem(DEV_USER); }
  }
  return session;
}

export function signOut() {
  sessionStorage.removeItem(DEV_USER);
  setSession(null);
}

export function hasRole(...roles) {
  const p = currentPrincipal();
  if (!p) return false;
  return p.roles.includes("admin") || roles.some((r) => p.roles.includes(r));
}
