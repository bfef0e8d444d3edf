"""When a failed delivery is tried again: an exponential schedule, bounded in attempts and in
age (design section 12). Pure: the caller gives the attempt's number and the delivery's age."""

from __future__ import annotations

from dataclasses import dataclass

# Doubling stops growing the pause long before any configured maximum matters.
DOUBLINGS_MAX = 40


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """`first_ms` after the first failed attempt, doubling after each one up to `longest_ms`;
    no attempt after `attempts_max` attempts, nor once the delivery would be `age_max_ms` old."""

    first_ms: int
    longest_ms: int
    attempts_max: int
    age_max_ms: int

    def pause_ms(self, attempts: int) -> int:
        """The pause after the `attempts`-th failed attempt (1 for the first)."""
        return min(self.first_ms * (1 << min(max(attempts - 1, 0), DOUBLINGS_MAX)), self.longest_ms)

    def next_pause_ms(self, attempts: int, age_ms: int) -> int | None:
        """The pause before the next attempt after `attempts` failed ones of a delivery
        `age_ms` old, or None when it is given up: out of attempts, or the next one would come
        after its age limit."""
        if attempts >= self.attempts_max:
            return None
        pause_ms = self.pause_ms(attempts)
        if age_ms + pause_ms > self.age_max_ms:
            return None
        return pause_ms
