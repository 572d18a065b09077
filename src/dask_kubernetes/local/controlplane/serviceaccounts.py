"""A ServiceAccount's identity for a process outside the cluster: a bound token and a kubeconfig.

The operator must talk to the real API server as exactly the ServiceAccount the chart binds, so
that the RBAC authorizer judges each of its calls against the chart's rules. Inside a cluster the
kubelet would mount a projected token; here we ask the TokenRequest API for one (`kubectl create
token`, as the admin) and write a kubeconfig holding it (0600: it is a credential).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dask_kubernetes.local.controlplane.process import ComponentError
from dask_kubernetes.local.credentials.kubeconfig import token_kubeconfig

#: Longer than any test run; the API server caps it at its own maximum anyway.
TOKEN_SECONDS = 3600


def username(namespace: str, name: str) -> str:
    """How the API server (and its audit log) names the ServiceAccount as a user."""
    return f"system:serviceaccount:{namespace}:{name}"


def request_token(
    kubectl: Path, admin_kubeconfig: Path, namespace: str, name: str, seconds: int = TOKEN_SECONDS
) -> str:
    """A TokenRequest for ServiceAccount `namespace`/`name`, bound to nothing but its audience."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    argv = [str(kubectl), "--kubeconfig", str(admin_kubeconfig), "create", "token", name]
    argv += ["--namespace", namespace, f"--duration={seconds}s"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    token = result.stdout.strip()
    if result.returncode != 0 or not token:
        raise ComponentError(f"no token for {namespace}/{name}: {result.stderr.strip()[-300:]}")
    return token


def service_account_kubeconfig(
    path: Path,
    server: str,
    ca: Path,
    *,
    kubectl: Path,
    admin_kubeconfig: Path,
    namespace: str,
    name: str,
) -> Path:
    """Mint a token for the ServiceAccount and write a kubeconfig (0600) that uses only it."""
    token = request_token(kubectl, admin_kubeconfig, namespace, name)
    return token_kubeconfig(path, server, ca, token, name=username(namespace, name))
