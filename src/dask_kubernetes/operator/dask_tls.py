"""Mutual TLS for one DaskCluster's Dask traffic: its CA, certificates, Secret and settings.

A Dask scheduler runs whatever a connected client sends (`Client.run`), so a scheduler that
accepts any connection hands its Pods to anyone who can reach its address. With `spec.tls`, the
operator makes a CA for the cluster alone, issues a scheduler, a worker and a client certificate
from it, and forgets the CA's key: nothing else can ever be issued, so only holders of this
cluster's Secret connect. Distributed takes PEM contents in its TLS settings, so the Pods get them
as environment variables from the Secret (no volume). `KubeCluster`, `from_name` and the CLI read
the client certificate through the API (`get secrets` in the namespace: what the user has).

The scheduler's HTTP API, which the operator uses to retire workers, is not on a TLS cluster's
dashboard unguarded: a preload (`API_GUARD_PRELOAD`, plain Python that needs only distributed)
serves the same routes and refuses a request without the cluster's API token. The token is an
HMAC of the cluster's uid under the operator's key, so the operator can compute it without
the right to read Secrets; the Secret carries it to the scheduler.

Certificates and keys are made in memory here; `local/` keeps the PKI of the stand-in's own
control plane (files on disk), a different job. Both build them with `common.certificates`.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from typing import Any

from dask_kubernetes.common import certificates
from dask_kubernetes.operator import vocabulary as v

#: A cluster's certificates live as long as it may: the CA's key is gone, they are never renewed.
VALIDITY = datetime.timedelta(days=3650)

#: The operator's key for scheduler API tokens. Shared by its replicas and kept across restarts
#: when set (the chart sets it from a Secret it makes); otherwise one per process, and clusters
#: made before a restart can no longer be asked to retire workers (they keep running).
OPERATOR_KEY_ENV = "DASK_KUBERNETES_OPERATOR_KEY"
#: Where the scheduler Pod finds its API token (from the Secret).
API_TOKEN_ENV = "DASK_KUBERNETES_SCHEDULER_API_TOKEN"  # noqa: S105 (a name)

_CONFIG = "DASK_DISTRIBUTED__"
REQUIRE_ENCRYPTION_ENV = f"{_CONFIG}COMM__REQUIRE_ENCRYPTION"
CA_FILE_ENV = f"{_CONFIG}COMM__TLS__CA_FILE"
PRELOAD_ENV = f"{_CONFIG}SCHEDULER__PRELOAD"


def _role_env(role: str, what: str) -> str:
    return f"{_CONFIG}COMM__TLS__{role.upper()}__{what}"


# --- Certificates ---------------------------------------------------------------------------


def issue_credentials(namespace: str, cluster: str) -> dict[str, str]:
    """A fresh CA and a certificate per role, as the Secret's `stringData` (no API token yet).

    Every role's certificate serves and authenticates as client and server: a worker both
    listens and connects, and distributed does not check names (IP addresses are the norm).
    """
    ca_key = certificates.new_key()
    ca_name = f"dask-cluster {namespace}/{cluster}"
    ca = certificates.authority_certificate(ca_key, ca_name, VALIDITY)
    data = {v.TLS_CA_KEY: certificates.pem_certificate(ca).decode()}
    for role in v.TLS_ROLES:
        key = certificates.new_key()
        cert = certificates.leaf_certificate(
            ca_key,
            ca,
            certificates.subject(f"{ca_name} {role}"),
            key.public_key(),
            VALIDITY,
            server=True,
            client=True,
        )
        data[v.tls_cert_key(role)] = certificates.pem_certificate(cert).decode()
        data[v.tls_private_key_key(role)] = certificates.pem_private_key(key).decode()
    return data


# --- The scheduler API token ----------------------------------------------------------------


def operator_key() -> bytes:
    """The operator's token key: `OPERATOR_KEY_ENV`, else random for this process."""
    configured = os.environ.get(OPERATOR_KEY_ENV, "")
    return configured.encode() if configured else _PROCESS_KEY


