"""Server-side printing (`as=Table`), so `kubectl get` shows the columns users expect,
including a CRD's additionalPrinterColumns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dask_kubernetes.common import clock
from dask_kubernetes.common.pods import condition as status_condition
from dask_kubernetes.local.apimachinery.selectors import field_value

from .resources import ResourceType

Column = dict[str, Any]


def _column(name: str, kind: str = "string", description: str = "", priority: int = 0) -> Column:
    fmt = "name" if name == "Name" else ""
    return {
        "name": name,
        "type": kind,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


def human_duration(seconds: float) -> str:
    """A duration as kube-apiserver's printers write ages (apimachinery's `HumanDuration`)."""
    if seconds < -1:
        return "<invalid>"
    whole = max(int(seconds), 0)
    if whole < 120:
        return f"{whole}s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def age(timestamp: str | None) -> str:
    """How long ago `timestamp` (any RFC 3339 time) was; `<unknown>` when there is none."""
    if not timestamp:
        return "<unknown>"
    try:
        then = clock.parse(timestamp)
    except ValueError:
        return "<unknown>"
    return human_duration((clock.utcnow() - then).total_seconds())


Cell = Callable[[dict[str, Any]], Any]


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _terminated_reason(terminated: dict[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return f"{prefix}{terminated['reason']}"
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _is_restartable_init(container: dict[str, Any] | None) -> bool:
    """A sidecar: an init container with `restartPolicy: Always`."""
    return bool(container) and (container or {}).get("restartPolicy") == "Always"


def _has_condition(pod: dict[str, Any], kind: str) -> bool:
    conditions = _status(pod).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _last_termination(status: dict[str, Any]) -> str | None:
    terminated = (status.get("lastState") or {}).get("terminated") or {}
    finished = terminated.get("finishedAt")
    return str(finished) if finished else None


def _latest(current: str | None, other: str | None) -> str | None:
    if other is None:
        return current
    if current is None:
        return other
    return other if clock.parse(other) > clock.parse(current) else current


@dataclass
class PodRow:
    """What kube-apiserver's pod printer derives from the container statuses: READY, STATUS and
    RESTARTS (`Completed`/`Error`/`OOMKilled` from a terminated container, `Init:...`,
    `CrashLoopBackOff`, `Terminating`), computed as its `printPod` does."""

    ready: str
    status: str
    restarts: str


def pod_row(pod: dict[str, Any]) -> PodRow:
    spec, status = _spec(pod), _status(pod)
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(
        1 for c in init_specs.values() if _is_restartable_init(c)
    )
    ready = restarts = sidecar_restarts = 0
    last_restart: str | None = None
    last_sidecar_restart: str | None = None
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for index, container in enumerate(init_statuses):
        restarts += int(container.get("restartCount") or 0)
        last_restart = _latest(last_restart, _last_termination(container))
        sidecar = _is_restartable_init(init_specs.get(container.get("name")))
        if sidecar:
            sidecar_restarts += int(container.get("restartCount") or 0)
            last_sidecar_restart = _latest(last_sidecar_restart, _last_termination(container))
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and int(terminated.get("exitCode") or 0) == 0:
            continue
        if sidecar and container.get("started"):
            ready += 1 if container.get("ready") else 0
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break
    if not initializing or _has_condition(pod, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += int(container.get("restartCount") or 0)
            last_restart = _latest(last_restart, _last_termination(container))
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif container.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            reason = "Running" if _has_condition(pod, "Ready") else "NotReady"
    deleted = bool(pod["metadata"].get("deletionTimestamp"))
    if deleted and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleted and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    shown = str(restarts)
    if restarts and last_restart is not None:
        shown = f"{restarts} ({age(last_restart)} ago)"
    return PodRow(f"{ready}/{total}", reason, shown)


def _pod_readiness_gates(pod: dict[str, Any]) -> str:
    gates = _spec(pod).get("readinessGates") or []
    if not gates:
        return "<none>"
    true = sum(1 for g in gates if _has_condition(pod, str(g.get("conditionType", ""))))
    return f"{true}/{len(gates)}"


def _pod_conditions(pod: dict[str, Any]) -> list[dict[str, str]]:
    """The row conditions kube-apiserver attaches to a finished pod's row."""
    phase = _status(pod).get("phase")
    if phase == "Succeeded":
        return [_completed("Succeeded", "The pod has completed successfully.")]
    if phase == "Failed":
        return [_completed("Failed", "The pod failed.")]
    return []


