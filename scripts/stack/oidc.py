"""A small OAuth 2 token endpoint (client credentials grant) for the stack's OAUTHBEARER listener.

It plays the identity provider a managed Kafka trusts (Okta, Entra ID, Keycloak...): a client
posts `grant_type=client_credentials` with its id and secret (HTTP Basic, or in the form, as
librdkafka's OIDC client may do either) and gets a short-lived RS256 JWT signed with the key
whose public half the broker validates against (scripts/stack/kafka_secure.py). Only the
stack's test client is known; anything else is answered 401/400 as a real provider would.
Used by the tests; `python -m scripts.stack.oidc` runs one in the foreground.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from scripts.stack.kafka_secure import SecureInfo

__all__ = ["TokenEndpoint"]

_MAX_BODY = 8192
TOKEN_LIFETIME_S = 300


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenEndpoint:
    """`with TokenEndpoint(info) as endpoint:` serves `endpoint.url` on a free port."""

    def __init__(self, info: SecureInfo, port: int = 0) -> None:
        from cryptography.hazmat.primitives import serialization

        self.info = info
        self._key: Any = serialization.load_pem_private_key(
            Path(info.oauth_signing_key).read_bytes(), password=None)
        self.issued = 0
        """How many tokens were handed out (a test sees the client asked)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="oidc-token-endpoint")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def __enter__(self) -> TokenEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def token(self, subject: str, scope: str | None) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.info.key_id}
        claims: dict[str, Any] = {"iss": self.info.issuer, "aud": self.info.audience,
                                  "sub": subject, "iat": now, "nbf": now,
                                  "exp": now + TOKEN_LIFETIME_S}
        if scope:
            claims["scope"] = scope
        signing_input = (_b64(json.dumps(header).encode()) + "."
                         + _b64(json.dumps(claims).encode()))
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(signature)

    def _client(self, authorization: str, form: dict[str, list[str]]) -> str | None:
        """The client id when its credentials are the stack's, else None."""
        client_id = client_secret = ""
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return None
            user, _, secret = decoded.partition(":")
            client_id, client_secret = unquote(user), unquote(secret)
        else:
            client_id = form.get("client_id", [""])[0]
            client_secret = form.get("client_secret", [""])[0]
        known = (hmac.compare_digest(client_id.encode(), self.info.oauth_client_id.encode())
                 and hmac.compare_digest(client_secret.encode(),
                                         self.info.oauth_client_secret.encode()))
        return client_id if known else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read the outcome, not an access log

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer(405, {"error": "invalid_request"})

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != "/token":
                    self._answer(404, {"error": "not_found"})
                    return
                raw_length = self.headers.get("Content-Length", "0")
                if not raw_length.isdigit() or int(raw_length) > _MAX_BODY:
                    self._answer(413, {"error": "invalid_request"})
                    return
                try:
                    form = parse_qs(self.rfile.read(int(raw_length)).decode(),
                                    max_num_fields=20)
                except (UnicodeDecodeError, ValueError):
                    self._answer(400, {"error": "invalid_request"})
                    return
                if form.get("grant_type", [""])[0] != "client_credentials":
                    self._answer(400, {"error": "unsupported_grant_type"})
                    return
                client = endpoint._client(self.headers.get("Authorization", ""), form)
                if client is None:
                    self._answer(401, {"error": "invalid_client"})
                    return
                scope = form.get("scope", [""])[0] or None
                token = endpoint.token(client, scope)
                endpoint.issued += 1
                self._answer(200, {"access_token": token, "token_type": "Bearer",
                                   "expires_in": TOKEN_LIFETIME_S,
                                   **({"scope": scope} if scope else {})})

        return Handler


def main() -> int:
    from scripts.stack.config import Settings
    from scripts.stack.kafka_secure import secure_info

    info = secure_info(Settings.from_env())
    with TokenEndpoint(info, port=0) as endpoint:
        print(f"token endpoint {endpoint.url} (client id {info.oauth_client_id}); Ctrl-C stops",
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
