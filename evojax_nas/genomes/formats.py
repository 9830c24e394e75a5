"""Any genome of the engine from its JSON, dispatched on its "format".

Plain Python, no JAX: the log's check, the report and the exported model
read genomes through here.
"""

from __future__ import annotations

from typing import Any

from evojax_nas.genomes import genetic_cnn, nb201
from evojax_nas.genomes.dna import DNA, FORMAT as DNA_FORMAT, GenomeError

READERS = {DNA_FORMAT: DNA.from_json,
           genetic_cnn.FORMAT: genetic_cnn.GeneticCNN.from_json,
           nb201.FORMAT: nb201.Cell.from_json}


def genome_from_json(obj: Any):
  """The genome `obj` describes; GenomeError naming the known formats.
  A DNA's JSON may omit its format (logs from before it had one)."""
  fmt = obj.get("format", DNA_FORMAT) if isinstance(obj, dict) else DNA_FORMAT
  if fmt not in READERS:
    raise GenomeError(f"unknown genome format {fmt!r}; known: "
                      f"{list(READERS)}")
  return READERS[fmt](obj)
