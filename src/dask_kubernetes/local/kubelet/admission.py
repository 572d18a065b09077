"""What a process node can honour of a pod, decided before anything of the pod runs.

A container here is a process of this host, started by this kubelet's user. The node honours:
- `runAsUser`, `runAsGroup`, `supplementalGroups`, `fsGroup` (container settings over the pod's):
  the child switches to them, which only a root kubelet can do; a kubelet that is not root runs
  every process as itself, so a pod asking for any other user or group is refused;
- `runAsNonRoot`: refused when the process would run as uid 0 (as a kubelet says "container has
  runAsNonRoot and image will run as root");
- `allowPrivilegeEscalation: false`: `no_new_privs`;
- `capabilities.drop`: dropped from the bounding set when the kubelet is root; a process of a
  kubelet that is not root holds no capabilities, and `no_new_privs` keeps it from gaining any
  through a set-user-ID program;
- `readOnlyRootFilesystem`: a private mount namespace whose mounts are read-only but the pod's
  directory (its working directory and TMPDIR) and /dev/shm (a kubelet that is not root makes it
  inside a user namespace mapping just its own ids; where the host forbids those, the container
  fails to start saying so).
It refuses what it cannot honour: `privileged`, `capabilities.add`, `hostNetwork`, `hostPID`,
`hostIPC`, `hostPath` volumes, `sysctls`, `procMount: Unmasked`; and names the API server would
not accept (`secretKeyRef`, `configMapKeyRef`, `envFrom`, `serviceAccountName`), which would
otherwise reach API paths. A refused pod never starts: its containers wait with reason
`CreateContainerConfigError` and a message naming the field, and a Warning Event says the same.
Seccomp/SELinux/AppArmor profiles are neither applied nor refused, and a Warning Event says so.
Nothing is accepted and silently ignored.
"""

from __future__ import annotations

import os
import pwd
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask_kubernetes.common import clock
from dask_kubernetes.local.kubelet.confinement import CAPABILITIES, Confinement, last_capability
from dask_kubernetes.local.kubelet.environment import source_references
from dask_kubernetes.operator.vocabulary import is_subdomain

REFUSED_REASON = "CreateContainerConfigError"
_PROFILES = ("seccompProfile", "seLinuxOptions", "appArmorProfile")
_SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - writable in a container too


class PodRefused(Exception):
    """The pod asks for something this node cannot honour; `field` is where it asks."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Kubelet:
    """Who starts the processes: their user unless the pod says otherwise (and may)."""

    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def current(cls) -> Kubelet:
        return cls(os.geteuid(), os.getegid(), frozenset(os.getgroups()) | {os.getegid()})

    @property
    def root(self) -> bool:
        return self.uid == 0


def containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(field path, container) of every init container and container."""
    spec = pod.get("spec") or {}
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(kind) or []):
            yield f"spec.{kind}[{index}]", container


def admit(
    pod: Mapping[str, Any], writable: tuple[str, ...], kubelet: Kubelet | None = None
) -> dict[str, Confinement]:
    """Each container's confinement by name, or `PodRefused` for the first thing not honoured.

    `writable` are the pod's own directories (kept writable under `readOnlyRootFilesystem`)."""
    kubelet = kubelet or Kubelet.current()
    spec = pod.get("spec") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            raise PodRefused(f"spec.{field}", "a process node shares no host namespaces")
    for index, volume in enumerate(spec.get("volumes") or []):
        if "hostPath" in volume:
            raise PodRefused(
                f"spec.volumes[{index}].hostPath", "a process node mounts no host paths"
            )
    account = spec.get("serviceAccountName")
    if account is not None and not is_subdomain(account):
        raise PodRefused("spec.serviceAccountName", f"{account!r} is not a valid name")
    pod_context = spec.get("securityContext") or {}
    if pod_context.get("sysctls"):
        raise PodRefused("spec.securityContext.sysctls", "a process node sets no sysctls")
    confinements: dict[str, Confinement] = {}
    for path, container in containers(pod):
        _check_source_names(path, container)
        confinements[str(container["name"])] = _confinement(
            path, container, pod_context, writable, kubelet
        )
    if len({c.uid for c in confinements.values() if c.uid is not None}) > 1:
        raise PodRefused(
            "spec.containers[*].securityContext.runAsUser",
            "the containers of a pod share its directory here, so they must run as one user",
        )
    return confinements


