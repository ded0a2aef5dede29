"""POST /v1/experiments/validate: check a spec as a submission would, store nothing.

A client installed without the science (`pip install 'cortexrnn[client]'`: no numpy, no
torch) cannot validate a spec itself; it asks here (`cortexrnn-client spec validate`,
`submit --dry-run`). The checks are the submission's: the body is the same ExperimentSpec
(an invalid field is a 422 listing its path), the dataset must exist with enough neurons
for the selection, and the cost must fit the queue's limits (shared/admission.py). The
answer adds the cost estimate and when the experiment would start.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from cortexrnn.api.deps import SessionDep, UserDep
from cortexrnn.api.errors import Responses, error_responses, invalid_field
from cortexrnn.services.spec import ExperimentSpec
from cortexrnn.services.spec.cost import ExperimentCost
from cortexrnn.shared.admission import GB, AdmissionRefused, check_admission
from cortexrnn.shared.experiments import SpecDatasetError, resolve_selection
from cortexrnn.shared.queue_wait import queue_wait
from cortexrnn.shared.settings import Settings
from cortexrnn.wire.schemas import CostEstimate, QueueStart, SpecCheck

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ERRORS: Responses = error_responses(401, 422)


def cost_estimate(cost: ExperimentCost, settings: Settings) -> CostEstimate:
    return CostEstimate(
        n_units=cost.n_units,
        n_runs=cost.n_runs,
        run_peak_bytes=cost.run_peak_bytes,
        pack_networks=cost.pack_networks,
        pack_peak_bytes=cost.pack_peak_bytes,
        pack_limit_bytes=int(settings.max_pack_memory_gb * GB),
        run_flops=cost.run_flops_max,
        flops_total=cost.flops_total,
        worker_hours=cost.worker_seconds / 3600,
        worker_hours_limit=settings.max_worker_hours_per_experiment,
        device=settings.default_queue,
    )


@router.post("/validate", response_model=SpecCheck, responses=ERRORS)
def validate(spec: ExperimentSpec, request: Request, session: SessionDep, _: UserDep) -> SpecCheck:
    """Validate a spec without submitting it: 200 with its run count, conditions, seeds and
    tasks, its estimated cost (peak memory, FLOPs, worker-hours) and the queue's expected
    start; or 422 naming every wrong field (the dataset and selection included) or the field
    over one of the queue's limits."""
    settings: Settings = request.app.state.settings
    # Reads only (the embedded default dataset is created on first use, as on submit).
    try:
        dataset = resolve_selection(session, spec)
        cost = check_admission(spec, len(dataset.selection), settings)
    except (SpecDatasetError, AdmissionRefused) as exc:
        raise invalid_field(exc.path, str(exc)) from None
    wait = queue_wait(session, settings)
    return SpecCheck.of(spec).model_copy(
        update={
            "estimate": cost_estimate(cost, settings),
            "queue": QueueStart(
                slots=wait.slots,
                runs_ahead=wait.runs_ahead,
                work_ahead_hours=wait.work_ahead_s / 3600,
                expected_start_s=wait.expected_start_s,
            ),
        }
    )
