"""The chart's gateway as a Pod under its ServiceAccount, driven by the real `dask_gateway` client.

On each plane (the emulator's stand-in, and the real control plane: kube-apiserver's RBAC
authorizer and audit log, our kubelet as the node) the gateway's objects from `helm template
--set gateway.enabled=true` are applied; the kubelet runs the gateway with a token for its
ServiceAccount and nothing else. Through the gateway's Service only (as a user outside the
cluster would), a user creates a cluster, computes, scales, survives a gateway restart and stops
it. Then the gateway is scaled to zero (its watches end, so they are logged) and what its
account asked for is compared with the chart's Role: exactly the same verbs (a `get` on what it
lists aside). On the real plane the authorizer also refuses that account everything else, and
its own token cannot read the operator's key.

On the container node (`--node=containers`, the session's shipped cluster: the real kubelet with
containerd, the chart installed by helm with the operator image by digest) the gateway Pod runs
from that same operator image, as `gateway.enabled=true` ships it (an empty gateway image), and
its clusters' scheduler and workers from the Dask image built here; the user reaches the
gateway's NodePort as from outside the cluster (`NodePortDoor`).

Slow: a gateway Pod, a Dask cluster and a restart per plane (about a minute each).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
import yaml
from gateway_pod_support import (
    RULES,
    GatewayInstall,
    NodePortDoor,
    close_once,
    granted,
    install,
    shipped_values,
    used,
    user_session,
    wait_for,
)

from dask_kubernetes.local.apimachinery.audit import AuditRecord

# A hang (a client call that never returns) must end the run with the stacks printed, not stall
# CI: the thread method does not need the blocked main thread to run a signal handler.
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(600, method="thread")]

PLANES = ("emulated", "real")
#: Granted for a failure only: the backend deletes a cluster's token Secret when the DaskCluster
#: cannot be created. The real plane makes that happen (a ResourceQuota); the emulator has none.
FAILURE_ONLY = {("", "secrets", "delete")}
#: The planes on which the tests that exercise the gateway ran in this session: the Role is
#: judged against a full exercise only (a `-k` run of the last test alone skips, saying why).
EXERCISED: dict[str, set[str]] = {}
#: Requests this module itself makes with the gateway's token (the refused `kubectl get secrets`).
TEST_AGENTS = ("kubectl/",)


@pytest.fixture(scope="module", params=PLANES)
def chart_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The stand-in with the operator (the session's), an audited real plane of our own, or
    with `--node=containers` the session's shipped cluster (audited too; a second cluster
    would start another node and another `helm install` for one module)."""
    from control_planes import selected

    if request.param not in selected(request.config):
        pytest.skip(f"--control-plane does not select the {request.param} plane")
    if os.environ.get("DASK_KUBERNETES_TEST_KUBECONFIG"):
        pytest.skip("needs the local planes' audit logs (a real cluster is set)")
    if request.param == "emulated":
        yield request.getfixturevalue("k8s_cluster_with_operator").stand_in
        return
    if os.geteuid() != 0:
        pytest.skip("real control plane with a node: needs root (it runs in a network namespace)")
    from control_planes import built_binaries

    shipped = shipped_cluster(request)
    if shipped is not None:  # the session's one container-node cluster (audited)
        yield shipped.stand_in
        return

    from dask_kubernetes.local import LocalKubernetes

    binaries = built_binaries().directory / "bin"
    # Its own state directory (mkdtemp, removed on exit): the gateway Pod runs as uid 1000 and
    # must traverse to its Pod directory, which pytest's 0700 tmp_path tree would not allow.
    with LocalKubernetes(operator=True, control_plane="real", binaries=binaries, audit=True) as k8s:
        yield k8s


def shipped_cluster(request: pytest.FixtureRequest) -> Any:
    """With `--node=containers`: the session's shipped cluster (tests/conftest.py), else None."""
    from control_planes import node_kind

    if node_kind(request.config) != "containers":
        return None
    return request.getfixturevalue("k8s_real_cluster_with_operator")


