"""Model settings of one experiment (shared by every network of a pack).

The number of recurrent units is not here: it is the number of neurons the sampling selects.
Defaults are the paper's (Keras `SimpleRNN`, ReLU, input noise 0.05 during training only).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    activation: Literal["relu", "tanh"] = "relu"
    # h_t = (1 - alpha) h_{t-1} + alpha f(W h_{t-1} + U x_t + b); alpha = 1 is Keras SimpleRNN.
    alpha: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    noise_in: float = Field(
        0.05, ge=0.0, le=10.0, allow_inf_nan=False
    )  # std of Gaussian input noise, training only
    noise_rec: float = Field(
        0.0, ge=0.0, le=10.0, allow_inf_nan=False
    )  # std of Gaussian recurrent noise, training only
    bias: bool = True
