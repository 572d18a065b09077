"""Our stand-in for GitHub Actions' OIDC issuer: the one mocked boundary of the local Sigstore.

GitHub's issuer cannot be reached here, and only GitHub can mint its tokens, so this one mints
tokens with GitHub Actions' claim set (`github_claims`), each claim chosen by the caller. It
serves what Fulcio and a job's token request need, over TLS on loopback:

- `/.well-known/openid-configuration` and `/.well-known/jwks`: discovery and the signing key,
  which Fulcio fetches as https://token.actions.githubusercontent.com/... through the tunnel;
- `/token?audience=...` with `Authorization: bearer REQUEST-TOKEN`: what a job's
  ACTIONS_ID_TOKEN_REQUEST_URL answers, `{"value": JWT}`, so sigstore-python's ambient detection
  (`id.detect_credential`, as in release.yml) runs unchanged. Each request token stands for one
  claim set registered with `register`.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dask_kubernetes_release.core import clock
from dask_kubernetes_release.localsigstore.pki import LOOPBACK

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITHUB_HOST = "token.actions.githubusercontent.com"
KEY_ID = "local-sigstore-issuer"
TOKEN_SECONDS = 300


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def sign_jwt(key: rsa.RSAPrivateKey, claims: Mapping[str, Any]) -> str:
    """An RS256 JWT of `claims`, with our key ID."""
    header = {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
    signing_input = ".".join(
        _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def jwks(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KEY_ID}
    return {"keys": [{**jwk, "n": _uint(numbers.n), "e": _uint(numbers.e)}]}


def github_claims(
    *,
    repository: str = "dask/dask-kubernetes",
    repository_id: str = "123456789",
    owner_id: str = "987654",
    workflow: str = ".github/workflows/release.yml",
    ref: str = "refs/tags/v2026.12.0",
    sha: str = "0123456789abcdef0123456789abcdef01234567",
    event_name: str = "push",
    environment: str | None = "pypi",
    runner_environment: str = "github-hosted",
    **overrides: Any,
) -> dict[str, Any]:
    """GitHub Actions' claim set for a job of `workflow` in `repository` at `ref`, as GitHub
    documents it; `overrides` replaces (or, with None, removes) any claim."""
    owner = repository.split("/", 1)[0]
    workflow_ref = f"{repository}/{workflow}@{ref}"
    claims: dict[str, Any] = {
        "aud": "sigstore",
        "sub": f"repo:{repository}:"
        + (f"environment:{environment}" if environment else f"ref:{ref}"),
        "ref": ref,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "ref_protected": "true",
        "sha": sha,
        "repository": repository,
        "repository_id": repository_id,
        "repository_owner": owner,
        "repository_owner_id": owner_id,
        "repository_visibility": "public",
        "actor": owner,
        "actor_id": owner_id,
        "workflow": "release",
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": sha,
        "event_name": event_name,
        "run_id": "4242",
        "run_number": "7",
        "run_attempt": "1",
        "runner_environment": runner_environment,
    }
    if environment:
        claims["environment"] = environment
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


class _Handler(BaseHTTPRequestHandler):
    server: Issuer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        issuer = self.server.issuer
        if url.path == "/.well-known/openid-configuration":
            self._send(200, {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/.well-known/jwks",
                "subject_types_supported": ["public", "pairwise"],
                "response_types_supported": ["id_token"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid"],
            })  # fmt: skip
        elif url.path == "/.well-known/jwks":
            self._send(200, jwks(self.server.key))
        elif url.path == "/token":
            bearer = self.headers.get("Authorization", "").partition(" ")[2]
            audience = parse_qs(url.query).get("audience", ["sigstore"])[0]
            token = self.server.mint(bearer, audience)
            if token is None:
                self._send(401, {"message": "unknown request token"})
            else:
                self._send(200, {"count": 1, "value": token})
        else:
            self._send(404, {"message": "not found"})


class Issuer(ThreadingHTTPServer):
    """The issuer on https://127.0.0.1:`port`, naming itself `issuer` in every token."""

    daemon_threads = True

    def __init__(
        self, key: rsa.RSAPrivateKey, cert: Path, cert_key: Path, issuer: str = GITHUB_ISSUER
    ) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, cert_key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.key, self.issuer = key, issuer
        self._claims: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def token_url(self) -> str:
        """What ACTIONS_ID_TOKEN_REQUEST_URL is in a job."""
        return f"https://{LOOPBACK}:{self.port}/token"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=30)

    def register(self, claims: Mapping[str, Any]) -> str:
        """A request token (ACTIONS_ID_TOKEN_REQUEST_TOKEN) whose tokens carry `claims`."""
        request_token = secrets.token_urlsafe(24)
        with self._lock:
            self._claims[request_token] = dict(claims)
        return request_token

    def mint(self, request_token: str, audience: str = "sigstore") -> str | None:
        """A fresh signed token for a registered request token, None for an unknown one."""
        with self._lock:
            claims = self._claims.get(request_token)
        if claims is None:
            return None
        now = int(clock.utcnow().timestamp())
        times = {"iat": now, "nbf": now - 5, "exp": now + TOKEN_SECONDS}
        body = {"jti": secrets.token_hex(16), "aud": audience, **claims, **times}
        return sign_jwt(self.key, {"iss": self.issuer, **body})
