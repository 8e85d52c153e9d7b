"""A small OpenID Connect provider for the console's sign-in tests: it speaks the protocol a
real issuer (Keycloak, Entra ID, Auth0) speaks to a browser application, on a local port.

- `/.well-known/openid-configuration`: discovery;
- `/authorize`: the authorization endpoint; it shows a login page (a user picker), then
  redirects back with a one-time code bound to the PKCE challenge (S256 only);
- `/token`: `authorization_code` (checks the client, redirect URI and code verifier) and
  `refresh_token` grants; access tokens are ES256 JWTs for audience `laneway`;
- `/jwks`: the public keys the services verify with (LANEWAY_JWT_JWKS_URL).

Cross-origin calls from the console (discovery, token) get CORS headers for the allowed
origin, as an issuer configured with the console's web origin answers them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

USERS: dict[str, dict[str, Any]] = {
    "olivia": {"roles": ["operator"], "personas": ["Case Worker"], "groups": []},
    "mo": {"roles": ["modeler"], "personas": [], "groups": []},
}


@dataclass
class Provider:
    """The provider's state: its key, the codes and refresh tokens it handed out."""

    client_id: str = "laneway-console"
    audience: str = "laneway"
    access_ttl_s: int = 300
    key: ECKey = field(default_factory=lambda: ECKey.generate_key(
        "P-256", parameters={"alg": "ES256", "use": "sig"}, auto_kid=True))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh: dict[str, str] = field(default_factory=dict)
    grants: list[str] = field(default_factory=list)
    """Each token request's grant type, in order (what the tests check)."""
    allowed_origin: str = "*"
    issuer: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def access_token(self, user: str) -> str:
        now = int(time.time())
        info = USERS[user]
        claims = {"iss": self.issuer, "aud": self.audience, "sub": user, "iat": now,
                  "exp": now + self.access_ttl_s, "kind": "human", "roles": info["roles"],
                  "personas": info["personas"], "groups": info["groups"],
                  "azp": self.client_id, "scope": "openid profile"}
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, self.key)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    @property
    def p(self) -> Provider:
        return self.server.provider

    def _send(self, status: int, body: str | bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Access-Control-Allow-Origin", self.p.allowed_origin)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self) -> None:
        self._send(204, b"", headers={"Access-Control-Allow-Methods": "GET, POST",
                                      "Access-Control-Allow-Headers": "Content-Type, Accept"})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            base = self.p.issuer
            self._send(200, json.dumps({
                "issuer": base, "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"], "grant_types_supported": [
                    "authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["ES256"]}))
        elif url.path == "/jwks":
            self._send(200, json.dumps(KeySet([self.p.key]).as_dict(private=False)))
        elif url.path == "/authorize":
            self._authorize_page(query)
        else:
            self._send(404, json.dumps({"error": "not_found"}))

    def _authorize_page(self, q: dict[str, str]) -> None:
        problem = None
        if q.get("client_id") != self.p.client_id:
            problem = "unknown client"
        elif q.get("response_type") != "code":
            problem = "response_type must be code"
        elif q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            problem = "PKCE with S256 is required"
        if problem:
            self._send(400, f"<h1>Sign-in refused</h1><p>{html.escape(problem)}</p>", "text/html")
            return
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in q.items())
        options = "".join(f'<option value="{u}">{u}</option>' for u in USERS)
        self._send(200, "<!doctype html><title>Test issuer</title><h1>Test issuer: sign in</h1>"
                        f'<form method="post" action="/authorize">{hidden}'
                        f'<label for="user">User</label><select id="user" name="user">{options}'
                        '</select><button type="submit">Sign in</button></form>', "text/html")

    def _form(self) -> dict[str, str]:
        length = min(int(self.headers.get("Content-Length") or 0), 65536)
        raw = self.rfile.read(length).decode()
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        form = self._form()
        if url.path == "/authorize":
            code = secrets.token_urlsafe(24)
            with self.p.lock:
                self.p.codes[code] = {**form, "issued": time.time()}
            target = form["redirect_uri"] + "?" + urlencode({"code": code,
                                                            "state": form.get("state", "")})
            self._send(302, b"", "text/plain", {"Location": target})
        elif url.path == "/token":
            self._token(form)
        else:
            self._send(404, json.dumps({"error": "not_found"}))

    def _token(self, form: dict[str, str]) -> None:
        grant = form.get("grant_type", "")
        with self.p.lock:
            self.p.grants.append(grant)
            if form.get("client_id") != self.p.client_id:
                return self._error("invalid_client")
            if grant == "authorization_code":
                saved = self.p.codes.pop(form.get("code", ""), None)  # one use
                if saved is None or time.time() - saved["issued"] > 60:
                    return self._error("invalid_grant", "unknown or used code")
                if form.get("redirect_uri") != saved["redirect_uri"]:
                    return self._error("invalid_grant", "redirect_uri differs")
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if challenge != saved["code_challenge"]:
                    return self._error("invalid_grant", "PKCE verification failed")
                user = saved["user"]
            elif grant == "refresh_token":
                found = self.p.refresh.pop(form.get("refresh_token", ""), None)
                if found is None:
                    return self._error("invalid_grant", "unknown refresh token")
                user = found
            else:
                return self._error("unsupported_grant_type")
            refresh = secrets.token_urlsafe(24)
            self.p.refresh[refresh] = user
        self._send(200, json.dumps({"access_token": self.p.access_token(user),
                                    "token_type": "Bearer", "expires_in": self.p.access_ttl_s,
                                    "refresh_token": refresh, "scope": "openid profile"}))
        return None

    def _error(self, error: str, description: str = "") -> None:
        self._send(400, json.dumps({"error": error, "error_description": description}))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    provider: Provider


def serve(provider: Provider) -> tuple[_Server, threading.Thread]:
    """Start the provider on a free port; its issuer URL is set from the port."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.provider = provider
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
