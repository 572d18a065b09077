"""Collect scheduler and worker logs through the API server, as `Cluster.get_logs` promises."""

from __future__ import annotations

from distributed.utils import Log, Logs
from kr8s.asyncio.objects import Pod

from dask_kubernetes.operator.vocabulary import COMPONENT_LABEL, SCHEDULER, WORKER

from .kr8s_api import Api, list_objects
from .resources import cluster_selector
from .waiting import pod_logs


async def cluster_logs(api: Api, name: str, namespace: str) -> Logs:
    """`{pod name: log}` for the cluster's scheduler and worker pods."""
    return await component_logs(api, namespace, cluster_selector(name), COMPONENT_LABEL)


async def component_logs(api: Api, namespace: str, selector: str, component_label: str) -> Logs:
    """`{pod name: log}` for the pods matching `selector` whose `component_label` says
    scheduler or worker (ours and the dask/dask Helm chart name the label differently)."""
    logs = Logs()
    pods = await list_objects(Pod, namespace, api, label_selector=selector)
    for pod in sorted(pods, key=lambda pod: str(pod.name)):
        component = pod.raw.get("metadata", {}).get("labels", {}).get(component_label)
        if component not in (SCHEDULER, WORKER):
            continue
        phase = pod.raw.get("status", {}).get("phase")
        if phase == "Running":
            logs[pod.name] = Log(await pod_logs(pod))
        else:
            logs[pod.name] = Log(f"Cannot find logs. Pod is {phase}.")
    return logs
