"""TensorBoard scalars without TensorFlow: `tensorboard --logdir DIR`.

The event files are written by tensorboardX, a maintained writer of the
format (the TFRecord stream of `Event` protocol buffers with its CRC32C
checksums) that needs neither TensorFlow nor PyTorch; this class only
names what the experiment logs: a dict of scalars per trained individual.
"""

from __future__ import annotations

from pathlib import Path

import tensorboardX


class SummaryWriter:
  """Appends scalar events to `<logdir>/events.out.tfevents.<time>.<host>`."""

  def __init__(self, logdir: str | Path):
    self.logdir = Path(logdir)
    self.logdir.mkdir(parents=True, exist_ok=True)
    self._writer = tensorboardX.SummaryWriter(str(self.logdir))

  def scalars(self, step: int, values: dict[str, float],
              wall_time: float | None = None):
    """One point per tag at `step`, on disk when this returns."""
    for tag, value in values.items():
      self._writer.add_scalar(tag, float(value), int(step),
                              walltime=wall_time)
    self._writer.flush()

  def close(self):
    self._writer.close()