def audit_records(k8s: Any) -> list[AuditRecord]:
    if k8s.real is not None:
        from dask_kubernetes.local.controlplane import audit

        return audit.read(k8s.real.plane.audit_log)
    return list(k8s.api_server.audit)


@pytest.fixture(scope="module")
def shipped(chart_plane: Any, request: pytest.FixtureRequest) -> Any:
    """The session's shipped cluster where this variant's plane is it (the real plane with
    `--node=containers`), else None."""
    return shipped_cluster(request) if chart_plane.real is not None else None


@pytest.fixture(scope="module")
def chart_gateway(chart_plane: Any, shipped: Any) -> Iterator[GatewayInstall]:
    namespace = f"gw-{uuid.uuid4().hex[:8]}"
    api = kr8s.api(kubeconfig=chart_plane.kubeconfig)
    door = NodePortDoor(chart_plane) if shipped is not None else None
    kr8s.objects.Namespace({"metadata": {"name": namespace}}, api=api).create()
    try:
        yield install(
            chart_plane.kubeconfig,
            "real" if chart_plane.real is not None else "emulated",
            namespace,
            *(shipped_values(shipped) if shipped is not None else ()),
            # Small requests: the real scheduler places Pods by them on a 2-core node.
            "gateway.clusterOptions.workerSizes[0].name=small",
            "json:gateway.clusterOptions.workerSizes[0].cores=0.1",
            "gateway.clusterOptions.workerSizes[0].memory=512Mi",
            "json:gateway.clusterOptions.schedulerCores=0.1",
            "gateway.clusterOptions.schedulerMemory=512Mi",
            "gateway.idleTimeout=0",
            door=door,
        )
    finally:
        if door is not None:
            door.close()
        kr8s.objects.Namespace.get(namespace, api=api).delete()


def fetch(
    url: str, user: str, password: str, body: dict[str, Any] | None = None
) -> tuple[int, bytes]:
    """GET (or POST `body` as JSON) with basic authentication, none when `user` is empty."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def daskclusters(chart_gateway: GatewayInstall) -> list[str]:
    found = kr8s.get(
        "daskclusters.kubernetes.dask.org",
        namespace=chart_gateway.namespace,
        api=chart_gateway.api(),
    )
    return sorted(c.name for c in found)


def test_the_gateway_runs_as_a_pod_under_its_own_service_account(
    chart_gateway: GatewayInstall, chart_plane: Any
) -> None:
    [pod] = chart_gateway.pods()
    assert pod.spec["serviceAccountName"] == chart_gateway.service_account
    assert pod.spec["securityContext"]["runAsNonRoot"] is True
    seen = [r for r in audit_records(chart_plane) if r.user == chart_gateway.user]
    assert seen, f"no request from {chart_gateway.user}: the gateway is not using its account"
    # It lists (then watches) its clusters and their Pods.
    assert {("kubernetes.dask.org", "daskclusters"), ("", "pods")} <= {
        (r.api_group, r.rbac_resource) for r in seen if r.verb == "list"
    }


def pods_images(chart_gateway: GatewayInstall, selector: dict[str, str]) -> set[tuple[str, str]]:
    """(image the Pod names, digest of the image containerd ran) of each selected container."""
    pods = kr8s.get(
        "pods", namespace=chart_gateway.namespace, label_selector=selector, api=chart_gateway.api()
    )
    found = set()
    for pod in pods:
        named = {c["name"]: c["image"] for c in pod.spec["containers"]}
        for status in pod.status.get("containerStatuses") or []:
            ran = str(status.get("imageID", "")).rpartition("@")[2]
            found.add((named[status["name"]], ran))
    return found


def test_on_the_container_node_the_gateway_runs_from_the_operator_image(
    chart_gateway: GatewayInstall, shipped: Any
) -> None:
    """`gateway.enabled=true` with no gateway image: the operator's image, by the digest the
    session's `helm install` pinned, is what containerd ran (it imports dask_gateway_server)."""
    if shipped is None:
        pytest.skip("the shipped images run on the container node only (--node=containers)")
    operator = shipped.shipped.images["operator"]
    pinned = f"{operator.reference}@{operator.digest}"
    assert shipped.installed.image == pinned  # the operator's own Deployment names it so
    selector = chart_gateway.docs_of("Deployment")["spec"]["selector"]["matchLabels"]
    assert pods_images(chart_gateway, selector) == {(pinned, operator.digest)}


