"""KubeCluster's Kubernetes client: kr8s objects, with failures worded for a person.

Only this module knows how kr8s and httpx report trouble; everything else catches
`KubeClusterError` subclasses. The controller has its own client (`operator/rest.py`): raw,
checked REST paths, one request per verb, failing with `ApiError` for kopf to retry. KubeCluster
needs what kr8s objects give (scale, port-forward, logs) and errors a user can act on, hence two.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import kr8s
import kr8s.asyncio
from kr8s.asyncio.objects import APIObject

from dask_kubernetes.operator.vocabulary import (
    API_VERSION,
    InvalidName,
    check_label,
    check_subdomain,
)

from .errors import (
    ClusterExistsError,
    KubeClusterError,
    KubernetesForbiddenError,
    KubernetesUnauthorizedError,
    KubernetesUnreachableError,
    NamespaceNotFoundError,
    OperatorNotInstalledError,
    ValidationError,
)
from .kubeconfigs import (
    checked_kubeconfig,
    no_kubeconfig_message,
    unauthorized_message,
    unreachable_message,
)

Api = kr8s.asyncio.Api


async def connect() -> Api:
    """The API client for the current kubeconfig (`KUBECONFIG` or `~/.kube/config`, or in-cluster).

    The kubeconfig is checked first (`kubeconfigs`), so a missing or garbled file is named. Its
    path is passed explicitly so kr8s' per-loop cache never hands back a client for a different
    cluster after `KUBECONFIG` changed.
    """
    kubeconfig = checked_kubeconfig()
    try:
        with kubernetes_errors():
            return await kr8s.asyncio.api(kubeconfig=kubeconfig)
    except ValueError:  # kr8s: "Unable to find valid credentials"
        raise KubernetesUnreachableError(no_kubeconfig_message()) from None


@contextmanager
def kubernetes_errors(
    *, namespace: str | None = None, dask_resource: bool = False
) -> Iterator[None]:
    """Re-raise kr8s/httpx failures as one clear `KubeClusterError` each.

    `dask_resource`: the request is for a Dask custom resource, so a 404 from the API server
    means its type (the operator's CRD) is not installed.
    """
    try:
        yield
    except KubeClusterError:
        raise
    except (httpx.TransportError, kr8s.APITimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise KubernetesUnreachableError(
            unreachable_message(_request_server(exc), reason)
        ) from None
    except kr8s.ServerError as exc:
        raise _translate_server_error(exc, namespace, dask_resource) from None


def _translate_server_error(
    exc: kr8s.ServerError, namespace: str | None, dask_resource: bool
) -> KubeClusterError:
    code = exc.response.status_code if exc.response is not None else 0
    status = _status_body(exc)
    message = str(status.get("message") or exc)
    details = status.get("details") or {}
    if code == 401:
        return KubernetesUnauthorizedError(unauthorized_message(f"401 {message}"))
    if code == 403:
        return KubernetesForbiddenError(f"Kubernetes refused the request: {message}")
    if code == 404 and details.get("kind") == "namespaces":
        return NamespaceNotFoundError(
            f"Namespace {details.get('name', namespace)!r} does not exist"
        )
    if code == 404 and dask_resource:
        return OperatorNotInstalledError()
    if code == 409:
        return ClusterExistsError(f"Already exists: {message}")
    return KubeClusterError(f"Kubernetes API error ({code or 'unknown'}): {message}")


def _request_server(exc: BaseException) -> str | None:
    """`scheme://host:port` of the request that failed, when httpx recorded it."""
    try:
        url = exc.request.url if isinstance(exc, httpx.RequestError) else None
    except RuntimeError:  # httpx: ".request property has not been set"
        return None
    return f"{url.scheme}://{url.netloc.decode()}" if url is not None else None


def _status_body(exc: kr8s.ServerError) -> dict[str, Any]:
    if isinstance(exc.status, dict):
        return exc.status
    if exc.response is not None:
        try:
            body = exc.response.json()
        except ValueError:
            return {}
        if isinstance(body, dict):
            return body
    return {}


async def get_object(kind: type[APIObject], name: str, namespace: str, api: Api) -> Any:
    """One object by name; `kr8s.NotFoundError` if it does not exist."""
    with kubernetes_errors(namespace=namespace):
        return await kind.get(name, namespace=namespace, api=api)


def check_path_names(kind: type[APIObject], name: str, namespace: str) -> None:
    """Refuse a name or namespace the API server would not take, before it becomes a URL path.

    `../../other/daskclusters/x` (or a namespace ending in `#` or `?`) would otherwise reach
    another namespace's object once the HTTP client resolves the path (issue #21).
    """
    try:
        check_subdomain(name, f"{kind.kind} name")
        check_label(namespace, "namespace")
    except InvalidName as exc:
        raise ValidationError(str(exc)) from None


async def find_object(kind: type[APIObject], name: str, namespace: str, api: Api) -> Any | None:
    """One object by name, or None if there is none (any other failure is raised)."""
    check_path_names(kind, name, namespace)
    with kubernetes_errors(namespace=namespace):
        try:
            async with api.call_api(
                "GET", version=kind.version, url=f"{kind.endpoint}/{name}", namespace=namespace
            ) as response:
                return await kind(response.json(), api=api)
        except kr8s.ServerError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return None
            raise


async def list_objects(
    kind: type[APIObject],
    namespace: str | None,
    api: Api,
    *,
    label_selector: str | None = None,
) -> list[Any]:
    """Every object of a kind (in all namespaces when `namespace` is `kr8s.ALL`)."""
    with kubernetes_errors(namespace=namespace, dask_resource=kind.version == API_VERSION):
        found = kind.list(api=api, namespace=namespace, label_selector=label_selector)
        return [obj async for obj in found]
