"""POST /v1/experiments/validate: check a spec as a submission would, store nothing.

A client installed without the science (`pip install 'cortexrnn[client]'`: no numpy, no
torch) cannot validate a spec itself; it asks here (`cortexrnn-client spec validate`,
`submit --dry-run`). The checks are the submission's: the body is the same ExperimentSpec
(an invalid field is a 422 listing its path), and the dataset must exist with enough
neurons for the selection.
"""

from __future__ import annotations

from fastapi import APIRouter

from cortexrnn.api.deps import SessionDep, UserDep
from cortexrnn.api.errors import Responses, error_responses, invalid_field
from cortexrnn.services.spec import ExperimentSpec
from cortexrnn.shared.experiments import SpecDatasetError, resolve_dataset
from cortexrnn.wire.schemas import SpecCheck

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ERRORS: Responses = error_responses(401, 422)


@router.post("/validate", response_model=SpecCheck, responses=ERRORS)
def validate(spec: ExperimentSpec, session: SessionDep, _: UserDep) -> SpecCheck:
    """Validate a spec without submitting it: 200 with its run count, conditions, seeds and
    tasks, or 422 naming every wrong field (the dataset and selection included)."""
    # Reads only (the embedded default dataset is created on first use, as on submit).
    try:
        resolve_dataset(session, spec)
    except SpecDatasetError as exc:
        raise invalid_field(exc.path, str(exc)) from None
    return SpecCheck.of(spec)
