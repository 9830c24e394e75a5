"""`WORKDIR/data.json`: what the experiment's data is.

Written when the data first loads: the digest of the decoded images and
labels (train/data.py; the same wherever a copy lies), where it came from,
its class names and input statistics. A resume on data with another digest
is refused in one line (a copy with swapped labels would otherwise be ranked
against the old individuals), unless the user says it is the same data
(`data.same_as_recorded`, e.g. re-encoded); that digest is then accepted
from then on. The class names and statistics also let a kept checkpoint be
loaded before the run has exported its model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from evojax_nas import files
from evojax_nas.config import ConfigError
from evojax_nas.workdir import DATA, read_record

log = logging.getLogger("evojax_nas")


def describe(dataset) -> dict:
  """The record of a loaded `train.data.Dataset`."""
  return {"name": dataset.name, "digest": dataset.digest,
          "source": dataset.source, "class_names": list(dataset.class_names),
          "mean": [float(x) for x in dataset.mean],
          "std": [float(x) for x in dataset.std],
          "image_shape": list(dataset.train_images.shape[1:]),
          "sizes": {"train": int(len(dataset.train_labels)),
                    "val": int(len(dataset.val_labels)),
                    "test": int(len(dataset.test_labels))},
          "accepted": []}


def read(workdir: str | Path) -> dict | None:
  """The record, or None if the experiment has none (yet, or from before
  records); ConfigError if it does not parse."""
  return read_record(Path(workdir) / DATA, "restore it, or delete it to "
                     "record the data of the next start")


def check(workdir: str | Path, dataset, same_as_recorded: bool = False,
          record: bool = True) -> None:
  """Refuses `dataset` if it is not the data `workdir` recorded; records
  it where nothing is recorded yet (and `record`)."""
  path = Path(workdir) / DATA
  old = read(workdir)
  if old is None:
    if record:
      files.write_atomic(path, json.dumps(describe(dataset), indent=1))
    return
  known = {old.get("digest"), *(a["digest"] for a in old.get("accepted", []))}
  if dataset.digest in known:
    return
  if not same_as_recorded:
    raise ConfigError(
        f"the data in {dataset.source} is not the data this experiment "
        f"started on ({old.get('source')}, recorded in {path}: other images "
        "or labels); point data.dir at that data, or pass "
        "--config.data.same_as_recorded=True if it is the same data set "
        "(moved or re-encoded)")
  log.warning("data in %s differs from the recorded %s; taken as the same "
              "data set (data.same_as_recorded)", dataset.source,
              old.get("source"))
  if record:
    old.setdefault("accepted", []).append(
        {"digest": dataset.digest, "source": dataset.source})
    files.write_atomic(path, json.dumps(old, indent=1))
