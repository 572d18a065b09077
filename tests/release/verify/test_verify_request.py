"""The verifier's engine takes a typed, frozen request, and a new pin is one field and one check.

Why: the engine used to take argparse's Namespace through seven functions and rebuild one to
verify downloaded files; adding a pin touched five places. Here the request is checked to be
frozen and complete, every pin is checked to be one `Pins` field carrying one check class, and a
pin that does not exist in the code base is added the way a maintainer would (a `Pins` subclass
with one field, one check class, and one `PinOption` line for the command line) and proven to
pass and fail real Sigstore verifications without a line of the engine changing.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from sigstore.errors import VerificationError

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.verify import command, policy, run
from dask_kubernetes_release.verify.command import (
    PIN_OPTIONS,
    GivenPin,
    PinOption,
    PublisherRequest,
    VerifyRequest,
)
from dask_kubernetes_release.verify.policy import CheckedBy, Pins, Verified

SIGSTORE = "sigstore-3.6.1.tar.gz"
SIGSTORE_POLICY = ("--repository", "sigstore/sigstore-python", "--workflow", "release.yml")
SIGSTORE_REF = "refs/tags/v3.6.1"


def _parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    return parser.parse_args(argv)


def test_request_is_frozen_and_carries_every_option() -> None:
    args = _parsed(
        "a.whl", "--repository", "o/n", "--workflow", "r.yml", "--ref", "refs/tags/*",
        "--source-digest", "1" * 40, "--predicate-type", "https://x/1", "--predicate-type",
        "https://y/1", "--provenance", "p", "--key", "k.pub", "--staging", "--json",
        "--trust-index-publisher",
    )  # fmt: skip
    request = VerifyRequest.from_args(args)
    assert request.targets == ("a.whl",)
    assert request.publisher == PublisherRequest(
        repository="o/n", workflow="r.yml", ref="refs/tags/*"
    )
    assert request.publisher.given() == {
        "repository": "o/n",
        "workflow": "r.yml",
        "ref": "refs/tags/*",
    }
    assert request.pins == (
        GivenPin("source_digest", "--source-digest", "1" * 40),
        GivenPin("predicate_types", "--predicate-type", ("https://x/1", "https://y/1")),
    )
    assert request.provenance == (Path("p"),) and request.key == Path("k.pub")
    assert request.staging and request.json and request.trust_index_publisher
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.staging = False  # type: ignore[misc]
    # Every option `configure` defines lands in the request (or the request would lose it).
    covered = {f.name for f in dataclasses.fields(VerifyRequest)} - {"publisher", "pins"}
    covered |= {f.name for f in dataclasses.fields(PublisherRequest)} | {p.pin for p in PIN_OPTIONS}
    assert set(vars(args)) == (covered - {"targets"}) | {"dists"}


def test_engine_signatures_take_no_namespace() -> None:
    """No function of the engine takes argparse's Namespace; its entry points take the request."""
    import inspect

    for name, function in inspect.getmembers(run, inspect.isfunction):
        if function.__module__ != run.__name__:
            continue
        annotations = " ".join(str(a) for a in function.__annotations__.values())
        assert "Namespace" not in annotations, name
    assert "argparse" not in Path(run.__file__).read_text(encoding="utf-8")
    assert inspect.signature(run.verify).parameters.keys() == {"request"}


def test_every_pin_is_one_field_with_one_check_and_one_option() -> None:
    assert set(Pins.model_fields) == {pin.pin for pin in PIN_OPTIONS}
    for name in Pins.model_fields:
        check = Pins.check_class(name)
        assert callable(getattr(check, "check", None)), name
    # An unset pin builds no check; a set one builds exactly its own.
    assert Pins().policy().checks == ()
    built = Pins(source_digest="a" * 40, predicate_types=("https://x/1",)).policy().checks
    assert [type(c) for c in built] == [Pins.check_class(n) for n in Pins.model_fields]


class RefStartsWith:
    """The toy pin's check: the signed git ref must start with a prefix."""

    def __init__(self, expected: str) -> None:
        self.expected = expected

    def check(self, verified: Verified) -> None:
        ref = verified.facts.ref if verified.facts else None
        if not (ref or "").startswith(self.expected):
            raise VerificationError(f"the ref {ref} does not start with {self.expected}")


class PinsWithRefNamespace(Pins):
    """A new pin, added as the docs say: one field carrying one check."""

    ref_namespace: Annotated[str | None, CheckedBy(RefStartsWith)] = None


REF_NAMESPACE_OPTION = PinOption(
    "ref_namespace", "--ref-namespace", "PREFIX", "the ref is under this prefix"
)


def test_a_new_pin_checks_merges_and_refuses_like_the_others() -> None:
    pins = PinsWithRefNamespace(ref_namespace="refs/tags/")
    with pytest.raises(VerificationError, match="does not start with refs/tags/"):
        pins.check(Verified(None, ()))
    merged = pins.merged(PinsWithRefNamespace(predicate_types=("https://x/1",)))
    assert merged == PinsWithRefNamespace(
        ref_namespace="refs/tags/", predicate_types=("https://x/1",)
    )
    with pytest.raises(UsageError, match="two different ref namespaces are required"):
        pins.merged(PinsWithRefNamespace(ref_namespace="refs/heads/"))


@pytest.fixture
def with_ref_namespace_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the new pin where a maintainer would write it: Pins and PIN_OPTIONS."""
    monkeypatch.setattr(policy, "Pins", PinsWithRefNamespace)
    monkeypatch.setattr(run, "Pins", PinsWithRefNamespace)
    monkeypatch.setattr(command, "PIN_OPTIONS", (*PIN_OPTIONS, REF_NAMESPACE_OPTION))


@pytest.mark.usefixtures("with_ref_namespace_pin")
def test_a_new_pin_needs_no_change_to_the_engine(
    release: Callable[..., Any], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / SIGSTORE
    ok = release("verify", dist, *SIGSTORE_POLICY, "--ref-namespace", "refs/tags/v3.")
    assert ok.code == 0, ok.out + ok.err
    bad = release("verify", dist, *SIGSTORE_POLICY, "--ref-namespace", "refs/heads/")
    assert bad.code == 1
    assert bad.out == f"FAIL {SIGSTORE}: the ref {SIGSTORE_REF} does not start with refs/heads/\n"
    # The request carries it typed; the engine takes the request as it is.
    request = VerifyRequest(
        targets=(str(dist),),
        publisher=PublisherRequest(repository="sigstore/sigstore-python", workflow="release.yml"),
        pins=(GivenPin("ref_namespace", "--ref-namespace", "refs/pull/"),),
    )
    [verdict] = command.verify(request)
    assert not verdict.ok and "does not start with refs/pull/" in verdict.line()
    # And a wrong type is refused as unusable input, naming the option (exit 2).
    garbled = dataclasses.replace(
        request, pins=(GivenPin("ref_namespace", "--ref-namespace", ("a",)),)
    )
    with pytest.raises(UsageError, match=r"^--ref-namespace: "):
        command.verify(garbled)
