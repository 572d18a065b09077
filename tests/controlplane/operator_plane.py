"""The real plane as the chart leaves a cluster, with our operator running as the chart's account.

`helm template --include-crds` renders the chart; its CRDs, ServiceAccount, Role(s),
ClusterRole(s) and bindings are applied with the real kubectl (the Deployment is not: the operator
runs here as a local process, as the operator suite runs it). A token minted by the TokenRequest
API for that ServiceAccount goes into a 0600 kubeconfig, and the operator uses nothing else, so
the real RBAC authorizer judges each of its calls against exactly the chart's rules; the API
server's audit log records what it asked and what it was told.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kr8s
import yaml
from controlplane_support import built_binaries, run_kubectl

from dask_kubernetes.local.apimachinery.audit import AuditRecord
from dask_kubernetes.local.controlplane import audit
from dask_kubernetes.local.controlplane.operator_chart import (
    RELEASE_NAMESPACE,
    identity_and_permissions,
    render,
)
from dask_kubernetes.local.controlplane.plane import ControlPlane
from dask_kubernetes.local.controlplane.serviceaccounts import (
    service_account_kubeconfig,
    username,
)

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_TESTS = ROOT / "tests" / "operator"
if str(OPERATOR_TESTS) not in sys.path:  # the operator suite's process runner and RBAC algebra
    sys.path.insert(0, str(OPERATOR_TESTS))

from operator_helpers import OperatorProcess  # noqa: E402


def manifest(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


@dataclass
class OperatorPlane:
    """The plane, the chart's objects as applied, and the operator's identity and process."""

    plane: ControlPlane
    documents: list[dict[str, Any]]
    service_account: str
    kubeconfig: Path
    log_dir: Path
    operator: OperatorProcess | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return username(RELEASE_NAMESPACE, self.service_account)

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, as_operator: bool = False
    ) -> subprocess.CompletedProcess[str]:
        config = self.kubeconfig if as_operator else self.plane.admin_kubeconfig
        kubectl = self.plane.binaries / "kubectl"
        return run_kubectl(kubectl, config, *args, stdin=stdin, check=check)

    def apply(self, documents: list[dict[str, Any]]) -> None:
        """`kubectl apply` into the release namespace, as `helm install -n` would place them."""
        self.kubectl("apply", "-n", RELEASE_NAMESPACE, "-f", "-", stdin=manifest(documents))

    def can_i(self, verb: str, resource: str, namespace: str = "default") -> str:
        """The real authorizer's answer for the operator's ServiceAccount: "yes" or "no".

        `resource` may name a subresource (`pods/exec`): kubectl would read `pods/exec` as the
        Pod called "exec", so it is passed as `--subresource`.
        """
        resource, _, subresource = resource.partition("/")
        argv = ["auth", "can-i", f"--as={self.user}", "-n", namespace, verb, resource]
        if subresource:
            argv.append(f"--subresource={subresource}")
        return self.kubectl(*argv, check=False).stdout.strip()

    def api(self) -> kr8s.Api:
        """kr8s as the admin: what a user of the cluster does (create a DaskCluster, ...)."""
        return kr8s.api(kubeconfig=str(self.plane.admin_kubeconfig))

    def operator_records(self) -> list[AuditRecord]:
        """Every request the operator's ServiceAccount made, as the real API server logged it."""
        return [r for r in audit.read(self.plane.audit_log) if r.user == self.user]

    def operator_refusals(self) -> list[AuditRecord]:
        """The ServiceAccount's requests that the RBAC authorizer refused."""
        refused = audit.refused_by_authorizer(self.plane.audit_log)
        return [r for r in refused if r.user == self.user]

    def start_operator(self) -> OperatorProcess:
        runner = OperatorProcess(str(self.kubeconfig), self.log_dir)
        runner.start()
        self.operator = runner
        return runner

    def stop_operator(self) -> None:
        if self.operator is not None:
            self.operator.stop()
            self.operator = None


@contextmanager
def operator_plane(directory: Path, *, start_operator: bool = True) -> Iterator[OperatorPlane]:
    """Start the plane (audited), apply the chart's CRDs and RBAC, mint the operator's token."""
    built = built_binaries()
    plane = ControlPlane(built.directory / "bin", directory / "plane", audit=True)
    plane.start()
    setup: OperatorPlane | None = None
    try:
        documents = identity_and_permissions(render(RELEASE_NAMESPACE))
        accounts = [d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount"]
        assert len(accounts) == 1, accounts
        setup = OperatorPlane(
            plane, documents, accounts[0], directory / "operator.kubeconfig", directory / "operator"
        )
        setup.timings["plane start"] = round(sum(plane.start_seconds.values()), 2)
        setup.kubectl("create", "namespace", RELEASE_NAMESPACE)
        setup.apply(documents)
        for doc in documents:
            if doc["kind"] == "CustomResourceDefinition":
                crd = f"crd/{doc['metadata']['name']}"
                setup.kubectl("wait", "--for=condition=Established", "--timeout=60s", crd)
        service_account_kubeconfig(
            setup.kubeconfig,
            plane.api_url,
            plane.ca_cert,
            kubectl=plane.binaries / "kubectl",
            admin_kubeconfig=plane.admin_kubeconfig,
            namespace=RELEASE_NAMESPACE,
            name=setup.service_account,
        )
        setup.log_dir.mkdir(parents=True, exist_ok=True)
        if start_operator:
            setup.start_operator()
        yield setup
    finally:
        if setup is not None:
            setup.stop_operator()
        plane.stop()


def whoami(setup: OperatorPlane) -> str:
    """Who the API server says the operator's kubeconfig is (`kubectl auth whoami`)."""
    answer = setup.kubectl("auth", "whoami", "-o", "json", as_operator=True)
    return str(json.loads(answer.stdout)["status"]["userInfo"]["username"])
