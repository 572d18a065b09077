"""Fault injection, so tests can prove clients converge despite errors, cut watches and latency."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Deterministic (seeded) faults; all off by default and after `clear()`."""

    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (500, 409)
    verbs: frozenset[str] | None = None
    users: frozenset[str] | None = None
    verb_rates: dict[str, float] = field(default_factory=dict)
    watch_close_after_events: int | None = None
    watch_close_after_seconds: float | None = None
    delay_seconds: float = 0.0
    seed: int = 0
    _random: random.Random = field(
        default_factory=random.Random, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._random.seed(self.seed)

    def configure(
        self,
        *,
        error_rate: float | None = None,
        error_codes: tuple[int, ...] | None = None,
        verbs: set[str] | frozenset[str] | None = None,
        users: set[str] | frozenset[str] | None = None,
        verb_rates: dict[str, float] | None = None,
        watch_close_after_events: int | None = None,
        watch_close_after_seconds: float | None = None,
        delay_seconds: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Set several faults at once; fields not given are left as they are."""
        if error_rate is not None:
            self.error_rate = error_rate
        if error_codes is not None:
            self.error_codes = error_codes
        if verbs is not None:
            self.verbs = frozenset(verbs)
        if users is not None:
            self.users = frozenset(users)
        if verb_rates is not None:
            self.verb_rates = dict(verb_rates)
        if watch_close_after_events is not None:
            self.watch_close_after_events = watch_close_after_events
        if watch_close_after_seconds is not None:
            self.watch_close_after_seconds = watch_close_after_seconds
        if delay_seconds is not None:
            self.delay_seconds = delay_seconds
        if seed is not None:
            self.seed = seed
            self._random.seed(seed)

    def clear(self) -> None:
        self.error_rate = 0.0
        self.error_codes = (500, 409)
        self.verbs = None
        self.users = None
        self.verb_rates = {}
        self.watch_close_after_events = None
        self.watch_close_after_seconds = None
        self.delay_seconds = 0.0

    def error_for(self, verb: str, user: str = "") -> int | None:
        """The status code to fail this request with, or None to serve it. A rate in
        `verb_rates` overrides `error_rate` for that verb; `verbs` limits `error_rate`;
        `users` limits every fault to those authenticated users' requests."""
        if verb == "watch" or (self.users is not None and user not in self.users):
            return None
        rate = self.verb_rates.get(verb)
        if rate is None:
            in_scope = self.verbs is None or verb in self.verbs
            rate = self.error_rate if in_scope else 0.0
        if rate <= 0 or self._random.random() >= rate:
            return None
        return self._random.choice(self.error_codes)
