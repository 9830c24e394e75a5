"""Subcommands of the `evojax_nas` console script besides running an
experiment: `evojax_nas flops --genome FILE`."""
