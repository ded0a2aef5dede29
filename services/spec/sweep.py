"""Sweeps: one spec that trains its conditions over a range of any spec field.

A `sweep:` names fields by dotted path (`condition.lam`, `training.lr`, `model.noise_in`,
`sampling.n_neurons`) and gives each a list, a `{linspace: [start, stop, n]}` or a
`{logspace: [start, stop, n]}` (end values, not exponents: numpy's geomspace), combined as a
`product` (every combination) or `zip` (taken in step). With a `design` (Sobol or Latin
hypercube, seeded) the fields are sampled together instead: ranges are `[start, stop]` and
`n` points come from the design. Every point crosses every condition of the spec; the run's
condition label says the point's values (`W*D*C lam=0.01`).

A point that sets a training, model or sampling field carries that section's effective
settings, which the run's hash and pack key use: runs with equal effective values hash
equally, whichever sweep (or none) produced them, so extending a sweep trains only the new
points. This module imports nothing of `model.py`; the spec calls `expand` with its parts.
"""

from __future__ import annotations

import itertools
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cortexrnn.services.connectome.selection import NeuronSelection
from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.conditions import Condition
from cortexrnn.services.training.config import TrainingConfig

MAX_SWEEP_POINTS = 1024

# Where a swept field lives: `condition.*` is per condition (each point a new condition),
# the others are per run settings (each point its own runs and packs).
SWEEP_ROOTS: dict[str, type[BaseModel]] = {
    "condition": Condition,
    "training": TrainingConfig,
    "model": ModelConfig,
    "sampling": NeuronSelection,
}
SETTINGS_ROOTS = ("training", "model", "sampling")
RANGE_KINDS = ("linspace", "logspace")


