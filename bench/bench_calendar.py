"""Benchmark of BusinessCalendar.add and .between against the businesstimedelta package.
Both model the same office (Europe/London, Mon-Fri 08:00-17:00, GB-ENG holidays) and must agree to the second.
"""

from __future__ import annotations

import os
import random
import time as clock
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import businesstimedelta
import holidays
import pytz

from jsm_bridge.calendar import calendar_from_config

CASES = 3000
SEED = 20260101
SPAN = timedelta(hours=15 * 9)  # 15 working days of 9 hours
LONG_SPAN = timedelta(hours=5 * 52 * 5 * 9)  # about five years of working days
LONDON = ZoneInfo("Europe/London")


def random_starts(count: int) -> list[datetime]:
    """Starts over 2026-2028 to the second; a quarter on the hour, to hit opening and closing exactly."""
    rng = random.Random(SEED)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    seconds = int((datetime(2029, 1, 1, tzinfo=UTC) - first).total_seconds())
    starts = []
    for _ in range(count):
        offset = rng.randrange(seconds)
        if rng.random() < 0.25:
            offset -= offset % 3600
        starts.append((first + timedelta(seconds=offset)).astimezone(LONDON))
    return starts


def per_op(run: Callable[[], object], ops: int, repeats: int) -> float:
    """Best-of-`repeats` seconds per operation."""
    best = float("inf")
    for _ in range(repeats):
        began = clock.perf_counter()
        run()
        best = min(best, clock.perf_counter() - began)
    return best / ops


def micro(seconds: float) -> str:
    return f"{seconds * 1e6:10.2f} us"


def mismatches(ours: Sequence[object], theirs: Sequence[object]) -> int:
    return sum(1 for a, b in zip(ours, theirs, strict=True) if a != b)


def main() -> None:
    office = calendar_from_config(
        "office",
        {
            "timezone": "Europe/London",
            "week": {"mon-fri": "08:00-17:00"},
            "holidays": {"country": "GB", "subdivision": "ENG"},
        },
    )
    london = pytz.timezone("Europe/London")
    rules = businesstimedelta.Rules(
        [
            businesstimedelta.WorkDayRule(
                start_time=time(8), end_time=time(17), working_days=[0, 1, 2, 3, 4], tz=london
            ),
            businesstimedelta.HolidayRule(holidays.country_holidays("GB", subdiv="ENG"), tz=london),
        ]
    )
    span = businesstimedelta.BusinessTimeDelta(rules, hours=int(SPAN.total_seconds()) // 3600)
    starts = random_starts(CASES)

    began = clock.perf_counter()
    ends = [office.add(start, SPAN) for start in starts]
    cold = clock.perf_counter() - began
    pairs = list(zip(starts, ends, strict=True))
    # businesstimedelta is timed once, on the pass whose answers are checked: it takes milliseconds per call.
    began = clock.perf_counter()
    their_ends = [start + span for start in starts]
    theirs_add = (clock.perf_counter() - began) / CASES
    began = clock.perf_counter()
    their_between = [rules.difference(start, end).timedelta for start, end in pairs]
    theirs_between = (clock.perf_counter() - began) / CASES
    our_between = [office.between(start, end) for start, end in zip(starts, ends, strict=True)]

    print(
        f"{CASES} random starts over 2026-2028, spans of 15 working days, "
        "Europe/London Mon-Fri 08:00-17:00, GB-ENG"
    )
    print(f"machine: {os.cpu_count()} cores")
    print(f"add mismatches:     {mismatches(ends, their_ends)}")
    print(f"between mismatches: {mismatches(our_between, their_between)}")
    print(f"between == span:    {sum(1 for value in our_between if value == SPAN)} of {CASES}")

    ours_add = per_op(lambda: [office.add(start, SPAN) for start in starts], CASES, 5)
    ours_between = per_op(lambda: [office.between(start, end) for start, end in pairs], CASES, 5)
    print()
    print(f"{'':10}{'jsm-bridge':>14}{'businesstimedelta':>20}{'speed-up':>10}")
    print(f"{'add':10}{micro(ours_add):>14}{micro(theirs_add):>20}{theirs_add / ours_add:>9.0f}x")
    print(
        f"{'between':10}{micro(ours_between):>14}{micro(theirs_between):>20}"
        f"{theirs_between / ours_between:>9.0f}x"
    )
    print(f"first {CASES} adds, building the year indexes: {cold * 1e3:.1f} ms in all")

    long_ends = [office.add(start, LONG_SPAN) for start in starts]
    long_pairs = list(zip(starts, long_ends, strict=True))
    long_add = per_op(lambda: [office.add(start, LONG_SPAN) for start in starts], CASES, 5)
    long_between = per_op(lambda: [office.between(start, end) for start, end in long_pairs], CASES, 5)
    wrong = sum(1 for start, end in long_pairs if office.between(start, end) != LONG_SPAN)
    print()
    print(
        f"five-year spans ({LONG_SPAN.total_seconds() / 3600:.0f} working hours, ends up to "
        f"{max(long_ends).year}): add {micro(long_add).strip()}, between {micro(long_between).strip()}, "
        f"round-trip errors {wrong}"
    )


if __name__ == "__main__":
    main()
