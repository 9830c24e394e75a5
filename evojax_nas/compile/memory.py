"""This process's memory mappings and resident memory, and the OS's limits.

Measured (benchmarks/mappings.py, docs/long-runs.md): every XLA:CPU executable
keeps its kernels in memory mappings of its own (LLVM's JIT maps code,
read-only data and data of each kernel module separately), about 280 for a
one-conv train chunk plus ~70 per further conv layer, and releases them
when the executable is freed. The kernel caps a process at
`vm.max_map_count` (65,530 by default); past it LLVM cannot allocate and the
process dies. So the compiled-program cache is bounded by mappings, not by a
count of networks, and a run recycles its process before either limit.

Linux only (`/proc`): elsewhere every count is None and nothing is bounded
by it.
"""

from __future__ import annotations

import dataclasses
import os

_DEFAULT_MAX_MAP_COUNT = 65530


def mappings() -> int | None:
  """Memory mappings this process holds now (lines of /proc/self/maps)."""
  try:
    with open("/proc/self/maps", "rb") as f:
      return f.read().count(b"\n")
  except OSError:
    return None


def max_mappings() -> int | None:
  """The kernel's cap on a process's mappings (`vm.max_map_count`)."""
  try:
    with open("/proc/sys/vm/max_map_count", encoding="ascii") as f:
      return int(f.read().strip())
  except (OSError, ValueError):
    return _DEFAULT_MAX_MAP_COUNT if mappings() is not None else None


def resident_bytes() -> int | None:
  """This process's resident memory."""
  try:
    with open("/proc/self/statm", encoding="ascii") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, ValueError, IndexError):
    return None


def _read_int(path: str) -> int | None:
  try:
    with open(path, encoding="ascii") as f:
      return int(f.read().strip())
  except (OSError, ValueError):  # missing, or "max"
    return None


def memory_limit_bytes() -> int | None:
  """The memory this process may use: the machine's, or its cgroup's."""
  try:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  except (ValueError, OSError):
    total = None
  limits = [x for x in (total,
                        _read_int("/sys/fs/cgroup/memory.max"),
                        _read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
            if x]
  return min(limits) if limits else None


@dataclasses.dataclass(frozen=True)
class Watch:
  """Thresholds on mappings and resident memory; `over()` says which one
  this process has crossed (None: neither, or nothing to measure)."""
  max_mappings: int | None
  max_resident: int | None

  @classmethod
  def from_fractions(cls, map_fraction: float, memory_fraction: float):
    """Thresholds as fractions of `vm.max_map_count` and of the memory."""
    maps, mem = max_mappings(), memory_limit_bytes()
    return cls(max(1, int(map_fraction * maps)) if maps else None,
               max(1, int(memory_fraction * mem)) if mem else None)

  def sample(self) -> dict[str, int | None]:
    return {"mappings": mappings(), "resident_bytes": resident_bytes()}

  def over(self) -> str | None:
    s = self.sample()
    m, r = s["mappings"], s["resident_bytes"]
    if self.max_mappings and m is not None and m >= self.max_mappings:
      return (f"{m:,} memory mappings (threshold {self.max_mappings:,} of "
              f"vm.max_map_count {max_mappings():,})")
    if self.max_resident and r is not None and r >= self.max_resident:
      return (f"{r / 2**30:.1f} GiB resident (threshold "
              f"{self.max_resident / 2**30:.1f} GiB)")
    return None
