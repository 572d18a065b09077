"""The Deployment controller (kube-controller-manager's, cut down to what a stand-in needs).

Each pod template gets a ReplicaSet `<deployment>-<pod-template-hash>` the Deployment controls
(revision annotated); the strategy moves replicas from old ReplicaSets to the new one, and the
ReplicaSets' status becomes the Deployment's. RollingUpdate follows Kubernetes: the new
ReplicaSet grows while all stay within `replicas + maxSurge`, old ones shrink while
`replicas - maxUnavailable` pods stay available. Recreate scales old ReplicaSets to 0 and the new
one up once the old ones report no pods (pods still terminating are not waited for). Old
ReplicaSets beyond `revisionHistoryLimit` are deleted once a rollout is complete.

Not done: proportional scaling of a Deployment resized mid-rollout, `paused` (a paused Deployment
still scales but makes no new ReplicaSet), progress deadlines, adopting orphaned ReplicaSets
other than the one the template's name points at, hash collision counts."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from dask_kubernetes.common import clock
from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apiserver.kinds import ROLLING_UPDATE_DEFAULT
from dask_kubernetes.local.apiserver.objects import DeleteOptions, ObjectAPI
from dask_kubernetes.local.apiserver.resources import ResourceType
from dask_kubernetes.local.apiserver.store import StoredEvent
from dask_kubernetes.local.controllers.replicasets import (
    Controller,
    Key,
    compact,
    controller_ref,
    owner_ref,
    replicas,
    resource,
    spec_int,
)

log = logging.getLogger(__name__)
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def template_hash(deployment: dict[str, Any]) -> str:
    template = (deployment.get("spec") or {}).get("template") or {}
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template)
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    return dict((obj.get("spec") or {}).get("template") or {})


def _count(obj: dict[str, Any] | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field, 0))


def revision(obj: dict[str, Any]) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _scaled(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString (`2` or `"25%"`) in pods."""
    if isinstance(value, str) and value.endswith("%"):
        share = int(value[:-1]) * total
        return -(-share // 100) if round_up else share // 100
    return int(value)


def is_recreate(deployment: dict[str, Any]) -> bool:
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    return bool(strategy.get("type") == "Recreate")


def fenceposts(deployment: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods, as Kubernetes resolves them (Recreate: 0, 0)."""
    if is_recreate(deployment):
        return 0, 0
    wanted = replicas(deployment)
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", ROLLING_UPDATE_DEFAULT), wanted, round_up=True)
    unavailable = _scaled(
        rolling.get("maxUnavailable", ROLLING_UPDATE_DEFAULT), wanted, round_up=False
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, wanted)


def _complete(deployment: dict[str, Any], new: dict[str, Any], olds: list[dict[str, Any]]) -> bool:
    """The rollout is done (every wanted Pod updated and available, no old one left): only
    then does kube-controller-manager prune the history, so a stuck rollout keeps it."""
    wanted = spec_int(deployment, "replicas", 1)
    done = _count(new, "replicas") == wanted and _count(new, "availableReplicas") == wanted
    return done and not any(_count(rs, "replicas") for rs in olds)


def set_condition(status: dict[str, Any], kind: str, ok: bool, reason: str, message: str) -> None:
    """Kubernetes' SetDeploymentCondition: no change when status and reason are unchanged."""
    conditions = status.get("conditions") or []
    current: dict[str, Any] = next((c for c in conditions if c.get("type") == kind), {})
    state = "True" if ok else "False"
    if current.get("status") == state and current.get("reason") == reason:
        return
    now = clock.now()
    since = current.get("lastTransitionTime", now) if current.get("status") == state else now
    condition = {
        "type": kind,
        "status": state,
        "lastUpdateTime": now,
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    }
    status["conditions"] = [c for c in conditions if c.get("type") != kind] + [condition]


def new_replicas(
    deployment: dict[str, Any], new: dict[str, Any] | None, olds: list[dict[str, Any]]
) -> int:
    """What the new ReplicaSet should have now (Kubernetes' NewRSNewReplicas): Recreate waits
    for the old ones to be empty; RollingUpdate grows it within `replicas + maxSurge` pods."""
    wanted, current = replicas(deployment), replicas(new) if new else 0
    if is_recreate(deployment):
        settled = all(not replicas(rs) and not _count(rs, "replicas") for rs in olds)
        return wanted if settled else min(current, wanted)
    if current >= wanted:
        return wanted
    room = wanted + fenceposts(deployment)[0] - current - sum(map(replicas, olds))
    return current + max(0, min(room, wanted - current))


def old_replicas(
    deployment: dict[str, Any], new: dict[str, Any], olds: list[dict[str, Any]]
) -> list[int]:
    """What each old ReplicaSet keeps (Kubernetes' reconcileOldReplicaSets): Recreate keeps
    none; RollingUpdate drops unhealthy pods first, then available ones while `replicas -
    maxUnavailable` stay available, oldest ReplicaSet first."""
    counts = [0 if is_recreate(deployment) else replicas(rs) for rs in olds]
    min_available = replicas(deployment) - fenceposts(deployment)[1]
    budget = sum(counts) + _count(new, "availableReplicas") - min_available
    if budget <= 0:
        return counts
    for index, rs in enumerate(olds):
        cut = max(min(budget, counts[index] - _count(rs, "availableReplicas")), 0)
        counts[index] -= cut
        budget -= cut
    surplus = sum(_count(rs, "availableReplicas") for rs in [new, *olds]) - min_available
    for index in range(len(olds)):
        cut = max(min(counts[index], surplus), 0)
        counts[index] -= cut
        surplus -= cut
    return counts


class DeploymentController(Controller):
    """Reconciles a Deployment whenever it or one of its ReplicaSets changes."""

    def __init__(self, objects: ObjectAPI) -> None:
        self._deployments = resource(objects, "apps", "deployments")
        self._replica_sets = resource(objects, "apps", "replicasets")
        super().__init__(objects, (self._deployments, self._replica_sets))

    def affected(self, event: StoredEvent) -> Iterable[Key]:
        return self.owners_of(event, self._replica_sets, "Deployment")

    def manages(self, obj: dict[str, Any]) -> bool:
        return not obj["metadata"].get("deletionTimestamp")

    def reconcile(self, deployment: dict[str, Any]) -> None:
        uid = deployment["metadata"]["uid"]
        owned = sorted(
            (
                rs
                for _, rs in self._objects.store.dependents(uid, self._replica_sets.storage_key)
                if controller_ref(rs).get("uid") == uid
                and not rs["metadata"].get("deletionTimestamp")
            ),
            key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"]),
        )
        template = _without_hash(_template(deployment))
        new = next((rs for rs in owned if _without_hash(_template(rs)) == template), None)
        olds = [rs for rs in owned if rs is not new]
        next_revision = max(map(revision, olds), default=0) + 1
        if new is None and (deployment.get("spec") or {}).get("paused"):
            self._report(deployment, None, olds)
            return
        target, scaled = new_replicas(deployment, new, olds), False
        if new is None:
            new = self._create(deployment, target, next_revision)
        else:
            if revision(new) < next_revision:
                self._write(self._replica_sets, new, annotations={REVISION: str(next_revision)})
            scaled = replicas(new) != target
            if scaled:  # old ones wait for the next pass, as in Kubernetes
                self._write(self._replica_sets, new, replicas=target)
        if revision(deployment) != revision(new):
            self._write(self._deployments, deployment, annotations={REVISION: str(revision(new))})
        if not scaled:
            for rs, count in zip(olds, old_replicas(deployment, new, olds), strict=True):
                if replicas(rs) != count:
                    self._write(self._replica_sets, rs, replicas=count)
        if _complete(deployment, new, olds):
            self._clean_up(deployment, olds)
        self._report(deployment, new, olds)

    def _clean_up(self, deployment: dict[str, Any], olds: list[dict[str, Any]]) -> None:
        """Delete the oldest idle ReplicaSets beyond `revisionHistoryLimit`."""
        limit = spec_int(deployment, "revisionHistoryLimit", 10)
        for rs in sorted(olds, key=revision)[: max(len(olds) - limit, 0)]:
            meta = rs["metadata"]
            settled = _count(rs, "observedGeneration") >= meta.get("generation", 1)
            if not replicas(rs) and not _count(rs, "replicas") and settled:
                self._objects.delete(
                    self._replica_sets, meta["namespace"], meta["name"], DeleteOptions()
                )

    def _write(
        self,
        kind: ResourceType,
        obj: dict[str, Any],
        *,
        replicas: int | None = None,
        annotations: dict[str, str] | None = None,
    ) -> None:
        """Update a Deployment or ReplicaSet, and the caller's copy with it."""
        meta = obj["metadata"]
        updated = copy.deepcopy(obj)
        if replicas is not None:
            updated.setdefault("spec", {})["replicas"] = replicas
        if annotations:
            updated["metadata"]["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        obj.update(self._objects.update(kind, meta["namespace"], meta["name"], updated))

    def _create(self, deployment: dict[str, Any], count: int, number: int) -> dict[str, Any]:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        hashed = template_hash(deployment)
        template = _template(deployment)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: hashed}
        template["metadata"] = {**(template.get("metadata") or {}), "labels": labels}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hashed}
        rs_spec = {"replicas": count, "selector": selector, "template": template}
        if "minReadySeconds" in spec:
            rs_spec["minReadySeconds"] = spec["minReadySeconds"]
        name = f"{meta['name']}-{hashed}"
        body = {
            "apiVersion": self._replica_sets.api_version,
            "kind": self._replica_sets.kind,
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {REVISION: str(number)},
                "ownerReferences": [owner_ref(deployment, self._deployments)],
            },
            "spec": rs_spec,
        }
        try:
            return self._objects.create(self._replica_sets, meta["namespace"], body)
        except APIError as error:
            if error.code != 409:
                raise
        orphan = self._objects.get(self._replica_sets, meta["namespace"], name)
        if controller_ref(orphan) or _without_hash(_template(orphan)) != _without_hash(template):
            raise APIError(409, f"replicaset {name} exists and is not this deployment's")
        refs = orphan["metadata"].get("ownerReferences") or []
        orphan["metadata"]["ownerReferences"] = [*refs, owner_ref(deployment, self._deployments)]
        return self._objects.update(self._replica_sets, meta["namespace"], name, orphan)

    def _report(
        self, deployment: dict[str, Any], new: dict[str, Any] | None, olds: list[dict[str, Any]]
    ) -> None:
        """Kubernetes' calculateStatus and syncRolloutStatus, from the ReplicaSets' status."""
        everything = ([new] if new else []) + olds
        wanted = replicas(deployment)
        available = sum(_count(rs, "availableReplicas") for rs in everything)
        previous = deployment.get("status") or {}
        status = compact(
            {
                "observedGeneration": deployment["metadata"].get("generation", 1),
                "replicas": sum(_count(rs, "replicas") for rs in everything),
                "updatedReplicas": _count(new, "replicas"),
                "readyReplicas": sum(_count(rs, "readyReplicas") for rs in everything),
                "availableReplicas": available,
                "unavailableReplicas": max(sum(map(replicas, everything)) - available, 0),
            },
            "observedGeneration",
        )
        status["conditions"] = copy.deepcopy(previous.get("conditions") or [])
        if available >= wanted - fenceposts(deployment)[1]:
            set_condition(
                status,
                "Available",
                True,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            set_condition(
                status,
                "Available",
                False,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        if new is not None:
            name = new["metadata"]["name"]
            counts = (status.get("updatedReplicas", 0), status.get("replicas", 0), available)
            if counts == (wanted, wanted, wanted):
                reason, message = "NewReplicaSetAvailable", "has successfully progressed."
            else:
                reason, message = "ReplicaSetUpdated", "is progressing."
            set_condition(status, "Progressing", True, reason, f'ReplicaSet "{name}" {message}')
        if previous == status:
            return
        meta = deployment["metadata"]
        updated = copy.deepcopy(deployment)
        updated["status"] = status
        self._objects.update(self._deployments, meta["namespace"], meta["name"], updated, "status")
