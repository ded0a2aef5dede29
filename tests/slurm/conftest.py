"""A real single-node Slurm cluster for the whole session (tests/slurm/cluster.py). Where it
cannot start (not root, slurm-wlm or munge not installed) the tests skip with the reason;
CORTEXRNN_REQUIRE_SLURM=1 makes that a failure instead."""

from __future__ import annotations

import os

import pytest

from tests.multihost.conftest import patient_startup  # noqa: F401 - fixtures, shared
from tests.reliability.conftest import private_redis  # noqa: F401
from tests.slurm.cluster import ClusterUnavailable, SlurmCluster

REQUIRE_SLURM = os.environ.get("CORTEXRNN_REQUIRE_SLURM") == "1"


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except ClusterUnavailable as exc:
        cluster.stop()
        if REQUIRE_SLURM:
            pytest.fail(f"no Slurm cluster (CORTEXRNN_REQUIRE_SLURM=1): {exc}")
        pytest.skip(f"no Slurm cluster: {exc}")
    yield cluster
    cluster.stop()
