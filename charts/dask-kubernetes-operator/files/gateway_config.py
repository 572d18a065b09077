# dask-gateway-server configuration for the chart's gateway (gateway.enabled). Static: every
# choice comes from DASK_GATEWAY_SETTINGS (JSON of the chart's gateway values, from the gateway's
# ConfigMap), every secret from an environment variable the kubelet fills from a Secret.
# `c` is the traitlets config object dask-gateway-server hands to its config file.
# ruff: noqa
import json
import os
import re

from dask_gateway_server.options import Options, Select

settings = json.loads(os.environ["DASK_GATEWAY_SETTINGS"])

_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_UNITS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def to_bytes(quantity):
    """A Kubernetes memory quantity ("2Gi", "500M", 1073741824) in bytes."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", str(quantity).strip())
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


c.DaskGateway.backend_class = "dask_kubernetes.gateway.backend.OperatorBackend"
c.DaskGateway.log_level = settings.get("logLevel", "INFO")
# The proxy: the one port users reach (API and dashboards over HTTP, Dask clients over TLS/SNI).
# On a process node (the local stand-in's kubelet runs every Pod as a process in the node's one
# network namespace, narrows Python's wildcard binds to the Pod's own address and names it in
# DASK_K8S_LOCAL_POD_IP), the Go proxy is given that address; elsewhere it listens on all of the
# Pod's addresses, so `kubectl port-forward` to it works too.
_host = os.environ.get("DASK_K8S_LOCAL_POD_IP", "")
c.Proxy.address = f"{_host}:{settings['port']}"
c.Proxy.tcp_address = f"{_host}:{settings['port']}"
# The proxy token comes from DASK_GATEWAY_PROXY_TOKEN (the chart's Secret), read by dask-gateway.

c.OperatorBackend.namespace = settings["namespace"]
c.OperatorBackend.gateway_instance = settings["instance"]
c.OperatorBackend.api_url = settings["apiUrl"]

limits = settings.get("limits") or {}
if limits.get("clustersPerUser") is not None:
    c.OperatorBackend.max_clusters_per_user = int(limits["clustersPerUser"])
if limits.get("coresPerUser") is not None:
    c.OperatorBackend.max_cores_per_user = float(limits["coresPerUser"])
if limits.get("memoryPerUser") is not None:
    if to_bytes(limits["memoryPerUser"]) == 0:  # the backend reads 0 as "no limit"
        raise ValueError("gateway.limits.memoryPerUser must be more than 0 (null: no limit)")
    c.OperatorBackend.max_memory_per_user = to_bytes(limits["memoryPerUser"])

options = settings["clusterOptions"]
sizes = [
    (size["name"], {"cores": float(size["cores"]), "memory": to_bytes(size["memory"])})
    for size in options["workerSizes"]
]
images = list(options["images"])
c.OperatorClusterConfig.image_allowlist = images
c.OperatorClusterConfig.image = images[0]
c.OperatorClusterConfig.worker_cores = sizes[0][1]["cores"]
c.OperatorClusterConfig.worker_memory = sizes[0][1]["memory"]
c.OperatorClusterConfig.scheduler_cores = float(options.get("schedulerCores", 1))
c.OperatorClusterConfig.scheduler_memory = to_bytes(options.get("schedulerMemory", "2Gi"))
if options.get("maxWorkers") is not None:
    c.OperatorClusterConfig.cluster_max_workers = int(options["maxWorkers"])
c.OperatorClusterConfig.idle_timeout = float(settings.get("idleTimeout", 0))


def _chosen(choice):
    """What a user's choice sets: only values the admin listed (Select refuses anything else)."""
    return {
        "worker_cores": choice.worker_size["cores"],
        "worker_memory": choice.worker_size["memory"],
        "image": choice.image,
    }


c.Backend.cluster_options = Options(
    Select("worker_size", sizes, label="Worker size"),
    Select("image", images, label="Image"),
    handler=_chosen,
)

auth = settings["auth"]
if auth["type"] == "simple":
    c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
    c.SimpleAuthenticator.password = os.environ["DASK_GATEWAY_PASSWORD"]
elif auth["type"] == "jupyterhub":
    # The API token comes from JUPYTERHUB_API_TOKEN (a Secret), read by dask-gateway.
    c.DaskGateway.authenticator_class = "dask_gateway_server.auth.JupyterHubAuthenticator"
    c.JupyterHubAuthenticator.jupyterhub_api_url = auth["jupyterhub"]["apiUrl"]
    c.JupyterHubAuthenticator.jupyterhub_service_name = auth["jupyterhub"].get("serviceName", "")
elif auth["type"] == "kerberos":
    c.DaskGateway.authenticator_class = "dask_gateway_server.auth.KerberosAuthenticator"
    c.KerberosAuthenticator.service_name = auth["kerberos"].get("serviceName", "HTTP")
    c.KerberosAuthenticator.keytab = os.environ["DASK_GATEWAY_KEYTAB"]
else:
    raise ValueError(f"unknown gateway.auth.type {auth['type']!r}")
