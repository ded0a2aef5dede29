"""The experiment spec model: what an experiment is (conditions x seeds x tasks over one
dataset, selection, model and training) and the hashes that identify it.

An experiment expands to runs = conditions x seeds x tasks. `canonical_hash()` identifies the
experiment's inputs, `run_hash(run)` one run's (what dedupe compares), `pack_key(run)` what
runs must share to be trained together as one population. Labels that do not change results
(name, tags, priority, force, webhook, email, resources) are excluded from all three; defaults are
filled, keys sorted, and CODE_VERSION is included so that a change of the science code
invalidates old results.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cortexrnn.services.connectome.selection import NeuronSelection
from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.conditions import Condition, Fidelity
from cortexrnn.services.priors.presets import expand_preset
from cortexrnn.services.spec.resources import Resources
from cortexrnn.services.spec.sweep import Sweep, SweepPathError, SweepPoint, SweptCondition
from cortexrnn.services.spec.sweep import expand as expand_sweep
from cortexrnn.services.tasks.registry import canonical_task_name, get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.evaluation import EvaluationConfig

# Bump when the science code changes what a run with the same inputs computes.
CODE_VERSION = "2026.12.2"  # .2: Dale inits balanced and radius-matched

MAX_SEEDS = 1000
MAX_CONDITIONS = 128
MAX_TASKS = 16
MAX_NEURONS = 5000
MAX_RUNS = 20_000
MAX_SEED_VALUE = 2**31 - 1

PRIORITY_LEVELS: dict[str, int] = {"low": -10, "normal": 0, "high": 10}
_FORBIDDEN_NAME_CHARS = set('/\\\0\n\r\t"')
# One plain address (no display name, no list): what an SMTP envelope takes as is.
_EMAIL_RE = re.compile(r"[^@\s,;:<>()\[\]\\\"]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]{2,}")


def _check_name(value: str, what: str, max_len: int) -> str:
    if not value or value != value.strip():
        raise ValueError(
            f"{what} must be non-empty without leading or trailing spaces, got {value!r}"
        )
    if len(value) > max_len:
        raise ValueError(f"{what} is longer than {max_len} characters")
    bad = sorted(set(value) & _FORBIDDEN_NAME_CHARS)
    if bad or not value.isprintable():
        raise ValueError(
            f"{what} {value!r} contains a character that is not allowed (/, \\, quotes, control "
            "characters)"
        )
    return value


def _storable_problem(value: Any, path: str = "") -> str | None:
    """Why `value` (a JSON-like tree) cannot be stored or hashed, or None. Postgres text
    cannot hold NUL and the spec's hash is strict JSON (no NaN or infinity): either would
    otherwise fail only when the experiment is written, as a server error."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    where = f" at {path}" if path else ""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number{where}"
    if isinstance(value, str) and "\0" in value:
        return f"a NUL character is not allowed{where}"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _storable_problem(key, path) or _storable_problem(
                item, f"{path}.{key}" if path else str(key)
            )
            if problem:
                return problem
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            problem = _storable_problem(item, f"{path}[{i}]")
            if problem:
                return problem
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is not a seed count


class TaskEntry(BaseModel):
    """One task of the experiment: its registry name, parameter overrides, and a label that
    names its runs (default: the task name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(None, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        return canonical_task_name(value)

    @field_validator("params")
    @classmethod
    def _params_storable(cls, params: dict[str, Any]) -> dict[str, Any]:
        problem = _storable_problem(params)
        if problem:
            raise ValueError(problem)
        return params

    @model_validator(mode="after")
    def _params_valid(self) -> TaskEntry:
        try:
            get_task(self.name, **self.params)
        except (TypeError, ValueError, OverflowError) as exc:  # int(1e400) is an OverflowError
            raise ValueError(str(exc)) from None
        if self.label is not None:
            _check_name(self.label, "task label", 64)
        return self

    @property
    def run_label(self) -> str:
        return self.label or self.name

    def canonical(self) -> dict[str, Any]:
        """Name and every parameter with its default filled (labels excluded)."""
        params = asdict(get_task(self.name, **self.params))
        return {"name": self.name, "params": json.loads(json.dumps(params, default=list))}


class RunSpec(BaseModel):
    """One run: a condition, a seed and a task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    condition_name: str
    condition: Condition
    seed: int
    task: TaskEntry
    point: SweepPoint | None = None  # the sweep point it belongs to (services/spec/sweep.py)

    @property
    def task_name(self) -> str:
        return self.task.run_label


