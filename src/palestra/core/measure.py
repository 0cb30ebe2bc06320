"""Peak resident memory of a block of code, for benches that report memory beside speed.

    with PeakMemory() as peak:
        model(idx)
    peak.mib  # resident MiB above what the process held when the block began

Linux only: entering resets the process's resident-memory high-water mark (``VmHWM``, by
writing ``5`` to ``/proc/self/clear_refs``) and leaving reads it back, so the figure is the
peak of the whole process during the block, minus its resident size at the start. Elsewhere,
or where ``/proc`` cannot be written, ``mib`` is ``None``.

Not protected against: other threads of the process allocating during the block (counted), and
memory the allocator keeps mapped from before the block (reused, so not counted).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

__all__ = ["PeakMemory"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Context manager: ``mib`` is the peak resident memory of the block above its start."""

    def __init__(self) -> None:
        self.mib: float | None = None
        self._start: int | None = None

    def __enter__(self) -> PeakMemory:
        try:
            _CLEAR_REFS.write_text("5")  # reset VmHWM to the current VmRSS
        except OSError:
            return self
        self._start = _status_kib("VmRSS")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        peak = _status_kib("VmHWM")
        if self._start is not None and peak is not None:
            self.mib = max(0, peak - self._start) / 1024
