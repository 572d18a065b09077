"""Dask-Gateway on the dask-kubernetes operator: users get clusters without a Kubernetes credential.

A dask-gateway-server whose backend (`dask_kubernetes.gateway.backend.OperatorBackend`) makes
each gateway cluster a `kubernetes.dask.org/v1` DaskCluster that our operator reconciles, so a
platform runs one operator, one set of custom resources and one RBAC story; the gateway's users
authenticate to the gateway only.

The interface other parts build on (the chart's `gateway.enabled`, docs, bench) -- stable:

Start the gateway (either; the first sets `backend_class` for you)::

    python -m dask_kubernetes.gateway --config FILE   # FILE: a dask-gateway-server config
    dask-gateway-server -f FILE    # FILE must then set c.DaskGateway.backend_class =
                                   #   "dask_kubernetes.gateway.backend.OperatorBackend"

Kubernetes credentials: in-cluster (its ServiceAccount) or `KUBECONFIG`, as kr8s finds them.

Config traits (`c.OperatorBackend.*`):
  namespace               where DaskClusters and their Secrets go (default: the ServiceAccount's
                          namespace, else "default")
  gateway_instance        value of label `gateway.dask.org/instance` on everything it
                          makes; gateways with the same value share their clusters
                          (replicas); default "dask-gateway" (env DASK_GATEWAY_INSTANCE)
  api_url                 the gateway API as the scheduler Pods reach it (default
                          `http://<Proxy.address>/api`; in a cluster: `http://<svc>.<ns>:8000/api`)
  heartbeat_period        seconds between the schedulers' heartbeats (default 10)
  max_clusters_per_user   0 = no limit
  max_cores_per_user      0 = no limit (scheduler + workers at their current scale)
  max_memory_per_user     bytes or "8 G"; 0 = no limit
  cluster_options         dask-gateway's `Options` (the admin's choices; see dask-gateway docs)
  (plus dask-gateway's `c.Proxy.address`, `c.Proxy.tcp_address`, `c.Proxy.api_token`,
  `c.Proxy.tls_cert/tls_key`: the bundled Go proxy, started by the backend)

Per cluster (`c.OperatorClusterConfig.*`, overridable only by the admin's option handler):
  image, image_allowlist (an image outside a non-empty list is refused), image_pull_policy,
  scheduler_cmd (["dask", "scheduler"]), worker_cmd (["dask", "worker"]), worker_cores,
  worker_memory, worker_threads, scheduler_cores, scheduler_memory, environment, idle_timeout,
  adaptive_period, cluster_max_workers / cluster_max_cores / cluster_max_memory.

What the backend does with the Kubernetes API, in `namespace` only (nothing cluster-wide):
  daskclusters.kubernetes.dask.org   create, list, watch (label-selected), patch
                                     (spec.worker.replicas), delete
  secrets                            create, patch (ownerReference), delete (its own
                                     `<cluster>-gateway` Secret, if the DaskCluster cannot be
                                     made); get (that one and the operator's `<cluster>-tls-<uid>`)
  pods                               list, watch (label-selected: its clusters' scheduler Pods)

How a cluster looks (all the state there is; any replica rebuilds it):
  DaskCluster `dg-<20 hex>`: label `gateway.dask.org/instance`, annotations
  `gateway.dask.org/user` (any string), `.../options` and `.../config` (JSON); `spec.tls: true`;
  scheduler `dask scheduler --protocol tls` with the operator's API-guard preload and ours
  (`preload.py`: dask-gateway's scheduler service, which reports the wanted count but never
  retires: the operator's worker-group controller retires each worker once); workers
  `dask worker`. Secret `<cluster>-gateway` (key `api-token`), owned by the DaskCluster.

TLS: the operator's per-cluster CA and certificates (spec.tls), not dask-gateway's self-signed
pair: the owner gets the client certificate (+ CA, one PEM) from the gateway; the proxy passes
TLS through by SNI (`daskgateway-<cluster>`); the operator's retirements keep their token guard.

Routing: the bundled Go proxy (`c.Proxy.address`, HTTP and TLS on one port by default): SNI
routes to schedulers; everything else to the gateway, which serves `/clusters/<name>/...`
(dashboards) to the cluster's owner only and never the scheduler's `/api/...`.
"""
