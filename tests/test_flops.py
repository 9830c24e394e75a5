"""The analytic FLOP counter against XLA's cost analysis, and the command."""

import json

import pytest

from evojax_nas.commands import flops as flops_cmd
from evojax_nas.genomes.dna import conv_chain, trivial
from evojax_nas.genomes.genetic_cnn import GeneticCNN
from evojax_nas.genomes.nb201 import Cell


GENOMES = {
    "trivial": trivial(),
    "one_conv": conv_chain([16], [1]),
    "demo_like": conv_chain([11, 60, 30], [2, 1, 1], skips=[(1, 5)]),
    "deep": conv_chain([32, 64, 128], [1, 2, 2]),
    "genetic_cnn": GeneticCNN.from_code("1-01 0-01-111 0-11-010-0111"),
    "nb201": Cell((3, 3, 4, 1, 3, 1), channels=8, cells_per_stage=1),
}


@pytest.mark.parametrize("name", sorted(GENOMES))
def test_analytic_flops_within_15_percent_of_xla(name):
  r = flops_cmd.report(GENOMES[name], batch_size=8)
  for program in ("forward_image", "train_step", "eval_batch"):
    # XLA counts only the unpadded taps of SAME convolutions (fewer), and
    # prices some elementwise ops (exp, rsqrt, division) differently.
    assert 0.85 <= r[program]["xla_over_analytic"] <= 1.15, (program, r)


def test_flops_command_reads_results_json(tmp_path, capsys):
  path = tmp_path / "results.json"
  path.write_text(json.dumps({"best": {"genome": GENOMES["one_conv"].to_json()}}))
  assert flops_cmd.main(["--genome", str(path), "--json"]) == 0
  r = json.loads(capsys.readouterr().out)
  # 3x3 conv, 3 -> 16 channels at 32x32: 2 * 1024 * 16 * 27 MAC-FLOPs.
  assert r["forward_image"]["by_kind"]["conv"] == 2 * 1024 * 16 * 27
  bad = tmp_path / "bad.json"
  bad.write_text("{")
  assert flops_cmd.main(["--genome", str(bad)]) == 2
  assert "cannot read a genome" in capsys.readouterr().err
