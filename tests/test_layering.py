"""Layers point down only: a module may import its own subpackage, or the
modules and subpackages of a lower layer, never another of its own layer
or one above.

The declared order, lowest first (each layer: the top-level modules and
subpackages of `evojax_nas` in it):

  1. stop: how a process stops (signals), nothing of the package.
  2. files, errors, datasets, fronts: base utilities; plain Python (fronts:
     numpy), no JAX (atomic writes, the config's and the genomes' errors,
     data set names, Pareto fronts).
  3. workdir: an experiment folder's file names and results.json.
  4. genomes: encodings and variation operators (names.py, escape.py:
     JAX-free, for the config).
  5. compile: genome -> network -> compiled programs.
  6. train: data, weight inheritance, checkpoints, the trainer.
  7. model: the exported model, its portable program, the ensemble vote.
  8. strategies: selection (tournament, Pareto, generational).
  9. nasbench: table fitness; its simulated searches use strategies.
  10. config: defaults and validation over the registries below it.
  11. evolution: the algorithm: the loop, the log and the store, replay,
      keys (no subprocesses, signals, Ray or workdir lock).
  12. runs: process control and a run's files: the in-process run,
      workers and Ray, recycling, the workdir lock, sweeps, results,
      TensorBoard writer, retraining.
  13. reports: reading finished or running experiments.
  14. commands: the console subcommands.
  15. main (dispatches to commands) and the package itself
      (`evojax_nas.run`, `evojax_nas.load_model` call into runs).
  16. __main__: `python -m evojax_nas`, which runs main.

Every import counts: at module level, inside functions, and
`importlib.import_module("evojax_nas...")` with a literal or f-string
prefix. No import is exempt (there is no allow-list). README.md's design
notes (docs/design.md) give the same order.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "evojax_nas"
ROOT = PACKAGE.name

LAYERS = (
    ("stop",),
    ("files", "errors", "datasets", "fronts"),
    ("workdir",),
    ("genomes",),
    ("compile",),
    ("train",),
    ("model",),
    ("strategies",),
    ("nasbench",),
    ("config",),
    ("evolution",),
    ("runs",),
    ("reports",),
    ("commands",),
    ("main", ""),  # "": the package's own __init__.py
    ("__main__",),
)


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
  """Dotted module name -> file, for every module of the package."""
  names = {}
  for path in sorted(package.rglob("*.py")):
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
      parts = parts[:-1]
    names[".".join(parts)] = path
  return names


def _import_module_target(node: ast.Call) -> str | None:
  """The module an `importlib.import_module(...)` / `__import__(...)` call
  names, or its literal prefix when it is an f-string; else None."""
  func = node.func
  name = func.attr if isinstance(func, ast.Attribute) else getattr(
      func, "id", None)
  if name not in ("import_module", "__import__") or not node.args:
    return None
  arg = node.args[0]
  if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
    return arg.value
  if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(
      arg.values[0], ast.Constant):
    return str(arg.values[0].value).rstrip(".")
  return None


def imports_of(source: str, name: str, is_package: bool,
               known: set[str]) -> set[str]:
  """The package's modules that `source` (module `name`) imports anywhere."""
  here = name.split(".") if is_package else name.split(".")[:-1]
  found = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(here[:len(here) - node.level + 1] +
                        ([base] if base else []))
      # `from pkg import mod` imports pkg.mod where that is a module.
      targets = [f"{base}.{a.name}" for a in node.names]
      targets = [t for t in targets if t in known] or [base]
    elif isinstance(node, ast.Call):
      target = _import_module_target(node)
      targets = [target] if target else []
    else:
      continue
    for t in targets:
      while t and t not in known:
        t = t.rpartition(".")[0]
      if t and t != name:
        found.add(t)
  return found


def component(module: str) -> str:
  """The layered unit of a module: its top-level module or subpackage
  under the package ("" for the package's __init__)."""
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> int:
  for i, layer in enumerate(LAYERS):
    if component(module) in layer:
      return i
  raise ValueError(f"{module} is in no layer; valid components: "
                   f"{sorted(c for layer in LAYERS for c in layer)}")


def violations(graph: dict[str, set[str]]) -> list[str]:
  """Every import of a module of the same layer (another component) or a
  higher one, as "importer -> imported (layer i -> j)"."""
  out = []
  for importer, targets in sorted(graph.items()):
    for target in sorted(targets):
      if component(importer) == component(target):
        continue
      if layer_of(target) >= layer_of(importer):
        out.append(f"{importer} -> {target} (layer {layer_of(importer) + 1}"
                   f" -> {layer_of(target) + 1})")
  return out


def package_graph() -> dict[str, set[str]]:
  names = module_names()
  known = set(names)
  return {name: imports_of(path.read_text(), name,
                           path.name == "__init__.py", known)
          for name, path in names.items()}


