"""What particular kinds do beyond generic storage: pod status, defaults and graceful deletion,
Service cluster IPs and node ports, Event times, namespace phases, CRDs registering their
resources."""

from __future__ import annotations

from typing import Any

from dask_kubernetes.common import clock
from dask_kubernetes.local.apimachinery.errors import APIError, invalid

from .ipalloc import ClusterIPAllocator, NodePortAllocator
from .resources import ResourceType

POD_TERMINAL = ("Succeeded", "Failed")
ROLLING_UPDATE_DEFAULT = "25%"  # a Deployment's maxSurge and maxUnavailable when unset
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# What kube-apiserver fills into every probe a client leaves them out of (SetDefaults_Probe).
PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1}
PROBE_DEFAULTS |= {"failureThreshold": 3}
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


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
    default_probes(spec)
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


def default_probes(pod_spec: dict[str, Any]) -> None:
    """Fill each probe of a pod spec as kube-apiserver does on create and update (a Pod's or a
    workload's template), so clients read back what a real cluster stores."""
    for container in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        for name in PROBES:
            probe = container.get(name)
            if not isinstance(probe, dict):
                continue
            for key, value in PROBE_DEFAULTS.items():
                probe.setdefault(key, value)
            http_get = probe.get("httpGet")
            if isinstance(http_get, dict):
                http_get.setdefault("path", "/")
                http_get.setdefault("scheme", "HTTP")


def is_workload(resource: ResourceType) -> bool:
    return resource.group == "apps" and resource.plural in ("deployments", "replicasets")


