"""Where the repository is: the toolkit runs from a clone, beside the project it releases.

Why one place: build, chart, tag, provenance and the pipeline all resolve files from the
checkout's root; they must agree on it.
"""

from __future__ import annotations

from pathlib import Path

# release/src/dask_kubernetes_release/core/paths.py -> the clone's root.
ROOT = Path(__file__).resolve().parents[4]
RELEASE_LOCK = ROOT / "release" / "requirements.lock"
# The verifier's own project (dask-kubernetes-release) in the clone, and where its distributions
# land inside a release directory: dist/toolkit/ beside dist/'s dask-kubernetes files (one project
# per directory, as `manifest` requires).
TOOLKIT = ROOT / "release"
TOOLKIT_SUBDIR = "toolkit"
