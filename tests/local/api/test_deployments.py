"""The stand-in's Deployment and ReplicaSet controllers, seen through the API as a client sees
them: Deployments own ReplicaSets, ReplicaSets own pods, rollouts move between ReplicaSets.

No kubelet runs these pods (`node_support.BY_HAND`): where a pod must run or be ready, the test
plays the kubelet (binds the pod and patches its status), as `bind_and_run` does."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from control_planes import REAL
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from node_support import BY_HAND

HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
COST = "controller.kubernetes.io/pod-deletion-cost"


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met in time")
        time.sleep(0.05)
    return result


def template(image: str = "ghcr.io/dask/dask", app: str = "sched") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {
            "schedulerName": BY_HAND,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": image}],
        },
    }


def deployment(replicas: int, image: str = "ghcr.io/dask/dask", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "scheduler"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "sched"}},
            "template": template(image),
            **spec,
        },
    }


class Cluster:
    """The client side of one namespace: what a user (or helm, or a kubelet) would call."""

    def __init__(self, k8s: client.ApiClient, namespace: str) -> None:
        self.apps, self.core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
        self.namespace = namespace

    def pods(self, selector: str = "app=sched") -> list[Any]:
        items = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        return [p for p in items if p.metadata.deletion_timestamp is None]

    def replica_sets(self, selector: str = "app=sched") -> list[Any]:
        items = self.apps.list_namespaced_replica_set(self.namespace, label_selector=selector).items
        return sorted(items, key=lambda rs: int(rs.metadata.annotations.get(REVISION, "0")))

    def deployment(self, name: str = "scheduler") -> Any:
        return self.apps.read_namespaced_deployment(name, self.namespace)

    def replica_set(self, name: str) -> Any:
        return self.apps.read_namespaced_replica_set(name, self.namespace)

    def bind_and_run(self, pod: str, *, ready: bool = True, phase: str = "Running") -> None:
        """What a kubelet does for a pod it was given: bind it, run it, report readiness."""
        binding = client.V1Binding(
            metadata=client.V1ObjectMeta(name=pod),
            target=client.V1ObjectReference(kind="Node", name=BY_HAND),
        )
        self.core.create_namespaced_pod_binding(
            pod, self.namespace, binding, _preload_content=False
        )
        self.set_phase(pod, phase, ready=ready)

    def set_phase(self, pod: str, phase: str, *, ready: bool = False) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        condition = {"type": "Ready", "status": str(ready), "lastTransitionTime": now}
        status = {"phase": phase, "podIP": "127.0.0.9", "conditions": [condition]}
        self.core.patch_namespaced_pod_status(pod, self.namespace, {"status": status})

    def run_pending(self, selector: str = "app=sched") -> int:
        """Run every live pod not yet running; how many were started."""
        started = 0
        for pod in self.pods(selector):
            if pod.status.phase == "Pending":
                try:
                    self.bind_and_run(pod.metadata.name)
                    started += 1
                except ApiException as error:  # deleted (scaled down) meanwhile
                    if error.status != 404:
                        raise
        return started


@pytest.fixture
def cluster(k8s: client.ApiClient, namespace: str) -> Cluster:
    return Cluster(k8s, namespace)


@pytest.fixture(scope="module", autouse=True)
def by_hand_node(plane: Any) -> Iterator[None]:
    """On the real plane, a Node object named `by-hand` while these tests run: without one the pod
    GC controller deletes the pods bound to it as orphans (about 40 s after it first notices the
    node missing, so at any moment late in a session), and an old pod vanishing mid-rollout made
    the Deployment unavailable (seen in CI). Tainted and unschedulable, so no real scheduler puts
    a pod there; it never reports status, so nothing else changes within the pods' default
    300 s toleration. Removed again after the module."""
    if plane.name != REAL:
        yield
        return
    from kubernetes import config

    api = config.new_client_from_config(str(plane.kubeconfig))
    core = client.CoreV1Api(api)
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": BY_HAND},
        "spec": {
            "unschedulable": True,
            "taints": [{"key": "dask-kubernetes.test/by-hand", "effect": "NoSchedule"}],
        },
    }
    core.create_node(node)
    try:
        yield
    finally:
        core.delete_node(BY_HAND)
        api.close()


def controller_of(obj: Any) -> Any:
    [ref] = [r for r in obj.metadata.owner_references or [] if r.controller]
    return ref


def condition(deployment: Any, kind: str) -> Any:
    found = [c for c in deployment.status.conditions or [] if c.type == kind]
    return found[0] if found else None


def settled(obj: Any) -> bool:
    """The controller has seen the latest spec (helm's and kubectl's first check)."""
    return bool(obj.status.observed_generation == obj.metadata.generation)


def test_a_deployment_controls_a_replica_set_that_controls_its_pods(cluster: Cluster) -> None:
    made = cluster.apps.create_namespaced_deployment(cluster.namespace, deployment(2))
    [rs] = eventually(cluster.replica_sets)
    hashed = rs.metadata.labels[HASH]
    assert rs.metadata.name == f"scheduler-{hashed}"
    owner = controller_of(rs)
    assert (owner.kind, owner.name, owner.uid) == ("Deployment", "scheduler", made.metadata.uid)
    assert owner.block_owner_deletion is True
    assert rs.metadata.labels == {"app": "sched", HASH: hashed}
    assert rs.metadata.annotations[REVISION] == "1"
    assert rs.spec.selector.match_labels == {"app": "sched", HASH: hashed}
    assert rs.spec.template.metadata.labels == {"app": "sched", HASH: hashed}
    assert rs.spec.replicas == 2

    pods = eventually(lambda: len(cluster.pods()) == 2 and cluster.pods())
    for pod in pods:
        assert re.fullmatch(rf"scheduler-{hashed}-[a-z0-9]{{5}}", pod.metadata.name)
        assert controller_of(pod).uid == rs.metadata.uid
        assert controller_of(pod).kind == "ReplicaSet"
        assert pod.metadata.labels == {"app": "sched", HASH: hashed}
        assert pod.spec.containers[0].image == "ghcr.io/dask/dask"

    name = rs.metadata.name
    rs = eventually(lambda: settled(rs := cluster.replica_set(name)) and rs.status.replicas and rs)
    assert (rs.status.replicas, rs.status.fully_labeled_replicas) == (2, 2)
    assert rs.status.ready_replicas is None  # zero counts are left out, as Kubernetes does
    shown = eventually(lambda: settled(d := cluster.deployment()) and d.status.replicas and d)
    assert shown.metadata.annotations[REVISION] == "1"
    assert (shown.status.replicas, shown.status.updated_replicas) == (2, 2)
    assert shown.status.unavailable_replicas == 2
    assert condition(shown, "Available").status == "False"
    assert condition(shown, "Progressing").reason == "ReplicaSetUpdated"


def test_scaling_through_the_deployment_and_through_its_replica_set(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment(cluster.namespace, deployment(2))
    [rs] = eventually(cluster.replica_sets)
    name = rs.metadata.name
    eventually(lambda: len(cluster.pods()) == 2)
    cluster.apps.patch_namespaced_deployment_scale(
        "scheduler", cluster.namespace, {"spec": {"replicas": 4}}
    )
    eventually(lambda: len(cluster.pods()) == 4)
    assert cluster.replica_set(name).spec.replicas == 4
    cluster.apps.patch_namespaced_deployment_scale(
        "scheduler", cluster.namespace, {"spec": {"replicas": 1}}
    )
    eventually(lambda: len(cluster.pods()) == 1)
    eventually(lambda: cluster.deployment().status.replicas == 1)

    # The Deployment owns its ReplicaSet's size: scaling the ReplicaSet is undone.
    before = cluster.replica_set(name).metadata.generation
    scaled = cluster.apps.patch_namespaced_replica_set_scale(
        name, cluster.namespace, {"spec": {"replicas": 3}}
    )
    assert scaled.spec.replicas == 3
    eventually(
        lambda: (
            (rs := cluster.replica_set(name)).metadata.generation >= before + 2
            and rs.spec.replicas == 1
        )
    )
    eventually(lambda: len(cluster.pods()) == 1 and cluster.replica_set(name).status.replicas == 1)
    assert [controller_of(p).uid for p in cluster.pods()] == [rs.metadata.uid]


def replica_set(replicas: int, app: str = "solo", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": app, "labels": {"app": app}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": template(app=app),
            **spec,
        },
    }


def test_a_replica_set_keeps_its_pods_and_scales_through_its_scale_subresource(
    cluster: Cluster,
) -> None:
    made = cluster.apps.create_namespaced_replica_set(cluster.namespace, replica_set(2))
    pods = eventually(lambda: len(cluster.pods("app=solo")) == 2 and cluster.pods("app=solo"))
    assert all(controller_of(p).uid == made.metadata.uid for p in pods)
    scale = cluster.apps.read_namespaced_replica_set_scale("solo", cluster.namespace)
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=solo")

    cluster.apps.patch_namespaced_replica_set_scale(
        "solo", cluster.namespace, {"spec": {"replicas": 4}}
    )
    eventually(lambda: len(cluster.pods("app=solo")) == 4)
    cluster.apps.patch_namespaced_replica_set_scale(
        "solo", cluster.namespace, {"spec": {"replicas": 1}}
    )
    [survivor] = eventually(lambda: len(cluster.pods("app=solo")) == 1 and cluster.pods("app=solo"))
    # The controller may record the generation before the status counts the scale-down.
    eventually(lambda: settled(rs := cluster.replica_set("solo")) and rs.status.replicas == 1)
    assert cluster.replica_set("solo").metadata.generation == 3

    # A deleted pod is replaced; so is a failed one (which stays, as on a real cluster).
    cluster.core.delete_namespaced_pod(survivor.metadata.name, cluster.namespace)
    [replacement] = eventually(
        lambda: [p for p in cluster.pods("app=solo") if p.metadata.name != survivor.metadata.name]
    )
    cluster.bind_and_run(replacement.metadata.name)
    cluster.set_phase(replacement.metadata.name, "Failed")
    [fresh] = eventually(
        lambda: [p for p in cluster.pods("app=solo") if p.status.phase != "Failed"]
    )
    assert fresh.metadata.name != replacement.metadata.name
    assert len(cluster.pods("app=solo")) == 2
    eventually(lambda: cluster.replica_set("solo").status.replicas == 1)


def test_scale_down_deletes_the_least_valuable_pod_first(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_replica_set(cluster.namespace, replica_set(5, app="rank"))
    pods = eventually(lambda: len(cluster.pods("app=rank")) == 5 and cluster.pods("app=rank"))
    unscheduled, pending, unready, cheap, dear = sorted(p.metadata.name for p in pods)
    costs = {unscheduled: "100", pending: "100", unready: "100", cheap: "-1", dear: "5"}
    for name, cost in costs.items():
        cluster.core.patch_namespaced_pod(
            name, cluster.namespace, {"metadata": {"annotations": {COST: cost}}}
        )
    cluster.core.create_namespaced_pod_binding(
        pending,
        cluster.namespace,
        client.V1Binding(
            metadata=client.V1ObjectMeta(name=pending),
            target=client.V1ObjectReference(kind="Node", name=BY_HAND),
        ),
        _preload_content=False,
    )
    cluster.bind_and_run(unready, ready=False)
    cluster.bind_and_run(cheap)
    cluster.bind_and_run(dear)
    for replicas, gone in ((4, unscheduled), (3, pending), (2, unready), (1, cheap)):
        cluster.apps.patch_namespaced_replica_set_scale(
            "rank", cluster.namespace, {"spec": {"replicas": replicas}}
        )
        eventually(lambda n=replicas: len(cluster.pods("app=rank")) == n)
        left = {p.metadata.name for p in cluster.pods("app=rank")}
        assert gone not in left, f"scaling to {replicas} should have deleted {gone}"
    assert left == {dear}


def test_min_ready_seconds_delays_availability(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_replica_set(
        cluster.namespace, replica_set(1, app="slow", minReadySeconds=3)
    )
    [pod] = eventually(lambda: cluster.pods("app=slow"))
    cluster.bind_and_run(pod.metadata.name)
    rs = eventually(lambda: (rs := cluster.replica_set("slow")).status.ready_replicas and rs)
    assert not rs.status.available_replicas
    eventually(lambda: cluster.replica_set("slow").status.available_replicas == 1)


def test_a_template_change_rolls_out_a_new_replica_set(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment(cluster.namespace, deployment(2))
    eventually(lambda: len(cluster.pods()) == 2)
    cluster.run_pending()
    done = eventually(
        lambda: (
            (d := cluster.deployment()).status.available_replicas == 2
            and condition(d, "Progressing").reason == "NewReplicaSetAvailable"
            and d
        )
    )
    assert condition(done, "Available").status == "True"
    [first] = cluster.replica_sets()

    cluster.apps.patch_namespaced_deployment(
        "scheduler", cluster.namespace, {"spec": {"template": template("other")}}
    )
    # maxSurge 25% of 2 rounds up to 1, maxUnavailable rounds down to 0: one new pod first,
    # and no old pod goes before a new one is available.
    old, new = eventually(lambda: len(rs := cluster.replica_sets()) == 2 and rs)
    assert old.metadata.name == first.metadata.name
    assert new.metadata.annotations[REVISION] == "2"
    new = eventually(lambda: settled(rs := cluster.replica_set(new.metadata.name)) and rs)
    assert new.spec.replicas == 1
    assert cluster.replica_set(old.metadata.name).spec.replicas == 2
    # A real controller says NewReplicaSetCreated first and ReplicaSetUpdated at its next sync,
    # which only comes with a later event: with the new pod left pending (nobody runs it yet),
    # kube-controller-manager may stay at NewReplicaSetCreated (seen under load), so either holds.
    rolling = eventually(
        lambda: (
            settled(d := cluster.deployment())
            and (d.status.updated_replicas, d.status.replicas) == (1, 3)
            and condition(d, "Progressing").reason in ("NewReplicaSetCreated", "ReplicaSetUpdated")
            and d
        )
    )
    assert condition(rolling, "Available").status == "True"

    def rolled() -> bool:
        cluster.run_pending()
        d = cluster.deployment()
        return bool(settled(d) and condition(d, "Progressing").reason == "NewReplicaSetAvailable")

    eventually(rolled)
    eventually(lambda: {p.spec.containers[0].image for p in cluster.pods()} == {"other"})
    assert cluster.replica_set(old.metadata.name).spec.replicas == 0
    finished = cluster.deployment()
    assert finished.metadata.annotations[REVISION] == "2"
    assert (finished.status.replicas, finished.status.updated_replicas) == (2, 2)
    assert finished.status.available_replicas == 2
    assert condition(finished, "Progressing").message == (
        f'ReplicaSet "{new.metadata.name}" has successfully progressed.'
    )

    # Going back to the first template revives the first ReplicaSet as revision 3.
    cluster.apps.patch_namespaced_deployment(
        "scheduler", cluster.namespace, {"spec": {"template": template()}}
    )
    eventually(lambda: cluster.replica_set(old.metadata.name).metadata.annotations[REVISION] == "3")
    eventually(rolled)
    assert len(cluster.replica_sets()) == 2
    eventually(
        lambda: {p.spec.containers[0].image for p in cluster.pods()} == {"ghcr.io/dask/dask"}
    )


def test_recreate_replaces_every_pod_and_history_is_limited(cluster: Cluster) -> None:
    strategy = {"strategy": {"type": "Recreate"}, "revisionHistoryLimit": 1}
    cluster.apps.create_namespaced_deployment(cluster.namespace, deployment(2, **strategy))
    eventually(lambda: len(cluster.pods()) == 2)
    for image in ("second", "third"):
        cluster.apps.patch_namespaced_deployment(
            "scheduler", cluster.namespace, {"spec": {"template": template(image)}}
        )
        pods = eventually(
            lambda image=image: (
                len(pods := cluster.pods()) == 2
                and {p.spec.containers[0].image for p in pods} == {image}
                and pods
            )
        )
        cluster.run_pending()  # the rollout completes; only then is old history pruned
    revisions = eventually(
        lambda: (
            len(rs := cluster.replica_sets()) == 2
            and [r.metadata.annotations[REVISION] for r in rs]
        )
    )
    assert revisions == ["2", "3"]  # revision 1 went: only one old ReplicaSet is kept
    old, new = cluster.replica_sets()
    assert old.spec.replicas == 0 and new.spec.replicas == 2
    assert {controller_of(p).uid for p in pods} == {new.metadata.uid}


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_deleting_the_deployment_removes_its_replica_sets_and_pods(
    cluster: Cluster, policy: str
) -> None:
    cluster.apps.create_namespaced_deployment(cluster.namespace, deployment(2))
    eventually(lambda: len(cluster.pods()) == 2)
    cluster.apps.patch_namespaced_deployment(
        "scheduler", cluster.namespace, {"spec": {"template": template("other")}}
    )
    eventually(lambda: len(cluster.replica_sets()) == 2)
    cluster.apps.delete_namespaced_deployment(
        "scheduler", cluster.namespace, propagation_policy=policy
    )

    def gone() -> bool:
        listed = cluster.apps.list_namespaced_deployment(cluster.namespace).items
        everything = cluster.core.list_namespaced_pod(cluster.namespace).items
        return not listed and not cluster.replica_sets() and not everything

    eventually(gone)


def test_a_recreated_deployment_adopts_its_orphaned_replica_set(cluster: Cluster) -> None:
    first = cluster.apps.create_namespaced_deployment(cluster.namespace, deployment(2))
    pods = eventually(lambda: len(cluster.pods()) == 2 and cluster.pods())
    cluster.apps.delete_namespaced_deployment(
        "scheduler", cluster.namespace, propagation_policy="Orphan"
    )
    [orphan] = eventually(
        lambda: [rs for rs in cluster.replica_sets() if not rs.metadata.owner_references]
    )
    # The orphaning finalizer goes last: only then is the name free again.
    eventually(lambda: not cluster.apps.list_namespaced_deployment(cluster.namespace).items)
    again = cluster.apps.create_namespaced_deployment(cluster.namespace, deployment(2))
    assert again.metadata.uid != first.metadata.uid
    adopted = eventually(
        lambda: (rs := cluster.replica_set(orphan.metadata.name)).metadata.owner_references and rs
    )
    assert controller_of(adopted).uid == again.metadata.uid
    assert {p.metadata.name for p in cluster.pods()} == {p.metadata.name for p in pods}
    assert len(cluster.replica_sets()) == 1


def test_the_server_stores_kubernetes_defaults(cluster: Cluster) -> None:
    """Clients read defaults back (helm's --wait uses the rolling update's maxUnavailable)."""
    manifest = deployment(2)
    del manifest["spec"]["replicas"]
    cluster.apps.create_namespaced_deployment(cluster.namespace, manifest)
    stored = cluster.deployment()
    assert stored.spec.replicas == 1
    assert stored.spec.revision_history_limit == 10
    assert stored.spec.progress_deadline_seconds == 600
    assert stored.spec.strategy.type == "RollingUpdate"
    assert stored.spec.strategy.rolling_update.max_unavailable == "25%"
    assert stored.spec.strategy.rolling_update.max_surge == "25%"
    # An update that leaves a default out gets it again, and changes no generation.
    generation = stored.metadata.generation

    # The object as the server sent it: a round trip through the client's models would drop
    # the fields this client version does not know, and so change the spec.
    def replaced() -> bool:
        """Read, change, write back; again on a 409 (the controller writes meanwhile)."""
        raw = cluster.apps.read_namespaced_deployment(
            "scheduler", cluster.namespace, _preload_content=False
        )
        manifest = json.loads(raw.data)
        del manifest["spec"]["strategy"]
        try:
            cluster.apps.replace_namespaced_deployment("scheduler", cluster.namespace, manifest)
        except ApiException as error:
            if error.status != 409:
                raise
            return False
        return True

    eventually(replaced)
    again = cluster.deployment()
    assert again.spec.strategy.type == "RollingUpdate"
    assert again.metadata.generation == generation
    recreate = deployment(1, strategy={"type": "Recreate"})
    recreate["metadata"]["name"] = "recreated"
    cluster.apps.create_namespaced_deployment(cluster.namespace, recreate)
    assert cluster.deployment("recreated").spec.strategy.rolling_update is None
