"""Workers killed with SIGKILL in the middle of training, several times at random steps:
every run still succeeds, resumed from its last checkpoint, with final weights bit-identical
to an undisturbed run; no pack is ever trained by two workers at once; the scheduler notices
each loss within its heartbeat timeout."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.reliability.conftest import reference_weights
from tests.reliability.harness import (
    CLAIM_RE,
    RESUME_RE,
    SKIP_RE,
    PackMonitor,
    log_events,
    start_lab,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

HEARTBEAT_TIMEOUT_S = 10.0  # generous: a busy 2-core host delays heartbeats by seconds
SCHEDULER_INTERVAL_S = 0.5
CHECKPOINT_EVERY = 50
TOTAL_STEPS = 6000
LAST_SAFE_STEPS = 1500  # no kill targeted this close to the end
KILL_WINDOW_STEPS = 400  # a kill lands at most this far past the victim's next checkpoint
KILLS = 3
KILLING_DEADLINE_S = 300


def crash_spec(sampling_seed: int) -> dict:
    return {
        "name": f"crash-{sampling_seed}",
        "sampling": {"strategy": "random", "n_neurons": 40, "seed": sampling_seed},
        "tasks": ["go_no_go"],
        "training": {
            "epochs": 2,
            "train_trials": 32 * TOTAL_STEPS // 2,
            "test_trials": 64,
            "batch_size": 32,
            "checkpoint_every_steps": CHECKPOINT_EVERY,
        },
        "seeds": [3, 11],
        "conditions": {
            "W*D*C": {
                "init": "functional",
                "space": "real",
                "communicability": "direct",
                "lam": 0.01,
            }
        },
    }


def checkpoint_step(pack_dir: Path) -> int:
    """The step of the pack's checkpoint file (named after the pack's runs)."""
    (path,) = [p for p in pack_dir.glob("checkpoint*.pt")]
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


def test_sigkill_at_random_steps_resumes_bit_identically(
    tmp_path, postgres_url, private_redis
) -> None:
    rng = np.random.default_rng(20260815)
    lab = start_lab(
        tmp_path,
        postgres_url,
        private_redis.url,
        workers=2,
        heartbeat_timeout_s=str(HEARTBEAT_TIMEOUT_S),
        dispatch_timeout_s="3",  # short: duplicate messages test that a claim is exclusive
        max_attempts=str(KILLS + 2),
    )  # one pack may be the victim every time
    monitor = PackMonitor(postgres_url)
    monitor.start()
    specs = [crash_spec(1), crash_spec(2)]
    kills: list[dict] = []
    try:
        with lab.client as c:
            eids = [c.post("/v1/experiments", json=s).json()["id"] for s in specs]
            next_worker = len(lab.workers)
            deadline = time.monotonic() + KILLING_DEADLINE_S
            while len(kills) < KILLS and time.monotonic() < deadline:
                # The victim: the pack in training with the most steps still ahead, so that a
                # fast machine cannot finish both packs before the last kill (the other pack
                # trains on while the victim waits out the heartbeat timeout); the moment: a
                # random step past its next checkpoint and well before its end (progress is
                # reported about once a second, so the real step at the kill is somewhat later).
                packs = wait_until(lambda: _running_packs(monitor), 60, "a pack in training")
                pack_id = min(sorted(packs), key=lambda p: _pack_step(monitor, p))
                worker, attempt = packs[pack_id]
                low = _pack_step(monitor, pack_id) + CHECKPOINT_EVERY + 10
                high = min(low + KILL_WINDOW_STEPS, TOTAL_STEPS - LAST_SAFE_STEPS)
                if low >= high:
                    time.sleep(0.5)
                    continue
                target = int(rng.integers(low, high))
                wait_until(
                    lambda p=pack_id, s=target: (
                        _pack_step(monitor, p) >= s or _pack_state(monitor, p) != "running"
                    ),
                    120,
                    f"pack {pack_id} step {target}",
                )
                if (
                    _pack_state(monitor, pack_id) != "running"
                    or _pack_worker(monitor, pack_id) != worker
                ):
                    continue  # it ended or moved first; pick another moment
                lab.kill_worker(worker)
                killed_at = time.time()
                ckpt = checkpoint_step(lab.home / "artifacts" / "packs" / str(pack_id))
                kills.append(
                    {
                        "pack": pack_id,
                        "worker": worker,
                        "at": killed_at,
                        "attempt": attempt,
                        "checkpoint": ckpt,
                        "step": _pack_step(monitor, pack_id),
                    }
                )
                lab.start_worker(f"worker-{next_worker}")
                next_worker += 1
                requeued = wait_until(
                    lambda p=pack_id, a=attempt: _requeue_time(monitor, p, a),
                    3 * HEARTBEAT_TIMEOUT_S,
                    f"pack {pack_id} requeued",
                )
                kills[-1]["detected_s"] = requeued - killed_at

            done = [lab.wait(eid, timeout=240) for eid in eids]
            assert [d["status"] for d in done] == ["succeeded", "succeeded"], done
            final = {eid: c.get(f"/v1/experiments/{eid}/runs").json() for eid in eids}
            weights = {}
            for eid in eids:
                for r in final[eid]:
                    with np.load(
                        io.BytesIO(c.get(f"/v1/runs/{r['id']}/weights").content), allow_pickle=False
                    ) as z:
                        weights[(eid, r["condition"], r["seed"])] = z["W"]
    finally:
        monitor.stop()
        lab.stop()

    assert len(kills) == KILLS, f"only {len(kills)} kills landed mid-training: {kills}"
    claims = log_events(lab.home, CLAIM_RE)
    resumes = log_events(lab.home, RESUME_RE)
    pack_attempts = {pid: attempt for _, pid, _, _, attempt in monitor.packs}
    for k in kills:
        # Noticed within the heartbeat timeout (plus one scheduler tick and the tick's own time).
        assert k["detected_s"] <= HEARTBEAT_TIMEOUT_S + 2 * SCHEDULER_INTERVAL_S + 1.0, k
        assert k["checkpoint"] > 0 and k["checkpoint"] % CHECKPOINT_EVERY == 0, k
        # The next worker to claim the pack went on from that checkpoint, not from step 0.
        later = [(t, w, s) for t, w, pid, (s,) in resumes if pid == k["pack"] and t > k["at"]]
        assert later, f"no worker logged resuming pack {k['pack']} after the kill: {resumes}"
        assert int(later[0][2]) == k["checkpoint"], (later[0], k)
        # Steps reported once the pack was requeued never went back below the checkpoint.
        requeued_at = k["at"] + k["detected_s"]
        before = {
            rid: step
            for t, rid, pid, _, step in monitor.run_steps
            if pid == k["pack"] and t <= requeued_at
        }
        after = [
            step
            for t, rid, pid, state, step in monitor.run_steps
            if pid == k["pack"]
            and t > requeued_at
            and state == "running"
            and step != before.get(rid)
        ]
        assert after and min(after) > k["checkpoint"], (k, after[:5])
    for pid in {k["pack"] for k in kills}:
        n_kills = sum(k["pack"] == pid for k in kills)
        assert pack_attempts[pid] == n_kills
        # One claim per attempt, each after the previous holder was killed: never two at once.
        pack_claims = [(t, w) for t, w, p, _ in claims if p == pid]
        assert len(pack_claims) == n_kills + 1, pack_claims
        killed = sorted((k["at"], k["worker"]) for k in kills if k["pack"] == pid)
        for (t_claim, _), (t_kill, w_killed), (_t_prev, w_prev) in zip(
            pack_claims[1:], killed, pack_claims[:-1], strict=True
        ):
            assert w_prev == w_killed and t_claim > t_kill, (pack_claims, killed)
    for eid in eids:
        assert all(r["state"] == "succeeded" for r in final[eid])
    # While a pack was running, its worker column never changed without a requeue in between.
    for pid in pack_attempts:
        seen = [
            (state, worker, attempt) for _, p, state, worker, attempt in monitor.packs if p == pid
        ]
        holders: dict[int, set[str]] = {}
        for state, worker, attempt in seen:
            if state == "running":
                holders.setdefault(attempt, set()).add(worker)
        assert all(len(ws) == 1 for ws in holders.values()), seen

    # Bit-identical to the same spec trained here without interruption.
    for eid, spec in zip(eids, specs, strict=True):
        ref = reference_weights(spec)
        for (cond, seed, _task), w in ref.items():
            assert np.array_equal(weights[(eid, cond, seed)], w), (eid, cond, seed)

    skips = log_events(lab.home, SKIP_RE)
    detected = [round(k["detected_s"], 2) for k in kills]
    print(
        f"\nkills={len(kills)} detection_s={detected} "
        f"checkpoints={[k['checkpoint'] for k in kills]} "
        f"duplicate deliveries skipped={len(skips)}"
    )
    (tmp_path / "figures.txt").write_text(f"detection_s={detected}\n")


def _running_packs(monitor: PackMonitor) -> dict[int, tuple[str, int]]:
    latest: dict[int, tuple] = {}
    for _, pid, state, worker, attempt in monitor.packs:
        latest[pid] = (state, worker, attempt)
    return {pid: (w, a) for pid, (s, w, a) in latest.items() if s == "running" and w}


def _pack_state(monitor: PackMonitor, pack_id: int) -> str:
    return [s for _, p, s, _, _ in monitor.packs if p == pack_id][-1]


def _pack_worker(monitor: PackMonitor, pack_id: int) -> str | None:
    return [w for _, p, _, w, _ in monitor.packs if p == pack_id][-1]


def _pack_step(monitor: PackMonitor, pack_id: int) -> int:
    latest: dict[int, int] = {}
    for _, rid, pid, _, step in monitor.run_steps:
        if pid == pack_id:
            latest[rid] = step
    return min(latest.values(), default=0)


def _requeue_time(monitor: PackMonitor, pack_id: int, attempt: int) -> float | None:
    for t, p, _state, _, a in monitor.packs:
        if p == pack_id and a > attempt:
            return t
    return None
