"""The scheduler side of a gateway cluster: dask-gateway's preload, minus its own retirements.

dask-gateway's scheduler preload (`dask_gateway.scheduler_preload`) serves the gateway's scale
and adapt messages, reports the wanted worker count in heartbeats, and stops an idle cluster.
Left alone it also retires the workers it chose when scaling down. Our worker-group controller
retires through the scheduler too when the DaskCluster's replicas drop, so with both every
scale-down would retire twice (and the preload's retirees' Pods would exit and be replaced).
Here the operator owns retirement for gateway clusters: this preload only reports the count,
and the operator retires exactly `current - count` workers, each once, then deletes their Pods.

Its idle check also differs: upstream compares the event loop's monotonic clock with the
transition log's wall-clock timestamps, so with current distributed a cluster never counts as
idle; this one compares wall clock with wall clock.

It is a script (`distributed.scheduler.preload` takes a script's text), so a scheduler image
needs only dask-gateway, not this package. Settings come from the environment the backend
puts into the scheduler Pod.
"""

from __future__ import annotations

HEARTBEAT_PERIOD_ENV = "DASK_KUBERNETES_GATEWAY_HEARTBEAT_PERIOD"
ADAPTIVE_PERIOD_ENV = "DASK_KUBERNETES_GATEWAY_ADAPTIVE_PERIOD"
IDLE_TIMEOUT_ENV = "DASK_KUBERNETES_GATEWAY_IDLE_TIMEOUT"
API_PORT_ENV = "DASK_KUBERNETES_GATEWAY_API_PORT"

PRELOAD = f"""\
# dask-kubernetes gateway preload: dask-gateway's scheduler service; the operator retires workers.
import asyncio
import os
import time

from dask_gateway import scheduler_preload as gateway_preload


class OperatorRetires(gateway_preload.GatewaySchedulerService):
    async def heartbeat(self):
        await self.gateway.heartbeat(
            {{
                "scheduler_address": self.scheduler.address,
                "dashboard_address": self.dashboard_address,
                "api_address": self.api_address,
                "count": self.count,
                "active_workers": list(self.active_workers),
                "closing_workers": [],
                "closed_workers": list(self.closed_workers),
            }}
        )

    def worker_removed(self, worker_address):
        if worker_address in self.address_to_worker:
            super().worker_removed(worker_address)

    async def check_idle(self):
        while True:
            await asyncio.sleep(self.idle_timeout / 4)
            scheduler = self.scheduler
            if any(ws.processing for ws in scheduler.workers.values()) or scheduler.unrunnable:
                continue
            log = scheduler.transition_log
            last = log[-1].timestamp if log else scheduler.time_started
            if time.time() - last > self.idle_timeout:
                gateway_preload.logger.warning(
                    "Cluster has been idle for %.2f seconds, shutting down", self.idle_timeout
                )
                await self.gateway.shutdown()
                return


def dask_setup(scheduler):
    env = os.environ
    service = OperatorRetires(
        scheduler,
        gateway=gateway_preload.make_gateway_client(),
        adaptive_period=float(env.get({ADAPTIVE_PERIOD_ENV!r}, "3")),
        heartbeat_period=float(env.get({HEARTBEAT_PERIOD_ENV!r}, "10")),
        idle_timeout=float(env.get({IDLE_TIMEOUT_ENV!r}, "0")),
    )
    service.listen(("", int(env.get({API_PORT_ENV!r}, "8789"))))
    scheduler.services["gateway"] = service
"""
