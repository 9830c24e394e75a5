"""Package names resolved on first use (PEP 562), so that a package's light
modules load without what its heavy ones import (JAX)."""

import importlib


def exports(package: str, names: dict[str, str]):
  """A module `__getattr__` serving `names` (name -> submodule)."""

  def __getattr__(name):  # pylint: disable=invalid-name
    if name not in names:
      raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
  return __getattr__
