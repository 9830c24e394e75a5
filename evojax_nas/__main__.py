"""`python -m evojax_nas` is `python -m evojax_nas.main`."""

from evojax_nas.main import run_main

run_main()
