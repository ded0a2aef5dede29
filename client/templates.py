"""Commented example specs printed by `cortexrnn-client spec template` (each one validates:
tests/client checks that with cortexrnn.services.spec.load_spec).

The templates are text: they work without the science installed. The task names and the
fidelity switches they list are copies of the science's (TASK_NAMES in
services/tasks/registry.py, FIDELITY_SWITCHES in services/priors/conditions.py); a test
fails when those change and these copies do not."""

from __future__ import annotations

TASK_NAMES = ("one_choice_inference", "go_no_go", "perceptual_decision_making")
FIDELITY_SWITCHES = {
    "reshape_positions": "§5.1 real coordinates built with positions.reshape(3, -1) instead of "
    "positions.T",
    "l1_without_lambda": "§5.2 the baseline W regulariser is sum |W| without lambda (strength 1.0)",
    "unnormalised_distances": "§5.3 grid distances at unit spacing, real distances min-max "
    "normalised (~12x apart)",
    "report_train_accuracy": "§5.4 the reported accuracy is the last epoch's training accuracy "
    "(noise on)",
    "keep_functional_diagonal": "§5.5 the functional init keeps its diagonal "
    "(corr = STTC = 1 there)",
    "emd_strength_epsilon": "§5.6 the connectome's C for C* replaces zero strengths by 1e-10",
    "released_nulls": "§5.7 small-world sigma is also reported against the released code's "
    "nulls ((U + U.T) / 2 > 0.7: density ~0.18 whatever the graph's, self-loops kept)",
    "meshgrid_grid_order": "§5.8 grid units in numpy.meshgrid(x, y, z) order (y outermost), "
    "not x-major raster order",
    "fixed_batch_order": "§5.9 training batches in the same order every epoch (no shuffle)",
}

_TASKS = ", ".join(TASK_NAMES)
_FIDELITY = "\n".join(f"#   {name}: {what}" for name, what in FIDELITY_SWITCHES.items())

BASIC = f"""\
# CortexRNN experiment spec. Submit with: cortexrnn-client submit spec.yaml --wait
# runs = conditions x seeds x tasks; every field below is optional except where noted.
name: my-first-ablation          # a label shown in `cortexrnn-client list` (not part of the hash)
tags: [tutorial]
priority: normal                 # low | normal | high | an integer in [-100, 100]
force: false                     # true: train again even if identical runs already succeeded

# The connectome the networks come from: `synthetic-cortex` is built in; others are the names
# of datasets ingested with `cortexrnn-client datasets upload`
# (see `cortexrnn-client datasets list`).
dataset: synthetic-cortex
# Which neurons become the hidden units: all | field | random | spatial | cell_type.
sampling: {{strategy: spatial, n_neurons: 64, seed: 0}}

# Tasks: {_TASKS}.
# A task may also be a mapping: {{name: go_no_go, params: {{...}}, label: gng-long}}.
tasks: [go_no_go]

model: {{activation: relu, alpha: 1.0, noise_in: 0.05}}
# The paper trains 10 epochs of 5,120 trials (40 steps of 128); this is a shorter schedule.
training: {{epochs: 3, train_trials: 1024, test_trials: 512, batch_size: 128,
           lr: 0.001, criterion: 0.9}}

seeds: 3                         # a count (0..n-1) or an explicit list, e.g. [0, 7, 42]

# The arms of the ablation. Each condition chooses:
#   init: orthogonal | he_normal | glorot_normal | functional | functional-permuted |
#         functional-offdiag-shuffled | diagonal | anatomical
#   space: none | grid | real | real-shuffled      communicability: none | direct | emd
#   lam (L1 x distance x communicability strength), lam_emd, sign: free | positive | dale
# Or use the paper's eleven: `conditions: {{preset: paper-2026}}`.
conditions:
  W: {{init: orthogonal}}                                             # the paper's baseline
  W*: {{init: functional, lam: 0.0}}                                  # functional ("bio") init
  W*D*C: {{init: functional, space: real, communicability: direct, lam: 0.01}}  # + space and wiring

# corrected (default) | paper (reproduce the released code's nine deviations) | a mapping of:
{_FIDELITY}
fidelity: corrected
"""

PAPER_2026 = f"""\
# The seed paper's full grid on MICrONS field 6_6_2 (312 neurons): its eleven conditions
# (W / W* / W! x D / D* x C / C*) x 20 seeds x 3 tasks = 660 networks, at the paper's settings.
# First upload the field (converted to safe formats on your machine):
#   cortexrnn-client datasets upload path/to/microns/6_6_2 --name microns-6_6_2
# then: cortexrnn-client submit paper-2026.yaml --wait
name: paper-2026-6_6_2
tags: [paper-2026, microns]
priority: normal

dataset: microns-6_6_2
sampling: {{strategy: all}}       # every neuron of the field: N = 312

# Tasks: {_TASKS}.
tasks: [one_choice_inference, go_no_go, perceptual_decision_making]

# Keras SimpleRNN (alpha = 1), ReLU, Gaussian input noise 0.05 during training.
model: {{activation: relu, alpha: 1.0, noise_in: 0.05}}
# Adam 1e-3, batch 128, 5,120 training trials per epoch (40 steps), 10 epochs, 2,560 test trials.
training: {{epochs: 10, train_trials: 5120, test_trials: 2560, batch_size: 128, lr: 0.001}}

seeds: 20

# The paper's eleven conditions in its order: W*D*C, WD*C, WDC, WD*, WD, W, W*D*C*, WD*C*,
# W*DC*, W!D*C, W!D*C*. Use `preset: paper-2026-positive` for Table 3 (non-negative weights),
# and `override: {{lam: 0.1}}` to change a field in every condition.
conditions: {{preset: paper-2026}}

# corrected (default) | paper (reproduce the released code's nine deviations) | a mapping of:
{_FIDELITY}
fidelity: corrected
"""

TEMPLATES: dict[str, str] = {"basic": BASIC, "paper-2026": PAPER_2026}