class SweepPathError(ValueError):
    """A sweep error that names the dotted spec path to fix (`sweep.fields.training.lr`);
    `services/spec/loading.py` reports it under that path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _field_type(root: str, name: str) -> Any:
    return SWEEP_ROOTS[root].model_fields[name].annotation


def _numeric_kind(annotation: Any) -> str | None:
    """'int' or 'float' for a numeric field (optional ones included), else None."""
    args = set(typing.get_args(annotation)) if _is_union(annotation) else {annotation}
    args.discard(type(None))
    if args == {int}:
        return "int"
    if args and args <= {int, float}:
        return "float"
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def check_path(path: str) -> tuple[str, str]:
    """(root, field) of a swept path; SweepPathError naming it where there is no such field."""
    where = f"sweep.fields.{path}"
    root, _, name = path.partition(".")
    if root not in SWEEP_ROOTS or not name or "." in name:
        raise SweepPathError(
            where,
            "no such field: a swept field is <section>.<field> with section one of "
            f"{', '.join(SWEEP_ROOTS)} (e.g. condition.lam, training.lr)",
        )
    fields = SWEEP_ROOTS[root].model_fields
    if name not in fields:
        raise SweepPathError(
            where, f"no such field; the {root} fields are {', '.join(sorted(fields))}"
        )
    return root, name


class Design(BaseModel):
    """A quasi-random design over all swept fields at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["sobol", "lhs"]
    n: int = Field(ge=1, le=MAX_SWEEP_POINTS)
    seed: int = Field(0, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _balanced(self) -> Design:
        if self.method == "sobol" and self.n & (self.n - 1):
            raise ValueError(
                f"sobol needs n a power of two (its balance holds only then), got {self.n}; "
                "use method: lhs for any n"
            )
        return self


class Sweep(BaseModel):
    """`fields`: dotted path -> a list, `{linspace: [...]}` or `{logspace: [...]}`;
    `combine`: product or zip; `design`: sample the fields together (Sobol / LHS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[str, Any] = Field(min_length=1, max_length=16)
    combine: Literal["product", "zip"] | None = None  # None: product
    design: Design | None = None

    @model_validator(mode="before")
    @classmethod
    def _combine_or_design(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("design") is not None and data.get("combine"):
            raise SweepPathError(
                "sweep.combine", "a design samples the fields together; drop combine"
            )
        return data

    @model_validator(mode="after")
    def _fields_valid(self) -> Sweep:
        for path, spec in self.fields.items():
            root, name = check_path(path)
            _axis_values(path, spec, _numeric_kind(_field_type(root, name)), self.design)
        if self.design is None and self.combine == "zip":
            lengths = {p: len(self.axis(p)) for p in self.fields}
            if len(set(lengths.values())) > 1:
                raise SweepPathError(
                    "sweep.combine",
                    "zip takes the fields in step and needs as many values in each: "
                    + ", ".join(f"{p} has {n}" for p, n in lengths.items()),
                )
        n = self.n_points
        if n > MAX_SWEEP_POINTS:
            raise SweepPathError(
                "sweep.fields", f"{n} points, above the limit of {MAX_SWEEP_POINTS} per sweep"
            )
        return self

    def axis(self, path: str) -> list[Any]:
        """The values of one field (without a design)."""
        root, name = check_path(path)
        return _axis_values(path, self.fields[path], _numeric_kind(_field_type(root, name)), None)

    @property
    def n_points(self) -> int:
        if self.design is not None:
            return self.design.n
        sizes = [len(self.axis(p)) for p in self.fields]
        return sizes[0] if self.combine == "zip" else math.prod(sizes)

    def points(self) -> list[dict[str, Any]]:
        """Every point as {path: value}, in a fixed order (the first field varies slowest)."""
        paths = list(self.fields)
        if self.design is not None:
            return _design_points(self, paths, self.design)
        axes = [self.axis(p) for p in paths]
        combos = zip(*axes, strict=True) if self.combine == "zip" else itertools.product(*axes)
        return [dict(zip(paths, combo, strict=True)) for combo in combos]


def _axis_values(path: str, spec: Any, kind: str | None, design: Design | None) -> list[Any]:
    """A field's values: its list, or its range (with a design: the range's bounds)."""
    where = f"sweep.fields.{path}"
    if isinstance(spec, list):
        if not spec:
            raise SweepPathError(where, "an empty list of values")
        if len(spec) > MAX_SWEEP_POINTS:
            raise SweepPathError(where, f"more than {MAX_SWEEP_POINTS} values")
        keys = [json.dumps(v, sort_keys=True, default=str) for v in spec]
        if len(set(keys)) != len(keys):
            raise SweepPathError(where, f"values are repeated: {spec}")
        return list(spec)
    if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in RANGE_KINDS):
        raise SweepPathError(
            where,
            "give a list of values, {linspace: [start, stop, n]} or {logspace: [start, stop, n]}",
        )
    ((range_kind, args),) = spec.items()
    if kind is None:
        raise SweepPathError(where, f"{range_kind} needs a numeric field; give a list of values")
    want = 2 if design is not None else 3
    shape = "[start, stop]" if design is not None else "[start, stop, n]"
    why = " (a design picks the points)" if design is not None else ""
    numbers = isinstance(args, list) and all(
        isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a) for a in args
    )
    if not numbers or len(args) != want:
        raise SweepPathError(where, f"{range_kind} takes {shape}{why}, got {args!r}")
    start, stop = float(args[0]), float(args[1])
    if range_kind == "logspace" and (start <= 0 or stop <= 0):
        raise SweepPathError(
            where,
            "logspace takes the end values (> 0), not exponents: 10^-3 .. 10^0 is "
            "{logspace: [0.001, 1, n]}",
        )
    if design is not None:
        return [start, stop]
    n = args[2]
    if not (isinstance(n, int) and 1 <= n <= MAX_SWEEP_POINTS):
        raise SweepPathError(where, f"n must be an integer in [1, {MAX_SWEEP_POINTS}], got {n!r}")
    values = (np.linspace if range_kind == "linspace" else np.geomspace)(start, stop, n).tolist()
    if kind == "int":
        values = [round(v) for v in values]
        if len(set(values)) != len(values):
            raise SweepPathError(
                where, f"{range_kind} {args} repeats integers ({values}); use fewer points"
            )
    return values


def _design_points(sweep: Sweep, paths: list[str], design: Design) -> list[dict[str, Any]]:
    from scipy.stats import qmc  # noqa: PLC0415 - scipy only where a design is used

    rng = np.random.default_rng(design.seed)
    sampler = (
        qmc.Sobol(len(paths), scramble=True, rng=rng)
        if design.method == "sobol"
        else qmc.LatinHypercube(len(paths), rng=rng)
    )
    unit = sampler.random(design.n)
    points: list[dict[str, Any]] = []
    for row in unit:
        point: dict[str, Any] = {}
        for u, path in zip(row, paths, strict=True):
            spec = sweep.fields[path]
            root, name = check_path(path)
            kind = _numeric_kind(_field_type(root, name))
            if isinstance(spec, list):  # categorical: equal shares of the unit interval
                point[path] = spec[min(int(u * len(spec)), len(spec) - 1)]
                continue
            ((range_kind, (lo, hi)),) = ((k, v[:2]) for k, v in spec.items())
            if range_kind == "logspace":
                value = math.exp(math.log(lo) + float(u) * (math.log(hi) - math.log(lo)))
            else:
                value = lo + float(u) * (hi - lo)
            point[path] = round(value) if kind == "int" else value
        points.append(point)
    keys = [json.dumps(p, sort_keys=True, default=str) for p in points]
    if len(set(keys)) != len(keys):
        raise SweepPathError(
            "sweep.design",
            "points repeat once integer fields are rounded; use fewer points or wider ranges",
        )
    return points


class SweepPoint(BaseModel):
    """What a run takes from its sweep point: the spec condition it varies (`family`), the
    swept values by path, and the effective settings sections the point changes (None:
    the spec's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    values: dict[str, Any]
    training: TrainingConfig | None = None
    model: ModelConfig | None = None
    sampling: NeuronSelection | None = None


@dataclass(frozen=True)
class SweptCondition:
    label: str  # the condition name its runs carry
    condition: Condition
    point: SweepPoint | None


def _format_value(value: Any, digits: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_format_value(v, digits) for v in value) + "]"
    return str(value)


def _digits(values: list[Any]) -> int:
    """The fewest significant digits (at least 3) that keep a field's values apart."""
    for digits in range(3, 18):
        if len({_format_value(v, digits) for v in values}) == len(values):
            return digits
    return 17


def point_labels(paths: list[str], points: list[dict[str, Any]]) -> list[str]:
    """`lam=0.01 training.lr=0.001`: condition fields by name, settings by dotted path."""
    digits = {}
    for p in paths:
        distinct = list({json.dumps(pt[p], default=str): pt[p] for pt in points}.values())
        digits[p] = _digits(distinct)
    names = {p: p.split(".", 1)[1] if p.startswith("condition.") else p for p in paths}
    return [
        " ".join(f"{names[p]}={_format_value(pt[p], digits[p])}" for p in paths) for pt in points
    ]


def _with(base: BaseModel, changes: dict[str, Any], paths: dict[str, Any]) -> BaseModel:
    """`base` with `changes` applied and validated; errors name the swept path."""
    try:
        return type(base).model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        field = str(err["loc"][0]) if err["loc"] else ""
        path = next(
            (p for p in paths if p.endswith(f".{field}")), next(iter(paths), "sweep.fields")
        )
        raise SweepPathError(f"sweep.fields.{path}", f"{msg} (at the point {paths})") from None


def expand(
    sweep: Sweep | None,
    conditions: dict[str, Condition],
    settings: dict[str, BaseModel],
) -> list[SweptCondition]:
    """The spec's conditions crossed with the sweep's points (condition order, then point
    order); `settings` holds the spec's training, model and sampling by root name."""
    if sweep is None:
        return [SweptCondition(name, c, None) for name, c in conditions.items()]
    paths = list(sweep.fields)
    points = sweep.points()
    labels = point_labels(paths, points)
    # The settings sections each point changes, validated once per point (not per condition).
    per_point: list[dict[str, BaseModel]] = []
    for pt in points:
        sections: dict[str, BaseModel] = {}
        for root in SETTINGS_ROOTS:
            changes = {p.split(".", 1)[1]: v for p, v in pt.items() if p.startswith(root + ".")}
            if changes:
                swept = {p: v for p, v in pt.items() if p.startswith(root + ".")}
                sections[root] = _with(settings[root], changes, swept)
        per_point.append(sections)
    out: list[SweptCondition] = []
    for name, cond in conditions.items():
        for pt, label, sections in zip(points, labels, per_point, strict=True):
            changes = {p.split(".", 1)[1]: v for p, v in pt.items() if p.startswith("condition.")}
            swept = {p: v for p, v in pt.items() if p.startswith("condition.")}
            condition = _with(cond, changes, swept) if changes else cond
            assert isinstance(condition, Condition)
            point = SweepPoint.model_validate({"family": name, "values": pt, **sections})
            out.append(SweptCondition(f"{name} {label}", condition, point))
    return out


def point_columns(point: SweepPoint | dict[str, Any] | None) -> dict[str, Any]:
    """A run's columns in tidy tables: its condition family and one column per swept field
    (named by its dotted path); none for a run outside a sweep. Takes the point or its
    stored JSON (`runs.inputs["point"]`)."""
    if point is None:
        return {}
    if isinstance(point, dict):
        return {"family": point["family"], **point["values"]}
    return {"family": point.family, **point.values}
