"""A program compiled for one XLA:CPU device, loaded onto another.

With the host split into several CPU devices (`cpu_devices`, one slot lane
each), a program keyed by its shapes (the layers engine's unit programs,
the shared batch preparation) or an architecture seen on another lane
would otherwise compile once per device. XLA:CPU's executable is machine
code that does not depend on which CPU device runs it: serialized, it
loads for another device in milliseconds (a conv gradient: 2–5 ms against
0.45 s to compile; the same bits). JAX does the same from its persistent
cache on GPUs (`cache_key`: the device assignment stripped there); here it
is done in memory, through `jax.experimental.serialize_executable`'s
pickler with the devices remapped.
"""

from __future__ import annotations

import io
import logging
import pickle
import weakref

import jax
import numpy as np
from jax.experimental import serialize_executable
from jaxlib import _jax as xla  # CompileOptions, DeviceAssignment

log = logging.getLogger("evojax_nas")

# Programs loaded (from JAX's persistent cache, a program store or another
# device) rather than compiled: serialized again they lack their kernels
# ("Function ... not found" when run), so they are never relocated.
_FROM_DISK: weakref.WeakSet = weakref.WeakSet()


def from_disk(compiled: jax.stages.Compiled) -> None:
  """Marks `compiled` as loaded rather than compiled: not relocated."""
  _FROM_DISK.add(compiled)


def loaded(compiled: jax.stages.Compiled) -> bool:
  """Whether `compiled` was loaded rather than compiled in this process."""
  return compiled in _FROM_DISK


class _Unpickler(serialize_executable._JaxPjrtUnpickler):  # pylint: disable=protected-access
  """Loads the executable for `target` and maps the source device's
  shardings onto it."""

  def __init__(self, blob: bytes, source_id: int, target):
    super().__init__(io.BytesIO(blob), target.client, [target])
    self.devices_by_id = {source_id: target}
    self._assignment = xla.DeviceAssignment.create(
        np.array([[target.id]]))

  def persistent_load(self, pid):
    if pid[0] == "exec":
      options = xla.CompileOptions()
      options.device_assignment = self._assignment
      return self.backend.deserialize_executable(
          pid[1], self.execution_devices, options)
    return super().persistent_load(pid)


def relocate(compiled: jax.stages.Compiled, source, target):
  """`compiled` (a single-device XLA:CPU program on `source`) loaded to run
  on `target`, or None where it cannot be (another platform, a program
  from the persistent cache, or this jaxlib refuses; the caller compiles
  instead)."""
  if (source.platform != "cpu" or target.platform != "cpu"
      or compiled in _FROM_DISK):
    return None
  try:
    serialized = serialize_executable.serialize(compiled)
  except (RuntimeError, ValueError, TypeError, AttributeError) as err:
    log.debug("serializing a program failed (%s); compiling it", err)
    return None
  return load((serialized, source.id), target)


def load(payload, target):
  """A program serialized on the CPU device `payload[1]` (`(serialize(
  compiled), device id)`) loaded for the CPU device `target`, or None where
  this jaxlib refuses. Marked as loaded: its own serialization would lack
  its kernels, so it is never relocated again."""
  (blob, in_tree, out_tree), source_id = payload
  if target.platform != "cpu":
    return None
  try:
    executable, args_info, no_kwargs = _Unpickler(blob, source_id,
                                                  target).load()
    program = jax.stages.Compiled(executable.load(), [],
                                  in_tree.unflatten(args_info), out_tree,
                                  no_kwargs=no_kwargs)
  except (RuntimeError, ValueError, KeyError, TypeError, AttributeError,
          pickle.PickleError) as err:  # a jaxlib that differs: compile
    log.debug("loading a program onto %s failed (%s); compiling it",
              target, err)
    return None
  from_disk(program)
  return program


def find(twin, source, target, store, key):
  """(program, how) for the single device `target` without compiling:
  `twin` (compiled for `source`, or None) relocated, else the copy of `key`
  in `store` (compile/program_store.py, or None); (None, None) where
  neither has it or `target` is None (a program on several devices)."""
  if target is None:
    return None, None
  if twin is not None:
    compiled = relocate(twin, source, target)
    if compiled is not None:
      return compiled, "relocated"
  if store is not None:
    compiled = store.load(key, target)
    if compiled is not None:
      return compiled, "loaded"
  return None, None


def keep(store, key, compiled, device) -> None:
  """Saves `compiled` (compiled here for the single `device`) as `key` in
  `store`; not a program on several devices (`device` None) nor one JAX's
  persistent cache handed back, which cannot be serialized again."""
  if store is not None and device is not None and not loaded(compiled):
    store.save(key, compiled, device)
