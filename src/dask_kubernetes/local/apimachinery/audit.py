"""One audit record per request, named as RBAC names things, to derive least-privilege rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuditRecord:
    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    user_agent: str
    code: int = 0
    user: str = ""  # the authenticated user; empty for a request that was refused (401)

    @property
    def rbac_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource
