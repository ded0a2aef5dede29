"""Derived-prior cache: time of a miss (compute + atomic write) vs a hit (one file read).

Run: python benchmarks/store_cache.py [--neurons 2000]
Measures, on the synthetic cortex, the true soma distance matrix and the functional matrices
from spikes (correlation, STTC, precision), each requested twice from a fresh store.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cortexrnn.services.connectome import ConnectomeStore, NeuronSelection, synthesize_cortex


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--neurons", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    t0 = time.perf_counter()
    cortex = synthesize_cortex(args.neurons, seed=0)
    print(f"synthesize_cortex({args.neurons}): {time.perf_counter() - t0:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        store = ConnectomeStore(Path(tmp))
        sha = store.put(cortex)
        sel = NeuronSelection()
        for kind, params in [("distances", {}), ("functional", {"bin_s": 0.5, "sttc_dt_s": 0.5})]:
            t0 = time.perf_counter()
            store.prior(sha, kind, sel, **params)
            miss = time.perf_counter() - t0
            assert store.misses >= 1
            hits = []
            for _ in range(args.repeats):
                fresh = ConnectomeStore(Path(tmp))  # no in-process memo: the file is read
                t0 = time.perf_counter()
                fresh.prior(sha, kind, sel, **params)
                hits.append(time.perf_counter() - t0)
                assert fresh.hits == 1 and fresh.misses == 0
            hit = sorted(hits)[len(hits) // 2]
            print(
                f"{kind:>10} N={args.neurons}: miss {miss * 1e3:9.1f} ms  hit {hit * 1e3:7.2f} ms  "
                f"ratio {miss / hit:7.1f}x"
            )


if __name__ == "__main__":
    main()