def _completed(reason: str, message: str) -> dict[str, str]:
    return {"type": "Completed", "status": "True", "reason": reason, "message": message}


def _service_port(port: dict[str, Any]) -> str:
    """`8786/TCP`, or `8786:30123/TCP` with its node port."""
    node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
    return f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}"


def _service_ports(service: dict[str, Any]) -> str:
    ports = _spec(service).get("ports") or []
    return ",".join(_service_port(p) for p in ports) or "<none>"


def _external_ip(service: dict[str, Any]) -> str:
    ingress = (_status(service).get("loadBalancer") or {}).get("ingress") or []
    addresses = [i.get("ip") or i.get("hostname") for i in ingress]
    if addresses:
        return ",".join(str(a) for a in addresses)
    return "<pending>" if _spec(service).get("type") == "LoadBalancer" else "<none>"


def _deployment_ready(deployment: dict[str, Any]) -> str:
    wanted = _spec(deployment).get("replicas", 1)
    return f"{_status(deployment).get('readyReplicas', 0)}/{wanted}"


def _event_object(event: dict[str, Any]) -> str:
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_first_seen(event: dict[str, Any]) -> str:
    return age(event.get("firstTimestamp") or event.get("eventTime"))


def _event_last_seen(event: dict[str, Any]) -> str:
    """As kube-apiserver's event printer: the series' last observation, else lastTimestamp,
    else the first sighting (firstTimestamp, else the new API's eventTime)."""
    series = event.get("series")
    if series:
        return age(series.get("lastObservedTime"))
    if event.get("lastTimestamp"):
        return age(event["lastTimestamp"])
    return _event_first_seen(event)


def _event_count(event: dict[str, Any]) -> int:
    series = event.get("series")
    if series:
        return int(series.get("count") or 0)
    return int(event.get("count") or 0) or 1  # a singleton event of the new API has none


def _event_source(event: dict[str, Any]) -> str:
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else str(component)


