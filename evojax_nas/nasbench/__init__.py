"""NAS-Bench-201 as a fitness back end: table look-ups instead of training."""

from evojax_nas.nasbench.table import DATASETS, Table, TableError, load_table

__all__ = ["DATASETS", "Table", "TableError", "load_table"]
