"""The EMD term's sort (services/model/sorting.py) against numpy's and torch's stable sorts:
the same order, ties included, and the same gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cortexrnn.services.model.sorting import sort_last, stable_argsort_f32

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(0).normal(size=(3, 4097)),
        # many ties, of negative and positive values
        np.random.default_rng(1).integers(-20, 20, size=(4, 500)) / 3.0,
        # signed zeros tie; NaNs of either sign go last in index order; infinities in place
        [[0.0, -0.0, NAN, -NAN, INF, -INF, 1.0, -1.0, 0.0, NAN, -2.5e-45, 2.5e-45]],
        # one row, one value
        [[7.0]],
    ],
)
def test_order_is_numpys_stable_argsort(values: object) -> None:
    x = np.asarray(values, dtype=np.float32)
    got = stable_argsort_f32(x)
    want = np.argsort(x, axis=-1, kind="stable")
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int64


def test_batched_3d_matches_torch_stable_sort() -> None:
    x = torch.randint(-5, 5, (2, 3, 300)).float() * 0.25
    np.testing.assert_array_equal(
        stable_argsort_f32(x.numpy()), torch.sort(x, dim=-1, stable=True).indices.numpy()
    )
    assert torch.equal(sort_last(x), torch.sort(x, dim=-1).values)


def test_gradient_is_the_sorts_gradient_with_ties() -> None:
    base = torch.randint(0, 50, (3, 2000)).float() / 7  # ~40 copies of each value
    target = torch.sort(torch.rand(3, 2000) * 7, dim=-1).values
    grads = []
    for sort in (sort_last, lambda t: torch.sort(t, dim=-1, stable=True).values):
        x = base.clone().requires_grad_()
        (sort(x) - target).abs().mean().backward()
        assert x.grad is not None
        grads.append(x.grad)
    assert torch.equal(grads[0], grads[1])
    assert grads[0].abs().sum() > 0


def test_other_dtypes_fall_back_to_torch() -> None:
    x = torch.tensor([[3.0, -1.0, 2.0, -1.0]], dtype=torch.float64, requires_grad=True)
    out = sort_last(x)
    assert out.dtype == torch.float64
    assert out.tolist() == [[-1.0, -1.0, 2.0, 3.0]]
    with pytest.raises(TypeError, match="float32"):
        stable_argsort_f32(np.zeros(3))
