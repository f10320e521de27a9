"""One thread policy for every trainer: ``--threads`` > ``DLTHEORY_THREADS`` > a load-aware default.

torch's default (one intra-op thread per core) oversubscribes a machine whose cores are already
busy: on a shared 2-core machine training steps ran 10-30x slower. The default here takes the
cores this process may use minus the current load (one-minute load average), at least one.
"Cores" are physical cores, as torch counts them: two hyperthreads of one core share its
arithmetic units, and a thread per logical CPU would oversubscribe them.
"""

from __future__ import annotations

import os

from dltheory.core.errors import ConfigError

ENV_VAR = "DLTHEORY_THREADS"


SYSFS_CPU = "/sys/devices/system/cpu"


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def physical_cores(cpus: set[int] | None = None, sysfs: str = SYSFS_CPU) -> int | None:
    """Distinct physical cores (package, core id) among the logical ``cpus`` (default: this
    process's affinity), read from Linux sysfs topology; None where the topology is unreadable."""
    if cpus is None:
        if not hasattr(os, "sched_getaffinity"):
            return None
        cpus = set(os.sched_getaffinity(0))
    cores = set()
    for cpu in cpus:
        topology = os.path.join(sysfs, f"cpu{cpu}", "topology")
        try:
            with (
                open(os.path.join(topology, "physical_package_id")) as package,
                open(os.path.join(topology, "core_id")) as core,
            ):
                cores.add((package.read().strip(), core.read().strip()))
        except OSError:
            return None
    return len(cores) or None


def usable_cores() -> int:
    """Physical cores this process may use (logical CPUs where the topology is unknown)."""
    return physical_cores() or usable_cpus()


def default_threads(cpus: int | None = None, load: float | None = None) -> int:
    """Cores not already busy: ``cpus - round(load)``, clamped to [1, cpus]."""
    cpus = usable_cores() if cpus is None else cpus
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cpus, cpus - round(load)))


def resolve_threads(requested: int | None = None) -> int:
    """The thread count to use: the explicit value, then ``DLTHEORY_THREADS``, then the default."""
    if requested is None:
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            try:
                requested = int(env)
            except ValueError:
                raise ConfigError(f"{ENV_VAR} must be a positive integer, got {env!r}") from None
    if requested is None:
        return default_threads()
    if requested < 1:
        raise ConfigError(f"--threads must be at least 1, got {requested}")
    return requested


def configure_threads(requested: int | None = None) -> int:
    """Set torch's intra-op thread count by the policy above; returns the count."""
    import torch

    n = resolve_threads(requested)
    torch.set_num_threads(n)
    return n
