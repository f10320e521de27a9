"""pytest plugin shared by every dltheory distribution (registered through ``pytest11``).

Markers: ``slow`` (run with ``--run-slow``), ``gpu`` (skipped without CUDA), ``distributed``
(multi-process gloo on CPU). Fixtures: ``shared_data``, ``mnist_t10k_dir``, ``snips_dir``,
``tmp_run_dir``, ``float64_default`` (for exactness tests: ``pytestmark =
pytest.mark.usefixtures("float64_default")``). Torch is imported only if a collected test is marked ``gpu``.
Helpers: ``run_torchrun`` (a ``distributed`` test's launch) and ``child_env``.

Each test runs with ``DLTHEORY_TEST_THREADS`` torch threads (default 1): test models are tiny,
and one thread per process avoids oversubscribing small CI machines (and pytest-xdist workers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

MARKERS = {
    "slow": "long-running; opt in with --run-slow",
    "gpu": "needs a CUDA device; skipped without one",
    "distributed": "starts several processes (gloo on CPU)",
}


TORCHRUN_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a test's child process: this one with one OpenMP thread, without the
    variables of an enclosing torchrun (so the child starts its own process group), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra or {})
    return env


def run_python(
    args: Sequence[str], *, timeout: float = 300.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python *args`` in one process with ``child_env(env)``; output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(env),
        check=False,
    )


def run_torchrun(
    args: Sequence[str],
    *,
    nproc: int = 2,
    timeout: float = 300.0,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node nproc *args`` (``args`` is a script and its
    arguments or ``-m module ...``), with ``child_env(env)``; output captured as text. The caller
    asserts on ``returncode`` (e.g. ``assert proc.returncode == 0, proc.stderr[-3000:]``)."""
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    proc = run_python([*launch, *args], timeout=timeout, env=env)
    # torchrun picks a free port for the process group before binding it: on a busy machine
    # another test can take it first. That race is the launcher's, not the code's: retry once.
    if proc.returncode != 0 and "address already in use" in proc.stderr.lower():
        proc = run_python([*launch, *args], timeout=timeout, env=env)
    return proc


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--run-slow")
    gpu_items = [item for item in items if "gpu" in item.keywords]
    has_cuda = False
    if gpu_items:
        import torch

        has_cuda = torch.cuda.is_available()
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow test: run with --run-slow"))
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (../shared/data beside the repo); skips the test when absent."""
    from dltheory.core.data import shared_data_dir

    path = shared_data_dir()
    if path is None:
        pytest.skip("shared data folder not found (set DLTHEORY_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def mnist_t10k_dir(shared_data: Path) -> Path:
    path = shared_data / "mnist-t10k"
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def snips_dir(shared_data: Path) -> Path:
    path = shared_data / "snips-nlu-benchmark-2017-06"
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture
def tmp_run_dir(tmp_path: Path) -> Path:
    """A fresh, not-yet-existing run directory."""
    return tmp_path / "run"


@pytest.fixture
def float64_default() -> Iterator[None]:
    """torch's default dtype set to float64 for the test (restored afterwards)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(autouse=True)
def _torch_test_threads() -> Iterator[None]:
    """Limit torch's intra-op threads during each test (restored afterwards)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("DLTHEORY_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(previous)
