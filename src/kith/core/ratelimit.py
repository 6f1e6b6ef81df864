"""An in-process token bucket per key: ``rate`` tokens a second, holding at most ``burst``.

Per process by design: with N API processes the effective limit is N × rate, which is what a
per-key abuse guard needs (it exists to stop a runaway script, not to meter billing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: float
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, now: float | None = None) -> float | None:
        """Spend one token; ``None`` when allowed, else the seconds until a token is available."""
        t = time.monotonic() if now is None else now
        tokens, last = self._state.get(key, (self.burst, t))
        tokens = min(self.burst, tokens + (t - last) * self.rate)
        if tokens < 1:
            self._state[key] = (tokens, t)
            return (1 - tokens) / self.rate
        self._state[key] = (tokens - 1, t)
        return None
