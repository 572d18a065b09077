"""Start and stop the local Sigstore: `LocalSigstore`, a context manager.

Order matters: the OIDC issuer and its tunnel first (Fulcio looks the issuer up when it starts),
the CT log before Fulcio, then Fulcio, Rekor v2 and the timestamp authority, each awaited on its
own health endpoint with a deadline. Every server listens on 127.0.0.1 only; each gets a fresh
storage directory under the instance's directory, so nothing outlives the instance but what the
caller copies out (e.g. trusted_root.json). Processes are ended by their PIDs, and a server that
dies while starting fails the start with the last lines of its log.

`job_env` is the environment of a GitHub Actions job with `id-token: write` whose token carries
the given claims: with it, `release attest --sigstore --trust-config DIR/trust_config.json`
takes the same path as in release.yml.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from cryptography import x509

from dask_kubernetes_release.core import clock
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.localsigstore.build import Built
from dask_kubernetes_release.localsigstore.forward import TLSFront, Tunnel
from dask_kubernetes_release.localsigstore.issuer import GITHUB_HOST, GITHUB_ISSUER, Issuer
from dask_kubernetes_release.localsigstore.pki import LOOPBACK, Keys
from dask_kubernetes_release.localsigstore.trust import (
    Endpoints,
    client_trust_config,
    signing_config,
    trusted_root,
)

_Server = TypeVar("_Server", Issuer, TLSFront, Tunnel)
REKOR_ORIGIN = "rekor.local-sigstore.invalid"
CT_ORIGIN = "ct.local-sigstore.invalid"
START_SECONDS = 120.0
TSA_METRICS_PORT = 2112

RUN_INVOCATION = (
    "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}"
)
# Fulcio's GitHub Actions issuer, as Sigstore's public Fulcio configures it
# (config/identity/config.yaml of Fulcio v1.8.8): the claim -> certificate extension mapping.
FULCIO_CONFIG = f"""\
oidc-issuers:
  {GITHUB_ISSUER}:
    issuer-url: {GITHUB_ISSUER}
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
ci-issuer-metadata:
  github-workflow:
    default-template-values:
      url: "https://github.com"
      environment: ""
    extension-templates:
      github-workflow-trigger: "event_name"
      github-workflow-sha: "sha"
      github-workflow-name: "workflow"
      github-workflow-repository: "repository"
      github-workflow-ref: "ref"
      build-signer-uri: "{{{{ .url }}}}/{{{{ .job_workflow_ref }}}}"
      build-signer-digest: "job_workflow_sha"
      runner-environment: "runner_environment"
      source-repository-uri: "{{{{ .url }}}}/{{{{ .repository }}}}"
      source-repository-digest: "sha"
      source-repository-ref: "ref"
      source-repository-identifier: "repository_id"
      source-repository-owner-uri: "{{{{ .url }}}}/{{{{ .repository_owner }}}}"
      source-repository-owner-identifier: "repository_owner_id"
      build-config-uri: "{{{{ .url }}}}/{{{{ .workflow_ref }}}}"
      build-config-digest: "workflow_sha"
      build-trigger: "event_name"
      run-invocation-uri: "{RUN_INVOCATION}"
      source-repository-visibility-at-signing: "repository_visibility"
      deployment-environment: "environment"
    subject-alternative-name-template: "{{{{ .url }}}}/{{{{ .job_workflow_ref }}}}"
