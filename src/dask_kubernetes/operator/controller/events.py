"""Kubernetes Events on our resources, from kopf handlers and background reconciles alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf


def normal(obj: Mapping[str, Any], reason: str, message: str) -> None:
    # kopf only reads apiVersion/kind/metadata from the body, so a plain dict serves.
    kopf.info(cast(kopf.Body, obj), reason=reason, message=message)


def warning(obj: Mapping[str, Any], reason: str, message: str) -> None:
    kopf.warn(cast(kopf.Body, obj), reason=reason, message=message)