def pod_user(confinements: Mapping[str, Confinement]) -> tuple[int, int] | None:
    """The (uid, gid) the pod's containers switch to, if they switch user (root kubelet only)."""
    for confinement in confinements.values():
        if confinement.uid is not None and confinement.uid != 0:
            gid = confinement.gid if confinement.gid is not None else 0
            return confinement.uid, gid
    return None


def _check_source_names(path: str, container: Mapping[str, Any]) -> None:
    for field, (_kind, name) in source_references(container):
        if not is_subdomain(name):
            raise PodRefused(
                f"{path}.{field}", f"{name!r} is not a valid name (a lowercase RFC 1123 subdomain)"
            )


def _setting(
    key: str, path: str, container_context: Mapping[str, Any], pod_context: Mapping[str, Any]
) -> tuple[str, Any]:
    """The effective value of a setting both levels have, and the field it comes from."""
    if container_context.get(key) is not None:
        return f"{path}.securityContext.{key}", container_context[key]
    return f"spec.securityContext.{key}", pod_context.get(key)


def _primary_group(uid: int) -> int:
    """As a container runtime: the user's group in the image's (here: the host's) passwd, else 0."""
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return 0


def _confinement(
    path: str,
    container: Mapping[str, Any],
    pod_context: Mapping[str, Any],
    writable: tuple[str, ...],
    kubelet: Kubelet,
) -> Confinement:
    context = container.get("securityContext") or {}
    where = f"{path}.securityContext"
    if context.get("privileged"):
        raise PodRefused(f"{where}.privileged", "a process node runs no privileged containers")
    capabilities = context.get("capabilities") or {}
    if capabilities.get("add"):
        raise PodRefused(f"{where}.capabilities.add", "a process node grants no capabilities")
    if context.get("procMount") not in (None, "Default"):
        raise PodRefused(f"{where}.procMount", "a process node sees the host's /proc")

    user_field, uid = _setting("runAsUser", path, context, pod_context)
    group_field, gid = _setting("runAsGroup", path, context, pod_context)
    groups = [int(g) for g in pod_context.get("supplementalGroups") or []]
    if pod_context.get("fsGroup") is not None:
        groups.append(int(pod_context["fsGroup"]))
    switch_uid: int | None = None
    switch_gid: int | None = None
    switch_groups: tuple[int, ...] | None = None
    if kubelet.root:
        if uid is not None:
            switch_uid = int(uid)
        if gid is not None:
            switch_gid = int(gid)
        elif switch_uid is not None:
            switch_gid = _primary_group(switch_uid)
        if switch_gid is not None or groups:
            switch_groups = tuple(groups)  # not the kubelet's own supplementary groups
        runs_as = kubelet.uid if switch_uid is None else switch_uid
    else:
        _refuse_other_identity(uid, user_field, gid, group_field, groups, pod_context, kubelet)
        runs_as = kubelet.uid
    non_root_field, non_root = _setting("runAsNonRoot", path, context, pod_context)
    if non_root and runs_as == 0:
        raise PodRefused(non_root_field, "container has runAsNonRoot and would run as root")

    read_only = bool(context.get("readOnlyRootFilesystem"))
    drop = _capability_numbers(f"{where}.capabilities.drop", capabilities.get("drop") or [])
    no_new_privs = context.get("allowPrivilegeEscalation") is False
    if drop and not kubelet.root:
        drop = ()  # it holds none; no_new_privs keeps it from gaining any
        no_new_privs = True
    shm = (str(_SHARED_MEMORY),) if _SHARED_MEMORY.is_dir() else ()
    return Confinement(
        uid=switch_uid,
        gid=switch_gid,
        groups=switch_groups,
        read_only_root=read_only,
        writable=(*writable, *shm) if read_only else (),
        drop_capabilities=drop,
        no_new_privs=no_new_privs,
    )


