"""The dashboard's pure parts: signed sessions and CSRF tokens, spec search, the bootstrap
band of the curves, image encoding, tags and redirects."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from cortexrnn.api.dashboard import session as sess
from cortexrnn.api.dashboard.actions import parse_tags
from cortexrnn.api.dashboard.curves import bootstrap_band
from cortexrnn.api.dashboard.experiment_page import honest_state
from cortexrnn.api.dashboard.experiment_table import spec_matches, spec_value
from cortexrnn.api.dashboard.images import NAN_CODE, block_mean, encode
from cortexrnn.api.dashboard.login import safe_next

KEY = sess.signing_key("a-test-secret-of-enough-length")


def test_session_round_trips_and_refuses_forgery_age_and_other_keys() -> None:
    cookie = sess.encode_session(KEY, "ab" * 32, now=1000.0)
    data = sess.decode_session(KEY, cookie, now=1000.0 + 60)
    assert data is not None and data.token_hash == "ab" * 32
    assert sess.decode_session(KEY, cookie, now=1000.0 + sess.SESSION_MAX_AGE_S + 1) is None
    assert sess.decode_session(sess.signing_key("another-secret-entirely"), cookie) is None
    payload, signature = cookie.split(".")
    forged = base64.urlsafe_b64encode(b'{"h":"cd","n":"x","t":1000}').rstrip(b"=").decode()
    for bad in (f"{forged}.{signature}", payload, f"{payload}.", "", None, "a.b.c"):
        assert sess.decode_session(KEY, bad, now=1000.0) is None, bad


def test_csrf_tokens_are_bound_to_the_session_and_purpose() -> None:
    token = sess.csrf_token(KEY, "nonce-1")
    assert sess.csrf_valid(KEY, "nonce-1", token)
    assert not sess.csrf_valid(KEY, "nonce-2", token)
    assert not sess.csrf_valid(KEY, "nonce-1", token, purpose="login")
    assert not sess.csrf_valid(KEY, "nonce-1", None) and not sess.csrf_valid(KEY, "nonce-1", "")
    cookie, form = sess.encode_login_nonce(KEY, now=50.0)
    nonce = sess.login_nonce(KEY, cookie, now=60.0)
    assert nonce is not None and sess.csrf_valid(KEY, nonce, form, purpose="login")
    assert sess.login_nonce(KEY, cookie, now=50.0 + sess.LOGIN_MAX_AGE_S + 1) is None


SPEC = {
    "name": "x",
    "seeds": 10,
    "training": {"epochs": 20, "lr": 0.001},
    "fidelity": {"mode": "paper", "switches": ["reshape_positions"]},
    "force": False,
}


@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("seeds=10", True),
        ("seeds=10.0", True),
        ("seeds=9", False),
        ("training.epochs=20 training.lr=1e-3", True),
        ("fidelity.mode=PAPER", True),
        ("fidelity.switches=reshape_positions", True),
        ("force=false", True),
        ("training.missing=1", False),
        ("reshape", True),
        ("corrected", False),
    ],
)
def test_spec_search_by_field_or_word(query: str, hit: bool) -> None:
    assert spec_matches(SPEC, query) is hit
    assert spec_value(SPEC, "fidelity.switches.0") == "reshape_positions"


def test_bootstrap_band_stays_within_the_seeds_and_ignores_missing_values() -> None:
    rng = np.random.default_rng(1)
    m = rng.random((12, 5))
    m[3, 2] = np.nan
    m[:, 4] = np.nan
    m[1:, 3] = np.nan  # one seed only: no interval
    low, high = bootstrap_band(m, n_boot=500)
    for j in range(3):
        column = m[:, j][np.isfinite(m[:, j])]
        assert column.min() <= low[j] <= np.mean(column) <= high[j] <= column.max()
    assert np.isnan(low[3]) and np.isnan(high[4])
    again = bootstrap_band(m, n_boot=500)
    assert np.array_equal(low, again[0], equal_nan=True)  # deterministic


def test_images_are_block_means_coded_in_one_byte_with_their_range() -> None:
    m = np.arange(36, dtype=float).reshape(6, 6)
    assert block_mean(m, side=3).tolist() == [
        [3.5, 5.5, 7.5],
        [15.5, 17.5, 19.5],
        [27.5, 29.5, 31.5],
    ]
    m[0, 0] = np.nan
    image = encode(m, title="t", n=6, diverging=True)
    codes = np.frombuffer(base64.b64decode(image["data"]), dtype=np.uint8)
    assert codes[0] == NAN_CODE and codes[1:].max() == 254 and image["min"] == -35
    assert encode(np.zeros((2, 2)), title="z", n=2)["max"] == 0.0


def test_tags_states_and_redirects() -> None:
    assert parse_tags("a, b  b,,c") == ["a", "b", "c"]
    assert honest_state("cancelled", {"cancelled": 3}) == "cancelled"
    assert honest_state("active", {"pending": 2, "succeeded": 1}) == "waiting"
    assert honest_state("active", {"queued": 2}) == "queued"
    assert honest_state("active", {"running": 1, "pending": 5}) == "running"
    assert safe_next("/experiments?x=1") == "/experiments?x=1"
    for bad in ("//evil", "https://evil", "/\\evil", "", None, "evil"):
        assert safe_next(bad) == "/"
