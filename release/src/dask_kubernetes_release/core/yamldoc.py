"""The toolkit's one YAML reader: a file that must hold a mapping (Chart.yaml, values.yaml).

Why: a missing file, invalid YAML and a document that is not a mapping must each be one line
naming the file, never a traceback. PyYAML is imported only when a YAML file is read: release.yml's
jobs install only release/requirements.lock, which does not pin it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.errors import CheckFailed, UsageError


def load_mapping(
    path: Path, *, failure: type[UsageError] | type[CheckFailed] = CheckFailed
) -> dict[str, Any]:
    """The mapping in `path`; `failure` (one line) when it is missing, invalid or not a mapping."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise failure(f"{path.name} is missing from {path.parent}") from None
    except yaml.YAMLError as exc:
        raise failure(f"{path.name} is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(document, dict):
        raise failure(f"{path.name} is not a mapping")
    return document
