"""JAX's persistent compilation cache, kept in the experiment directory.

A restarted (or resumed, or second-worker) process then loads the programs
of architectures it has seen before instead of compiling them again. JAX only
persists compiles longer than `jax_persistent_cache_min_compile_time_secs`
(default 1 s); most programs here compile in 0.3-3 s, so the threshold is
lowered (default 0). Hits are counted from JAX's monitoring events.
"""

from __future__ import annotations

import threading
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache

_lock = threading.Lock()
_counts = {"requests": 0, "hits": 0}
_thread = threading.local()  # JAX records the events in the compiling thread
_listening = False

_EVENTS = {"/jax/compilation_cache/compile_requests_use_cache": "requests",
           "/jax/compilation_cache/cache_hits": "hits"}


def _listener(event: str, **kwargs):
  del kwargs
  name = _EVENTS.get(event)
  if name:
    with _lock:
      _counts[name] += 1
    if name == "hits":
      _thread.hits = thread_hits() + 1


def thread_hits() -> int:
  """The persistent cache's hits in this thread's compilations so far."""
  return getattr(_thread, "hits", 0)


def enable(directory: str | Path, min_compile_time_s: float = 0.0) -> Path:
  """Points this process's persistent cache at `directory`."""
  global _listening
  directory = Path(directory).absolute()
  directory.mkdir(parents=True, exist_ok=True)
  compilation_cache.reset_cache()  # the cache binds its directory once
  jax.config.update("jax_compilation_cache_dir", str(directory))
  jax.config.update("jax_persistent_cache_min_compile_time_secs",
                    float(min_compile_time_s))
  with _lock:
    if not _listening:
      jax.monitoring.register_event_listener(_listener)
      _listening = True
  return directory


def counts() -> dict[str, int]:
  """Compilations that consulted the persistent cache, and its hits, since
  this process started."""
  with _lock:
    return dict(_counts)


def disable():
  """Stops persisting compiles in this process (e.g. between experiments)."""
  compilation_cache.reset_cache()
  jax.config.update("jax_compilation_cache_dir", None)
