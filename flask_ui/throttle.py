"""Failed sign-ins slow the next ones down: per user name and per client address.

The ``free``-th failure of one key (the name tried, or the address it came from)
and each one after it lock that key for ``base * 2**k`` seconds (k = 0, 1, 2 ...),
at most ``cap``; a key whose last failure is older than ``window`` starts over. A
locked key is refused before its password is checked, so a guess during a lockout
learns nothing. A success clears the user's key, not the address's (one valid
account must not reset an address that is guessing at others).

In memory and per process: a restart or a second worker starts afresh, which
bounds the delay, not the guessing. ``max_keys`` bounds the memory a flood of
made-up names or addresses can take (the oldest keys go first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Key:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass(frozen=True)
class Rule:
    free: int  # the failure that starts the first lockout
    base: float = 1.0  # seconds of the first lockout; each next one doubles
    cap: float = 900.0  # the longest lockout
    window: float = 900.0  # failures older than this are forgotten


USER_RULE = Rule(free=5)
# Offices and phone networks put many people behind one address: more room there.
ADDRESS_RULE = Rule(free=20)


class LoginThrottle:
    def __init__(
        self,
        rules: dict[str, Rule] | None = None,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules or {"user": USER_RULE, "addr": ADDRESS_RULE}
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[str, _Key] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def keys(user: str, address: str | None) -> tuple[str, str]:
        return f"user:{user.strip().lower()}", f"addr:{address or '?'}"

    def wait(self, *keys: str) -> int:
        """Whole seconds until every key may try again (0: now)."""
        now = self.clock()
        with self._lock:
            ends = [self._keys[k].locked_until for k in keys if k in self._keys]
        left = max(ends, default=now) - now
        return max(0, math.ceil(left))

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                rule = self.rules[key.split(":", 1)[0]]
                state = self._keys.pop(key, None) or _Key()
                if now - state.last > rule.window:
                    state = _Key()
                state.failures += 1
                state.last = now
                over = state.failures - rule.free
                if over >= 0:
                    state.locked_until = now + min(rule.cap, rule.base * 2 ** min(over, 30))
                self._keys[key] = state  # most recent last: the oldest are evicted first
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)