def test_every_module_is_in_a_declared_layer():
  graph = package_graph()
  assert len(graph) > 50
  components = {component(m) for m in graph}
  declared = {c for layer in LAYERS for c in layer}
  assert components <= declared, sorted(components - declared)
  assert not declared - components, sorted(declared - components)


def test_layers_point_down_only():
  found = violations(package_graph())
  assert not found, "upward imports:\n  " + "\n  ".join(found)


def test_the_checker_reports_an_upward_import():
  """A planted upward import in each form is found, so the test can fail."""
  known = {"evojax_nas", "evojax_nas.files", "evojax_nas.config",
           "evojax_nas.genomes", "evojax_nas.genomes.dna",
           "evojax_nas.evolution", "evojax_nas.evolution.loop",
           "evojax_nas.commands", "evojax_nas.commands.run"}
  sources = {
      "top": "from evojax_nas.evolution.loop import make_strategy\n",
      "in_function": "def f():\n  from evojax_nas import config\n",
      "relative": "from ..evolution import loop\n",
      "plain": "import evojax_nas.commands.run\n",
      "importlib": ("import importlib\n"
                   "importlib.import_module('evojax_nas.config')\n"),
      "f_string": ("import importlib\nname = 'run'\n"
                   "importlib.import_module(f'evojax_nas.commands.{name}')\n"),
  }
  for form, source in sources.items():
    graph = {"evojax_nas.genomes.dna": imports_of(
        source, "evojax_nas.genomes.dna", False, known)}
    found = violations(graph)
    assert len(found) == 1 and found[0].startswith(
        "evojax_nas.genomes.dna -> evojax_nas."), (form, found)
  # Down and within a package: no report.
  ok = ("from evojax_nas import files\nfrom evojax_nas.genomes import dna\n"
        "import importlib\nimportlib.import_module('evojax_nas.files')\n")
  assert violations({"evojax_nas.config": imports_of(
      ok, "evojax_nas.config", False, known)}) == []


def test_a_sibling_of_the_same_layer_is_refused():
  graph = {"evojax_nas.files": {"evojax_nas.errors"}}
  assert violations(graph) == [
      "evojax_nas.files -> evojax_nas.errors (layer 2 -> 2)"]


def test_the_planted_file_is_found(tmp_path):
  """The walker over files: a package on disk with one upward import."""
  pkg = tmp_path / "evojax_nas"
  (pkg / "genomes").mkdir(parents=True)
  (pkg / "__init__.py").write_text("")
  (pkg / "config.py").write_text("")
  (pkg / "genomes" / "__init__.py").write_text("")
  (pkg / "genomes" / "dna.py").write_text(
      "def f():\n  import evojax_nas.config\n")
  names = module_names(pkg)
  graph = {n: imports_of(p.read_text(), n, p.name == "__init__.py",
                         set(names)) for n, p in names.items()}
  assert violations(graph) == [
      "evojax_nas.genomes.dna -> evojax_nas.config (layer 4 -> 10)"]


# --- no import cycle (the shared tool's rule, ../shared/tools/import_cycles.py:
# a package importing its own submodules is not a cycle of interest) ---------


def cycle_graph() -> dict[str, set[str]]:
  names = module_names()
  return {name: {t for t in targets if t != name and not (
      names[name].name == "__init__.py" and t.startswith(name + "."))}
          for name, targets in package_graph().items()}


def find_cycle(graph):
  """One import cycle as a list of modules, or None."""
  state = {}

  def visit(v, path):
    state[v] = "open"
    for w in sorted(graph[v]):
      if state.get(w) == "open":
        return path[path.index(w):] + [w]
      if w not in state:
        cycle = visit(w, path + [w])
        if cycle:
          return cycle
    state[v] = "done"
    return None

  for v in sorted(graph):
    if v not in state:
      cycle = visit(v, [v])
      if cycle:
        return cycle
  return None


def test_the_walker_sees_imports_inside_functions():
  graph = package_graph()
  # commands/__init__.py imports these only inside its functions.
  assert {"evojax_nas.genomes.dna", "evojax_nas.train.checkpoints"} <= graph[
      "evojax_nas.commands"]
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c",
                                                              "a"]


def test_no_import_cycle_in_the_package():
  graph = cycle_graph()
  assert len(graph) > 50
  assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_config_loads_without_jax():
  code = ("import sys, evojax_nas.config as c; c.default_config(); "
          "assert 'jax' not in sys.modules, sorted(m for m in sys.modules "
          "if m.startswith(('jax', 'flax')))")
  subprocess.run([sys.executable, "-c", code], check=True,
                 cwd=PACKAGE.parent)
