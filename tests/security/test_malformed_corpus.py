"""A corpus of malformed specs and uploads. Each one must be refused with a 4xx JSON error that
names the field to fix, and must leave the store as it was: the same experiments, runs,
datasets, users and tokens in the database, the same files in the store and artifact
folders, and nothing left behind where uploads are unpacked."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from tests.security.bundles import (
    FIELD,
    N,
    _npy,
    bundle_with,
    field_files,
    make_zip,
    object_array_npy,
    pickle_renamed_npy,
    small_members_bomb,
    valid_bundle,
    zip_bomb,
)
from tests.security.conftest import ModuleApi, small_spec, snapshot

PLACEHOLDER = "__LITERAL__"


@dataclass(frozen=True)
class Case:
    send: Callable[[ModuleApi], httpx.Response]
    status: int
    field: str | None  # the error's `fields` must hold this path (or a path below it)
    needle: str = ""  # and the message must say this


def spec(**overrides: Any) -> Callable[[ModuleApi], httpx.Response]:
    return lambda api: api.post("/v1/experiments", json=small_spec(**overrides))


def raw_spec(literal: str, **overrides: Any) -> Callable[[ModuleApi], httpx.Response]:
    """A spec whose PLACEHOLDER value is replaced by a JSON literal json.dumps cannot write
    (NaN)."""
    body = json.dumps(small_spec(**overrides)).replace(f'"{PLACEHOLDER}"', literal)
    assert literal in body
    return lambda api: api.post(
        "/v1/experiments", content=body.encode(), headers={"Content-Type": "application/json"}
    )


def raw_body(
    content: bytes, headers: dict[str, str] | None = None
) -> Callable[[ModuleApi], httpx.Response]:
    return lambda api: api.post(
        "/v1/experiments",
        content=content,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def upload(
    archive: bytes | Callable[[], bytes] | None,
    name: str | None = "new-dataset",
    fmt: str | None = None,
) -> Callable[[ModuleApi], httpx.Response]:
    def send(api: ModuleApi) -> httpx.Response:
        data = {k: v for k, v in (("name", name), ("format", fmt)) if v is not None}
        content = archive() if callable(archive) else archive
        files = (
            {"file": ("upload.zip", content, "application/zip")} if content is not None else None
        )
        return api.post("/v1/datasets", data=data, files=files)

    return send


def _csv_with_negative_count() -> bytes:
    text = field_files()[f"connectome_{FIELD}.csv"].decode().splitlines()
    cells = text[2].split(",")
    cells[1] = "-4"
    text[2] = ",".join(cells)
    return ("\n".join(text) + "\n").encode()


def _corr_with_nan() -> bytes:
    m = np.corrcoef(np.random.default_rng(0).normal(size=(N, 40)))
    m[0, 1] = m[1, 0] = np.nan
    return _npy(m)


def _npy_header_only(shape: tuple[int, ...]) -> bytes:
    # A valid header that promises a 80 GB array followed by no data: must fail, not allocate.
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}".ljust(117) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


def _wide_csv(columns: int = 3000) -> bytes:
    return (
        "," + ",".join(map(str, range(columns))) + "\n0," + ",".join(["0"] * columns) + "\n"
    ).encode()


SPEC_CASES: dict[str, Case] = {
    "seeds-wrong-type": Case(spec(seeds="ten"), 422, "seeds", "integer"),
    "seeds-zero": Case(spec(seeds=0), 422, "seeds", "between 1 and"),
    "seeds-negative": Case(spec(seeds=-3), 422, "seeds"),
    "seeds-huge": Case(spec(seeds=10**9), 422, "seeds", "1000"),
    "seeds-duplicate-ids": Case(spec(seeds=[1, 1]), 422, "seeds", "repeated"),
    "seeds-negative-id": Case(spec(seeds=[-1]), 422, "seeds"),
    "seeds-id-overflow": Case(spec(seeds=[2**40]), 422, "seeds"),
    "seeds-nan": Case(raw_spec("NaN", seeds=PLACEHOLDER), 422, "seeds"),
    "seeds-bool": Case(spec(seeds=True), 422, "seeds"),
    "lr-nan": Case(
        raw_spec("NaN", training={"epochs": 1, "lr": PLACEHOLDER}), 422, "training.lr", "finite"
    ),
    "lr-infinity": Case(
        raw_spec("Infinity", training={"epochs": 1, "lr": PLACEHOLDER}),
        422,
        "training.lr",
        "finite",
    ),
    "lr-negative": Case(spec(training={"lr": -0.001}), 422, "training.lr", "greater than 0"),
    "lr-zero": Case(spec(training={"lr": 0}), 422, "training.lr"),
    "batch-size-zero": Case(spec(training={"batch_size": 0}), 422, "training.batch_size"),
    "batch-size-huge": Case(spec(training={"batch_size": 10**9}), 422, "training.batch_size"),
    "epochs-wrong-type": Case(spec(training={"epochs": "many"}), 422, "training.epochs"),
    "epochs-huge": Case(spec(training={"epochs": 10**12}), 422, "training.epochs"),
    "training-unknown-field": Case(
        spec(training={"epochs": 1, "pickle": True}), 422, "training.pickle"
    ),
    "n-neurons-negative": Case(
        spec(sampling={"strategy": "random", "n_neurons": -5}), 422, "sampling.n_neurons"
    ),
    "n-neurons-huge": Case(
        spec(sampling={"strategy": "random", "n_neurons": 10**6}), 422, "sampling", "5000"
    ),
    "n-neurons-above-dataset": Case(
        spec(sampling={"strategy": "random", "n_neurons": 500}), 422, "sampling"
    ),
    "sampling-unknown-strategy": Case(
        spec(sampling={"strategy": "evil", "n_neurons": 8}), 422, "sampling.strategy"
    ),
    "alpha-nan": Case(raw_spec("NaN", model={"alpha": PLACEHOLDER}), 422, "model.alpha", "finite"),
    "noise-infinity": Case(
        raw_spec("-Infinity", model={"noise_rec": PLACEHOLDER}), 422, "model.noise_rec"
    ),
    "lam-negative": Case(
        spec(conditions={"full": {"init": "functional", "lam": -1}}), 422, "conditions.full.lam"
    ),
    "lam-nan": Case(
        raw_spec("NaN", conditions={"full": {"init": "functional", "lam": PLACEHOLDER}}),
        422,
        "conditions.full.lam",
    ),
    "unknown-preset": Case(
        spec(conditions={"preset": "paper-1999"}), 422, "conditions", "paper-1999"
    ),
    "unknown-init": Case(spec(conditions={"a": {"init": "pickle"}}), 422, "conditions.a.init"),
    "unknown-condition-field": Case(
        spec(conditions={"a": {"init": "orthogonal", "exec": "x"}}), 422, "conditions.a.exec"
    ),
    "no-conditions": Case(spec(conditions={}), 422, "conditions", "at least one"),
    "condition-name-traversal": Case(
        spec(conditions={"../../etc": {"init": "orthogonal"}}), 422, "conditions", "not allowed"
    ),
    "unknown-task": Case(spec(tasks=["chess"]), 422, "tasks", "chess"),
    "duplicate-tasks": Case(spec(tasks=["go_no_go", "go_no_go"]), 422, None, "more than once"),
    "task-label-traversal": Case(
        spec(tasks=[{"name": "go_no_go", "label": "../x"}]), 422, "tasks", "not allowed"
    ),
    "task-unknown-param": Case(
        spec(tasks=[{"name": "go_no_go", "params": {"bogus": 1}}]), 422, "tasks", "bogus"
    ),
    "tag-traversal": Case(spec(tags=["../x"]), 422, "tags", "not allowed"),
    "too-many-tags": Case(spec(tags=[f"t{i}" for i in range(33)]), 422, "tags"),
    "priority-unknown": Case(spec(priority="urgent"), 422, "priority"),
    "priority-out-of-range": Case(spec(priority=10**6), 422, "priority"),
    "unknown-top-level-field": Case(spec(__class__="os.system"), 422, "__class__"),
    "dataset-traversal": Case(spec(dataset="../../etc/passwd"), 422, "dataset", "unknown dataset"),
    "dataset-nul-byte": Case(spec(dataset="a\0b"), 422, "dataset"),
    "name-too-long": Case(spec(name="x" * 1000), 422, "name"),
    "too-many-runs": Case(
        spec(seeds=1000, conditions={f"c{i}": {"init": "orthogonal"} for i in range(30)}),
        422,
        None,
        "above the limit",
    ),
    "body-not-an-object": Case(raw_body(b"[1, 2]"), 422, "(body)"),
    "body-not-json": Case(raw_body(b"{not json"), 422, None),
    "body-too-large": Case(
        raw_body(b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'), 413, None, "exceeds the limit"
    ),
    "idempotency-key-too-long": Case(
        lambda api: api.post(
            "/v1/experiments", json=small_spec(), headers={"Idempotency-Key": "k" * 500}
        ),
        422,
        "idempotency-key",
    ),
}

UPLOAD_CASES: dict[str, Case] = {
    "not-a-zip": Case(upload(b"hello, I am a text file"), 400, "file", "not a zip"),
    "gzip-named-zip": Case(upload(b"\x1f\x8b\x08\x00" + b"0" * 100), 400, "file", "not a zip"),
    "empty-zip": Case(upload(make_zip({})), 400, "file", "empty"),
    "member-parent-dir": Case(
        upload(bundle_with(extra={"../x.npy": _npy(np.eye(2))})), 400, "file", "outside"
    ),
    "member-deep-traversal": Case(
        upload(bundle_with(extra={f"{FIELD}/../../x.npy": _npy(np.eye(2))})), 400, "file", "outside"
    ),
    "member-absolute-path": Case(
        upload(bundle_with(extra={"/etc/cron.d/x.npy": _npy(np.eye(2))})), 400, "file", "outside"
    ),
    "member-windows-traversal": Case(
        upload(bundle_with(extra={"..\\x.npy": b"1"})), 400, "file", "outside"
    ),
    "member-drive-letter": Case(
        upload(bundle_with(extra={"C:/x.npy": b"1"})), 400, "file", "outside"
    ),
    "object-array-npy": Case(
        upload(bundle_with(replace={f"positions_{FIELD}.npy": object_array_npy()})),
        400,
        "file",
        "never unpickles",
    ),
    "pickle-renamed-npy": Case(
        upload(bundle_with(replace={f"root_ids_{FIELD}.npy": pickle_renamed_npy()})),
        400,
        "file",
        f"root_ids_{FIELD}.npy",
    ),
    "pickle-member": Case(
        upload(bundle_with(extra={f"{FIELD}/model.pkl": pickle_renamed_npy()})),
        400,
        "file",
        "not accepted",
    ),
    "shell-script-member": Case(
        upload(bundle_with(extra={f"{FIELD}/run.sh": b"rm -rf /"})), 400, "file", "not accepted"
    ),
    "npz-with-object-array": Case(
        upload(
            bundle_with(
                extra={
                    f"{FIELD}/spikes_{FIELD}.npz": make_zip(
                        {
                            "times.npy": object_array_npy(),
                            "offsets.npy": _npy(np.zeros(N + 1, dtype=np.int64)),
                            "duration_s.npy": _npy(np.float64(1.0)),
                        }
                    )
                }
            )
        ),
        400,
        "file",
        f"spikes_{FIELD}.npz",
    ),
    "zip-bomb": Case(upload(zip_bomb), 400, "file", "zip bomb"),
    "zip-bomb-small-members": Case(upload(small_members_bomb), 400, "file", "zip bomb"),
    "too-many-members": Case(
        upload(
            lambda: make_zip(
                {f"d/{i}.json": b"{}" for i in range(4100)}, compression=zipfile.ZIP_STORED
            )
        ),
        400,
        "file",
        "4096",
    ),
    "duplicate-members": Case(
        upload(lambda: _duplicate_member_zip()), 400, "file", "more than once"
    ),
    "duplicate-dataset-name": Case(
        upload(valid_bundle(), name="tiny"), 409, "name", "exists already"
    ),
    "name-traversal": Case(upload(valid_bundle(), name="../evil"), 422, "name"),
    "name-absolute": Case(upload(valid_bundle(), name="/etc/passwd"), 422, "name"),
    "name-too-long": Case(upload(valid_bundle(), name="a" * 500), 422, "name"),
    "name-missing": Case(upload(valid_bundle(), name=None), 422, "name"),
    "format-unknown": Case(upload(valid_bundle(), fmt="pickle"), 422, "format"),
    "file-missing": Case(upload(None), 422, "file"),
    "nan-in-matrix": Case(
        upload(bundle_with(replace={"corr_matrix.npy": _corr_with_nan()})), 400, "file", "NaN"
    ),
    "negative-synapse-count": Case(
        upload(bundle_with(replace={f"connectome_{FIELD}.csv": _csv_with_negative_count()})),
        400,
        "file",
        "negative synapse count",
    ),
    "n-mismatch": Case(
        upload(bundle_with(replace={f"unit_ids_{FIELD}.npy": _npy(np.arange(N + 1))})),
        400,
        "file",
        "N mismatch",
    ),
    "duplicate-root-ids": Case(
        upload(bundle_with(replace={f"root_ids_{FIELD}.npy": _npy(np.zeros(N, np.int64))})),
        400,
        "file",
        "unique",
    ),
    "missing-root-ids": Case(
        upload(bundle_with(drop=(f"root_ids_{FIELD}.npy",))), 400, "file", "missing file"
    ),
    "positions-wrong-shape": Case(
        upload(bundle_with(replace={f"positions_{FIELD}.npy": _npy(np.zeros((N, 7)))})),
        400,
        "file",
        "(N, 3)",
    ),
    "truncated-npy": Case(
        upload(bundle_with(replace={"corr_matrix.npy": _npy(np.eye(N))[:100]})),
        400,
        "file",
        "corr_matrix.npy",
    ),
    "npy-promising-80-gb": Case(
        upload(bundle_with(replace={"corr_matrix.npy": _npy_header_only((100000, 100000))})),
        400,
        "file",
        "corr_matrix.npy",
    ),
    "text-matrix": Case(
        upload(bundle_with(replace={"corr_matrix.npy": _npy(np.full((N, N), "a"))})),
        400,
        "file",
        "not numeric",
    ),
    "csv-huge-header": Case(
        upload(bundle_with(replace={f"connectome_{FIELD}.csv": _wide_csv()})),
        400,
        "file",
        f"connectome_{FIELD}.csv",
    ),
}


def _duplicate_member_zip() -> bytes:
    import io
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # zipfile warns about the duplicate name we write on purpose
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in field_files().items():
                zf.writestr(f"{FIELD}/{name}", data)
            zf.writestr(f"{FIELD}/corr_matrix.npy", _corr_with_nan())
    return buf.getvalue()


CORPUS = {
    **{f"spec:{k}": v for k, v in SPEC_CASES.items()},
    **{f"upload:{k}": v for k, v in UPLOAD_CASES.items()},
}


def test_corpus_is_large_enough() -> None:
    assert len(SPEC_CASES) >= 30 and len(UPLOAD_CASES) >= 30


@pytest.mark.parametrize("case_id", sorted(CORPUS))
def test_malformed_input_is_refused_and_changes_nothing(
    module_api: ModuleApi, case_id: str
) -> None:
    case = CORPUS[case_id]
    before = snapshot()
    response = case.send(module_api)
    assert response.status_code == case.status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert (
        error["status"] == case.status
        and isinstance(error["message"], str)
        and error["message"].strip()
    )
    assert "Traceback" not in error["message"]
    if case.field is not None:
        paths = [f["path"] for f in error["fields"]]
        assert any(p == case.field or p.startswith(case.field + ".") for p in paths), (
            case.field,
            error,
        )
        assert all(f["message"].strip() for f in error["fields"]), error
    if case.needle:
        assert case.needle.lower() in error["message"].lower(), error
    assert snapshot() == before
    assert not any(module_api.tmp_uploads.iterdir()), "an upload left files behind"
