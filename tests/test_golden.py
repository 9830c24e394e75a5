"""Golden trajectories: for a given seed the in-process run makes exactly
the choices it made when these lists were recorded (before the in-process
run and the workers became one loop, issue 12).

Fitness is a fixed function of each genome's signature instead of real
training, so the recorded choices depend only on the loop (selection, kills,
mutations, keys, budgets), never on the CPU's floating-point arithmetic.
Re-record (only after a deliberate change of the science) with
`EVOJAX_NAS_RECORD_GOLDEN=1 pytest tests/test_golden.py`.
"""

import json
import os
from pathlib import Path

import pytest

from evojax_nas.runs.dispatch import run

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "tournament": {},
    # Recorded with the sample drawn without replacement (the only kind
    # then); `aging_with_replacement` recorded when it became the default.
    "aging": {"strategy": "aging", "sample_replacement": "without"},
    "aging_with_replacement": {"strategy": "aging"},
    "section5": {"recombination.mode": "mutation_probabilities",
                 "recombination.probability": 0.7,
                 "escape.mutation_rate_schedule": "6-9:3",
                 "escape.reset_population_at": (8,)},
}


def trajectory(workdir: Path) -> dict:
  events = [json.loads(line) for line in
            (workdir / "events.jsonl").read_text().splitlines()]
  return {"born": [[e["id"], e["parent"], e.get("partner"), e["mutation"],
                    e["signature"]]
                   for e in events if e["event"] == "born"],
          "killed": [[e["id"], e["reason"]] for e in events
                     if e["event"] == "killed"],
          "trained": [e["id"] for e in events if e["event"] == "trained"]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_in_process_run_makes_the_recorded_choices(
    case, tiny_config, fitness_from_signature, tmp_path):
  del fitness_from_signature
  c = tiny_config
  c.population_size = 4
  c.max_individuals = 16
  c.tensorboard = False
  for k, v in CASES[case].items():
    section, _, name = k.rpartition(".")
    setattr(c[section] if section else c, name, v)
  run(c, tmp_path / "wd")
  got = trajectory(tmp_path / "wd")
  path = GOLDEN / f"{case}.json"
  if os.environ.get("EVOJAX_NAS_RECORD_GOLDEN"):
    path.write_text("{\n" + ",\n".join(
        f'"{k}": [\n' + ",\n".join(json.dumps(x) for x in v) + "\n]"
        for k, v in got.items()) + "\n}\n")
  assert got == json.loads(path.read_text())
