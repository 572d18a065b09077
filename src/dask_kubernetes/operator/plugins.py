"""Operator plugins: packages add kopf handlers through the `dask_operator_plugin` entry points.

Same group name as upstream dask-kubernetes, so existing plugins keep working.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "dask_operator_plugin"

logger = logging.getLogger(__name__)


def load_plugins() -> list[Any]:
    """Import every plugin (which registers its handlers); log and skip a broken one."""
    loaded = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded.append(entry_point.load())
        except (ImportError, AttributeError) as exc:
            logger.warning("skipping operator plugin %s: %s", entry_point.name, exc)
    return loaded
