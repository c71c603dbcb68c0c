"""A real Ray cluster for the session: one node on 127.0.0.1, 2 CPUs, no dashboard, no telemetry.

Every test module here skips itself (``pytest.importorskip``) when Ray is not installed, so the
suite passes without the ``ray`` extra. The server-side kernel and its ``ray`` executor are shared
by the session: run workers are expensive to start and cheap to reuse.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeloom.kernel.host import Kernel
from nodeloom.kernel.paths import DataDir
from tests.api.support import entry_point_source
from tests.ray.support import make_site, worker_options

REPO = Path(__file__).resolve().parents[2]

RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # Single-machine mode: the node takes the loopback address instead of the outward one.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_DEDUP_LOGS": "0",
}


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = make_site(tmp_path_factory.mktemp("site"))
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))


@pytest.fixture(scope="session")
def ray_cluster(site: Path) -> Iterator[Any]:
    import ray

    saved = {k: os.environ.get(k) for k in (*RAY_ENV, "PYTHONPATH")}
    os.environ.update(RAY_ENV)
    # Workers import tests.ray.support (the kernel factory) and the test pack by name.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), str(site), saved["PYTHONPATH"]) if p)
    ray.init(
        address="local",
        num_cpus=2,
        resources={"nodeloom_test": 2},
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        namespace="nodeloom-tests",
        configure_logging=False,
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def kernel(ray_cluster: Any, site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """The server kernel: api, core_nodes, ray and the test pack, with the executor set up."""
    made = Kernel(DataDir(tmp_path_factory.mktemp("data")), entry_points=entry_point_source(site), env={})
    made.start()
    made.executors["ray"].configure(worker_options(site))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def executor(kernel: Kernel) -> Any:
    return kernel.executors["ray"]
