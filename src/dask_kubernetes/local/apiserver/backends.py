"""Where `services/proxy`, `pods/proxy` and `pods/portforward` connect: a ready pod's address."""

from __future__ import annotations

from typing import Any

from dask_kubernetes.common.pods import container_port, serves_traffic
from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apimachinery.selectors import labels_match, requirements_of

from .objects import ObjectAPI
from .resources import ResourceType


def pod_port(pod: dict[str, Any], port: str) -> int:
    """A port number, or the number of the port of that name in any of the pod's containers."""
    for container in (pod.get("spec") or {}).get("containers") or [{}]:
        try:
            return container_port(port, container)
        except ValueError:
            continue
    raise APIError(503, f'no port named "{port}" in pod {pod["metadata"]["name"]}')


def split_name_port(text: str) -> tuple[str, str]:
    """`name`, `name:port` or `scheme:name:port` (the proxy URL forms)."""
    parts = text.split(":")
    if len(parts) == 3:
        parts = parts[1:]
    return parts[0], parts[1] if len(parts) > 1 else ""


def pod_address(objects: ObjectAPI, pods: ResourceType, namespace: str, name: str) -> str:
    pod = objects.get(pods, namespace, name)
    address = (pod.get("status") or {}).get("podIP")
    if not address or (pod.get("status") or {}).get("phase") != "Running":
        raise APIError(400, f'unable to upgrade connection: pod "{name}" is not running')
    return str(address)


def pod_target(
    objects: ObjectAPI, pods: ResourceType, namespace: str, spec: str
) -> tuple[str, int]:
    name, port = split_name_port(spec)
    address = pod_address(objects, pods, namespace, name)
    pod = objects.get(pods, namespace, name)
    if not port:
        declared = [p for c in pod["spec"].get("containers") or [] for p in c.get("ports") or []]
        if not declared:
            raise APIError(400, f'pod "{name}" declares no ports; name one in the URL')
        return address, int(declared[0]["containerPort"])
    return address, pod_port(pod, port)


def service_target(
    objects: ObjectAPI,
    services: ResourceType,
    pods: ResourceType,
    namespace: str,
    spec: str,
) -> tuple[str, int]:
    name, port = split_name_port(spec)
    service = objects.get(services, namespace, name)
    ports = (service.get("spec") or {}).get("ports") or []
    chosen = next(
        (p for p in ports if not port or p.get("name") == port or str(p.get("port")) == port),
        None,
    )
    if chosen is None:
        raise APIError(503, f'no service port "{port}" found for service "{name}"')
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        raise APIError(503, f'no endpoints available for service "{name}"')
    requirements = requirements_of(selector)
    for pod in objects.store.select(pods.storage_key, namespace):
        if labels_match(requirements, pod) and serves_traffic(pod):
            target = str(chosen.get("targetPort", chosen["port"]))
            return pod["status"]["podIP"], pod_port(pod, target)
    raise APIError(503, f'no endpoints available for service "{name}"')
