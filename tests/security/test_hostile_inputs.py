"""What a hostile or careless user found (issue 16), each now a 4xx that names what to fix and
changes nothing: numbers JSON cannot hash (Infinity, 1e400, NaN) anywhere in a spec, NUL
characters Postgres cannot store (on a real Postgres), malformed dataset archives, and a
member path spelled two ways. Also: a cancelled run whose worker dies stays cancelled. Ends
with property-based fuzzing of specs and archives: no 5xx, nothing stored on refusal."""

from __future__ import annotations

import io
import json
import stat
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cortexrnn.services.spec import SpecError, load_spec, parse_spec
from cortexrnn.shared import lifecycle
from cortexrnn.shared.db import get_sessionmaker
from cortexrnn.shared.experiments import create_experiment
from cortexrnn.shared.models import Experiment, Pack, Run, utcnow
from cortexrnn.worker.scheduler import schedule_once
from tests.api.conftest import Api
from tests.conftest import seeded_app
from tests.queue_rows import add_users
from tests.security.bundles import FIELD, N, _npy, bundle_with, field_files, make_zip
from tests.security.conftest import ModuleApi, small_spec, snapshot
from tests.service.test_scheduler import SETTINGS

X = "__VALUE__"


def assert_refused(response: httpx.Response, status: int, field: str, needle: str = "") -> None:
    """A JSON error with this status whose fields name `field` (or a path below it)."""
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    paths = [f["path"] for f in error["fields"]]
    assert any(p == field or p.startswith(field + ".") for p in paths), (field, error)
    assert needle.lower() in error["message"].lower(), error


# -- numbers strict JSON cannot hold ----------------------------------------------------------

NON_FINITE = ["Infinity", "-Infinity", "NaN", "1e400", "-1e400"]
# (where the value goes in the spec, the field path the error must name)
NUMERIC_PLACES: dict[str, tuple[dict[str, Any], str]] = {
    "training.lr": ({"training": {"epochs": 1, "lr": X}}, "training.lr"),
    "training.grad_clip": ({"training": {"epochs": 1, "grad_clip": X}}, "training.grad_clip"),
    "training.criterion": ({"training": {"epochs": 1, "criterion": X}}, "training.criterion"),
    "training.adam_eps": ({"training": {"epochs": 1, "adam_eps": X}}, "training.adam_eps"),
    "model.alpha": ({"model": {"alpha": X}}, "model.alpha"),
    "model.noise_in": ({"model": {"noise_in": X}}, "model.noise_in"),
    "condition.lam": ({"conditions": {"a": {"lam": X}}}, "conditions.a.lam"),
    "condition.excitatory_fraction": (
        {"conditions": {"a": {"sign": "dale", "excitatory_fraction": X}}},
        "conditions.a.excitatory_fraction",
    ),
    "preset-override.lam": (
        {"conditions": {"preset": "paper-2026", "override": {"lam": X}}},
        "conditions",
    ),
    "sampling.centre_nm": (
        {"sampling": {"strategy": "spatial", "n_neurons": 8, "centre_nm": [X, 0, 0]}},
        "sampling.centre_nm",
    ),
    "sampling.seed": (
        {"sampling": {"strategy": "random", "n_neurons": 8, "seed": X}},
        "sampling.seed",
    ),
    "task-param.sigma": (
        {"tasks": [{"name": "go_no_go", "params": {"sigma": X}}]},
        "tasks.0.params",
    ),
    "task-param.timing": (
        {"tasks": [{"name": "go_no_go", "params": {"fixation": X}}]},
        "tasks.0",
    ),
    "task-param.cohs": (
        {"tasks": [{"name": "perceptual_decision_making", "params": {"cohs": [0.1, X]}}]},
        "tasks.0.params",
    ),
    "seeds": ({"seeds": X}, "seeds"),
    "priority": ({"priority": X}, "priority"),
}


def _raw_spec(changes: dict[str, Any], literal: str) -> bytes:
    body = json.dumps(small_spec(**changes)).replace(f'"{X}"', literal)
    assert literal in body
    return body.encode()