def test_a_user_computes_through_the_gateway_pod_and_it_survives_a_restart(
    chart_gateway: GatewayInstall, shipped: Any
) -> None:
    with user_session(chart_gateway.address, "alice", chart_gateway.password) as alice:
        cluster = alice.new_cluster(shutdown_on_close=True)
        try:
            assert daskclusters(chart_gateway) == [cluster.name]
            cluster.scale(2)
            with cluster.get_client(set_as_default=False) as client:
                client.wait_for_workers(2, timeout=180)
                assert client.submit(sum, range(100)).result(timeout=120) == 4950
                if shipped is not None:  # scheduler and workers: the Dask image built here
                    dask = shipped.shipped.images["dask"]
                    selector = {"dask.org/cluster-name": cluster.name}
                    ran = pods_images(chart_gateway, selector)
                    assert ran == {(shipped.dask_image, dask.digest)}
                cluster.scale(1)
                wait_for(
                    "the scale-down to 1 worker",
                    lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == 1,
                )
            # The dashboard through the gateway Pod's proxy: its owner only.
            assert fetch(cluster.dashboard_link, "alice", chart_gateway.password)[0] == 200
            assert fetch(cluster.dashboard_link, "bob", chart_gateway.password)[0] in (403, 404)
            with user_session(chart_gateway.address, "bob", chart_gateway.password) as bob:
                assert bob.list_clusters() == []  # another user sees nothing of alice's

            # A new gateway Pod serves the running cluster: its state is in the resources.
            [old] = chart_gateway.pods()
            old.delete()
            wait_for(
                "the old gateway Pod to go",
                lambda: old.name not in {p.name for p in chart_gateway.pods()},
            )
            wait_for("a new gateway Pod to be Ready", chart_gateway.ready)
            reports = wait_for("the cluster listed again", alice.list_clusters)
            assert [r.name for r in reports] == [cluster.name]
            again = alice.connect(cluster.name, shutdown_on_close=False)
            try:
                with again.get_client(set_as_default=False) as client:
                    client.wait_for_workers(1, timeout=180)
                    assert client.submit(lambda x: x + 1, 41).result(timeout=120) == 42
            finally:
                close_once(again)
        finally:
            cluster.shutdown()
            close_once(cluster)
    wait_for("the DaskCluster to be deleted", lambda: daskclusters(chart_gateway) == [])
    EXERCISED.setdefault(chart_gateway.plane, set()).add("session")


def test_two_replicas_each_serve_every_cluster(
    chart_gateway: GatewayInstall, chart_plane: Any
) -> None:
    """`gateway.replicas: 2`: a cluster made through one replica is listed, routed and computed
    on through each, asked at its own Pod address (the state is the resources, not a replica)."""
    if chart_plane.real is not None:
        pytest.skip("Pod addresses are reachable from the test on the stand-in only")
    chart_gateway.scale(2)
    try:
        replicas = wait_for(
            "two gateway Pods Ready",
            lambda: (
                (ready := [p for p in chart_gateway.pods() if is_ready(p)])
                and len(ready) == 2
                and ready
            ),
        )
        port = chart_gateway.docs_of("Service")["spec"]["ports"][0]["port"]
        with user_session(chart_gateway.address, "alice", chart_gateway.password) as alice:
            cluster = alice.new_cluster(shutdown_on_close=True)
            try:
                cluster.scale(1)
                for pod in replicas:
                    address = f"http://{pod.status['podIP']}:{port}"
                    with user_session(address, "alice", chart_gateway.password) as direct:
                        listed = wait_for(f"{pod.name} to list the cluster", direct.list_clusters)
                        assert [c.name for c in listed] == [cluster.name]
                        again = direct.connect(cluster.name, shutdown_on_close=False)
                        try:
                            with again.get_client(set_as_default=False) as client:
                                client.wait_for_workers(1, timeout=180)
                                assert client.submit(len, "replica").result(timeout=120) == 7
                        finally:
                            close_once(again)
            finally:
                cluster.shutdown()
                close_once(cluster)
    finally:
        chart_gateway.scale(1)
        wait_for("one gateway Pod again", lambda: len(chart_gateway.pods()) == 1)
        wait_for("the gateway to answer", chart_gateway.ready)
    wait_for("the DaskCluster to be deleted", lambda: daskclusters(chart_gateway) == [])


