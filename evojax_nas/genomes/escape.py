"""Section 5 of Real et al. (2017), as the reproduction loop applies it: a
period of raised mutation rate ("START-END:COUNT,...") and population-wide
weight resets (evolution/loop.py). Plain Python in genomes, below the
config, which validates schedules with it without importing JAX."""

from __future__ import annotations


def parse_schedule(spec: str) -> list[tuple[int, int, int]]:
  """"START-END:COUNT,..." -> [(start, end, count)]: births with ids in
  [start, end) get `count` mutations. ValueError says what is wrong."""
  periods = []
  for part in filter(None, (p.strip() for p in spec.split(","))):
    try:
      span, count = part.split(":")
      start, end = span.split("-")
      period = (int(start), int(end), int(count))
    except ValueError:
      raise ValueError(f"bad period {part!r}: write START-END:COUNT, e.g. "
                       "'200-300:5'") from None
    if not (0 <= period[0] < period[1] and period[2] >= 1):
      raise ValueError(f"bad period {part!r}: need 0 <= START < END and "
                       "COUNT >= 1")
    periods.append(period)
  return periods


def mutations_for(ident: int, periods, default: int) -> int:
  """How many mutations child `ident` gets."""
  for start, end, count in periods:
    if start <= ident < end:
      return count
  return default
