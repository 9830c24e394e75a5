"""TensorBoard event files without TensorFlow: `tensorboard --logdir DIR`.

An event file is a TFRecord stream of `Event` protocol buffers; for scalars
only a handful of fields are needed (wall_time, step, summary.value{tag,
simple_value}), so they are encoded here directly rather than pulling in
TensorFlow or a protobuf dependency. Records are CRC32C-checksummed as the
format requires.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path


def _crc32c_table():
  table = []
  for i in range(256):
    c = i
    for _ in range(8):
      c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    table.append(c)
  return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  c = 0xFFFFFFFF
  for b in data:
    c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
  return c ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
  out = bytearray()
  while True:
    byte, n = n & 0x7F, n >> 7
    out.append(byte | (0x80 if n else 0))
    if not n:
      return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
  return _varint(number << 3 | wire) + payload


def _bytes_field(number: int, data: bytes) -> bytes:
  return _field(number, 2, _varint(len(data)) + data)


def _event(wall_time: float, step: int, body: bytes) -> bytes:
  return (_field(1, 1, struct.pack("<d", wall_time)) +
          _field(2, 0, _varint(step)) + body)


def _scalars(values: dict[str, float]) -> bytes:
  summary = b"".join(
      _bytes_field(1, _bytes_field(1, tag.encode()) +
                   _field(2, 5, struct.pack("<f", float(v))))
      for tag, v in values.items())
  return _bytes_field(5, summary)


class SummaryWriter:
  """Appends scalar events to `<logdir>/events.out.tfevents.<time>.<host>`."""

  def __init__(self, logdir: str | Path):
    self.logdir = Path(logdir)
    self.logdir.mkdir(parents=True, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
    self.path = self.logdir / name
    self._file = open(self.path, "ab")
    self._write(_event(time.time(), 0, _field(3, 2, _varint(len(
        b"brain.Event:2")) + b"brain.Event:2")))  # file_version

  def _write(self, record: bytes):
    header = struct.pack("<Q", len(record))
    self._file.write(header + struct.pack("<I", _masked(crc32c(header))) +
                     record + struct.pack("<I", _masked(crc32c(record))))

  def scalars(self, step: int, values: dict[str, float],
              wall_time: float | None = None):
    self._write(_event(time.time() if wall_time is None else wall_time,
                       int(step), _scalars(values)))
    self._file.flush()

  def close(self):
    self._file.flush()
    os.fsync(self._file.fileno())
    self._file.close()
