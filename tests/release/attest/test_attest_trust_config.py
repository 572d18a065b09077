"""`attest --sigstore --trust-config FILE`: bad input is one line and exit 2, before any signing.

(Signing on the instance a good file names is tests/release/keyless, against the local Sigstore.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not a usable Sigstore trust config"),
        ('{"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"}', "usable"),
    ],
)
def test_an_unusable_trust_config_is_refused_in_one_line(
    content: str,
    reason: str,
    release: Callable[..., Any],
    fake_release: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # nothing may reach the token request
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://127.0.0.1:9/token")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "unused")
    config = tmp_path / "trust_config.json"
    config.write_text(content)
    result = release("attest", fake_release, "--sigstore", "--trust-config", config)
    assert result.code == 2, result.out + result.err
    assert reason in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert not list(fake_release.glob("*.intoto.jsonl"))


@pytest.mark.parametrize("other", [["--staging"], ["--key", "some.key"]])
def test_trust_config_goes_with_sigstore_alone(
    other: list[str], release: Callable[..., Any], fake_release: Path, tmp_path: Path
) -> None:
    config = tmp_path / "trust_config.json"
    config.write_text("{}")
    sigstore = [] if "--key" in other else ["--sigstore"]
    result = release("attest", fake_release, *sigstore, *other, "--trust-config", config)
    assert result.code == 2, result.out + result.err
    assert "--trust-config goes with --sigstore" in result.err