def is_ready(pod: Any) -> bool:
    conditions = pod.status.get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_wrong_credentials_and_options_outside_the_admins_create_nothing(
    chart_gateway: GatewayInstall,
) -> None:
    """dask-gateway's HTTP API as its client calls it (`POST /api/v1/clusters/` with
    `cluster_options`), each request on a fresh connection with a timeout."""
    clusters = f"{chart_gateway.address}/api/v1/clusters/"
    password = chart_gateway.password
    assert fetch(clusters, "alice", "wrong")[0] == 401
    assert fetch(clusters, "", "")[0] == 401
    create = {"cluster_options": {}}
    assert fetch(clusters, "alice", "wrong", create)[0] == 401
    assert fetch(clusters, "", "", create)[0] == 401
    attempts: list[dict[str, Any]] = [
        {"image": "evil.example/miner:latest"},
        {"worker_size": "huge"},
        {"worker_cores": 64},
        {"environment": {"LD_PRELOAD": "/tmp/x.so"}},
        {"scheduler_cmd": ["sh", "-c", "id"]},
    ]
    for attempt in attempts:
        status, body = fetch(clusters, "alice", password, {"cluster_options": attempt})
        assert status == 422, (attempt, status, body[:300])
    assert daskclusters(chart_gateway) == []


