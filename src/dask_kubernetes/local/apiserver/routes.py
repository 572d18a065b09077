"""The thin HTTP layer over `ObjectAPI`: resolve the resource, parse the body and query,
call the right operation, render JSON (or a Table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apimachinery.selectors import Selection
from dask_kubernetes.local.wire import portforward

from . import backends, eviction, protobuf, proxy, scale, table
from .faults import Faults
from .logs import LogServer
from .objects import DeleteOptions, ObjectAPI
from .requestinfo import RequestInfo
from .resources import ResourceType
from .watch import WatchRequest, WatchStream


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )


def warning_header(text: str) -> str:
    """An RFC 7234 `Warning` value as Kubernetes sends it (code 299, quoted text)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


async def read_json(request: web.Request, *, required: bool = True, patch: bool = False) -> Any:
    """The body as JSON; a patch media type only on a PATCH (kube-apiserver answers 415 to a
    create or update labelled as a patch, so a client that works here works there)."""
    if not patch and (request.content_type or "").endswith("patch+json"):
        raise APIError(
            415,
            f"the body of the request was in an unknown format ({request.content_type}) - "
            "accepted media types include: application/json, application/yaml, "
            "application/vnd.kubernetes.protobuf",
        )
    raw = await request.read()
    if not raw:
        if required:
            raise APIError(400, "the request body is empty")
        return None
    if "protobuf" in (request.content_type or ""):
        return protobuf.decode(raw)
    if "cbor" in (request.content_type or ""):
        raise APIError(415, f"unsupported media type {request.content_type!r}; send JSON")
    if "yaml" in (request.content_type or ""):
        raise APIError(415, f"unsupported media type {request.content_type!r}; send JSON")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise APIError(400, f"the request body is not valid JSON: {error}") from error


def _require_type_meta(resource: ResourceType, body: Any) -> None:
    """A custom object must name its kind and apiVersion: kube-apiserver decodes it as
    unstructured, so the URL does not imply them as it does for a built-in type (400)."""
    if not isinstance(body, dict):
        return
    if not body.get("kind"):
        raise APIError(
            400,
            f"the object provided is unrecognized (must be of type {resource.kind}): "
            f"Object 'Kind' is missing in '{json.dumps(body, separators=(',', ':'))}'",
        )
    if body.get("apiVersion") != resource.api_version:
        raise APIError(
            400,
            f"the API version in the data ({body.get('apiVersion', '')}) does not match the "
            f"expected API version ({resource.api_version})",
        )


