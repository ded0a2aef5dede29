"""Fair share with real short runs: user A's 40 queued runs and user B's 2 submitted after
them on one worker slot; B's runs start before A's fifth pack."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from tests.integration.conftest import BIN, start_embedded, tiny_spec

pytestmark = pytest.mark.slow

SHORT = {
    "epochs": 1,
    "train_trials": 32,
    "test_trials": 16,
    "batch_size": 32,
    "checkpoint_every_steps": None,
}


def test_a_small_user_starts_before_a_big_users_fifth_pack(tmp_path) -> None:
    dep = start_embedded(
        tmp_path, workers=1, CORTEXRNN_MAX_PACK_SIZE="8", CORTEXRNN_FINAL_NULLS="5"
    )
    try:
        tokens = {
            name: subprocess.run(
                [BIN / "cortexrnn", "users", "create", name],
                env=dep.env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            for name in ("anna", "ben")
        }
        small = {"sampling": {"strategy": "random", "n_neurons": 8, "seed": 3}, "training": SHORT}
        a_spec = tiny_spec(
            name="anna-big", seeds=20, **small
        )  # 2 conditions x 20 seeds = 40 runs, 5 packs
        # Another selection, hence another pack key: ben's runs cannot fill anna's packs (nor
        # she his).
        b_spec = tiny_spec(
            name="ben-small", seeds=1, **{**small, "sampling": {**small["sampling"], "seed": 4}}
        )
        with httpx.Client(base_url=dep.url, timeout=60) as c:
            a = c.post(
                "/v1/experiments",
                json=a_spec,
                headers={"Authorization": f"Bearer {tokens['anna']}"},
            ).json()
            b = c.post(
                "/v1/experiments", json=b_spec, headers={"Authorization": f"Bearer {tokens['ben']}"}
            ).json()
        assert a["n_runs"] == 40 and b["n_runs"] == 2
        assert dep.wait(b["id"], timeout=300)["status"] == "succeeded"
        assert dep.wait(a["id"], timeout=300)["status"] == "succeeded"
        with dep.client as c:
            a_runs = c.get(f"/v1/experiments/{a['id']}/runs").json()
            b_runs = c.get(f"/v1/experiments/{b['id']}/runs").json()
        pack_starts = sorted({r["started_at"] for r in a_runs})
        assert len(pack_starts) == 5, pack_starts  # 40 runs in packs of 8, one start per pack
        b_start = max(r["started_at"] for r in b_runs)
        assert b_start < pack_starts[4], (b_start, pack_starts)
    finally:
        dep.stop()


def test_small_experiments_of_two_users_train_in_one_pack(tmp_path) -> None:
    """Same dataset, selection, task, model and training: one pack, each run with its own
    experiment's condition, seed and fidelity; both experiments finish."""
    dep = start_embedded(
        tmp_path, workers=1, CORTEXRNN_MAX_PACK_SIZE="8", CORTEXRNN_FINAL_NULLS="5"
    )
    try:
        tokens = {
            name: subprocess.run(
                [BIN / "cortexrnn", "users", "create", name],
                env=dep.env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            for name in ("anna", "ben")
        }
        small = {"sampling": {"strategy": "random", "n_neurons": 8, "seed": 3}, "training": SHORT}
        a_spec = tiny_spec(name="anna-w", seeds=3, conditions={"W": {}}, **small)
        b_spec = tiny_spec(
            name="ben-reshaped",
            seeds=2,
            conditions={"WD*C": {"space": "real", "communicability": "direct"}},
            fidelity={"base": "corrected", "reshape_positions": True},
            **small,
        )
        # The one worker is kept busy by another pack (other neurons: another pack key) while
        # both experiments arrive, so a scheduler tick between the two submissions cannot pack
        # anna's runs alone.
        blocker = tiny_spec(
            name="blocker",
            seeds=1,
            conditions={"W": {}},
            sampling={"strategy": "random", "n_neurons": 12, "seed": 3},
            training={**SHORT, "epochs": 20},
        )
        with httpx.Client(base_url=dep.url, timeout=60) as c:
            first = c.post(
                "/v1/experiments",
                json=blocker,
                headers={"Authorization": f"Bearer {tokens['ben']}"},
            ).json()["id"]
            deadline = time.monotonic() + 60
            while (
                c.get(
                    f"/v1/experiments/{first}/runs",
                    headers={"Authorization": f"Bearer {tokens['ben']}"},
                ).json()[0]["state"]
                not in ("running", "succeeded")
                and time.monotonic() < deadline
            ):
                time.sleep(0.1)
            ids = [
                c.post(
                    "/v1/experiments", json=spec, headers={"Authorization": f"Bearer {tokens[who]}"}
                ).json()["id"]
                for who, spec in (("anna", a_spec), ("ben", b_spec))
            ]
        assert [dep.wait(i, timeout=300)["status"] for i in [first, *ids]] == ["succeeded"] * 3
        with dep.client as c:
            runs = [r for i in ids for r in c.get(f"/v1/experiments/{i}/runs").json()]
        assert len(runs) == 5 and {r["state"] for r in runs} == {"succeeded"}
        assert len({(r["started_at"], r["worker"]) for r in runs}) == 1, (
            runs
        )  # claimed together: one pack
    finally:
        dep.stop()
