"""Neuron selection and Connectome.subset."""

from __future__ import annotations

import numpy as np
import pytest

from cortexrnn.services.connectome import DatasetError, NeuronSelection, select, synthesize_cortex


@pytest.fixture(scope="module")
def cortex():
    return synthesize_cortex(300, seed=1)


def test_all_and_random(cortex) -> None:
    np.testing.assert_array_equal(select(cortex, NeuronSelection()), np.arange(300))
    sel = NeuronSelection(strategy="random", n_neurons=50, seed=2)
    idx = select(cortex, sel)
    assert len(idx) == 50 and len(set(idx)) == 50 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, select(cortex, sel))
    assert not np.array_equal(
        idx, select(cortex, NeuronSelection(strategy="random", n_neurons=50, seed=3))
    )


def test_spatial_is_nearest_to_centre(cortex) -> None:
    pos = cortex.positions_nm
    idx = select(cortex, NeuronSelection(strategy="spatial", n_neurons=40))
    d = np.linalg.norm(pos - pos.mean(axis=0), axis=1)
    assert d[idx].max() <= np.sort(d)[39] + 1e-9
    centre = tuple(pos[7])
    idx2 = select(cortex, NeuronSelection(strategy="spatial", n_neurons=1, centre_nm=centre))
    assert idx2.tolist() == [7]


def test_cell_type_and_field(cortex) -> None:
    idx = select(cortex, NeuronSelection(strategy="cell_type", cell_types=("BC", "MC")))
    types = cortex.neurons["cell_type"].to_numpy()
    assert set(types[idx]) <= {"BC", "MC"}
    assert len(idx) == int(np.isin(types, ["BC", "MC"]).sum())
    assert len(select(cortex, NeuronSelection(strategy="field", field="synthetic"))) == 300


def test_subset_matrices_and_spikes(cortex) -> None:
    idx = np.array([3, 10, 42, 100])
    sub = cortex.subset(idx)
    np.testing.assert_array_equal(
        sub.synapse_counts.toarray(), cortex.synapse_counts.toarray()[np.ix_(idx, idx)]
    )
    np.testing.assert_array_equal(
        sub.functional["sttc"], cortex.functional["sttc"][np.ix_(idx, idx)]
    )
    np.testing.assert_array_equal(sub.positions_nm, cortex.positions_nm[idx])
    for k, i in enumerate(idx):
        np.testing.assert_array_equal(sub.spikes.neuron(k), cortex.spikes.neuron(i))


def test_selection_refusals(cortex) -> None:
    with pytest.raises(DatasetError, match="n_neurons=500 but only 300 neurons are available"):
        select(cortex, NeuronSelection(strategy="random", n_neurons=500))
    with pytest.raises(DatasetError, match="field '9_9_9' has no neurons"):
        select(cortex, NeuronSelection(strategy="field", field="9_9_9"))
    with pytest.raises(DatasetError, match=r"no neurons of cell type \['Purkinje'\]"):
        select(cortex, NeuronSelection(strategy="cell_type", cell_types=("Purkinje",)))
    with pytest.raises(DatasetError, match="strategy 'spatial' needs n_neurons"):
        select(cortex, NeuronSelection(strategy="spatial"))
    with pytest.raises(DatasetError, match="has no neurons"):
        select(cortex.subset(np.array([], dtype=int)), NeuronSelection())