def _refuse_other_identity(
    uid: Any,
    user_field: str,
    gid: Any,
    group_field: str,
    groups: list[int],
    pod_context: Mapping[str, Any],
    kubelet: Kubelet,
) -> None:
    """A kubelet that is not root cannot switch: any other user or group is refused."""
    if uid is not None and int(uid) != kubelet.uid:
        raise PodRefused(
            user_field, f"{uid}: this node runs processes as uid {kubelet.uid} (it is not root)"
        )
    if gid is not None and int(gid) != kubelet.gid:
        raise PodRefused(
            group_field, f"{gid}: this node runs processes as gid {kubelet.gid} (it is not root)"
        )
    missing = sorted(set(groups) - kubelet.groups)
    if missing:
        field = "spec.securityContext.supplementalGroups"
        if pod_context.get("fsGroup") in missing:
            field = "spec.securityContext.fsGroup"
        raise PodRefused(field, f"{missing}: this node's processes are not in these groups")


def _capability_numbers(field: str, names: list[str]) -> tuple[int, ...]:
    last = last_capability()
    if any(str(name).upper() == "ALL" for name in names):
        return tuple(range(last + 1))
    numbers = []
    for name in names:
        bare = str(name).upper().removeprefix("CAP_")
        if bare not in CAPABILITIES or CAPABILITIES.index(bare) > last:
            raise PodRefused(field, f"unknown capability {name!r}")
        numbers.append(CAPABILITIES.index(bare))
    return tuple(numbers)


def refused_status(pod: Mapping[str, Any], refusal: PodRefused) -> dict[str, Any]:
    """The status of a pod this node will not start: Pending, every container waiting, saying
    why (as a kubelet reports `CreateContainerConfigError`)."""
    spec = pod.get("spec") or {}
    waiting = {"waiting": {"reason": REFUSED_REASON, "message": str(refusal)}}
    stamp = clock.now()

    def statuses(kind: str) -> list[dict[str, Any]]:
        return [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "containerID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": waiting,
                "lastState": {},
            }
            for c in spec.get(kind) or []
        ]

    def condition(kind: str, ok: bool) -> dict[str, Any]:
        found = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": stamp}
        if not ok:
            found |= {"reason": REFUSED_REASON, "message": str(refusal)}
        return found

    return {
        "phase": "Pending",
        "startTime": stamp,
        "conditions": [
            condition("PodScheduled", True),
            condition("Initialized", not spec.get("initContainers")),
            condition("ContainersReady", False),
            condition("Ready", False),
        ],
        "initContainerStatuses": statuses("initContainers"),
        "containerStatuses": statuses("containers"),
    }


def refusal_event(pod: Mapping[str, Any], refusal: PodRefused, node: str) -> dict[str, Any]:
    """The Warning Event a kubelet records for a container it cannot create."""
    return warning_event(pod, "Failed", f"Error: {refusal}", node)


def unenforced(pod: Mapping[str, Any]) -> list[str]:
    """Fields the pod sets that this node neither carries out nor refuses: seccomp, SELinux and
    AppArmor profiles (no filter, no LSM here). Said in an Event, not silently dropped; refusing
    them would refuse every hardened pod (the chart's operator asks for `RuntimeDefault`)."""
    found = []
    contexts = [("spec.securityContext", (pod.get("spec") or {}).get("securityContext") or {})]
    contexts += [
        (f"{path}.securityContext", c.get("securityContext") or {}) for path, c in containers(pod)
    ]
    for where, context in contexts:
        for key in _PROFILES:
            value = context.get(key)
            if value and (value.get("type") if isinstance(value, dict) else None) != "Unconfined":
                found.append(f"{where}.{key}")
    return found


def unenforced_event(pod: Mapping[str, Any], fields: list[str], node: str) -> dict[str, Any]:
    message = (
        f"not enforced by this process node (no seccomp filter, no SELinux/AppArmor profile), "
        f"the pod runs without: {', '.join(fields)}"
    )
    return warning_event(pod, "SecurityProfileNotEnforced", message, node)


def warning_event(pod: Mapping[str, Any], reason: str, message: str, node: str) -> dict[str, Any]:
    """A Warning Event about `pod`, as this node's kubelet."""
    meta = pod["metadata"]
    stamp = clock.now()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
        },
        "type": "Warning",
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
