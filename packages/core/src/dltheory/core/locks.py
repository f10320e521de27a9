"""An exclusive, advisory lock on a run folder, so two runs never write into one ``--out``.

The lock is ``fcntl.flock`` on ``<folder>/.lock``: the kernel releases it when the process ends,
even after ``kill -9``, so a stale lock file never blocks a later run.
"""

from __future__ import annotations

import os
from pathlib import Path

from dltheory.core.errors import DltheoryError
from dltheory.core.files import write_error

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, runs are not guarded
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


class RunLockedError(DltheoryError):
    """Another process holds the run folder."""


class RunLock:
    """Hold ``<folder>/.lock`` until :meth:`release` (or process exit)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise write_error(self.path, exc) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise RunLockedError(
                    f"{self.folder} is in use by pid {holder}; wait for that run or choose another --out"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # the lock dies with the object if nobody released it
        self.release()
