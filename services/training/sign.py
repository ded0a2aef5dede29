"""Weight-sign constraints (positive-only, Dale's law) as a projection after each step."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from cortexrnn.services.priors.network_prior import NetworkPrior


class SignProjection:
    """Clamps W's columns (presynaptic units) to the sign each network's prior allows."""

    def __init__(
        self, priors: Sequence[NetworkPrior], device: torch.device, dtype: torch.dtype
    ) -> None:
        n = priors[0].n_units
        lo = np.full((len(priors), 1, n), -np.inf)
        hi = np.full((len(priors), 1, n), np.inf)
        for i, pr in enumerate(priors):
            if pr.sign == "positive":
                lo[i] = 0.0
            elif pr.sign == "dale":
                if pr.excitatory is None or np.shape(pr.excitatory) != (n,):
                    raise ValueError(
                        f"prior {i}: sign 'dale' needs an excitatory mask of shape ({n},)"
                    )
                exc = np.asarray(pr.excitatory, dtype=bool)
                lo[i, 0, exc] = 0.0
                hi[i, 0, ~exc] = 0.0
            elif pr.sign != "free":
                raise ValueError(f"prior {i}: unknown sign {pr.sign!r}: use free, positive or dale")
        self.enabled = any(pr.sign != "free" for pr in priors)
        self.lo = torch.as_tensor(lo, device=device, dtype=dtype)
        self.hi = torch.as_tensor(hi, device=device, dtype=dtype)

    def __call__(self, w: Tensor) -> None:
        # A block, not the decorator: mutmut mutates only undecorated functions.
        with torch.no_grad():
            if self.enabled:
                w.copy_(torch.maximum(torch.minimum(w, self.hi), self.lo))