def _sha256(obj: Any) -> str:
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=32)
    dataset: str = Field("synthetic-cortex", min_length=1, max_length=200)
    sampling: NeuronSelection = Field(default_factory=NeuronSelection)
    tasks: list[TaskEntry] = Field(
        default_factory=lambda: [TaskEntry(name="go_no_go")], min_length=1, max_length=MAX_TASKS
    )
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    seeds: int | list[int] = 1
    conditions: dict[str, Condition] = Field(default_factory=lambda: {"baseline": Condition()})
    fidelity: Fidelity = Field(default_factory=Fidelity)
    priority: Literal["low", "normal", "high"] | int = "normal"
    force: bool = False
    sweep: Sweep | None = None
    # Held-out sets besides recall (services/training/evaluation.py); the default, recall
    # only, is left out of every hash so that results from before the field keep their keys.
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    # Where it may train (services/spec/resources.py); a label: no hash includes it.
    resources: Resources = Field(default_factory=Resources)
    # An http(s) URL POSTed a JSON notice (id, name, status, run counts) when the experiment
    # ends (shared/notify.py); a label like the name: no hash includes it.
    webhook: str | None = Field(None, max_length=2000)
    # An address e-mailed the same notice, where the operator configured SMTP (refused at
    # submission otherwise); a label too.
    email: str | None = Field(None, max_length=254)

    # -- validation ------------------------------------------------------------------------
    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.isascii() or not _EMAIL_RE.fullmatch(value):
            raise ValueError(f"email must be one address like name@lab.example.org, got {value!r}")
        return value

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or value != value.strip():
            raise ValueError(f"webhook must be an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        # Most fields check their own values; this also catches strings no field checks (the
        # name, sampling.field) and a float field added without `allow_inf_nan=False`.
        problem = _storable_problem(value, info.field_name or "")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for t in tags:
            _check_name(t, "tag", 64)
        return tags

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        # A registered dataset's name; `cortexrnn run` also accepts a local folder path here
        # (the service only ever looks names up).
        if (
            not value
            or value != value.strip()
            or not value.isprintable()
            or set(value) & {'"', "\0"}
        ):
            raise ValueError(
                "dataset must be a dataset name (or, for `cortexrnn run`, a folder path), got "
                f"{value!r}"
            )
        return value

    @field_validator("sampling")
    @classmethod
    def _sampling_size(cls, sel: NeuronSelection) -> NeuronSelection:
        if sel.n_neurons is not None and sel.n_neurons > MAX_NEURONS:
            raise ValueError(
                f"n_neurons={sel.n_neurons} is above the limit of {MAX_NEURONS} units per network"
            )
        return sel

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds_type(cls, value: Any) -> Any:
        if not (_is_int(value) or (isinstance(value, list) and all(_is_int(v) for v in value))):
            raise ValueError(
                f"seeds must be a count (integer) or a list of integer seeds, got {value!r}"
            )
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: int | list[int]) -> int | list[int]:
        if isinstance(seeds, int):
            if not 1 <= seeds <= MAX_SEEDS:
                raise ValueError(
                    f"seeds must be a count between 1 and {MAX_SEEDS}, or a list of seeds; got "
                    f"{seeds}"
                )
            return seeds
        if not seeds:
            raise ValueError("seeds must not be an empty list")
        if len(seeds) > MAX_SEEDS:
            raise ValueError(f"at most {MAX_SEEDS} seeds, got {len(seeds)}")
        bad = [s for s in seeds if not 0 <= s <= MAX_SEED_VALUE]
        if bad:
            raise ValueError(f"seeds must be integers in [0, {MAX_SEED_VALUE}], got {bad[:5]}")
        if len(set(seeds)) != len(seeds):
            dup = sorted({s for s in seeds if seeds.count(s) > 1})
            raise ValueError(f"seeds are repeated: {dup[:5]}")
        return seeds

    @field_validator("conditions", mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"preset": value}
        if (
            isinstance(value, dict)
            and isinstance(value.get("preset"), str)
            and set(value) <= {"preset", "override", "only"}
        ):
            expanded = expand_preset(value["preset"])
            only = value.get("only")
            if only is not None:
                if (
                    not isinstance(only, list)
                    or not only
                    or not all(isinstance(n, str) for n in only)
                ):
                    raise ValueError(
                        "conditions.only must be a non-empty list of the preset's condition names"
                    )
                unknown = [n for n in only if n not in expanded]
                if unknown:
                    raise ValueError(
                        f"conditions.only: {', '.join(unknown)} not in preset {value['preset']!r} "
                        f"(its conditions: {', '.join(expanded)})"
                    )
                expanded = {name: c for name, c in expanded.items() if name in only}
            override = value.get("override") or {}
            if not isinstance(override, dict):
                raise ValueError(
                    "conditions.override must be a mapping of condition fields applied to every "
                    "preset condition"
                )
            unknown = sorted(set(override) - set(Condition.model_fields))
            if unknown:
                raise ValueError(
                    f"conditions.override: unknown condition field(s) {', '.join(unknown)}"
                )
            if override:
                expanded = {
                    name: Condition.model_validate({**c.model_dump(), **override})
                    for name, c in expanded.items()
                }
            return expanded
        return value

    @field_validator("conditions")
    @classmethod
    def _condition_names(cls, value: dict[str, Condition]) -> dict[str, Condition]:
        if not value:
            raise ValueError("at least one condition is needed (or `preset: paper-2026`)")
        if len(value) > MAX_CONDITIONS:
            raise ValueError(f"at most {MAX_CONDITIONS} conditions, got {len(value)}")
        for name in value:
            _check_name(name, "condition name", 128)
        return value

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        ok = (isinstance(value, str) and value in PRIORITY_LEVELS) or (
            isinstance(value, int) and not isinstance(value, bool) and -100 <= value <= 100
        )
        if not ok:
            raise ValueError(
                f"priority must be low, normal, high or an integer in [-100, 100], got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _sizes(self) -> ExperimentSpec:
        labels = [t.run_label for t in self.tasks]
        dup = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dup:
            raise ValueError(
                f"tasks: {', '.join(dup)} listed more than once; give repeated tasks distinct "
                "`label`s"
            )
        n = self.n_runs
        if n > MAX_RUNS:
            raise ValueError(
                f"{n // len(self.seed_list) // len(self.tasks)} conditions x "
                f"{len(self.seed_list)} seeds x "
                f"{len(self.tasks)} tasks = {n} runs, above the limit of {MAX_RUNS} per "
                "experiment; split it"
            )
        for swept in self.swept_conditions() if self.sweep is not None else []:
            try:
                _check_name(swept.label, "swept condition label", 128)
            except ValueError as exc:
                raise SweepPathError("sweep", str(exc)) from None
            sel = swept.point.sampling if swept.point else None
            if sel is not None and sel.n_neurons is not None and sel.n_neurons > MAX_NEURONS:
                raise SweepPathError(
                    "sweep.fields.sampling.n_neurons",
                    f"n_neurons={sel.n_neurons} is above the limit of {MAX_NEURONS} units",
                )
        return self

    @model_validator(mode="after")
    def _evaluation_applies(self) -> ExperimentSpec:
        ev = self.evaluation
        perceptual = [t for t in self.tasks if t.name == "perceptual_decision_making"]
        if "unseen_coherence" in ev.sets:
            if not perceptual:
                raise SweepPathError(
                    "evaluation.sets",
                    "unseen_coherence needs a perceptual_decision_making task in `tasks`",
                )
            for t in perceptual:
                training = get_task(t.name, **t.params).cohs  # type: ignore[attr-defined]
                unseen = ev.unseen_for(training)
                seen = sorted(set(unseen) & set(training))
                if not unseen or seen:
                    raise SweepPathError(
                        "evaluation.unseen_cohs",
                        f"task {t.run_label!r} trains on coherences {list(training)}; the "
                        f"unseen set {list(unseen)} must be non-empty and hold none of them"
                        + (f" (it holds {seen})" if seen else ""),
                    )
        if "noisy" in ev.sets and ev.noise_in is None:
            points = [c.point for c in self.swept_conditions()] if self.sweep else [None]
            models = [p.model if p and p.model else self.model for p in points]
            if any(m.noise_in <= 0 for m in models):
                raise SweepPathError(
                    "evaluation.noise_in",
                    "the noisy set uses the model's noise_in, which is 0 here; give "
                    "evaluation.noise_in > 0",
                )
        return self

    # -- expansion -------------------------------------------------------------------------
    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def n_runs(self) -> int:
        points = self.sweep.n_points if self.sweep is not None else 1
        return len(self.conditions) * points * len(self.seed_list) * len(self.tasks)

    @property
    def priority_value(self) -> int:
        return (
            PRIORITY_LEVELS[self.priority] if isinstance(self.priority, str) else int(self.priority)
        )

    def expand_runs(self) -> list[RunSpec]:
        """conditions x seeds x tasks, in the spec's condition order (each condition's sweep
        points in turn), then seed, then task."""
        return [
            RunSpec(
                condition_name=c.label, condition=c.condition, seed=seed, task=task, point=c.point
            )
            for c in self.swept_conditions()
            for seed in self.seed_list
            for task in self.tasks
        ]

    # -- sweeps (services/spec/sweep.py) ---------------------------------------------------
    def swept_conditions(self) -> list[SweptCondition]:
        """The conditions crossed with the sweep's points (the conditions alone without one)."""
        settings = {"training": self.training, "model": self.model, "sampling": self.sampling}
        return expand_sweep(self.sweep, self.conditions, settings)

    def settings_of(self, run: RunSpec) -> tuple[NeuronSelection, ModelConfig, TrainingConfig]:
        """The sampling, model and training a run trains with: its point's, else the spec's."""
        p = run.point
        return (
            p.sampling if p and p.sampling else self.sampling,
            p.model if p and p.model else self.model,
            p.training if p and p.training else self.training,
        )

    def spec_for(self, run: RunSpec) -> ExperimentSpec:
        """This spec with the run's effective settings, its condition and no sweep: what one
        pack of runs that share `pack_key(run)` trains with."""
        sampling, model, training = self.settings_of(run)
        return self.model_copy(
            update={
                "sampling": sampling,
                "model": model,
                "training": training,
                "conditions": {run.condition_name: run.condition},
                "sweep": None,
            }
        )

    # -- hashing ---------------------------------------------------------------------------
    def _shared_inputs(self, run: RunSpec) -> dict[str, Any]:
        # The effective values only (not where they came from), so a swept point equal to an
        # earlier run hashes as that run and is answered from its results.
        sampling, model, training = self.settings_of(run)
        return {
            "code_version": CODE_VERSION,
            "dataset": self.dataset,
            "sampling": sampling.model_dump(mode="json"),
            "model": model.model_dump(mode="json"),
            "training": training.model_dump(mode="json"),
            "task": run.task.canonical(),
            **self._evaluation_inputs(),
        }

    def _evaluation_inputs(self) -> dict[str, Any]:
        # Absent for the default (recall only): run hashes and pack keys as before the field.
        ev = self.evaluation
        return {} if ev.is_default else {"evaluation": ev.model_dump(mode="json")}

    def canonical(self) -> dict[str, Any]:
        """Everything that determines results, defaults filled, labels excluded."""
        return {
            "code_version": CODE_VERSION,
            "dataset": self.dataset,
            "sampling": self.sampling.model_dump(mode="json"),
            "tasks": [t.canonical() for t in self.tasks],
            "model": self.model.model_dump(mode="json"),
            "training": self.training.model_dump(mode="json"),
            "seeds": self.seed_list,
            "conditions": {k: v.model_dump(mode="json") for k, v in self.conditions.items()},
            "fidelity": self.fidelity.model_dump(mode="json"),
            **({"sweep": self.sweep.model_dump(mode="json")} if self.sweep else {}),
            **self._evaluation_inputs(),
        }

    def canonical_hash(self) -> str:
        return _sha256(self.canonical())

    def run_hash(self, run: RunSpec, dataset_sha: str | None = None) -> str:
        """The canonical inputs of one run. The condition's name is a label and is excluded:
        the same condition under another name is the same run. Pass `dataset_sha` where the
        dataset's content hash is known to tie the run to content rather than a name."""
        inputs = self._shared_inputs(run)
        inputs.update(
            condition=run.condition.model_dump(mode="json"),
            seed=run.seed,
            fidelity=self.fidelity.model_dump(mode="json"),
        )
        if dataset_sha is not None:
            inputs["dataset_sha"] = dataset_sha
        return _sha256(inputs)

    def pack_key(self, run: RunSpec) -> str:
        """What runs must share to train as one population: dataset, selection (hence N),
        task, model and training settings. Condition, seed and fidelity are per network."""
        return _sha256(self._shared_inputs(run))
