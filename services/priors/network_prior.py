"""What the trainer needs to know about one network's priors: the contract between the
prior builder (connectome + condition + seed -> NetworkPrior) and the population trainer.

Orientation: every matrix here is (post, pre), torch's `weight_hh` convention:
h_t = (1 - a) h_{t-1} + a relu(W h_{t-1} + U x_t + b), so W[i, j] is the weight from unit j
to unit i. Connectome matrices are stored (pre, post) and are transposed by the builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

CommunicabilityMode = Literal["none", "direct", "emd"]
SignMode = Literal["free", "positive", "dale"]


@dataclass(frozen=True)
class NetworkPrior:
    w_init: np.ndarray  # (N, N) float, (post, pre)
    distance: np.ndarray | None = None  # (N, N) already normalised; None: no space term
    communicability: CommunicabilityMode = "none"
    communicability_grad: bool = True  # False: C is detached (a weighting, not differentiated)
    lam: float = 0.0  # weight of sum |W| * D * C (terms that are none drop out)
    lam_emd: float = 0.0  # weight of the EMD term (communicability == "emd")
    emd_target: np.ndarray | None = None  # sorted off-diagonal entries of the connectome's C
    emd_weighting: bool = False  # "emd" only: weight the L1 term by C too (not the paper's C*)
    sign: SignMode = "free"
    excitatory: np.ndarray | None = None  # (N,) bool, for sign == "dale": column j excitatory
    strength_eps: float = 1e-12  # guard for zero node strengths in the network's C
    # Visit the training batches in the same order every epoch (the released code, §5.9). A
    # training setting, carried per network because one pack may mix experiments' fidelities.
    fixed_batch_order: bool = False
    meta: dict[str, object] = field(default_factory=dict)  # what built it (for the record)

    @property
    def n_units(self) -> int:
        return int(self.w_init.shape[0])