@pytest.mark.parametrize("endpoint", ["/v1/experiments", "/v1/experiments/validate"])
@pytest.mark.parametrize("literal", NON_FINITE)
@pytest.mark.parametrize("place", sorted(NUMERIC_PLACES))
def test_non_finite_numbers_are_422_naming_the_field(
    module_api: ModuleApi, place: str, literal: str, endpoint: str
) -> None:
    changes, field = NUMERIC_PLACES[place]
    before = snapshot()
    response = module_api.post(
        endpoint,
        content=_raw_spec(changes, literal),
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response, 422, field)
    assert snapshot() == before


@pytest.mark.parametrize("literal", [".inf", "-.inf", ".nan", "1.0e+400"])  # YAML 1.1 floats
def test_non_finite_numbers_in_yaml_name_the_field(tmp_path: Path, literal: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "sampling: {strategy: spatial, n_neurons: 8, centre_nm: [" + literal + ", 0, 0]}\n"
        "tasks: [{name: go_no_go, params: {sigma: " + literal + "}}]\n"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    paths = [p for p, _ in caught.value.errors]
    assert any(p.startswith("sampling.centre_nm") for p in paths), paths
    assert any(p.startswith("tasks[0].params") for p in paths), paths


def test_a_client_without_the_science_names_non_finite_yaml_values(tmp_path: Path) -> None:
    """Without the science the client sends the YAML mapping as it is; strict JSON cannot
    carry .inf, so it is named here instead of failing inside the HTTP library."""
    from cortexrnn.client.errors import SpecInvalid
    from cortexrnn.client.specs import request_body

    path = tmp_path / "spec.yaml"
    path.write_text("training: {lr: .inf}\nsampling: {centre_nm: [0, .nan, 0]}\n")
    with pytest.raises(SpecInvalid) as caught:
        request_body(path, local=False)
    assert {f["path"] for f in caught.value.fields} == {"training.lr", "sampling.centre_nm.1"}


# -- NUL characters, on a real Postgres ----------------------------------------------------------


@pytest.fixture()
def postgres_api(
    postgres_url: str, cortexrnn_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    from cortexrnn.shared.db import get_engine
    from cortexrnn.shared.settings import reset_settings_cache

    monkeypatch.setenv("CORTEXRNN_DATABASE_URL", postgres_url)
    monkeypatch.setenv("CORTEXRNN_SECRET_KEY", "hostile-inputs-test-secret-0123456789")
    reset_settings_cache()
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()
    app, tokens = seeded_app()
    with TestClient(app) as client:
        api = Api(client, tokens)
        assert api.post("/v1/experiments", json=small_spec()).status_code == 201
        yield api
    get_engine().dispose()


NUL_REQUESTS: dict[str, tuple[Callable[[Api], httpx.Response], str]] = {
    "list-owner": (lambda api: api.get("/v1/experiments", params={"owner": "a\0b"}), "owner"),
    "list-name": (lambda api: api.get("/v1/experiments", params={"name": "a\0b"}), "name"),
    "list-tag": (lambda api: api.get("/v1/experiments", params={"tag": "a\0b"}), "tag"),
    "dataset-name": (lambda api: api.get("/v1/datasets/a%00b"), "name"),
    "dataset-sha": (lambda api: api.get("/v1/datasets/by-sha/a%00b/manifest.json"), "sha"),
    "metrics-name": (lambda api: api.get("/v1/runs/1/metrics", params={"name": "a\0b"}), "name"),
    "summary-task": (
        lambda api: api.get("/v1/experiments/1/summary", params={"task": "a\0b"}),
        "task",
    ),
    "spec-name": (lambda api: api.post("/v1/experiments", json=small_spec(name="a\0b")), "name"),
    "spec-field": (
        lambda api: api.post(
            "/v1/experiments",
            json=small_spec(sampling={"strategy": "random", "n_neurons": 8, "field": "a\0b"}),
        ),
        "sampling",
    ),
    "spec-task-param": (
        lambda api: api.post(
            "/v1/experiments",
            json=small_spec(
                tasks=[{"name": "go_no_go", "params": {"fixation_during_stimulus": "a\0"}}]
            ),
        ),
        "tasks.0.params",
    ),
    "validate-name": (
        lambda api: api.post("/v1/experiments/validate", json=small_spec(name="\0")),
        "name",
    ),
}


@pytest.mark.postgres
def test_nul_characters_are_422_naming_the_field_on_postgres(postgres_api: Api) -> None:
    before = snapshot()
    for label, (send, field) in NUL_REQUESTS.items():
        response = send(postgres_api)
        assert response.status_code == 422, (label, response.text[:300])
        assert_refused(response, 422, field, "NUL")
    assert snapshot() == before


# -- dataset archives ------------------------------------------------------------------------------


def _zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return buf.getvalue()


def _bundle_plus(*extra: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    return _zip([(f"{FIELD}/{k}", v) for k, v in field_files().items()] + list(extra))


def _nan_corr() -> bytes:
    m = np.corrcoef(np.random.default_rng(0).normal(size=(N, 40)))
    m[0, 1] = m[1, 0] = np.nan
    return _npy(m)


def _symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def _bad_utf8_name() -> bytes:
    """A member whose name is flagged UTF-8 (bit 11) but holds bytes that are not UTF-8."""
    bad = b"\xff\xfe\xfdHOLDER\x80\x81"
    data = _bundle_plus(("PLACEHOLDER.json", b"{}")).replace(b"PLACEHOLDER", bad)
    # (header signature, offset of its flags, offset of its name): local, then central.
    for signature, flags_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = data.find(signature)
        while start != -1:
            if data[start + name_at : start + name_at + len(bad)] == bad:
                (flags,) = struct.unpack("<H", data[start + flags_at : start + flags_at + 2])
                patched = struct.pack("<H", flags | 0x800)
                data = data[: start + flags_at] + patched + data[start + flags_at + 2 :]
            start = data.find(signature, start + 4)
    return data


ARCHIVES: dict[str, tuple[Callable[[], bytes], str]] = {
    # The duplicate check compares normalised paths: `./` and `//` spell the same member.
    "dot-segment-replaces-a-member": (
        lambda: _bundle_plus((f"{FIELD}/./corr_matrix.npy", _nan_corr())),
        "more than once",
    ),
    "double-slash-replaces-a-member": (
        lambda: _bundle_plus((f"{FIELD}//corr_matrix.npy", _nan_corr())),
        "more than once",
    ),
    "file-where-a-folder-is-needed": (
        lambda: _bundle_plus((f"{FIELD}/x.json", b"{}"), (f"{FIELD}/x.json/y.json", b"{}")),
        "needs it to be a folder",
    ),
    "symlink-member": (
        lambda: _bundle_plus(_symlink(f"{FIELD}/link.json", "/etc/passwd")),
        "symbolic link",
    ),
    "member-name-not-utf8": (_bad_utf8_name, "not valid UTF-8"),
    "csv-not-utf8": (
        lambda: bundle_with(replace={f"connectome_{FIELD}.csv": b"\xe9," * 40}),
        "not UTF-8 text",
    ),
    "json-not-json": (lambda: _bundle_plus((f"{FIELD}/meta.json", b"{not json")), "not valid JSON"),
    "parquet-not-parquet": (
        lambda: _bundle_plus((f"{FIELD}/cells.parquet", b"garbage")),
        "not a Parquet file",
    ),
    "string-ids": (
        lambda: bundle_with(replace={f"root_ids_{FIELD}.npy": _npy(np.array(["a"] * N))}),
        "not numeric",
    ),
    "complex-positions": (
        lambda: bundle_with(replace={f"positions_{FIELD}.npy": _npy(np.ones((N, 3), complex))}),
        "not numeric",
    ),
    "record-matrix": (
        lambda: bundle_with(
            replace={"sttc_matrix.npy": _npy(np.zeros((N, N), dtype=[("a", "f8")]))}
        ),
        "not numeric",
    ),
    "spikes-offsets-not-a-vector": (
        lambda: bundle_with(
            extra={
                f"{FIELD}/spikes_{FIELD}.npz": make_zip(
                    {
                        "times.npy": _npy(np.zeros(3)),
                        "offsets.npy": _npy(np.zeros((2, 2), np.int64)),
                        "duration_s.npy": _npy(np.zeros(3)),
                    }
                )
            }
        ),
        "could not be read",
    ),
    "spikes-offsets-empty": (
        lambda: bundle_with(
            extra={
                f"{FIELD}/spikes_{FIELD}.npz": make_zip(
                    {
                        "times.npy": _npy(np.zeros(3)),
                        "offsets.npy": _npy(np.zeros(0, np.int64)),
                        "duration_s.npy": _npy(np.float64(1.0)),
                    }
                )
            }
        ),
        "could not be read",
    ),
}


def _upload(api: Api, content: bytes, name: str = "hostile") -> httpx.Response:
    return api.post(
        "/v1/datasets",
        data={"name": name},
        files={"file": ("upload.zip", content, "application/zip")},
    )


@pytest.mark.parametrize("case", sorted(ARCHIVES))
def test_malformed_archives_are_400_with_a_clear_message(module_api: ModuleApi, case: str) -> None:
    build, needle = ARCHIVES[case]
    before = snapshot()
    assert_refused(_upload(module_api, build()), 400, "file", needle)
    assert snapshot() == before
    assert list(module_api.tmp_uploads.iterdir()) == []


def test_the_valid_bundle_still_uploads(module_api: ModuleApi) -> None:
    """The positive control for the archive cases: each differs from this by one defect."""
    response = _upload(module_api, _bundle_plus(), name="hostile-control")
    assert response.status_code == 201, response.text


# -- a careless user: cancel, then the worker dies -----------------------------------------------


def test_a_cancelled_run_whose_worker_dies_stays_cancelled(sessions) -> None:
    spec = parse_spec({"dataset": "tiny", "seeds": 2, "conditions": {"base": {}}})
    with sessions() as s:
        (alice,) = add_users(s, "alice")
        experiment = create_experiment(s, alice, spec).experiment
        s.commit()
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
        assert lifecycle.claim_pack(s, pack_id, "w1")
        lifecycle.cancel_experiment(s, experiment, "alice")  # stops at the next step ...
        s.get(Pack, pack_id).heartbeat_at = utcnow() - timedelta(hours=1)  # ... never reached
        s.commit()
        sent: list[int] = []
        report = schedule_once(s, lambda pid, q: sent.append(pid), slots=1, **SETTINGS)
        assert sent == [] and report.redispatched == [] and report.dispatched == []
        runs = list(s.scalars(select(Run).where(Run.experiment_id == experiment.id)))
        assert {r.state for r in runs} == {"cancelled"}
        assert all("not trained again" in (r.error or "") for r in runs)
        assert s.get(Pack, pack_id).state == "cancelled"
        assert s.get(Experiment, experiment.id).status == "cancelled"
        # A retry still resumes them, from the same pack.
        lifecycle.retry_experiment(s, experiment)
        s.commit()
        assert schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched == [pack_id]


def test_a_worker_death_requeues_the_runs_not_cancelled(sessions) -> None:
    """Only the runs asked to cancel end: the rest of the pack resumes elsewhere."""
    with sessions() as s:
        alice, bob = add_users(s, "alice", "bob")
        mine = create_experiment(s, alice, parse_spec({"dataset": "tiny", "seeds": 1})).experiment
        theirs = create_experiment(s, bob, parse_spec({"dataset": "tiny", "seeds": [7]}))
        s.commit()
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
        runs = lifecycle.claim_pack(s, pack_id, "w1")
        assert runs and len(runs) == 2
        mine_run = next(r for r in runs if r.experiment_id == mine.id)
        mine_run.cancel_requested = True  # as cancel would leave it in a pack it had to itself
        s.get(Pack, pack_id).heartbeat_at = utcnow() - timedelta(hours=1)
        s.commit()
        report = schedule_once(s, lambda *a: None, slots=0, **SETTINGS)
        assert report.redispatched == [pack_id]
        s.expire_all()
        assert s.get(Run, mine_run.id).state == "cancelled"
        other = s.scalars(select(Run).where(Run.experiment_id == theirs.experiment.id)).one()
        assert other.state == "queued" and other.pack_id == pack_id
        assert s.get(Experiment, mine.id).status == "cancelled"


# -- property-based fuzzing ----------------------------------------------------------------------

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
hostile_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), 10**400, -(10**30)]),
    st.lists(st.sampled_from(["a", "\0", "/", "..", "\u202e", " "]), max_size=6).map("".join),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.none(),
    st.booleans(),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=3),
)
SPEC_PATHS = [
    ("name",),
    ("seeds",),
    ("priority",),
    ("training", "lr"),
    ("training", "epochs"),
    ("training", "batch_size"),
    ("model", "alpha"),
    ("sampling", "seed"),
    ("sampling", "n_neurons"),
    ("sampling", "centre_nm"),
    ("sampling", "field"),
    ("conditions", "baseline", "lam"),
    ("conditions", "baseline", "grid_shape"),
    ("tasks", 0, "params", "sigma"),
    ("tasks", 0, "label"),
    ("tags", 0),
]


