"""Server-side printing (`as=Table`), so `kubectl get` shows the columns users expect,
including a CRD's additionalPrinterColumns."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from dask_kubernetes.common import clock

from .resources import ResourceType
from .selectors import field_value

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


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = int(
        (datetime.datetime.now(datetime.timezone.utc) - clock.parse(timestamp)).total_seconds()
    )
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


Cell = Callable[[dict[str, Any]], Any]


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _pod_ready(pod: dict[str, Any]) -> str:
    statuses = _status(pod).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(_spec(pod).get('containers') or [])}"


def _pod_phase(pod: dict[str, Any]) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = _status(pod)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            return "SchedulingGated"
    return str(status.get("reason") or status.get("phase", "Unknown"))


def _pod_restarts(pod: dict[str, Any]) -> str:
    """A string, as kube-apiserver sends it (it may read "2 (5m ago)" there)."""
    statuses = _status(pod).get("containerStatuses") or []
    return str(sum(int(s.get("restartCount", 0)) for s in statuses))


def _service_ports(service: dict[str, Any]) -> str:
    ports = _spec(service).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


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
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_seen(event: dict[str, Any]) -> str:
    return age(event.get("lastTimestamp") or event["metadata"].get("creationTimestamp"))


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
        ("Ready", _pod_ready),
        ("Status", _pod_phase),
        ("Restarts", _pod_restarts),
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
    ("", "events"): [
        ("Last Seen", _event_seen),
        ("Type", lambda e: e.get("type", "")),
        ("Reason", lambda e: e.get("reason", "")),
        ("Object", _event_object),
        ("Message", lambda e: e.get("message", "")),
    ],
}


# What `kubectl get -o wide` adds (priority 1), after Age, as a real server lists them.
_WORKLOAD_WIDE: list[tuple[str, Cell]] = [
    ("Containers", lambda o: _template_containers(o, "name")),
    ("Images", lambda o: _template_containers(o, "image")),
    ("Selector", lambda o: _selector((_spec(o).get("selector") or {}).get("matchLabels"))),
]
WIDE_COLUMNS: dict[tuple[str, str], list[tuple[str, Cell]]] = {
    ("", "pods"): [
        ("IP", lambda p: _or_none(_status(p).get("podIP"))),
        ("Node", lambda p: _or_none(_spec(p).get("nodeName"))),
        ("Nominated Node", lambda p: _or_none(_status(p).get("nominatedNodeName"))),
        ("Readiness Gates", lambda p: _or_none(_spec(p).get("readinessGates"))),
    ],
    ("", "services"): [("Selector", lambda s: _selector(_spec(s).get("selector")))],
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
        return specific
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
        "rows": [{"cells": [cell(obj) for _, cell in layout], "object": obj} for obj in objects],
    }


def wants_table(accept: str) -> bool:
    return "as=Table" in accept