class ResourceRoutes:
    """Dispatch one parsed resource request."""

    def __init__(
        self, objects: ObjectAPI, faults: Faults, state_dir: Path, bookmark_interval: float
    ) -> None:
        self.objects = objects
        self.faults = faults
        self.bookmark_interval = bookmark_interval
        registry = objects.resources
        pods = registry.lookup("", "v1", "pods")
        services = registry.lookup("", "v1", "services")
        assert pods is not None and services is not None
        self.pods, self.services = pods, services
        self.logs = LogServer(objects, state_dir, pods)

    def resolve(self, info: RequestInfo) -> ResourceType:
        resource = self.objects.resources.lookup(info.group, info.version, info.resource)
        if resource is None:
            raise APIError(404, "the server could not find the requested resource")
        if info.namespace and not resource.namespaced:
            raise APIError(404, "the server could not find the requested resource")
        return resource

    async def handle(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        resource = self.resolve(info)
        if not info.subresource and info.verb not in resource.verbs:
            raise APIError(405, "the server does not allow this method on the requested resource")
        if info.subresource in ("log", "portforward", "proxy"):
            return await self._connect(request, info, resource)
        query = dict(request.query)
        namespace = info.namespace if resource.namespaced else ""
        selection = Selection.parse(query.get("labelSelector"), query.get("fieldSelector"))
        accept = request.headers.get("Accept", "")
        verb, sub, name = info.verb, info.subresource, info.name
        objects = self.objects
        if "dryRun" in query and verb in ("create", "update", "patch", "delete"):
            objects = objects.dry_run()
        if verb in ("create", "update", "patch"):
            objects = objects.validating(query.get("fieldValidation") or "Warn")
            response = await self._write(request, info, resource, objects)
            for warning in objects.warnings:
                response.headers.add("Warning", warning_header(warning))
            return response
        if resource.namespaced and not namespace and verb not in ("list", "watch"):
            raise APIError(404, "the server could not find the requested resource")
        if verb == "watch":
            wanted = WatchRequest.parse(resource, namespace or None, selection, query, accept)
            stream = WatchStream(self.objects, self.faults, self.bookmark_interval, wanted)
            return await stream.serve(request)
        if verb == "list":
            listing = self.objects.list(resource, namespace or None, selection)
            if table.wants_table(accept):
                revision = listing["metadata"]["resourceVersion"]
                return json_response(table.as_table(resource, listing["items"], revision))
            return json_response(listing)
        if verb == "get":
            if sub == "scale":
                return json_response(scale.get_scale(self.objects, resource, namespace, name))
            obj = self.objects.get(resource, namespace, name)
            if table.wants_table(accept):
                return json_response(
                    table.as_table(resource, [obj], obj["metadata"]["resourceVersion"])
                )
            return json_response(obj)
        if verb == "delete":
            options = DeleteOptions.parse(await read_json(request, required=False), query)
            return json_response(objects.delete(resource, namespace, name, options))
        if verb == "deletecollection":
            options = DeleteOptions.parse(await read_json(request, required=False), query)
            listing = self.objects.delete_collection(
                resource, namespace or None, selection, options
            )
            return json_response(listing)
        raise APIError(405, f"{request.method} is not supported here")

    async def _write(
        self, request: web.Request, info: RequestInfo, resource: ResourceType, objects: ObjectAPI
    ) -> web.Response:
        """create, update and patch, through `objects` scoped to this request."""
        verb, sub, name = info.verb, info.subresource, info.name
        namespace = info.namespace if resource.namespaced else ""
        if verb == "create":
            body = await read_json(request)
            if resource.custom and not sub:
                _require_type_meta(resource, body)
            if sub == "binding" and resource is self.pods:
                return json_response(objects.bind(namespace, name, body), 201)
            if sub == "eviction" and resource is self.pods:
                return json_response(eviction.evict(objects, resource, namespace, name, body), 201)
            if sub:
                raise APIError(405, f"create is not supported on {resource.plural}/{sub}")
            return json_response(objects.create(resource, namespace, body), 201)
        if verb == "update":
            body = await read_json(request)
            if resource.custom and sub != "scale":
                _require_type_meta(resource, body)
            if sub == "scale":
                return json_response(scale.set_scale(objects, resource, namespace, name, body))
            return json_response(objects.update(resource, namespace, name, body, sub))
        body = await read_json(request, patch=True)
        kind = request.headers.get("Content-Type", "")
        if sub == "scale":
            return json_response(scale.patch_scale(objects, resource, namespace, name, kind, body))
        return json_response(objects.patch(resource, namespace, name, kind, body, sub))

    async def _connect(
        self, request: web.Request, info: RequestInfo, resource: ResourceType
    ) -> web.StreamResponse:
        namespace = info.namespace
        if info.subresource == "log" and resource is self.pods:
            return await self.logs.serve(request, namespace, info.name)
        if info.subresource == "portforward" and resource is self.pods:
            address = backends.pod_address(self.objects, self.pods, namespace, info.name)
            return await portforward.serve(request, address)
        if info.subresource == "proxy" and resource is self.pods:
            address, port = backends.pod_target(self.objects, self.pods, namespace, info.name)
            return await proxy.relay(request, address, port, info.rest)
        if info.subresource == "proxy" and resource is self.services:
            address, port = backends.service_target(
                self.objects, self.services, self.pods, namespace, info.name
            )
            return await proxy.relay(request, address, port, info.rest)
        raise APIError(404, "the server could not find the requested resource")