def _put(spec: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """`spec` with `value` at `path`; list positions (tasks, tags) hold one entry."""
    if path[0] == "tasks":
        spec["tasks"] = [{"name": "go_no_go", "params": {}}]
    if path[0] == "tags":
        spec["tags"] = [None]
    node: Any = spec
    for key in path[:-1]:
        node = node[key] if isinstance(key, int) else node.setdefault(key, {})
    node[path[-1]] = value
    return spec


@given(
    edits=st.lists(st.tuples(st.sampled_from(SPEC_PATHS), hostile_values), min_size=1, max_size=3)
)
@FUZZ
def test_fuzzed_specs_never_5xx_and_refusals_store_nothing(
    module_api: ModuleApi, edits: list[tuple[tuple[Any, ...], Any]]
) -> None:
    spec = small_spec(sampling={"strategy": "spatial", "n_neurons": 8})
    for path, value in edits:
        spec = _put(spec, path, value)
    body = json.dumps(spec, allow_nan=True).encode()  # NaN and Infinity as their JSON literals
    before = snapshot()
    for endpoint in ("/v1/experiments/validate", "/v1/experiments"):
        response = module_api.post(
            endpoint, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code < 500, (endpoint, spec, response.text[:300])
        if response.status_code >= 400:
            error = response.json()["error"]
            assert error["message"].strip() and all(f["path"] for f in error["fields"])
            assert snapshot() == before


member_names = st.lists(
    st.sampled_from(["1_2_3", ".", "..", "", "x.npy", "x.json", "corr_matrix.npy", "a.csv"]),
    min_size=1,
    max_size=4,
).map("/".join)
member_bytes = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([_npy(np.eye(3)), _npy(np.array(["a"])), b"{}", b"\xff\xfe", b"PAR1"]),
)


@given(extra=st.lists(st.tuples(member_names, member_bytes), min_size=1, max_size=4))
@FUZZ
def test_fuzzed_archives_never_5xx_and_refusals_store_nothing(
    module_api: ModuleApi, extra: list[tuple[str, bytes]]
) -> None:
    files = [(f"{FIELD}/{k}", v) for k, v in field_files().items()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates written on purpose
        for name, data in files + extra:
            zf.writestr(zipfile.ZipInfo(name), data)
    before = snapshot()
    response = _upload(module_api, buf.getvalue(), name="fuzzed")
    assert response.status_code < 500, (extra, response.text[:300])
    if response.status_code >= 400:
        assert response.json()["error"]["message"].strip()
        assert snapshot() == before
    else:
        # An accepted archive registered "fuzzed": remove it so that the next example may too.
        from cortexrnn.shared.db import session_scope
        from cortexrnn.shared.models import Dataset

        with session_scope() as session:
            session.delete(session.scalars(select(Dataset).where(Dataset.name == "fuzzed")).one())
    assert list(module_api.tmp_uploads.iterdir()) == []