def _node_status(node: dict[str, Any]) -> str:
    ready = status_condition(node, "Ready").get("status")
    status = ["Unknown" if ready is None else "Ready" if ready == "True" else "NotReady"]
    if _spec(node).get("unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"


def _node_roles(node: dict[str, Any]) -> str:
    roles = set()
    for key, value in (node["metadata"].get("labels") or {}).items():
        if key.startswith(_NODE_ROLE_PREFIX) and key[len(_NODE_ROLE_PREFIX) :]:
            roles.add(key[len(_NODE_ROLE_PREFIX) :])
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or "<none>"


def _node_info(node: dict[str, Any], field: str, missing: str = "<unknown>") -> str:
    return str((_status(node).get("nodeInfo") or {}).get(field) or missing)


def _node_address(node: dict[str, Any], kind: str) -> str:
    for address in _status(node).get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return "<none>"


def _pod_ip(pod: dict[str, Any]) -> str:
    addresses = _status(pod).get("podIPs") or []
    return str(addresses[0].get("ip") or "<none>") if addresses else "<none>"


def _count_data(obj: dict[str, Any]) -> int:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


def _selector(labels: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or "<none>"


def _template_containers(obj: dict[str, Any], field: str) -> str:
    template = (_spec(obj).get("template") or {}).get("spec") or {}
    return ",".join(str(c.get(field, "")) for c in template.get("containers") or [])


def _or_none(value: Any) -> Any:
    return value if value else "<none>"


BUILTIN_COLUMNS: dict[tuple[str, str], list[tuple[str, Cell]]] = {
    ("", "configmaps"): [("Data", _count_data)],
    ("", "secrets"): [("Type", lambda s: s.get("type", "Opaque")), ("Data", _count_data)],
    ("", "pods"): [
        ("Ready", lambda p: pod_row(p).ready),
        ("Status", lambda p: pod_row(p).status),
        ("Restarts", lambda p: pod_row(p).restarts),
    ],
    ("", "services"): [
        ("Type", lambda s: _spec(s).get("type", "ClusterIP")),
        ("Cluster-IP", lambda s: _spec(s).get("clusterIP", "<none>")),
        ("External-IP", _external_ip),
        ("Port(s)", _service_ports),
    ],
    ("", "namespaces"): [("Status", lambda n: _status(n).get("phase", "Active"))],
    ("apps", "deployments"): [
        ("Ready", _deployment_ready),
        ("Up-to-date", lambda d: _status(d).get("updatedReplicas", 0)),
        ("Available", lambda d: _status(d).get("availableReplicas", 0)),
    ],
    ("apps", "replicasets"): [
        ("Desired", lambda rs: _spec(rs).get("replicas", 1)),
        ("Current", lambda rs: _status(rs).get("replicas", 0)),
        ("Ready", lambda rs: _status(rs).get("readyReplicas", 0)),
    ],
    ("", "nodes"): [
        ("Status", _node_status),
        ("Roles", _node_roles),
        ("Age", lambda n: age(n["metadata"].get("creationTimestamp"))),
        ("Version", lambda n: _node_info(n, "kubeletVersion", "")),
    ],
}


# kube-apiserver v1.37's event columns, -o wide ones (priority 1) in their places; no Age.
EVENT_COLUMNS: list[tuple[Column, Cell]] = [
    (_column("Last Seen"), _event_last_seen),
    (_column("Type"), lambda e: e.get("type", "")),
    (_column("Reason"), lambda e: e.get("reason", "")),
    (_column("Object"), _event_object),
    (
        _column("Subobject", priority=1),
        lambda e: (e.get("involvedObject") or {}).get("fieldPath", ""),
    ),
    (_column("Source", priority=1), _event_source),
    (_column("Message"), lambda e: str(e.get("message", "")).strip()),
    (_column("First Seen", priority=1), _event_first_seen),
    (_column("Count", priority=1), _event_count),
    (_column("Name", priority=1), lambda e: e["metadata"]["name"]),
]


# What `kubectl get -o wide` adds (priority 1), after Age, as a real server lists them.
_WORKLOAD_WIDE: list[tuple[str, Cell]] = [
    ("Containers", lambda o: _template_containers(o, "name")),
    ("Images", lambda o: _template_containers(o, "image")),
    ("Selector", lambda o: _selector((_spec(o).get("selector") or {}).get("matchLabels"))),
]
WIDE_COLUMNS: dict[tuple[str, str], list[tuple[str, Cell]]] = {
    ("", "pods"): [
        ("IP", _pod_ip),
        ("Node", lambda p: _or_none(_spec(p).get("nodeName"))),
        ("Nominated Node", lambda p: _or_none(_status(p).get("nominatedNodeName"))),
        ("Readiness Gates", _pod_readiness_gates),
    ],
    ("", "services"): [("Selector", lambda s: _selector(_spec(s).get("selector")))],
    ("", "nodes"): [
        ("Internal-IP", lambda n: _node_address(n, "InternalIP")),
        ("External-IP", lambda n: _node_address(n, "ExternalIP")),
        ("OS-Image", lambda n: _node_info(n, "osImage")),
        ("Kernel-Version", lambda n: _node_info(n, "kernelVersion")),
        ("Container-Runtime", lambda n: _node_info(n, "containerRuntimeVersion")),
    ],
    ("apps", "deployments"): _WORKLOAD_WIDE,
    ("apps", "replicasets"): _WORKLOAD_WIDE,
}


def _crd_versions(crd: dict[str, Any]) -> str:
    served = [v for v in _spec(crd).get("versions") or [] if v.get("served")]
    return ",".join(f"{v['name']}(storage)" if v.get("storage") else v["name"] for v in served)


def _crd_established(crd: dict[str, Any]) -> bool:
    conditions = _status(crd).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


# kube-apiserver v1.37's own columns for CRDs (the creation time as a date, not an age).
CRD_COLUMNS: list[tuple[Column, Cell]] = [
    (_column("Scope"), lambda c: _spec(c).get("scope", "")),
    (_column("Versions"), _crd_versions),
    (_column("Created At", "date"), lambda c: c["metadata"].get("creationTimestamp")),
    (_column("Group", priority=1), lambda c: _spec(c).get("group", "")),
    (_column("Kind", priority=1), lambda c: (_spec(c).get("names") or {}).get("kind", "")),
    (
        _column("ShortNames", priority=1),
        lambda c: ",".join((_spec(c).get("names") or {}).get("shortNames") or []),
    ),
    (_column("Established", "boolean", priority=1), _crd_established),
]


_AGE_COLUMNS = ("Age", "Created At")  # a real server shows CRDs' creation time, not an age


def _jsonpath_cell(obj: dict[str, Any], path: str) -> Any:
    value = field_value(obj, path.strip().lstrip("."))
    return value if value != "" else None


def _custom_cell(column: dict[str, Any]) -> Cell:
    path = column["jsonPath"]

    def cell(obj: dict[str, Any]) -> Any:
        value = _jsonpath_cell(obj, path)
        is_date = column.get("type") == "date" or path == ".metadata.creationTimestamp"
        return age(value) if is_date and value else value

    return cell


def _name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def _age(obj: dict[str, Any]) -> str:
    return age(obj["metadata"].get("creationTimestamp"))


def _layout(resource: ResourceType) -> list[tuple[Column, Cell]]:
    """Columns with the function filling each: Name, the kind's own, then Age."""
    if resource.printer_columns:
        specific = [
            (
                _column(
                    c["name"],
                    c.get("type", "string"),
                    c.get("description", ""),
                    int(c.get("priority", 0)),
                ),
                _custom_cell(c),
            )
            for c in resource.printer_columns
        ]
    else:
        specific = [
            (_column(name), cell)
            for name, cell in BUILTIN_COLUMNS.get((resource.group, resource.plural), [])
        ]
    if (resource.group, resource.plural) == ("", "events"):
        return EVENT_COLUMNS
    if (resource.group, resource.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
        return [(_column("Name"), _name), *CRD_COLUMNS]
    layout = [(_column("Name"), _name), *specific]
    # A CRD's additionalPrinterColumns replace the default Age column: kube-apiserver shows
    # exactly the columns the CRD lists (ours list AGE themselves).
    custom_columns = resource.custom and bool(resource.printer_columns)
    if not custom_columns and not any(column["name"] in _AGE_COLUMNS for column, _ in specific):
        layout.append((_column("Age"), _age))
    wide = WIDE_COLUMNS.get((resource.group, resource.plural), [])
    layout.extend((_column(name, priority=1), cell) for name, cell in wide)
    return layout


def as_table(
    resource: ResourceType, objects: list[dict[str, Any]], revision: str
) -> dict[str, Any]:
    layout = _layout(resource)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": revision},
        "columnDefinitions": [column for column, _ in layout],
        "rows": [_row(resource, layout, obj) for obj in objects],
    }


def _row(
    resource: ResourceType, layout: list[tuple[Column, Cell]], obj: dict[str, Any]
) -> dict[str, Any]:
    row: dict[str, Any] = {"cells": [cell(obj) for _, cell in layout], "object": obj}
    if (resource.group, resource.plural) == ("", "pods") and _pod_conditions(obj):
        row["conditions"] = _pod_conditions(obj)
    return row


def wants_table(accept: str) -> bool:
    return "as=Table" in accept
