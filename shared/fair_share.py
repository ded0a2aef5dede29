"""Each user's share of the queue: the limits an admin set (runs in flight, worker-hours per
UTC day) and the worker time they used, as a decayed total (Slurm's fair-share usage, halved
every `fair_share_half_life_h`) and as today's total.

One row per user, updated when a pack of theirs ends, so that the scheduler reads a user's
standing in one lookup instead of summing their history at every tick (migration 0007).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from cortexrnn.shared.models import Base, BigId, Run, as_utc
from cortexrnn.shared.settings import get_settings


class UserShare(Base):
    __tablename__ = "user_shares"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Limits (null: none), set by an admin with `cortexrnn users limits` or the API.
    max_runs_in_flight: Mapped[int | None] = mapped_column(Integer)
    max_worker_hours_per_day: Mapped[float | None] = mapped_column(Float)
    # Usage in worker-seconds: a pack's time on its worker, split evenly among its runs.
    decayed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    decayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    day: Mapped[str | None] = mapped_column(String(10))  # UTC date of day_seconds
    day_seconds: Mapped[float] = mapped_column(Float, default=0.0)


def decayed(seconds: float, since: datetime | None, now: datetime, half_life_h: float) -> float:
    """`seconds` of usage recorded at `since`, as it counts at `now`."""
    if since is None or seconds <= 0:
        return max(seconds, 0.0)
    age_h = max((as_utc(now) - as_utc(since)).total_seconds(), 0.0) / 3600
    return seconds * math.pow(0.5, age_h / half_life_h)


def today_seconds(share: UserShare | None, now: datetime) -> float:
    if share is None or share.day != as_utc(now).date().isoformat():
        return 0.0
    return share.day_seconds


def share_of(session: Session, user_id: int) -> UserShare:
    share = session.get(UserShare, user_id)
    if share is None:
        share = UserShare(user_id=user_id, decayed_seconds=0.0, day_seconds=0.0)
        session.add(share)
    return share


def half_life_h() -> float:
    return get_settings().fair_share_half_life_h


def charge(session: Session, ended: Sequence[Run], now: datetime) -> None:
    """The runs of one pack that ended at `now`: the pack's time on its worker (since its runs
    started) is split evenly among them and added to their owners' usage."""
    started = [as_utc(r.started_at) for r in ended if r.started_at is not None]
    if not started:
        return
    per_run = max((as_utc(now) - min(started)).total_seconds(), 0.0) / len(ended)
    by_owner: dict[int, float] = defaultdict(float)
    for run in ended:
        by_owner[run.owner_id] += per_run
    today = as_utc(now).date().isoformat()
    for owner_id, seconds in by_owner.items():
        share = share_of(session, owner_id)
        share.decayed_seconds = (
            decayed(share.decayed_seconds or 0.0, share.decayed_at, now, half_life_h()) + seconds
        )
        share.decayed_at = now
        share.day_seconds = (share.day_seconds if share.day == today else 0.0) + seconds
        share.day = today


@dataclass(frozen=True)
class Standing:
    """What the scheduler and the queue view need of one user's share."""

    usage_seconds: float  # decayed, at the time asked
    today_seconds: float
    max_runs_in_flight: int | None
    max_worker_hours_per_day: float | None

    def blocked(self, in_flight: int) -> str | None:
        """Why no more of this user's runs may start now, or None."""
        if self.max_runs_in_flight is not None and in_flight >= self.max_runs_in_flight:
            return f"{in_flight} runs in flight (limit {self.max_runs_in_flight})"
        hours = self.max_worker_hours_per_day
        if hours is not None and self.today_seconds >= hours * 3600:
            return (
                f"{self.today_seconds / 3600:.2f} worker-hours used today (limit {hours:g}; "
                "it resets at midnight UTC)"
            )
        return None


def standing(share: UserShare | None, now: datetime, half_life_h: float) -> Standing:
    if share is None:
        return Standing(0.0, 0.0, None, None)
    return Standing(
        decayed(share.decayed_seconds or 0.0, share.decayed_at, now, half_life_h),
        today_seconds(share, now),
        share.max_runs_in_flight,
        share.max_worker_hours_per_day,
    )


def set_limits(
    session: Session,
    user_id: int,
    *,
    max_runs_in_flight: int | None,
    max_worker_hours_per_day: float | None,
) -> UserShare:
    """An admin's limits for a user (None: no limit); they apply from the next tick."""
    share = share_of(session, user_id)
    share.max_runs_in_flight = max_runs_in_flight
    share.max_worker_hours_per_day = max_worker_hours_per_day
    return share
