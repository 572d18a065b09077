"""Check user arguments before anything is sent to Kubernetes, so mistakes fail fast and plainly."""

from __future__ import annotations

import getpass
import os
import re
import uuid
from collections.abc import Mapping
from enum import Enum
from typing import Any

from dask_kubernetes.constants import MAX_CLUSTER_NAME_LEN
from dask_kubernetes.operator.vocabulary import InvalidName, check_cluster_name

from .errors import ValidationError

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


class CreateMode(str, Enum):
    """What to do when a DaskCluster with the requested name already exists (or does not)."""

    CREATE_ONLY = "CREATE_ONLY"
    CREATE_OR_CONNECT = "CREATE_OR_CONNECT"
    CONNECT_ONLY = "CONNECT_ONLY"


def parse_create_mode(value: CreateMode | str) -> CreateMode:
    """Accept the enum, its value, or a friendly spelling such as `"create-only"`."""
    if isinstance(value, CreateMode):
        return value
    normalised = str(value).strip().upper().replace("-", "_").replace(" ", "_")
    aliases = {"CREATE": "CREATE_ONLY", "CONNECT": "CONNECT_ONLY"}
    try:
        return CreateMode(aliases.get(normalised, normalised))
    except ValueError:
        choices = ", ".join(mode.value for mode in CreateMode)
        raise ValidationError(f"create_mode must be one of {choices}, not {value!r}") from None


def expand_name(template: str) -> str:
    """Fill `{user}`, `{uuid}` and `{ENV_VAR}` placeholders, as upstream's default name uses."""
    user = re.sub(r"[^a-z0-9-]", "-", getpass.getuser().lower())
    try:
        return template.format(user=user, uuid=str(uuid.uuid4())[:10], **os.environ)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationError(f"cannot fill in cluster name {template!r}: {exc}") from None


def validate_cluster_name(name: str) -> None:
    """Reject names Kubernetes would refuse, before creating anything."""
    try:
        check_cluster_name(name)
    except InvalidName:
        raise ValidationError(
            f"The DaskCluster name {name!r} is invalid: use lower case letters, digits and '-', "
            "starting and ending with a letter or digit, at most "
            f"{MAX_CLUSTER_NAME_LEN} characters."
        ) from None


def validate_resources(resources: Any) -> None:
    """`resources` must look like a container's: `{"limits": {...}, "requests": {...}}`."""
    if resources is None:
        return
    if not isinstance(resources, Mapping):
        raise ValidationError(f"resources must be a dict, not {type(resources).__name__}")
    for field, value in resources.items():
        if field not in ("limits", "requests"):
            raise ValidationError(
                f"resources has unknown field {field!r}; expected 'limits' and/or 'requests'"
            )
        if not isinstance(value, Mapping):
            raise ValidationError(f"resources[{field!r}] must be a dict")


def validate_service_type(service_type: str) -> None:
    if service_type not in SERVICE_TYPES:
        raise ValidationError(
            f"scheduler_service_type must be one of {', '.join(SERVICE_TYPES)}, "
            f"not {service_type!r}"
        )


def validate_worker_count(n: Any, what: str = "n_workers") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValidationError(f"{what} must be a whole number >= 0, not {n!r}")
    return n
