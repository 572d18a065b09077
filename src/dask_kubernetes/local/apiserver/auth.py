"""Bearer-token authentication, as a real API server does it: every request names a user by its
token or gets a 401 `Status`, except the few paths a real server shows anonymously.

Tokens are random per server instance and held only in memory (and in the kubeconfigs the stand-in
writes with mode 0600). Each user gets its own token so the audit log says who did what: the admin
(the kubeconfig the user gets), the kubelet, and one service-account token per pod, minted through
the TokenRequest API (`serviceaccounts/token`) and bound to the pod: it stops working once the pod
is gone. There is no authorization beyond this: whoever holds a token may do anything, so a pod can
create pods (see docs/design/local-standin.md, "Threat model"), except mint tokens. A
SelfSubjectAccessReview (`kubectl auth can-i`) answers from that same rule, so it says "no"
exactly where the server would refuse.
"""

from __future__ import annotations

import datetime
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dask_kubernetes.common import clock
from dask_kubernetes.local.apimachinery.errors import APIError, status_body

ANONYMOUS_PATHS = ("/healthz", "/livez", "/readyz", "/version")
ADMIN_USER = "kubernetes-admin"
ANONYMOUS_USER = "system:anonymous"
TOKEN_LIFETIME = datetime.timedelta(days=365)
UNAUTHORIZED = status_body(401, "Unauthorized", "Unauthorized")


def node_user(node: str) -> str:
    return f"system:node:{node}"


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


@dataclass(frozen=True)
class BoundPod:
    """The pod a service-account token was minted for; the token dies with it."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class Identity:
    user: str
    pod: BoundPod | None = None

    @property
    def may_request_tokens(self) -> bool:
        """Only the admin and kubelets mint tokens (a pod must not mint one for another)."""
        return self.user == ADMIN_USER or self.user.startswith("system:node:")


def is_anonymous_path(path: str) -> bool:
    """What a real server's `system:public-info-viewer` role opens to anybody."""
    path = path.rstrip("/") or "/"
    return path in ANONYMOUS_PATHS or path.startswith(
        tuple(f"{p}/" for p in ANONYMOUS_PATHS if p != "/version")
    )


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if there is one."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class Authenticator:
    """The server's tokens; `pod_alive(bound)` says whether a pod-bound token is still good."""

    def __init__(self, pod_alive: Callable[[BoundPod], bool]) -> None:
        self._tokens: dict[str, Identity] = {}
        self._pod_alive = pod_alive
        self.admin_token = self.issue(ADMIN_USER)

    def issue(self, user: str, pod: BoundPod | None = None) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = Identity(user, pod)
        return token

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        """The token's user, or None: no token, an unknown one, or one whose pod is gone."""
        presented = bearer_token(headers)
        if presented is None:
            return None
        wanted = presented.encode()
        found: Identity | None = None
        # Compare with every token in constant time: timing says nothing about which one is close.
        for token, identity in list(self._tokens.items()):
            if hmac.compare_digest(token.encode(), wanted):
                found = identity
        if found is not None and found.pod is not None and not self._pod_alive(found.pod):
            self._forget_dead_pods()
            return None
        return found

    def _forget_dead_pods(self) -> None:
        """Drop the tokens of pods that are gone (they are refused anyway), so tokens stay few."""
        self._tokens = {
            t: i for t, i in self._tokens.items() if i.pod is None or self._pod_alive(i.pod)
        }

    def __len__(self) -> int:
        return len(self._tokens)

    def token_request(
        self, caller: Identity, namespace: str, service_account: str, body: Any
    ) -> dict[str, Any]:
        """Serve `POST .../serviceaccounts/NAME/token`: a fresh token, bound to a pod if asked."""
        if not caller.may_request_tokens:
            raise APIError(
                403,
                f'serviceaccounts "{service_account}" is forbidden: User "{caller.user}" cannot '
                f'create resource "serviceaccounts/token" in namespace "{namespace}"',
            )
        spec = (body or {}).get("spec") or {}
        ref = spec.get("boundObjectRef") or {}
        pod = None
        if ref:
            if ref.get("kind") != "Pod" or not ref.get("name") or not ref.get("uid"):
                raise APIError(400, "boundObjectRef must name a Pod with its uid")
            pod = BoundPod(namespace, str(ref["name"]), str(ref["uid"]))
            if not self._pod_alive(pod):
                raise APIError(400, f'pod "{pod.name}" with uid {pod.uid} does not exist')
        self._forget_dead_pods()
        token = self.issue(service_account_user(namespace, service_account), pod)
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": service_account, "namespace": namespace},
            "spec": spec,
            "status": {
                "token": token,
                "expirationTimestamp": clock.after(TOKEN_LIFETIME.total_seconds()),
            },
        }


def may(caller: Identity, group: str, resource: str, subresource: str, verb: str) -> bool:
    """Whether the server lets `caller` do this: anything but mint a token, which only the admin
    and kubelets may. A wildcard that covers `create serviceaccounts/token` is a "no" for the
    others, since part of what it asks for would be refused."""
    if caller.may_request_tokens:
        return True
    mints = (
        verb in ("*", "create")
        and group in ("*", "")
        and (resource == "*" or (resource == "serviceaccounts" and subresource in ("*", "token")))
    )
    return not mints


def access_review(caller: Identity, body: Any) -> dict[str, Any]:
    """Serve `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: the review with its
    status, judged by `may` (nothing is stored, as on a real server)."""
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a SelfSubjectAccessReview")
    spec = body.get("spec") or {}
    attributes = spec.get("resourceAttributes")
    if attributes is None and spec.get("nonResourceAttributes") is None:
        raise APIError(
            422,
            'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes:'
            ' Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes'
            " must be specified",
        )
    allowed = True
    if attributes is not None:
        allowed = may(
            caller,
            str(attributes.get("group", "")),
            str(attributes.get("resource", "")),
            str(attributes.get("subresource", "")),
            str(attributes.get("verb", "")),
        )
    reason = (
        "the local stand-in lets every authenticated user do anything but mint tokens"
        if allowed
        else "only the admin and kubelets may mint service account tokens on the local stand-in"
    )
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": {"allowed": allowed, "reason": reason},
    }
