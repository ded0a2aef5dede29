"""Tokens are stored hashed, compared in constant time and revocable; one user cannot cancel,
retry, delete or overwrite another user's experiments or datasets; request bodies are bounded."""

from __future__ import annotations

import ast
import hashlib
import hmac
import io
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import Dataset, Experiment, Run
from cortexrnn.shared.settings import get_settings
from tests.security.bundles import bundle_with, valid_bundle
from tests.security.conftest import assert_error, small_spec, snapshot

REPO = Path(__file__).resolve().parents[2]


def _all_text_in_database() -> str:
    """Every value of every table, read with sqlite3 directly (not through the models)."""
    path = get_settings().database_url.split("///", 1)[1]
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()


def test_tokens_are_stored_only_as_sha256(api) -> None:
    dump = _all_text_in_database()
    for token in api.tokens.values():
        assert token not in dump
        assert token[5:] not in dump  # not even without its prefix
        assert hashlib.sha256(token.encode()).hexdigest() in dump
    files = b"".join(
        p.read_bytes() for p in get_settings().home.glob("cortexrnn.db*")
    )  # WAL included
    for token in api.tokens.values():
        assert token.encode() not in files


def test_token_check_goes_through_compare_digest(api, monkeypatch) -> None:
    import cortexrnn.shared.auth as auth

    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert api.get("/v1/me").json()["name"] == "alice"
    digest = hashlib.sha256(api.tokens["alice"].encode()).hexdigest()
    assert (digest, digest) in calls


def _secret_comparisons(source: str) -> list[str]:
    """`==` / `!=` in Python code where one side names a token, secret, digest or password.
    SQL expressions on mapped columns (`ApiToken.token_hash == digest`, an indexed lookup by
    the hash, never of the token itself) are not Python comparisons and are skipped."""
    words = ("token", "secret", "digest", "password", "credential")
    found = []

    def names_secret(node: ast.AST) -> bool:
        text = ast.unparse(node).lower()
        return any(w in text for w in words)

    def is_column(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id[:1].isupper()
        )

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops
        ):
            sides = [node.left, *node.comparators]
            if any(names_secret(s) for s in sides) and not any(is_column(s) for s in sides):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_plain_equality_on_secrets() -> None:
    # The detector itself must see what it is looking for.
    assert _secret_comparisons("ok = row.token_hash == digest\nbad = token != expected")
    assert not _secret_comparisons("q = select(ApiToken).where(ApiToken.token_hash == digest)")
    for rel in ("shared/auth.py", "shared/local_auth.py", "api/deps.py"):
        assert _secret_comparisons((REPO / rel).read_text()) == [], rel


def test_revoked_tokens_are_refused_and_new_ones_work(api) -> None:
    from cortexrnn.shared.auth import issue_token, revoke_tokens
    from cortexrnn.shared.models import User

    assert (
        api.post("/v1/experiments", json=small_spec()).status_code == 422
    )  # alice is let in (no dataset)
    with session_scope() as s:
        assert revoke_tokens(s, prefix=api.tokens["alice"][:12]) == 1
    assert_error(api.get("/v1/experiments"), 401, "revoked")
    assert_error(api.post("/v1/experiments", json=small_spec()), 401, "revoked")
    assert_error(api.delete("/v1/experiments/1"), 401, "revoked")
    with session_scope() as s:
        alice = s.scalar(select(User).where(User.name == "alice"))
        fresh = issue_token(s, alice, label="second")
    assert (
        api.client.get("/v1/me", headers={"Authorization": f"Bearer {fresh}"}).json()["name"]
        == "alice"
    )
    with session_scope() as s:
        alice = s.scalar(select(User).where(User.name == "alice"))
        assert revoke_tokens(s, user=alice) == 1  # only the live one is left to revoke
    assert_error(
        api.client.get("/v1/me", headers={"Authorization": f"Bearer {fresh}"}), 401, "revoked"
    )
    assert api.get("/v1/me", user="bob").status_code == 200  # others are untouched


@pytest.mark.parametrize(
    "header",
    ["Bearer ", "Bearer crnn_", "Basic YWxpY2U6eA==", "bearer x y", "Bearer " + "a" * 5000],
)
def test_malformed_authorization_headers_are_401(api, header: str) -> None:
    r = api.client.get("/v1/experiments", headers={"Authorization": header})
    body = assert_error(r, 401)
    assert r.headers.get("www-authenticate") == "Bearer" or "token" in body["error"]["message"]


def _runs_of(experiment_id: int) -> list[tuple[int, str, bool]]:
    with session_scope() as s:
        return [
            (r.id, r.state, r.cancel_requested)
            for r in s.scalars(
                select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id)
            )
        ]


def test_other_users_cannot_cancel_retry_or_delete(api, tiny_dataset) -> None:
    first = api.post("/v1/experiments", json=small_spec()).json()["id"]
    before = _runs_of(first)
    assert_error(api.post(f"/v1/experiments/{first}/cancel", user="bob"), 403, "owner")
    assert _runs_of(first) == before and {state for _, state, _ in before} == {"pending"}
    assert_error(api.delete(f"/v1/experiments/{first}", user="bob"), 403, "owner")
    assert (
        api.get(f"/v1/experiments/{first}", user="bob").status_code == 200
    )  # still there, readable by all

    assert api.post(f"/v1/experiments/{first}/cancel").status_code == 200  # the owner may
    cancelled = _runs_of(first)
    assert {state for _, state, _ in cancelled} == {"cancelled"}
    assert_error(api.post(f"/v1/experiments/{first}/retry", user="bob"), 403, "owner")
    assert _runs_of(first) == cancelled
    assert_error(api.delete(f"/v1/experiments/{first}", user="bob"), 403, "owner")
    with session_scope() as s:
        assert s.get(Experiment, first) is not None

    assert (
        api.post(f"/v1/experiments/{first}/retry", user="root").status_code == 200
    )  # an admin may
    assert {state for _, state, _ in _runs_of(first)} == {"pending"}
    assert api.post(f"/v1/experiments/{first}/cancel", user="root").status_code == 200
    assert api.delete(f"/v1/experiments/{first}").status_code == 204
    with session_scope() as s:
        assert s.get(Experiment, first) is None


