"""The package's layers: no import cycle anywhere (imports inside functions
count), and the config loads without JAX."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "evojax_nas"


def import_graph() -> dict[str, set[str]]:
  """module -> the package's modules it imports, at any depth of its code."""
  paths = {}
  for path in PACKAGE.rglob("*.py"):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
      parts = parts[:-1]
    paths[".".join(parts)] = path
  graph = {}
  for name, path in paths.items():
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          base = ".".join(here[:len(here) - node.level + 1] +
                          ([base] if base else []))
        targets = [base] + [f"{base}.{a.name}" for a in node.names]
      else:
        continue
      for t in targets:
        while t and t not in paths:
          t = t.rpartition(".")[0]
        # A package importing its own submodules is not a cycle of interest
        # (the shared tool's rule, ../shared/tools/import_cycles.py).
        if t and t != name and not (is_pkg and t.startswith(name + ".")):
          found.add(t)
    graph[name] = found
  return graph


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


def test_the_walker_sees_imports_inside_functions(tmp_path):
  graph = import_graph()
  # commands/__init__.py imports these only inside its functions.
  assert {"evojax_nas.genomes.dna", "evojax_nas.train.checkpoints"} <= graph[
      "evojax_nas.commands"]
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c",
                                                              "a"]


def test_no_import_cycle_in_the_package():
  graph = import_graph()
  assert len(graph) > 50
  assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_config_loads_without_jax():
  code = ("import sys, evojax_nas.config as c; c.default_config(); "
          "assert 'jax' not in sys.modules, sorted(m for m in sys.modules "
          "if m.startswith(('jax', 'flax')))")
  subprocess.run([sys.executable, "-c", code], check=True,
                 cwd=PACKAGE.parent)
