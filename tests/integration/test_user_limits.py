"""Per-user limits an admin sets (runs in flight, worker-hours per UTC day) and fair share by
decayed recent usage, on a real database (SQLite, and Postgres where reachable), through the
scheduler, the queue view, the API and the server CLI."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cortexrnn.shared import fair_share
from cortexrnn.shared.db import get_sessionmaker
from cortexrnn.shared.fair_share import UserShare, charge, decayed, set_limits
from cortexrnn.shared.models import Pack, Run, RunState, User, utcnow
from cortexrnn.shared.queue_status import build_queue
from cortexrnn.shared.settings import Settings
from tests.integration.test_scheduler_slots import (
    _in_flight_per_user,
    _owner,
    _tick,
)
from tests.queue_rows import add_users, submit_runs


def _runs_in_flight(s, name: str) -> int:
    return (
        s.scalar(
            select(func.count())
            .select_from(Run)
            .join(User, User.id == Run.owner_id)
            .where(User.name == name, Run.state.in_(["queued", "running"]))
        )
        or 0
    )


def test_decay_and_the_split_of_a_packs_time_by_hand(db_url: str) -> None:
    now = utcnow()
    assert decayed(100.0, now - timedelta(hours=24), now, 24.0) == pytest.approx(50.0)
    assert decayed(100.0, now - timedelta(hours=72), now, 24.0) == pytest.approx(12.5)
    assert decayed(100.0, now, now, 24.0) == 100.0
    with get_sessionmaker(db_url)() as s:
        alice, bob = add_users(s, "alice", "bob")
        submit_runs(s, alice, 3, "k")
        submit_runs(s, bob, 1, "k")
        runs = list(s.scalars(select(Run).order_by(Run.id)))
        for run in runs:
            run.started_at = now - timedelta(seconds=100)
        charge(s, runs, now)  # 100 s of one worker, four runs: 25 s each
        s.commit()
        assert s.get_one(UserShare, alice.id).decayed_seconds == pytest.approx(75.0)
        assert s.get_one(UserShare, bob.id).day_seconds == pytest.approx(25.0)
        charge(s, runs[:1], now + timedelta(hours=24))  # a day later: alice's 75 s count 37.5
        assert s.get_one(UserShare, alice.id).decayed_seconds == pytest.approx(37.5 + 100 + 86400)
        assert s.get_one(UserShare, alice.id).day_seconds == pytest.approx(100 + 86400)  # new day


def test_a_user_at_their_runs_in_flight_limit_waits_and_their_pack_is_cut(db_url: str) -> None:
    """anna may have 5 runs in flight: her first pack takes 5 of her runs (not 8), the other
    three slots go to ben although anna was served longer ago, and the queue says why."""
    with get_sessionmaker(db_url)() as s:
        anna, ben = add_users(s, "anna", "ben")
        set_limits(s, anna.id, max_runs_in_flight=5, max_worker_hours_per_day=None)
        s.commit()
        t0 = utcnow()
        submit_runs(s, anna, 40, "task", when=t0)
        submit_runs(s, ben, 40, "task", when=t0 + timedelta(seconds=1))
        sent = _tick(s, slots=4)
        assert len(sent) == 4
        assert _runs_in_flight(s, "anna") == 5 and _runs_in_flight(s, "ben") == 24
        assert _in_flight_per_user(s) == Counter(anna=1, ben=3)
        # ben's packs take his runs only: anna's beyond her limit stay pending
        assert s.scalar(select(func.count()).select_from(Pack)) == 4
        view = build_queue(s, Settings())
        annas = next(w for w in view.waiting if w.owner == "anna")
        assert annas.reason == "user limit: anna has 5 runs in flight (limit 5)"
        assert annas.expected_start_s is None
        set_limits(s, anna.id, max_runs_in_flight=None, max_worker_hours_per_day=None)
        s.commit()
        assert len(_tick(s, slots=5)) == 1  # lifted: the free slot goes to anna
        assert _runs_in_flight(s, "anna") == 13


def test_a_user_past_their_worker_hours_today_waits_until_midnight(db_url: str) -> None:
    with get_sessionmaker(db_url)() as s:
        anna, ben = add_users(s, "anna", "ben")
        set_limits(s, anna.id, max_runs_in_flight=None, max_worker_hours_per_day=1.0)
        now = utcnow()
        share = s.get_one(UserShare, anna.id)
        share.day, share.day_seconds = now.date().isoformat(), 3700.0
        share.decayed_seconds, share.decayed_at = 3700.0, now
        s.commit()
        submit_runs(s, anna, 16, "task", when=now - timedelta(hours=1))
        submit_runs(s, ben, 16, "task", when=now)
        assert len(_tick(s, slots=4)) == 2  # ben's two packs; anna's older runs wait
        assert (_runs_in_flight(s, "anna"), _runs_in_flight(s, "ben")) == (0, 16)
        why = fair_share.standing(share, now, 24.0).blocked(0)
        assert why is not None and "1.03 worker-hours used today (limit 1" in why
        tomorrow = now + timedelta(days=1)
        assert fair_share.standing(share, tomorrow, 24.0).blocked(0) is None


def test_recent_usage_orders_users_with_as_many_runs_in_flight(db_url: str) -> None:
    """Nothing in flight for either: anna used 10 worker-hours just now, ben was served more
    recently than her but used little, so ben goes first; ten half-lives later anna's usage has
    decayed below ben's and she goes first again (served longer ago)."""
    with get_sessionmaker(db_url)() as s:
        anna, ben = add_users(s, "anna", "ben")
        now = utcnow()
        for user, seconds in ((anna, 36000.0), (ben, 3600.0)):
            share = fair_share.share_of(s, user.id)
            share.decayed_seconds, share.decayed_at = seconds, now
        submit_runs(s, anna, 8, "task", when=now - timedelta(hours=2))
        submit_runs(s, ben, 8, "task", when=now - timedelta(hours=1))
        for run in s.scalars(select(Run)):
            run.queued_at = now - (timedelta(hours=5) if run.owner_id == anna.id else timedelta(0))
            run.state = RunState.SUCCEEDED.value  # served earlier, finished
        submit_runs(s, anna, 8, "task2", when=now)
        submit_runs(s, ben, 8, "task2", when=now)
        s.commit()
        (first,) = _tick(s, slots=1)
        assert s.scalars(select(User.name).join(Run).where(Run.pack_id == first)).first() == "ben"
        s.get_one(UserShare, anna.id).decayed_at = now - timedelta(days=10)
        s.get_one(Pack, first).state = RunState.SUCCEEDED.value
        for run in s.scalars(select(Run).where(Run.pack_id == first)):
            run.state = RunState.SUCCEEDED.value
        s.commit()
        (second,) = _tick(s, slots=1)
        assert s.scalars(select(User.name).join(Run).where(Run.pack_id == second)).first() == "anna"


