"""Manifests in the shape upstream dask-kubernetes 2026.3.0 documents; they must apply unchanged."""

from __future__ import annotations

import copy
import os
from typing import Any

import yaml

#: Upstream's image; on the container node (tests/conftest.py sets DASK_KUBERNETES_TEST_IMAGE)
#: the Dask image built here from HEAD's wheel, the one image that node holds.
UPSTREAM_IMAGE = "ghcr.io/dask/dask:latest"
IMAGE = os.environ.get("DASK_KUBERNETES_TEST_IMAGE", UPSTREAM_IMAGE)


def _on_this_node(manifest: Any) -> Any:
    """`manifest` with upstream's image swapped for IMAGE wherever a container names it."""
    if isinstance(manifest, dict):
        return {
            key: IMAGE if key == "image" and value == UPSTREAM_IMAGE else _on_this_node(value)
            for key, value in manifest.items()
        }
    if isinstance(manifest, list):
        return [_on_this_node(item) for item in manifest]
    return manifest


SIMPLE_CLUSTER = _on_this_node(
    yaml.safe_load(
        """
apiVersion: kubernetes.dask.org/v1
kind: DaskCluster
metadata:
  name: simple
spec:
  worker:
    replicas: 2
    spec:
      containers:
      - name: worker
        image: "ghcr.io/dask/dask:latest"
        imagePullPolicy: "IfNotPresent"
        args:
          - dask-worker
          - --name
          - $(DASK_WORKER_NAME)
          - --dashboard
          - --dashboard-address
          - "8788"
        ports:
          - name: http-dashboard
            containerPort: 8788
            protocol: TCP
  scheduler:
    spec:
      containers:
      - name: scheduler
        image: "ghcr.io/dask/dask:latest"
        imagePullPolicy: "IfNotPresent"
        args:
          - dask-scheduler
        ports:
          - name: tcp-comm
            containerPort: 8786
            protocol: TCP
          - name: http-dashboard
            containerPort: 8787
            protocol: TCP
        readinessProbe:
          httpGet:
            port: http-dashboard
            path: /health
          initialDelaySeconds: 5
          periodSeconds: 10
        livenessProbe:
          httpGet:
            port: http-dashboard
            path: /health
          initialDelaySeconds: 15
          periodSeconds: 20
    service:
      type: NodePort
      selector:
        dask.org/cluster-name: simple
        dask.org/component: scheduler
      ports:
      - name: tcp-comm
        protocol: TCP
        port: 8786
        targetPort: "tcp-comm"
      - name: http-dashboard
        protocol: TCP
        port: 8787
        targetPort: "http-dashboard"
"""
    )
)

WORKER_GROUP = _on_this_node(
    yaml.safe_load(
        """
apiVersion: kubernetes.dask.org/v1
kind: DaskWorkerGroup
metadata:
  name: simple-highmem
spec:
  cluster: simple
  worker:
    replicas: 2
    spec:
      containers:
      - name: worker
        image: "ghcr.io/dask/dask:latest"
        imagePullPolicy: "IfNotPresent"
        resources:
          requests:
            memory: "2Gi"
          limits:
            memory: "32Gi"
        args:
          - dask-worker
          - --name
          - $(DASK_WORKER_NAME)
          - --resources
          - MEMORY=32e9
          - --dashboard
          - --dashboard-address
          - "8788"
        ports:
          - name: http-dashboard
            containerPort: 8788
            protocol: TCP
"""
    )
)

AUTOSCALER = yaml.safe_load(
    """
apiVersion: kubernetes.dask.org/v1
kind: DaskAutoscaler
metadata:
  name: simple
spec:
  cluster: "simple"
  minimum: 1
  maximum: 10
"""
)


def job_example() -> dict[str, Any]:
    """Upstream's DaskJob example: a runner Pod plus the cluster spec it runs on."""
    cluster = copy.deepcopy(SIMPLE_CLUSTER["spec"])
    cluster["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = "simple-job"
    job = {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskJob",
        "metadata": {"name": "simple-job"},
        "spec": {
            "job": {
                "spec": {
                    "containers": [
                        {
                            "name": "job",
                            "image": UPSTREAM_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["python", "-c", "print('hello world')"],
                        }
                    ]
                }
            },
            "cluster": {"spec": cluster},
        },
    }
    return dict(_on_this_node(job))


JOB = job_example()
ALL = {
    "daskcluster": SIMPLE_CLUSTER,
    "daskworkergroup": WORKER_GROUP,
    "daskjob": JOB,
    "daskautoscaler": AUTOSCALER,
}


def local_cluster(name: str, replicas: int = 1) -> dict[str, Any]:
    """The upstream example made cheap for a 2-core machine: no nanny, one thread per worker."""
    cluster = copy.deepcopy(SIMPLE_CLUSTER)
    cluster["metadata"] = {"name": name, "labels": {"team": "tests"}}
    cluster["spec"]["worker"]["replicas"] = replicas
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    worker["args"] = ["dask-worker", "--name", "$(DASK_WORKER_NAME)", "--no-nanny"]
    worker["args"] += ["--nthreads", "1", "--no-dashboard"]
    scheduler = cluster["spec"]["scheduler"]["spec"]["containers"][0]
    # Ready as soon as it serves; but the liveness probe keeps upstream's 15 s grace: importing
    # the scheduler alone takes 4-5 s on a loaded 2-core machine, and a probe failing from 0 s
    # every second (three strikes) killed it before it served, again and again (issue 22).
    scheduler["readinessProbe"]["initialDelaySeconds"] = 0
    scheduler["readinessProbe"]["periodSeconds"] = 1
    cluster["spec"]["scheduler"]["service"]["type"] = "ClusterIP"
    cluster["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = name
    return cluster