_PROCESS_KEY = secrets.token_bytes(32)


def api_token(key: bytes, namespace: str, cluster: str, uid: str) -> str:
    """The token the scheduler of this incarnation of a cluster asks for."""
    message = f"{namespace}/{cluster}/{uid}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


#: Run by the scheduler at start (`distributed.scheduler.preload` takes a script's text): the
#: routes of `distributed.http.scheduler.api`, each refusing a request without the token. The
#: scheduler Pod of a TLS cluster does not list that module in its routes, so these are the only
#: way to the API; added before the dashboard's own routes, they would win anyway.
API_GUARD_PRELOAD = f"""\
# dask-kubernetes: the scheduler's HTTP API, for the holder of the cluster's API token only.
import hmac
import os

from distributed.http.scheduler import api

_TOKEN = os.environ.get({API_TOKEN_ENV!r}, "").encode()


def _guarded(handler):
    class Guarded(handler):
        def prepare(self):
            given = self.request.headers.get({v.SCHEDULER_API_TOKEN_HEADER!r}, "").encode()
            if not _TOKEN or not hmac.compare_digest(given, _TOKEN):
                self.set_status(403)
                self.finish({{"Error": "Forbidden"}})

    return Guarded


def dask_setup(scheduler):
    routes = [
        (url, _guarded(handler), dict(kwargs, dask_server=scheduler))
        for url, handler, kwargs in api.routes
    ]
    scheduler.http_application.add_handlers(r".*", routes)
"""


# --- What the Pods get ------------------------------------------------------------------------


def _from_secret(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def pod_env(role: str, secret: str) -> list[dict[str, Any]]:
    """Environment for a Pod that talks Dask as `role`: CA, certificate and key from the
    Secret, and encryption required (a `tcp://` connection is refused both ways)."""
    env = [
        {"name": REQUIRE_ENCRYPTION_ENV, "value": "True"},
        _from_secret(CA_FILE_ENV, secret, v.TLS_CA_KEY),
        _from_secret(_role_env(role, "CERT"), secret, v.tls_cert_key(role)),
        _from_secret(_role_env(role, "KEY"), secret, v.tls_private_key_key(role)),
    ]
    if role == "scheduler":
        env += [
            _from_secret(API_TOKEN_ENV, secret, v.TLS_API_TOKEN_KEY),
            {"name": PRELOAD_ENV, "value": API_GUARD_PRELOAD},
        ]
    return env


def tls_enabled(cluster_spec: Mapping[str, Any] | None) -> bool:
    return bool((cluster_spec or {}).get(v.TLS_FIELD))


# --- What a client gets ----------------------------------------------------------------------


def client_settings(secret_data: Mapping[str, str]) -> dict[str, str]:
    """The client's `Security` keyword arguments from the Secret's (decoded) data."""
    return {
        "tls_ca_file": secret_data[v.TLS_CA_KEY],
        "tls_client_cert": secret_data[v.tls_cert_key("client")],
        "tls_client_key": secret_data[v.tls_private_key_key("client")],
    }


def client_config(secret_data: Mapping[str, str]) -> dict[str, Any]:
    """The same as Dask configuration (`distributed.comm.*`), e.g. for a YAML file."""
    settings = client_settings(secret_data)
    return {
        "distributed": {
            "comm": {
                "require-encryption": True,
                "tls": {
                    "ca-file": settings["tls_ca_file"],
                    "client": {
                        "cert": settings["tls_client_cert"],
                        "key": settings["tls_client_key"],
                    },
                },
            }
        }
    }


def with_scheme(address: str, tls: bool) -> str:
    """`address` (`tcp://host:port`) with the scheme a cluster with or without TLS speaks."""
    _, _, rest = address.partition("://")
    return f"{v.comm_scheme(tls)}://{rest}"