"""


class StartError(Exception):
    """A server of the instance did not come up."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class LocalSigstore:
    """Fulcio, Rekor v2, the CT log, the TSA and our OIDC issuer on loopback, for one `with`."""

    def __init__(
        self,
        built: Built,
        directory: Path | None = None,
        *,
        share_timestamps_with: LocalSigstore | None = None,
    ) -> None:
        """`share_timestamps_with`: a running instance whose timestamp authority this one uses
        (the TSA's metrics port is fixed, so a second one cannot start beside it)."""
        self.built = built
        self._shared_tsa = share_timestamps_with
        self.tsa_url = ""
        self.tsa_chain: list[x509.Certificate] = []
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="local-sigstore-"))
        self._processes: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []
        self._servers: list[Issuer | TLSFront | Tunnel] = []
        self.issuer: Issuer | None = None

    # -- what callers use ----------------------------------------------------------------------
    @property
    def trusted_root_path(self) -> Path:
        return self.directory / "trusted_root.json"

    @property
    def trust_config_path(self) -> Path:
        return self.directory / "trust_config.json"

    @property
    def tls_ca_path(self) -> Path:
        return self.directory / "keys" / "tls-ca.pem"

    def job_env(self, claims: Mapping[str, Any]) -> dict[str, str]:
        """A GitHub Actions job's variables for a token with `claims` (and TLS trust for the
        loopback endpoints); merge into os.environ for a subprocess."""
        assert self.issuer is not None, "the instance is not started"
        repository = str(claims.get("repository", ""))
        env = {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.issuer.token_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.issuer.register(claims),
            "REQUESTS_CA_BUNDLE": str(self.tls_ca_path),
            "SSL_CERT_FILE": str(self.tls_ca_path),
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": repository,
            "GITHUB_REPOSITORY_ID": str(claims.get("repository_id", "")),
            "GITHUB_REPOSITORY_OWNER_ID": str(claims.get("repository_owner_id", "")),
            "GITHUB_REF": str(claims.get("ref", "")),
            "GITHUB_SHA": str(claims.get("sha", "")),
            "GITHUB_WORKFLOW_REF": str(claims.get("workflow_ref", "")),
            "GITHUB_EVENT_NAME": str(claims.get("event_name", "")),
            "GITHUB_RUN_ID": str(claims.get("run_id", "")),
            "GITHUB_RUN_ATTEMPT": str(claims.get("run_attempt", "1")),
            "RUNNER_ENVIRONMENT": str(claims.get("runner_environment", "")),
        }
        return {name: value for name, value in env.items() if value}

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> LocalSigstore:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        keys = Keys.create(self.directory / "keys")
        if self._shared_tsa is not None:  # its TLS front chains to the other instance's root
            both = keys.tls_ca_path.read_bytes() + self._shared_tsa.tls_ca_path.read_bytes()
            write_atomically(keys.tls_ca_path, both)
        issuer_cert, issuer_key = keys.server_files("issuer", [GITHUB_HOST])
        self.issuer = self._serve(Issuer(keys.issuer_key, issuer_cert, issuer_key))
        tunnel = self._serve(Tunnel({f"{GITHUB_HOST}:443": self.issuer.port}))
        front_cert, front_key = keys.server_files("front")

        ct_port = free_port()
        self._spawn("tesseract", [
            "--private_key", str(keys.directory / "ct.key"),
            "--origin", CT_ORIGIN,
            "--storage_dir", str(self._storage("ct")),
            "--roots_pem_file", str(keys.directory / "fulcio-root.pem"),
            "--ext_key_usages", "CodeSigning",
            "--http_endpoint", f"{LOOPBACK}:{ct_port}",
            "--checkpoint_interval", "500ms",
        ])  # fmt: skip
        self._await_http("tesseract", f"http://{LOOPBACK}:{ct_port}/healthz")
        ct = self._serve(TLSFront(ct_port, front_cert, front_key))

        fulcio_port = free_port()
        config = self.directory / "fulcio.yaml"
        write_atomically(config, FULCIO_CONFIG)
        self._spawn("fulcio", [
            "serve",
            "--host", LOOPBACK, "--port", str(fulcio_port),
            "--grpc-host", LOOPBACK, "--grpc-port", str(free_port()),
            "--metrics-port", str(free_port()),
            "--legacy-unix-domain-socket", str(self.directory / "fulcio-legacy.sock"),
            "--ca", "fileca",
            "--fileca-cert", str(keys.directory / "fulcio-root.pem"),
            "--fileca-key", str(keys.directory / "fulcio-root.key"),
            "--fileca-key-passwd", "",
            "--fileca-watch=false",
            "--ct-log-url", f"https://{LOOPBACK}:{ct.port}",
            "--ct-log-origin", CT_ORIGIN,
            "--ct-log.tls-ca-cert", str(keys.tls_ca_path),
            "--ct-log-public-key-path", str(keys.directory / "ct.pub"),
            "--config-path", str(config),
            "--log_type", "prod",
        ], env={
            # Fulcio reaches "GitHub's" issuer only through our tunnel, trusting only our root.
            "HTTPS_PROXY": f"http://{LOOPBACK}:{tunnel.port}",
            "SSL_CERT_FILE": str(keys.tls_ca_path),
        })  # fmt: skip
        self._await_http("fulcio", f"http://{LOOPBACK}:{fulcio_port}/healthz")
        fulcio = self._serve(TLSFront(fulcio_port, front_cert, front_key))

        rekor_port = free_port()
        rekor_cert, rekor_key = keys.server_files("rekor")
        self._spawn("rekor-server", [
            "serve",
            "--http-address", LOOPBACK, "--http-port", str(rekor_port),
            "--grpc-address", LOOPBACK, "--grpc-port", str(free_port()),
            "--http-metrics-port", str(free_port()),
            "--http-tls-cert-file", str(rekor_cert),
            "--http-tls-key-file", str(rekor_key),
            "--hostname", REKOR_ORIGIN,
            "--storage-dir", str(self._storage("rekor")),
            "--signer-filepath", str(keys.directory / "rekor.key"),
            "--checkpoint-interval", "100ms",
            "--batch-max-age", "100ms",
        ], env={"SSL_CERT_FILE": str(keys.tls_ca_path)})  # fmt: skip
        self._await_http("rekor-server", f"https://{LOOPBACK}:{rekor_port}/healthz", keys)

        if self._shared_tsa is None:
            self.tsa_url, self.tsa_chain = self._start_tsa(front_cert, front_key)
        else:  # its metrics port is fixed (:2112): one timestamp authority per machine
            self.tsa_url, self.tsa_chain = self._shared_tsa.tsa_url, self._shared_tsa.tsa_chain
        endpoints = Endpoints(
            fulcio=f"https://{LOOPBACK}:{fulcio.port}",
            rekor=f"https://{LOOPBACK}:{rekor_port}",
            rekor_origin=REKOR_ORIGIN,
            ct=f"https://{LOOPBACK}:{ct.port}",
            tsa=self.tsa_url,
        )
        root = trusted_root(
            endpoints,
            fulcio_root=keys.fulcio_root,
            ct_key=keys.ct_key.public_key(),
            rekor_key=keys.rekor_key.public_key(),
            tsa_chain=self.tsa_chain,
        )
        since = clock.rfc3339(keys.fulcio_root.not_valid_before_utc)
        config_doc = client_trust_config(root, signing_config(endpoints, since))
        write_atomically(self.trusted_root_path, json.dumps(root, indent=2) + "\n")
        write_atomically(self.trust_config_path, json.dumps(config_doc, indent=2) + "\n")

    def _start_tsa(self, cert: Path, key: Path) -> tuple[str, list[x509.Certificate]]:
        """The timestamp authority (an in-memory signer with its own chain): URL and chain.

        Its metrics server always binds :2112, which no flag changes: one per machine."""
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("", TSA_METRICS_PORT))
            except OSError:
                raise StartError(
                    f"port {TSA_METRICS_PORT} is taken, and the timestamp authority always "
                    "serves its metrics there (another local Sigstore running?)"
                ) from None
        port = free_port()
        self._spawn("timestamp-server", [
            "serve",
            "--host", LOOPBACK, "--port", str(port),
            "--timestamp-signer", "memory",
            "--disable-ntp-monitoring",
            "--log-type", "prod",
        ])  # fmt: skip
        chain_url = f"http://{LOOPBACK}:{port}/api/v1/timestamp/certchain"
        chain = x509.load_pem_x509_certificates(self._await_http("timestamp-server", chain_url))
        front = self._serve(TLSFront(port, cert, key))
        return f"https://{LOOPBACK}:{front.port}/api/v1/timestamp", chain

    def stop(self) -> None:
        for _name, process, log in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
            log.close()
        self._processes.clear()
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------
    def _serve(self, server: _Server) -> _Server:
        server.start()
        self._servers.append(server)
        return server

    def _storage(self, name: str) -> Path:
        path = self.directory / "storage" / name
        path.mkdir(parents=True)
        return path

    def log_path(self, name: str) -> Path:
        return self.directory / "logs" / f"{name}.log"

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
        self.log_path(name).parent.mkdir(exist_ok=True)
        log = self.log_path(name).open("ab")
        base = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        process = subprocess.Popen(
            [str(self.built.path(name)), *args],
            cwd=self.directory,
            env={**base, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._processes.append((name, process, log))

    def _await_http(self, name: str, url: str, keys: Keys | None = None) -> bytes:
        """The body of `url` once it answers 200, within START_SECONDS (bounded polling)."""
        process = next(p for n, p, _ in self._processes if n == name)
        context = ssl.create_default_context(cafile=str(keys.tls_ca_path)) if keys else None
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        deadline = time.monotonic() + START_SECONDS
        last = "no answer"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = self.log_path(name).read_text(errors="replace").splitlines()[-5:]
                raise StartError(f"{name} exited {process.returncode}: " + " | ".join(tail))
            try:
                with opener.open(url, timeout=5) as answer:
                    if answer.status == 200:
                        return bytes(answer.read())
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)  # polling a server that is starting, bounded by the deadline
        raise StartError(f"{name} did not answer {url} within {START_SECONDS:.0f} s ({last})")
