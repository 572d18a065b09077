"""Turn a request path and method into what it addresses, like the API server's RequestInfo."""

from __future__ import annotations

from dataclasses import dataclass

_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RequestInfo:
    """A parsed request; `is_resource` is False for discovery, /version, /openapi and the like."""

    is_resource: bool
    verb: str
    path: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    rest: str = ""


def parse_request(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    parts = [p for p in path.split("/") if p]
    plain = RequestInfo(False, method.lower(), path)
    if not parts or parts[0] not in ("api", "apis"):
        return plain
    if parts[0] == "api":
        if len(parts) < 3:
            return plain
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return plain
        group, version, rest = parts[1], parts[2], parts[3:]
    watch_prefix = bool(rest) and rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces" and not (group == "" and len(rest) == 2):
        if len(rest) == 3 and group == "" and rest[2] in ("status", "finalize"):
            pass
        else:
            namespace, rest = rest[1], rest[2:]
    if not rest:
        return plain
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    extra = "/".join(rest[3:])
    if method == "GET" or method == "HEAD":
        if watch_prefix or query.get("watch") in ("true", "1"):
            verb = "watch"
        else:
            verb = "get" if name else "list"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    return RequestInfo(
        True, verb, path, group, version, resource, subresource, namespace, name, extra
    )
