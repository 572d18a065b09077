"""Shared test configuration. Fixtures for a Kubernetes cluster live in tests/k8s_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "pypi-attestations"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def attestation_fixtures() -> Path:
    """Real PyPI attestations (never copied into the repo)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"attestation fixtures not found at {FIXTURES}")
    return FIXTURES
