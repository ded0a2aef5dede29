"""/v1/users/{name}/share and /limits: a user's fair-share standing (anyone may read it, as
Slurm's sshare shows everyone's) and the limits only an admin may set."""

from __future__ import annotations

from fastapi import APIRouter, Path
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cortexrnn.api.deps import SessionDep, UserDep
from cortexrnn.api.errors import ApiError, Responses, error_responses, not_found
from cortexrnn.shared import fair_share, lifecycle
from cortexrnn.shared.models import Run, User, utcnow
from cortexrnn.wire.schemas import ShareLimits, ShareOut

router = APIRouter(prefix="/v1/users", tags=["users"])
ERRORS: Responses = error_responses(401, 403, 404, 422)
UserName = Path(min_length=1, max_length=64, description="The user's name.")


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise not_found("user", repr(name))
    return user


def _out(session: Session, user: User) -> ShareOut:
    in_flight = session.scalar(
        select(func.count())
        .select_from(Run)
        .where(Run.owner_id == user.id, Run.state.in_(lifecycle.IN_FLIGHT))
    )
    st = fair_share.standing(
        session.get(fair_share.UserShare, user.id), utcnow(), fair_share.half_life_h()
    )
    return ShareOut(
        user=user.name,
        max_runs_in_flight=st.max_runs_in_flight,
        max_worker_hours_per_day=st.max_worker_hours_per_day,
        in_flight=in_flight or 0,
        usage_hours=st.usage_seconds / 3600,
        today_hours=st.today_seconds / 3600,
        blocked=st.blocked(in_flight or 0),
    )


@router.get("/{name}/share", response_model=ShareOut, responses=ERRORS)
def get_share(session: SessionDep, _: UserDep, name: str = UserName) -> ShareOut:
    """A user's limits, runs in flight and worker time used (decayed, and today)."""
    return _out(session, _user(session, name))


@router.put("/{name}/limits", response_model=ShareOut, responses=ERRORS)
def put_limits(
    body: ShareLimits, session: SessionDep, caller: UserDep, name: str = UserName
) -> ShareOut:
    """Set a user's limits (an admin only); both fields are replaced, null lifts a limit."""
    if not caller.is_admin:
        raise ApiError(403, "only an admin may set a user's limits")
    user = _user(session, name)
    fair_share.set_limits(
        session,
        user.id,
        max_runs_in_flight=body.max_runs_in_flight,
        max_worker_hours_per_day=body.max_worker_hours_per_day,
    )
    session.commit()
    return _out(session, user)
