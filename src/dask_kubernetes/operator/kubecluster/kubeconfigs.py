"""The kubeconfig KubeCluster reads, checked first, so what is wrong with it is named precisely.

kr8s, left alone, says "Unable to find valid credentials" for a KUBECONFIG naming a missing file
and raises a bare `yaml.parser.ParserError` for a garbled one; a refused connection or a 401 does
not say which server or which credentials. Here each names the file, server or user, and says
what to do, including when the kubeconfig is one `dask kubernetes local` wrote (its cluster entry
carries the stand-in's name) and the stand-in is no longer running.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dask_kubernetes.common.standin_marks import CONTEXT_NAME, STATE_DIR_PREFIX
from dask_kubernetes.common.yaml import InvalidYaml, NotAMapping, load_mapping

from .errors import InvalidKubeconfigError

DEFAULT_KUBECONFIG = "~/.kube/config"
STAND_IN_HINT = "is `dask kubernetes local` still running? (it wrote this kubeconfig)"


def kubeconfig_paths() -> list[Path]:
    """The files kr8s (like kubectl) reads: KUBECONFIG's list, else ~/.kube/config."""
    value = os.environ.get("KUBECONFIG")
    if value:
        return [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    return [Path(DEFAULT_KUBECONFIG).expanduser()]


def checked_kubeconfig() -> str | None:
    """KUBECONFIG for kr8s (None: its default), once each file it names exists and parses.

    Raises `InvalidKubeconfigError` naming the file (and for bad YAML the line and column).
    """
    value = os.environ.get("KUBECONFIG") or None
    paths = kubeconfig_paths()
    present = [path for path in paths if path.exists()]
    if value and not present:  # kubectl skips missing entries of a list; none is left here
        raise InvalidKubeconfigError(_missing_message(paths))
    for path in present:
        _parse(path)
    return value


def _missing_message(paths: list[Path]) -> str:
    names = ", ".join(str(p) for p in paths)
    message = f"KUBECONFIG names {names}, which does not exist"
    if any(p.parent.name.startswith(STATE_DIR_PREFIX) for p in paths):
        return (
            f"{message}: `dask kubernetes local` removes its kubeconfig when it stops; start it "
            "again and export the KUBECONFIG it prints"
        )
    return (
        f"{message}: point KUBECONFIG at your cluster's kubeconfig (or unset it to use "
        f"{DEFAULT_KUBECONFIG})"
    )


def _parse(path: Path) -> dict[str, Any]:
    try:
        return load_mapping(path, f"kubeconfig {path}")
    except InvalidYaml as exc:
        raise InvalidKubeconfigError(f"{exc}; fix or replace the file") from None
    except NotAMapping:
        raise InvalidKubeconfigError(
            f"kubeconfig {path} is empty or not a kubeconfig (its top level is not a mapping)"
        ) from None
    except OSError as exc:
        raise InvalidKubeconfigError(
            f"cannot read kubeconfig {path}: {exc.strerror or exc}"
        ) from None


def no_kubeconfig_message() -> str:
    """Why there is no configuration at all (kr8s found no kubeconfig and no service account)."""
    default = Path(DEFAULT_KUBECONFIG).expanduser()
    return (
        f"No Kubernetes configuration: KUBECONFIG is not set and {default} does not exist (nor "
        "is this a pod of a cluster); set KUBECONFIG to your cluster's kubeconfig, or start a "
        "local stand-in with `dask kubernetes local`"
    )


def _current_entries() -> tuple[dict[str, Any], str, str] | None:
    """The current context's cluster entry, user name and file, or None if unknown."""
    configs: list[tuple[Path, dict[str, Any]]] = []
    for path in kubeconfig_paths():
        try:
            configs.append((path, load_mapping(path)))
        except (OSError, ValueError):
            continue
    current = next((c.get("current-context") for _, c in configs if c.get("current-context")), None)
    for path, config in configs:
        for context in config.get("contexts") or []:
            if isinstance(context, dict) and context.get("name") == current:
                settings = context.get("context") or {}
                cluster_name, user = settings.get("cluster"), str(settings.get("user", "?"))
                for _, other in configs:
                    for cluster in other.get("clusters") or []:
                        if isinstance(cluster, dict) and cluster.get("name") == cluster_name:
                            return cluster, user, str(path)
    return None


def _is_stand_in(cluster: dict[str, Any]) -> bool:
    return cluster.get("name") == CONTEXT_NAME


def unreachable_message(url: str | None, reason: str) -> str:
    """The API server at `url` (default: the kubeconfig's) refused or did not answer."""
    entries = _current_entries()
    cluster = entries[0] if entries else {}
    server = url or (cluster.get("cluster") or {}).get("server")
    where = f" at {server}" if server else ""
    message = f"Cannot reach the Kubernetes API server{where} ({reason})"
    if entries and _is_stand_in(cluster):
        return f"{message}; {STAND_IN_HINT}"
    return f"{message}; is the cluster running, and is {_kubeconfig_names()} the right kubeconfig?"


def unauthorized_message(reason: str) -> str:
    """401: whose credentials were refused, and how to get working ones."""
    entries = _current_entries()
    if entries is None:
        return (
            f"Kubernetes did not accept the credentials ({reason}): the token or certificate "
            "is wrong or has expired"
        )
    cluster, user, path = entries
    message = (
        f"Kubernetes did not accept the credentials of user {user!r} in kubeconfig {path} "
        f"({reason}): the token or certificate is wrong or has expired"
    )
    if _is_stand_in(cluster):
        return (
            f"{message}; `dask kubernetes local` issues a new token each time it starts: use "
            "the KUBECONFIG it printed"
        )
    return f"{message}; get a fresh kubeconfig for this cluster"


def _kubeconfig_names() -> str:
    return os.pathsep.join(str(p) for p in kubeconfig_paths())