def test_the_service_account_is_refused_everything_but_its_role(
    chart_gateway: GatewayInstall, chart_plane: Any, tmp_path: Path
) -> None:
    """The real RBAC authorizer (SubjectAccessReview), and a request with the account's token."""
    if chart_plane.real is None:
        pytest.skip("the emulator does not authorize (RBAC is the real plane's)")
    kubectl = chart_plane.real.plane.binaries / "kubectl"
    admin = chart_plane.real.admin_kubeconfig(tmp_path / "admin")

    def can_i(verb: str, resource: str, namespace: str) -> str:
        resource, _, subresource = resource.partition("/")
        argv = [
            str(kubectl),
            "--kubeconfig",
            str(admin),
            "auth",
            "can-i",
            f"--as={chart_gateway.user}",
        ]
        argv += ["-n", namespace, verb, resource]
        if subresource:
            argv.append(f"--subresource={subresource}")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        return done.stdout.strip()

    allowed = [
        (verb, f"{resource}.{group}".rstrip("."))
        for group, resource, verb in granted(yaml.safe_load(RULES.read_text()))
    ]
    denied = [
        ("create", "pods"),
        ("delete", "pods"),
        ("get", "pods/log"),
        ("create", "pods/exec"),
        ("create", "pods/portforward"),
        ("list", "secrets"),
        ("watch", "secrets"),
        ("update", "secrets"),
        ("list", "configmaps"),
        ("create", "services"),
        ("get", "services/proxy"),
        ("update", "daskclusters.kubernetes.dask.org"),
        ("patch", "daskclusters.kubernetes.dask.org/status"),
        ("create", "daskworkergroups.kubernetes.dask.org"),
        ("create", "daskjobs.kubernetes.dask.org"),
        ("create", "deployments.apps"),
        ("create", "serviceaccounts/token"),
        ("create", "roles.rbac.authorization.k8s.io"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("impersonate", "serviceaccounts"),
        ("list", "nodes"),
        ("list", "namespaces"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ]
    ns = chart_gateway.namespace
    assert [a for a in allowed if can_i(*a, ns) != "yes"] == []
    assert [d for d in denied if can_i(*d, ns) != "no"] == []
    for elsewhere in ("default", "dask-operator", "kube-system"):  # its Role is one namespace's
        assert [a for a in allowed if can_i(*a, elsewhere) != "no"] == [], elsewhere

    # Not only the review API: the account's own token is refused the operator's key.
    token = subprocess.run(
        [
            str(kubectl),
            "--kubeconfig",
            str(admin),
            "-n",
            ns,
            "create",
            "token",
            chart_gateway.service_account,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    config = yaml.safe_load(Path(admin).read_text())
    config["users"] = [{"name": config["users"][0]["name"], "user": {"token": token}}]
    own = tmp_path / "gateway.kubeconfig"
    own.write_text(yaml.safe_dump(config))
    own.chmod(0o600)
    refused = subprocess.run(
        [str(kubectl), "--kubeconfig", str(own), "get", "secrets", "-n", "dask-operator"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1 and "Forbidden" in refused.stderr
    assert chart_gateway.user in refused.stderr


def test_a_refused_daskcluster_leaves_no_secret_behind(
    chart_gateway: GatewayInstall, chart_plane: Any
) -> None:
    """A DaskCluster the API server refuses (here a ResourceQuota of zero, real plane only):
    the user is told, and the token Secret made for it is deleted again."""
    if chart_plane.real is None:
        pytest.skip("the emulator has no ResourceQuota admission")
    api = chart_gateway.api()
    quota = kr8s.objects.ResourceQuota(
        {
            "metadata": {"name": "no-clusters", "namespace": chart_gateway.namespace},
            "spec": {"hard": {"count/daskclusters.kubernetes.dask.org": "0"}},
        },
        api=api,
    )
    quota.create()
    try:
        with (
            user_session(chart_gateway.address, "alice", chart_gateway.password) as alice,
            pytest.raises(Exception, match="cannot create the cluster"),
        ):
            alice.new_cluster()
        assert daskclusters(chart_gateway) == []
        wait_for(
            "the refused cluster's Secret to be deleted",
            lambda: (
                not [
                    s.name
                    for s in kr8s.get("secrets", namespace=chart_gateway.namespace, api=api)
                    if s.name.endswith("-gateway")
                ]
            ),
        )
    finally:
        quota.delete()
    EXERCISED.setdefault(chart_gateway.plane, set()).add("refused")


def test_the_role_is_exactly_what_the_gateway_used(
    chart_gateway: GatewayInstall, chart_plane: Any
) -> None:
    """Last in the module: every request the tests above made the gateway send is logged."""
    wanted = {"session", "refused"} if chart_plane.real is not None else {"session"}
    if not wanted <= EXERCISED.get(chart_gateway.plane, set()):
        pytest.skip("judges the Role against the whole module's exercise: run the whole file")
    chart_gateway.scale(0)  # watches are logged when they end
    wait_for("the gateway Pods to be gone", lambda: not chart_gateway.pods())
    exercised = wait_for(
        "the gateway's requests in the audit log",
        lambda: used(
            [r for r in audit_records(chart_plane) if not r.user_agent.startswith(TEST_AGENTS)],
            chart_gateway.user,
        ),
    )
    rules = granted(yaml.safe_load(RULES.read_text()))
    assert (
        granted(chart_gateway.docs_of("Role")["rules"]) == rules
    )  # the chart renders the file as is
    missing = sorted(exercised - rules)
    listed = {(g, r) for g, r, v in exercised if v == "list"}
    # `get` on what it lists reveals nothing more; whether one is sent is timing-dependent.
    unexercised = set() if chart_plane.real is not None else FAILURE_ONLY
    excess = sorted(
        p for p in rules - exercised - unexercised if not (p[2] == "get" and p[:2] in listed)
    )
    assert not missing, f"the gateway used what the chart does not grant: {missing}"
    assert not excess, f"the chart grants the gateway more than it uses: {excess}"
    if chart_plane.real is not None:
        from dask_kubernetes.local.controlplane import audit

        refusals = [r for r in audit.refused_by_authorizer(chart_plane.real.plane.audit_log)]
        mine = [
            (r.verb, r.rbac_resource)
            for r in refusals
            if r.user == chart_gateway.user and not r.user_agent.startswith(TEST_AGENTS)
        ]
        assert mine == [], f"the authorizer refused the gateway: {mine}"
