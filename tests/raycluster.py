"""A two-node local Ray cluster for the tests, on loopback only (docs/ray.md).

Both nodes and the driver stay on 127.0.0.1: nodes start with ``node_ip_address="127.0.0.1"``
and the environment carries ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (without it Ray binds and
rewrites to the machine's interface address). Each node gets 2 logical CPUs so Ray Data's
decode tasks find room beside the actors.
"""

from __future__ import annotations

import contextlib
import os

import pytest

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
CPUS_PER_NODE = 2

# Ray reads this when it is imported: set it before anything imports ray (this module is
# imported at collection, ahead of every test that starts a cluster).
os.environ.update(LOOPBACK_ENV)


@contextlib.contextmanager
def two_node_cluster():
    """Start a head and a second node in this process; yields the cluster address."""
    pytest.importorskip("ray", reason="needs convzoo[ray]")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": CPUS_PER_NODE, "node_ip_address": "127.0.0.1"})
    try:
        cluster.add_node(num_cpus=CPUS_PER_NODE, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()
