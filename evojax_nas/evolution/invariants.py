"""What crash safety promises of a finished steady-state run, checked on its
events (the event log, or the population store's records as events): the
one checker of the fault-injection command (runs/faults.py) and the tests."""

from __future__ import annotations


def check_events(events: list[dict], population_size: int,
                 num_workers: int = 0, max_individuals: int = 0) -> dict:
  """Every individual born once, trained once and dead at most once, none
  dead untrained; alive + in training never above `population_size` (plus
  one birth per extra worker racing another) and exactly `population_size`
  alive at the end; `max_individuals` trained if given. AssertionError
  naming the first promise broken; else counts of what was found."""
  counts = {k: {} for k in ("born", "trained", "killed")}
  size = max_size = 0
  for i, e in enumerate(events):
    kind = e["event"]
    if kind in counts:
      counts[kind][e["id"]] = counts[kind].get(e["id"], 0) + 1
    size += {"born": 1, "killed": -1}.get(kind, 0)
    # Measured after each instant, not each event: a replacement's kill and
    # birth share its snapshot's time, and the store orders equal times
    # born first (store.py), which would count every replacement one over.
    if i + 1 == len(events) or events[i + 1].get("t") != e.get("t"):
      max_size = max(max_size, size)
  for kind in counts:
    over = sorted(i for i, n in counts[kind].items() if n > 1)
    assert not over, f"individuals {over} {kind} more than once"
  born, trained, killed = (set(counts[k]) for k in ("born", "trained",
                                                     "killed"))
  assert trained == born, (
      f"individuals {sorted(born - trained)} born but never trained")
  assert killed <= trained, (
      f"individuals {sorted(killed - trained)} killed untrained")
  limit = population_size + max(num_workers, 1) - 1
  assert max_size <= limit, (
      f"population reached {max_size} > {limit} (population_size + workers "
      "- 1)")
  assert size == population_size, (
      f"population ends at {size}, not {population_size}")
  if max_individuals:
    assert len(trained) == max_individuals, (
        f"{len(trained)} trained, budget {max_individuals}")
  return {"born": len(born), "trained": len(trained), "killed": len(killed),
          "max_population": max_size, "final_population": size,
          "alive": sorted(trained - killed)}
