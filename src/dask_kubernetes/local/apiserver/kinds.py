"""What particular kinds do beyond generic storage: pod status and graceful deletion, Service
cluster IPs, namespace phases, CRDs registering their resources."""

from __future__ import annotations

from typing import Any

from dask_kubernetes.common import clock

from .errors import APIError, invalid
from .ipalloc import ClusterIPAllocator
from .resources import ResourceType

POD_TERMINAL = ("Succeeded", "Failed")
ROLLING_UPDATE_DEFAULT = "25%"  # a Deployment's maxSurge and maxUnavailable when unset
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def is_core(resource: ResourceType, plural: str) -> bool:
    return resource.group == "" and resource.plural == plural


def is_crd(resource: ResourceType) -> bool:
    return (
        resource.group == "apiextensions.k8s.io" and resource.plural == "customresourcedefinitions"
    )


def prepare_pod(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    if not spec.get("containers"):
        raise APIError(422, "spec.containers: Required value")
    for container in spec["containers"]:
        container.setdefault("imagePullPolicy", "IfNotPresent")
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
    pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    if spec.get("schedulingGates"):
        # As kube-apiserver's pod strategy does: `kubectl get` shows the pod SchedulingGated.
        pod["status"]["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
            }
        ]


def is_workload(resource: ResourceType) -> bool:
    return resource.group == "apps" and resource.plural in ("deployments", "replicasets")


def default_workload(resource: ResourceType, obj: dict[str, Any]) -> None:
    """The defaults a real API server stores for Deployments and ReplicaSets (clients such as
    helm's `--wait` read them back, e.g. the rolling update's 25% maxUnavailable)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    if resource.plural != "deployments":
        return
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", ROLLING_UPDATE_DEFAULT)
        rolling.setdefault("maxSurge", ROLLING_UPDATE_DEFAULT)


def validate_service_ports(service: dict[str, Any]) -> None:
    """kube-apiserver's rules clients trip over: a Service that is not headless (or an
    ExternalName) needs ports, and when it has several, each needs a name (422)."""
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    causes = []
    if not ports and spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
        causes.append(_required("spec.ports"))
    if len(ports) > 1:
        causes.extend(
            _required(f"spec.ports[{i}].name")
            for i, port in enumerate(ports)
            if not port.get("name")
        )
    if causes:
        raise invalid("Service", "", str(service["metadata"].get("name", "")), causes)


def _required(field: str) -> dict[str, str]:
    return {"reason": "FieldValueRequired", "message": "Required value", "field": field}


def prepare_service(service: dict[str, Any], allocator: ClusterIPAllocator) -> None:
    validate_service_ports(service)
    spec = service.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    if spec["type"] == "ExternalName":
        return
    if spec.get("clusterIP") == "None":
        spec["clusterIPs"] = ["None"]
    else:
        address = allocator.allocate(spec.get("clusterIP") or None)
        spec["clusterIP"] = address
        spec["clusterIPs"] = [address]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    service["status"] = {"loadBalancer": {}}


def keep_service_ip(old: dict[str, Any], new: dict[str, Any]) -> None:
    """clusterIP is immutable; an update that leaves it out keeps the allocated one."""
    validate_service_ports(new)
    old_spec, new_spec = old.get("spec") or {}, new.setdefault("spec", {})
    if not new_spec.get("clusterIP"):
        for key in ("clusterIP", "clusterIPs"):
            if key in old_spec:
                new_spec[key] = old_spec[key]
    elif new_spec["clusterIP"] != old_spec.get("clusterIP"):
        raise APIError(422, "spec.clusterIP: Invalid value: field is immutable")


def prepare_namespace(namespace: dict[str, Any]) -> None:
    namespace.setdefault("spec", {})["finalizers"] = ["kubernetes"]
    namespace["status"] = {"phase": "Active"}
    labels = namespace["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = namespace["metadata"]["name"]


def prepare_crd(crd: dict[str, Any]) -> None:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    if not spec.get("group") or not names.get("plural") or not names.get("kind"):
        raise APIError(422, "spec.group, spec.names.plural and spec.names.kind are required")
    expected = f"{names['plural']}.{spec['group']}"
    if crd["metadata"]["name"] != expected:
        raise APIError(
            422,
            f'metadata.name: Invalid value: must be spec.names.plural+"."+spec.group: {expected!r}',
        )
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    stamp = clock.now()
    crd["status"] = {
        "acceptedNames": dict(names),
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
        "conditions": [
            {
                "type": condition,
                "status": "True",
                "lastTransitionTime": stamp,
                "reason": reason,
                "message": message,
            }
            for condition, reason, message in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ],
    }


def bind_pod(pod: dict[str, Any], binding: dict[str, Any]) -> None:
    target = (binding.get("target") or {}).get("name")
    if not target:
        raise APIError(422, "target.name: Required value")
    spec = pod.setdefault("spec", {})
    if spec.get("nodeName"):
        raise APIError(
            409,
            f'pod {pod["metadata"]["name"]} is already assigned to node "{spec["nodeName"]}"',
        )
    spec["nodeName"] = target
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": clock.now()})


def pod_deletes_at_once(pod: dict[str, Any]) -> bool:
    """Unbound and finished pods go at once; running ones wait for their kubelet."""
    return (
        not (pod.get("spec") or {}).get("nodeName")
        or (pod.get("status") or {}).get("phase") in POD_TERMINAL
    )
