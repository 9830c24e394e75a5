"""The data sets by name and the variables naming their folders: plain
Python, so that the config validates `data.name` without the loaders
(train/data.py reads them from here)."""

from __future__ import annotations

import dataclasses

DATA_DIR_ENV = "EVOJAX_NAS_DATA_DIR"
CACHE_DIR_ENV = "EVOJAX_NAS_CACHE"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  name: str
  num_classes: int
  python_archive: str
  python_folder: str
  tfds_name: str


DATASETS = {
    "cifar10": DatasetInfo("cifar10", 10, "cifar-10-python.tar.gz",
                           "cifar-10-batches-py", "cifar10"),
    "cifar100": DatasetInfo("cifar100", 100, "cifar-100-python.tar.gz",
                            "cifar-100-python", "cifar100"),
}


def dataset_info(name: str) -> DatasetInfo:
  if name not in DATASETS:
    raise ValueError(f"unknown data set {name!r}; valid choices: "
                     f"{sorted(DATASETS)}")
  return DATASETS[name]