def default_workload(resource: ResourceType, obj: dict[str, Any]) -> None:
    """The defaults a real API server stores for Deployments and ReplicaSets (clients such as
    helm's `--wait` read them back, e.g. the rolling update's 25% maxUnavailable)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_probes(template["spec"])
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


def prepare_service(
    service: dict[str, Any], allocator: ClusterIPAllocator, node_ports: NodePortAllocator
) -> None:
    validate_service_ports(service)
    spec = service.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    if spec["type"] == "ExternalName":
        return
    _default_node_port_fields(spec)
    claimed = _claim_node_ports(service, node_ports, owned=set())
    if spec.get("clusterIP") == "None":
        spec["clusterIPs"] = ["None"]
    else:
        try:
            address = allocator.allocate(spec.get("clusterIP") or None)
        except APIError:
            for port in claimed:
                node_ports.release(port)
            raise
        spec["clusterIP"] = address
        spec["clusterIPs"] = [address]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    service["status"] = {"loadBalancer": {}}


def _default_node_port_fields(spec: dict[str, Any]) -> None:
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec.get("type") in NODE_PORT_TYPES:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec.get("type") == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def needs_node_ports(service: dict[str, Any]) -> bool:
    spec = service.get("spec") or {}
    kind = spec.get("type")
    return kind == "NodePort" or (
        kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True)
    )


def node_ports_of(service: dict[str, Any]) -> set[int]:
    ports = (service.get("spec") or {}).get("ports") or []
    return {int(p["nodePort"]) for p in ports if p.get("nodePort")}


def _claim_node_ports(
    service: dict[str, Any], node_ports: NodePortAllocator, owned: set[int]
) -> list[int]:
    """Give each port of the Service its node port, as kube-apiserver does: a requested one
    (422 if taken or out of range, unless this Service `owned` it already), else a free one.
    Returns the ports newly taken; refuses a node port on a Service that gets none."""
    ports = (service.get("spec") or {}).get("ports") or []
    name = str(service["metadata"].get("name", ""))
    causes: list[dict[str, str]] = []
    wanted = needs_node_ports(service)
    seen: set[tuple[int, str]] = set()
    checked = set(owned)  # a port this Service holds, or one an earlier port of it asked for
    for index, port in enumerate(ports):
        requested = int(port.get("nodePort") or 0)
        if not requested:
            continue
        field = f"spec.ports[{index}].nodePort"
        if not wanted:
            kind = (service.get("spec") or {}).get("type", "ClusterIP")
            message = f"Forbidden: may not be used when `type` is '{kind}'"
            causes.append({"reason": "FieldValueForbidden", "message": message, "field": field})
            continue
        key = (requested, str(port.get("protocol", "TCP")))
        if key in seen:
            message = f"Duplicate value: {requested}"
            causes.append({"reason": "FieldValueDuplicate", "message": message, "field": field})
            continue
        seen.add(key)
        cause = None if requested in checked else node_ports.check(requested, field)
        checked.add(requested)
        if cause is not None:
            causes.append(cause)
    if causes:
        raise invalid("Service", "", name, causes)
    if not wanted:
        return []
    taken: list[int] = []
    for port in ports:
        if port.get("nodePort"):
            if int(port["nodePort"]) not in owned and int(port["nodePort"]) not in taken:
                node_ports.take(int(port["nodePort"]))
                taken.append(int(port["nodePort"]))
        else:
            port["nodePort"] = node_ports.allocate()
            taken.append(port["nodePort"])
    return taken


def keep_service_allocations(
    old: dict[str, Any], new: dict[str, Any], node_ports: NodePortAllocator
) -> None:
    """clusterIP is immutable; an update that leaves it out keeps the allocated one, and one
    that leaves out a port's nodePort keeps the port's (matched by name), as kube-apiserver
    does. Node ports the update no longer uses are released."""
    validate_service_ports(new)
    old_spec, new_spec = old.get("spec") or {}, new.setdefault("spec", {})
    if not new_spec.get("clusterIP"):
        for key in ("clusterIP", "clusterIPs"):
            if key in old_spec:
                new_spec[key] = old_spec[key]
    elif new_spec["clusterIP"] != old_spec.get("clusterIP"):
        raise APIError(422, "spec.clusterIP: Invalid value: field is immutable")
    if new_spec.get("type", "ClusterIP") == "ExternalName":
        for port in node_ports_of(old):
            node_ports.release(port)
        return
    new_spec.setdefault("type", "ClusterIP")
    _default_node_port_fields(new_spec)
    owned = node_ports_of(old)
    if needs_node_ports(old) and needs_node_ports(new):
        used = owned & node_ports_of(new)
        by_name = {p.get("name", ""): p.get("nodePort") for p in old_spec.get("ports") or []}
        for port in new_spec.get("ports") or []:
            inherited = by_name.get(port.get("name", ""))
            if not port.get("nodePort") and inherited and inherited not in used:
                port["nodePort"] = inherited
    elif needs_node_ports(old):
        # The type changed to one without node ports: the old ones are dropped, not refused.
        for port in new_spec.get("ports") or []:
            if port.get("nodePort") in owned:
                del port["nodePort"]
    _claim_node_ports(new, node_ports, owned)
    for port in owned - node_ports_of(new):
        node_ports.release(port)


def normalize_event_times(event: dict[str, Any]) -> None:
    """Store an Event's times as kube-apiserver does: `Time` fields in whole seconds with `Z`,
    `MicroTime` ones with microseconds, whatever RFC 3339 form the client sent (kopf sends
    `...03.123456+00:00`); a time that does not parse is 400, as decoding it fails there."""

    def convert(holder: dict[str, Any], key: str, micro: bool) -> None:
        value = holder.get(key)
        if value is None:
            return
        try:
            holder[key] = clock.as_micro_time(value) if micro else clock.as_time(value)
        except (TypeError, ValueError) as error:
            raise APIError(
                400,
                f'Event in version "v1" cannot be handled as a Event: parsing time '
                f'"{value}" as an RFC 3339 time: {error}',
            ) from error

    convert(event, "firstTimestamp", micro=False)
    convert(event, "lastTimestamp", micro=False)
    convert(event, "eventTime", micro=True)
    if isinstance(event.get("series"), dict):
        convert(event["series"], "lastObservedTime", micro=True)


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
