"""`pods/log` served from the files the kubelet writes (STATE_DIR/logs/NS/POD/CONTAINER.log)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.wire.logfiles import follow, log_path, select

from .kinds import POD_TERMINAL
from .objects import ObjectAPI
from .resources import ResourceType


@dataclass(frozen=True)
class LogRequest:
    container: str
    follow: bool
    previous: bool
    tail_lines: int | None
    limit_bytes: int | None

    @classmethod
    def parse(cls, pod: dict[str, Any], query: dict[str, str]) -> LogRequest:
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
        container = query.get("container", "")
        pod_name = pod["metadata"]["name"]
        if not container:
            if len(names) != 1:
                # kube-apiserver lists every container, init ones first (VisitContainers' order).
                every = " ".join((*init_names, *names, *ephemeral))
                raise APIError(
                    400,
                    f"a container name must be specified for pod {pod_name}, "
                    f"choose one of: [{every}]",
                )
            container = names[0]
        elif container not in (*names, *init_names, *ephemeral):
            raise APIError(400, f"container {container} is not valid for pod {pod_name}")
        try:
            tail = int(query["tailLines"]) if "tailLines" in query else None
            limit = int(query["limitBytes"]) if "limitBytes" in query else None
        except ValueError as error:
            raise APIError(400, "tailLines and limitBytes must be integers") from error
        return cls(
            container,
            query.get("follow") in ("true", "1"),
            query.get("previous") in ("true", "1"),
            tail,
            limit,
        )


class LogServer:
    """Reads (and with follow, tails) a container's log file."""

    def __init__(self, objects: ObjectAPI, state_dir: Path, pods: ResourceType) -> None:
        self._objects = objects
        self._state_dir = state_dir
        self._pods = pods
        self.closing = False

    def _finished(self, namespace: str, name: str, uid: str, container: str) -> bool:
        """Whether a followed log can grow no more: the pod is gone or done, or the container
        is an init container that has terminated (it never runs again)."""
        pod = self._objects.store.get(self._pods.storage_key, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            return True
        status = pod.get("status") or {}
        if status.get("phase") in POD_TERMINAL:
            return True
        return any(
            s.get("name") == container and "terminated" in (s.get("state") or {})
            for s in status.get("initContainerStatuses") or []
        )

    async def serve(
        self, http_request: web.Request, namespace: str, name: str
    ) -> web.StreamResponse:
        pod = self._objects.get(self._pods, namespace, name)
        wanted = LogRequest.parse(pod, dict(http_request.query))
        if not (pod.get("spec") or {}).get("nodeName"):
            # As kube-apiserver: no node, no kubelet to ask; 204 No Content, not an error.
            return web.Response(status=204)
        path = log_path(self._state_dir, namespace, name, wanted.container, wanted.previous)
        if not path.exists() and not wanted.follow:
            if wanted.previous:
                raise APIError(
                    400,
                    f'previous terminated container "{wanted.container}" in pod "{name}" not found',
                )
            raise APIError(
                400,
                f'container "{wanted.container}" in pod "{name}" is waiting to start: '
                "ContainerCreating",
            )
        data = path.read_bytes() if path.exists() else b""
        body = select(data, wanted.tail_lines, wanted.limit_bytes)
        if not wanted.follow:
            return web.Response(body=body, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(http_request)
        await response.write(body)
        uid = pod["metadata"]["uid"]
        with contextlib.suppress(ConnectionResetError):  # the reader went away: done
            await follow(
                response.write,
                path,
                len(data),
                lambda: self.closing or self._finished(namespace, name, uid, wanted.container),
            )
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response
