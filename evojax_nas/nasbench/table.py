"""The NAS-Bench-201 table: reward, test accuracy and simulated cost per cell.

Arrays are indexed by `Cell.code` (all 15,625 cells), so a jitted search looks
a cell up with one gather. Sources: the compact CSV shipped in
`shared/data/nasbench201/` (columns in its README) or, for users who have the
official files, the `nats_bench` API (`Table.from_nats_bench`).

The benchmark's protocol (Dong & Yang 2020): the search reads the 12-epoch
validation accuracy; each evaluation costs the simulated time of that
12-epoch training; the architecture chosen by validation is reported with
its 200-epoch test accuracy.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from evojax_nas.genomes.nb201 import NUM_CELLS, Cell
from evojax_nas.nasbench.costs import cell_costs


class TableError(ValueError):
  """A missing, malformed or incomplete benchmark table."""


@dataclasses.dataclass(frozen=True)
class _Columns:
  prefix: str
  epoch_factor: float   # simulated cost = epoch_factor * t_epoch
  valid_factor: float   #                + valid_factor * t_valid


# Simulated cost of one 12-epoch evaluation in units of the cifar10-valid
# run's epoch and validation pass (25,000 32×32 images each). CIFAR-10 and
# CIFAR-100 as the benchmark's API computes it. ImageNet16-120: 151,700
# training images of 16×16, a quarter of the compute per image, so
# 12 × 151,700 / 25,000 / 4 = 18.204 epochs, and a validation pass over
# 3,000 images, 3,000 / 25,000 / 4 = 0.03 (was 72.816 and 0.12, as if its
# images were 32×32).
DATASETS = {
    "cifar10": _Columns("c10", 12.0, 1.0),
    "cifar100": _Columns("c100", 24.0, 0.2),
    "imagenet16-120": _Columns("in", 18.204, 0.03),
}
# Classes and image size per data set: what the networks' costs depend on.
SHAPES = {"cifar10": (10, 32), "cifar100": (100, 32),
          "imagenet16-120": (120, 16)}


@dataclasses.dataclass(frozen=True)
class Table:
  """Per-cell arrays, index = `Cell.code`; accuracies in %."""
  dataset: str
  val12: np.ndarray    # search reward
  test200: np.ndarray  # reported accuracy
  cost: np.ndarray     # simulated seconds of one evaluation
  index: np.ndarray    # the benchmark's own architecture index

  def costs(self) -> dict[str, np.ndarray]:
    """Per cell, MFLOPs and millions of parameters of its network on this
    data set (costs.py: counted from the jaxpr as the benchmark counts)."""
    return cell_costs(*SHAPES[self.dataset])

  @property
  def best_test(self) -> float:
    return float(self.test200.max())

  def cell_row(self, cell: Cell) -> dict:
    c = cell.code
    return {"arch": cell.arch_str(), "index": int(self.index[c]),
            "val12": float(self.val12[c]), "test200": float(self.test200[c]),
            "cost_s": float(self.cost[c])}

  @classmethod
  def from_csv(cls, path: str | Path, dataset: str) -> "Table":
    if dataset not in DATASETS:
      raise TableError(f"unknown data set {dataset!r}; valid choices: "
                       f"{sorted(DATASETS)}")
    path = Path(path)
    if not path.is_file():
      raise TableError(f"NAS-Bench-201 table {path} not found; pass --table "
                       "with the CSV (e.g. shared/data/nasbench201/"
                       "nb201_cifar.csv)")
    cols = DATASETS[dataset]
    with path.open(newline="") as f:
      reader = csv.DictReader(f)
      fields = set(reader.fieldnames or ())
      # ImageNet16-120 may carry its own times; otherwise the shared ones.
      t_epoch = next((c for c in (f"{cols.prefix}_t_epoch", "t_epoch_c10v")
                      if c in fields), None)
      t_valid = next((c for c in (f"{cols.prefix}_t_valid", "t_valid_c10v")
                      if c in fields), None)
      need = {"arch", "idx", f"{cols.prefix}_val12", f"{cols.prefix}_test200"}
      missing = sorted(need - fields) + ([] if t_epoch and t_valid else
                                         ["t_epoch_c10v/t_valid_c10v"])
      if missing:
        raise TableError(f"{path} has no column(s) {missing} for data set "
                         f"{dataset!r}; columns: {sorted(fields)}")
      arrays = {k: np.full(NUM_CELLS, np.nan) for k in
                ("val12", "test200", "cost", "index")}
      for n, row in enumerate(reader, 2):
        try:
          code = Cell.from_arch_str(row["arch"]).code
          arrays["val12"][code] = float(row[f"{cols.prefix}_val12"])
          arrays["test200"][code] = float(row[f"{cols.prefix}_test200"])
          arrays["cost"][code] = (cols.epoch_factor * float(row[t_epoch])
                                  + cols.valid_factor * float(row[t_valid]))
          arrays["index"][code] = int(row["idx"])
        except (ValueError, TypeError) as err:
          raise TableError(f"{path}:{n}: {err}") from None
    absent = int(np.isnan(arrays["val12"]).sum())
    if absent:
      raise TableError(f"{path} lacks {absent} of the {NUM_CELLS} cells for "
                       f"{dataset!r}; the table must cover the whole space")
    return cls(dataset=dataset,
               val12=arrays["val12"].astype(np.float32),
               test200=arrays["test200"].astype(np.float32),
               cost=arrays["cost"].astype(np.float32),
               index=arrays["index"].astype(np.int32))

  @classmethod
  def from_nats_bench(cls, path: str | None, dataset: str) -> "Table":
    """The same arrays from the official NATS-Bench topology files via the
    `nats_bench` package (`pip install nats_bench`; files from its README).
    CIFAR-10 searches read the `cifar10-valid` split, as the benchmark's own
    REA script does; test accuracy is the 200-epoch `cifar10` number."""
    try:
      from nats_bench import create  # pylint: disable=import-outside-toplevel
    except ImportError:
      raise TableError("the nats_bench package is not installed; pip install "
                       "nats_bench, or use the CSV table") from None
    name = {"cifar10": "cifar10", "cifar100": "cifar100",
            "imagenet16-120": "ImageNet16-120"}[dataset]
    search = "cifar10-valid" if dataset == "cifar10" else name
    api = create(path, "tss", fast_mode=True, verbose=False)
    arrays = {k: np.zeros(NUM_CELLS) for k in ("val12", "test200", "cost",
                                                "index")}
    for idx in range(len(api)):
      code = Cell.from_arch_str(api.arch(idx)).code
      info = api.get_more_info(idx, search, hp="12", is_random=False)
      arrays["val12"][code] = info["valid-accuracy"]
      arrays["cost"][code] = info["train-all-time"] + info["valid-per-time"]
      arrays["test200"][code] = api.get_more_info(
          idx, name, hp="200", is_random=False)["test-accuracy"]
      arrays["index"][code] = idx
    return cls(dataset=dataset, val12=arrays["val12"].astype(np.float32),
               test200=arrays["test200"].astype(np.float32),
               cost=arrays["cost"].astype(np.float32),
               index=arrays["index"].astype(np.int32))


def load_table(source: str, dataset: str) -> Table:
  """A CSV path, or `nats_bench:<dir>` for the official benchmark files."""
  if source.startswith("nats_bench:"):
    return Table.from_nats_bench(source.split(":", 1)[1] or None, dataset)
  return Table.from_csv(source, dataset)