def test_idempotency_keys_are_per_user(api, tiny_dataset) -> None:
    """Bob reusing Alice's key gets his own experiment, never hers (nor a 409 that reveals it)."""
    headers = {"Idempotency-Key": "shared-key"}
    alice = api.post("/v1/experiments", json=small_spec(), headers=headers)
    bob = api.post("/v1/experiments", user="bob", json=small_spec(seeds=1), headers=headers)
    assert alice.status_code == 201 and bob.status_code == 201
    assert bob.json()["id"] != alice.json()["id"]
    assert api.get(f"/v1/experiments/{alice.json()['id']}").json()["owner"] == "alice"
    assert api.get(f"/v1/experiments/{alice.json()['id']}").json()["n_runs"] == 4


def test_other_users_cannot_overwrite_a_dataset(api) -> None:
    r = api.post(
        "/v1/datasets",
        files={"file": ("a.zip", valid_bundle(), "application/zip")},
        data={"name": "alice-data"},
    )
    assert r.status_code == 201, r.text
    original = r.json()
    before = snapshot()
    other = bundle_with(replace={"corr_matrix.npy": _identity_npy()})
    body = assert_error(
        api.post(
            "/v1/datasets",
            user="bob",
            files={"file": ("b.zip", other, "application/zip")},
            data={"name": "alice-data"},
        ),
        409,
        "exists already",
    )
    assert body["error"]["fields"][0]["path"] == "name"
    # Not even the owner can overwrite by re-uploading: names are immutable.
    assert_error(
        api.post(
            "/v1/datasets",
            files={"file": ("b.zip", other, "application/zip")},
            data={"name": "alice-data"},
        ),
        409,
        "exists already",
    )
    assert snapshot() == before
    now = api.get("/v1/datasets/alice-data", user="bob").json()
    # created_at is left out: SQLite hands it back without its time zone (the same instant).
    assert {k: v for k, v in now.items() if k != "created_at"} == {
        k: v for k, v in original.items() if k != "created_at"
    }
    with session_scope() as s:
        row = s.scalar(select(Dataset).where(Dataset.name == "alice-data"))
        assert row.content_sha256 == original["content_sha256"]


def _identity_npy() -> bytes:
    from tests.security.bundles import N

    buf = io.BytesIO()
    np.save(buf, np.eye(N))
    return buf.getvalue()


def test_request_size_limits(api, tiny_dataset) -> None:
    settings = api.client.app.state.settings
    before = snapshot()
    big_json = b'{"name": "' + b"x" * (settings.request_max_bytes + 1) + b'"}'
    assert_error(
        api.post("/v1/experiments", content=big_json, headers={"Content-Type": "application/json"}),
        413,
        "exceeds the limit",
    )

    def chunks():
        yield b'{"name": '
        yield b'"x"}'

    assert_error(
        api.post("/v1/experiments", content=chunks(), headers={"Content-Type": "application/json"}),
        411,
        "Content-Length",
    )

    settings.upload_max_bytes = 1 << 20  # the middleware and the unpacker read the live settings
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(1 << 20) + 4096, dtype=np.uint8).tobytes()
    too_big = _stored_zip({"f/connectome_1.csv": noise})
    assert_error(
        api.post(
            "/v1/datasets",
            files={"file": ("z.zip", too_big, "application/zip")},
            data={"name": "big"},
        ),
        413,
        "exceeds the limit",
    )
    # Under the upload limit but unpacking past 4x it (each member compresses < 200x, so not a
    # "bomb").
    low_entropy = rng.integers(0, 2, size=5 << 20, dtype=np.uint8).tobytes()
    packed = _deflated_zip({"f/connectome_1.csv": low_entropy})
    assert len(packed) < settings.upload_max_bytes
    body = assert_error(
        api.post(
            "/v1/datasets",
            files={"file": ("z.zip", packed, "application/zip")},
            data={"name": "big"},
        ),
        413,
        "unpacks to",
    )
    assert body["error"]["fields"][0]["path"] == "file"
    assert snapshot() == before


def _stored_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _deflated_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_an_empty_idempotency_key_is_no_key(api, tiny_dataset) -> None:
    """Found by the fuzzer: an empty header was stored as a key, and the next empty one hit the
    unique constraint (a 500)."""
    first = api.post("/v1/experiments", json=small_spec(), headers={"Idempotency-Key": ""})
    second = api.post("/v1/experiments", json=small_spec(), headers={"Idempotency-Key": ""})
    assert first.status_code == 201 and second.status_code == 201, second.text
    assert first.json()["id"] != second.json()["id"]


def test_concurrent_submissions_with_one_key_create_one_experiment(api, tiny_dataset) -> None:
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Idempotency-Key": "same-key"}
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(
                lambda _: api.post("/v1/experiments", json=small_spec(), headers=headers), range(8)
            )
        )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [
        r.text[:200] for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    with session_scope() as s:
        assert len(list(s.scalars(select(Experiment)))) == 1
