"""`APIServer`: the aiohttp application, its lifecycle, and the cross-cutting request concerns
(authentication, fault injection, audit, `Status` error bodies).

It serves objects only: the controllers that act on them (`local/controllers/`) are started
beside it by the composition, as kube-controller-manager is beside kube-apiserver."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

from aiohttp import web

from dask_kubernetes.local.apimachinery.audit import AuditRecord
from dask_kubernetes.local.apimachinery.errors import APIError, status_body
from dask_kubernetes.local.credentials.pki import Authority, serving_context

from . import nonresource, openapi
from .auth import (
    UNAUTHORIZED,
    Authenticator,
    BoundPod,
    Identity,
    access_review,
    is_anonymous_path,
)
from .faults import Faults
from .ipalloc import ClusterIPAllocator
from .kinds import DEFAULT_NAMESPACES
from .objects import ObjectAPI
from .requestinfo import RequestInfo, parse_request
from .resources import ResourceRegistry
from .routes import ResourceRoutes, json_response, read_json
from .store import Store

log = logging.getLogger(__name__)

DEFAULT_SERVICE_CIDR = "127.10.128.0/18"


class APIServer:
    """A Kubernetes API server emulator on a loopback address (see docs/design/local-standin.md)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        tls: bool = False,
        history_size: int = 10_000,
        bookmark_interval: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.state_dir = Path(state_dir)
        self.tls = tls
        self.faults = Faults()
        self.audit: list[AuditRecord] = []
        self.store = Store(history_size)
        self.resources = ResourceRegistry()
        self.allocator = ClusterIPAllocator(service_cidr)
        self.objects = ObjectAPI(self.store, self.resources, self.allocator)
        self._routes = ResourceRoutes(self.objects, self.faults, self.state_dir, bookmark_interval)
        self.auth = Authenticator(self._pod_alive)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._authority: Authority | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the API server is not started")
        return self._url

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate clients must trust when `tls=True`."""
        return self._authority.cert_path if self._authority else None

    @property
    def ca_pem(self) -> bytes | None:
        """The CA certificate (PEM) for kubeconfigs' certificate-authority-data when `tls=True`."""
        return self.ca_file.read_bytes() if self.ca_file else None

    @property
    def admin_token(self) -> str:
        """The bearer token of the admin user (what the stand-in's kubeconfig carries)."""
        return self.auth.admin_token

    def _pod_alive(self, pod: BoundPod) -> bool:
        try:
            found = self.objects.get(self._routes.pods, pod.namespace, pod.name)
        except APIError:
            return False
        return bool(found["metadata"].get("uid") == pod.uid)

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for name in DEFAULT_NAMESPACES:
            self.objects.ensure_namespace(name)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        ssl_context = None
        if self.tls:
            ssl_context, self._authority = serving_context(self.state_dir / "tls", self.host)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        site = web.SockSite(self._runner, sock, ssl_context=ssl_context)
        await site.start()
        bound_port = sock.getsockname()[1]
        scheme = "https" if self.tls else "http"
        self._url = f"{scheme}://{self.host}:{bound_port}"

    async def stop(self) -> None:
        self.store.close_all_watches()
        self._routes.logs.closing = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._url = None

    async def __aenter__(self) -> APIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _record(
        self, request: web.Request, info: RequestInfo, code: int, identity: Identity | None
    ) -> None:
        self.audit.append(
            AuditRecord(
                verb=info.verb,
                api_group=info.group,
                resource=info.resource,
                subresource=info.subresource,
                namespace=info.namespace,
                name=info.name,
                user_agent=request.headers.get("User-Agent", ""),
                code=code,
                user=identity.user if identity else "",
            )
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        info = parse_request(request.method, request.path, dict(request.query))
        code = 500
        # Authentication comes first, before any handler (and before a WebSocket upgrade).
        identity = self.auth.authenticate(request.headers)
        try:
            if identity is None and not is_anonymous_path(request.path):
                code = 401
                return json_response(UNAUTHORIZED, 401)
            response = await self._serve(request, info, identity)
            code = response.status
            return response
        except APIError as error:
            code = error.code
            return json_response(error.status(), error.code)
        except (ConnectionResetError, asyncio.CancelledError):
            code = 499
            raise
        except Exception as error:
            log.exception("internal error serving %s %s", request.method, request.path)
            return json_response(status_body(500, "InternalError", str(error)), 500)
        finally:
            if info.is_resource:
                self._record(request, info, code, identity)

    async def _serve(
        self, request: web.Request, info: RequestInfo, identity: Identity | None
    ) -> web.StreamResponse:
        if self.faults.delay_seconds > 0:
            await asyncio.sleep(self.faults.delay_seconds)
        if not info.is_resource:
            if request.method not in ("GET", "HEAD"):
                raise APIError(405, f"{request.method} is not allowed on {request.path}")
            if request.path.rstrip("/") == "/openapi/v2":
                return web.Response(body=openapi.v2_document(), content_type=openapi.V2_PROTOBUF)
            body = nonresource.answer(request.path, self.resources)
            if isinstance(body, str):
                return web.Response(text=body)
            return json_response(body)
        injected = self.faults.error_for(info.verb, identity.user if identity else "")
        if injected is not None:
            raise APIError(injected, f"injected fault ({injected}) for {info.verb} {info.resource}")
        if info.group == "" and (info.resource, info.subresource) == ("serviceaccounts", "token"):
            if info.verb != "create" or identity is None:
                raise APIError(405, f"{request.method} is not supported on serviceaccounts/token")
            body = await read_json(request)
            answer = self.auth.token_request(identity, info.namespace, info.name, body)
            return json_response(answer, 201)
        if (info.group, info.resource) == ("authorization.k8s.io", "selfsubjectaccessreviews"):
            if info.verb != "create" or info.name or identity is None:
                raise APIError(
                    405, "the server does not allow this method on the requested resource"
                )
            return json_response(access_review(identity, await read_json(request)), 201)
        return await self._routes.handle(request, info)
