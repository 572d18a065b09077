"""The lock, checked for every Python and platform the project supports.

Why: a universal lock carries environment markers; a marker mistake (two versions of a package
selected at once, or none with a file that installs) would only show on someone else's machine.
`packaging.pylock`'s own selection does the work: for each interpreter and platform it must pick
exactly one file per package, and the requirements file's markers must pick the same versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.markers import Environment
from packaging.pylock import Pylock, PylockSelectError
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import canonicalize_name

from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.requirements import logical_lines, split_entry

PYTHONS: tuple[tuple[int, int], ...] = ((3, 10), (3, 11), (3, 12), (3, 13))


@dataclass(frozen=True)
class Platform:
    name: str
    sys_platform: str
    platform_system: str
    machine: str
    tags: tuple[str, ...]
    os_name: str = "posix"


def _linux(machine: str) -> Platform:
    # glibc 2.17 (manylinux2014) up to 2.28: the Linux distributions still supported today.
    tags = (*(f"manylinux_2_{m}_{machine}" for m in range(28, 16, -1)), f"linux_{machine}")
    return Platform(f"linux-{machine}", "linux", "Linux", machine, tags)


def _macos(machine: str, version: tuple[int, int]) -> Platform:
    tags = tuple(mac_platforms(version, machine))
    return Platform(f"macos-{machine}", "darwin", "Darwin", machine, tags)


PLATFORMS: tuple[Platform, ...] = (
    _linux("x86_64"),
    _linux("aarch64"),
    _macos("arm64", (11, 0)),
    _macos("x86_64", (12, 0)),
    Platform("windows-amd64", "win32", "Windows", "AMD64", ("win_amd64",), os_name="nt"),
)


def environment(python: tuple[int, int], platform: Platform) -> Environment:
    version = f"{python[0]}.{python[1]}"
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "os_name": platform.os_name,
        "platform_machine": platform.machine,
        "platform_release": "",
        "platform_system": platform.platform_system,
        "platform_version": "",
        "python_full_version": f"{version}.0",
        "platform_python_implementation": "CPython",
        "python_version": version,
        "sys_platform": platform.sys_platform,
    }


def tags(python: tuple[int, int], platform: Platform) -> list[Tag]:
    abi = f"cp{python[0]}{python[1]}"
    return [
        *cpython_tags(python, [abi], platform.tags),
        *compatible_tags(python, abi, platform.tags),
    ]


def requirement_pins(text: str, env: Environment) -> dict[str, str]:
    """{name: version} a requirements file selects in `env`; two versions of one name fail."""
    pins: dict[str, str] = {}
    for entry in logical_lines(text):
        if entry.startswith("-"):
            continue  # an option line (--find-links)
        requirement = Requirement(split_entry(entry)[0])
        if requirement.marker is not None and not requirement.marker.evaluate(
            {**_as_strings(env), "extra": ""}
        ):
            continue
        (pin,) = [s.version for s in requirement.specifier if s.operator == "=="] or [""]
        name = canonicalize_name(requirement.name)
        if name in pins:
            raise CheckFailed(f"{name} is selected twice ({pins[name]} and {pin})")
        pins[name] = pin
    return pins


def _as_strings(env: Environment) -> dict[str, str]:
    return {key: str(value) for key, value in env.items()}


def pylock_pins(lock: Pylock, python: tuple[int, int], platform: Platform) -> dict[str, str]:
    """{name: version} the pylock file installs there; PylockSelectError becomes CheckFailed."""
    try:
        chosen = list(
            lock.select(environment=environment(python, platform), tags=tags(python, platform))
        )
    except PylockSelectError as exc:
        raise CheckFailed(str(exc)) from None
    return {str(package.name): str(package.version) for package, _file in chosen}


def check_matrix(name: str, requirements: str, lock: Pylock) -> list[str]:
    """Every (Python, platform) pair: one version per package, both files agreeing.

    Returns the pairs checked ("3.10/linux-x86_64", ...); CheckFailed names the first bad one.
    """
    checked = []
    for python, platform in _pairs():
        where = f"{python[0]}.{python[1]}/{platform.name}"
        try:
            from_lock = pylock_pins(lock, python, platform)
            from_requirements = requirement_pins(requirements, environment(python, platform))
        except CheckFailed as exc:
            raise CheckFailed(f"{name} on {where}: {exc}") from None
        if from_lock != from_requirements:
            differ = sorted(set(from_lock.items()) ^ set(from_requirements.items()))
            raise CheckFailed(f"{name} on {where}: pylock and requirements differ in {differ}")
        checked.append(where)
    return checked


def _pairs() -> Iterable[tuple[tuple[int, int], Platform]]:
    return ((python, platform) for python in PYTHONS for platform in PLATFORMS)
