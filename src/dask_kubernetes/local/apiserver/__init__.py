"""The API server half of the local Kubernetes stand-in.

Built on aiohttp directly rather than on `kmock`: kmock (0.8) is a request-mocking DSL whose
optional emulator merges dicts in memory — no resourceVersion counter (lists say "..."), no watch
resumption or 410 Gone, no CRD schema validation, no strategic-merge patch, no garbage collection —
and it needs Python >= 3.11 while we support 3.10. Every semantic we need would be an override.
"""

from __future__ import annotations

from dask_kubernetes.local.apimachinery.audit import AuditRecord

from .faults import Faults
from .server import APIServer

__all__ = ["APIServer", "AuditRecord", "Faults"]