def test_a_limited_users_next_pack_takes_only_what_their_runs_in_flight_leave(db_url: str) -> None:
    """anna may have 5 runs in flight and has 3: her next pack takes 2 of her runs, not 8."""
    with get_sessionmaker(db_url)() as s:
        (anna,) = add_users(s, "anna")
        set_limits(s, anna.id, max_runs_in_flight=5, max_worker_hours_per_day=None)
        s.commit()
        submit_runs(s, anna, 3, "first")
        assert len(_tick(s, slots=1)) == 1 and _runs_in_flight(s, "anna") == 3
        submit_runs(s, anna, 20, "second")
        (pack,) = _tick(s, slots=2)
        assert s.scalar(select(func.count()).where(Run.pack_id == pack)) == 2
        assert _runs_in_flight(s, "anna") == 5


def _usage(s, user, seconds: float, now) -> None:
    share = fair_share.share_of(s, user.id)
    share.decayed_seconds, share.decayed_at = seconds, now
    s.commit()


def test_usage_is_compared_to_the_millisecond_then_the_user_served_longest_ago_goes_first(
    db_url: str,
) -> None:
    """Decayed usage carries float noise: users whose usage differs by less than a millisecond
    count as equal and the one served longer ago goes first; a difference of 0.3 s decides."""
    for anna_s, ben_s, first in [(0.1004, 0.1001, "anna"), (0.4, 0.1, "ben")]:
        with get_sessionmaker(db_url)() as s:
            s.query(Run).delete()
            s.query(Pack).delete()
            s.query(UserShare).delete()
            s.query(User).delete()
            s.commit()
            anna, ben = add_users(s, "anna", "ben")
            now = utcnow()
            _usage(s, anna, anna_s, now)
            _usage(s, ben, ben_s, now)
            # anna was served an hour ago, ben a minute ago (runs of theirs since finished).
            for user, ago in ((anna, 3600), (ben, 60)):
                done = submit_runs(s, user, 1, "old", when=now - timedelta(hours=2))
                run = s.scalars(select(Run).where(Run.experiment_id == done.id)).one()
                run.state, run.queued_at = RunState.SUCCEEDED.value, now - timedelta(seconds=ago)
            s.commit()
            submit_runs(s, anna, 2, "anna's", when=now)  # own pack keys: packs do not mix them
            submit_runs(s, ben, 2, "ben's", when=now)
            (pack,) = _tick(s, slots=1)
            assert _owner(s, pack) == first, (anna_s, ben_s)


def test_between_equal_users_the_older_head_run_goes_first(db_url: str) -> None:
    """Same runs in flight, usage and (never) served, same priority: the user whose waiting
    run is older goes first, although the other user's rows were written first."""
    with get_sessionmaker(db_url)() as s:
        anna, ben = add_users(s, "anna", "ben")
        now = utcnow()
        submit_runs(s, anna, 2, "anna's", when=now)
        submit_runs(s, ben, 2, "ben's", when=now - timedelta(minutes=5))
        (pack,) = _tick(s, slots=1)
        assert _owner(s, pack) == "ben"
