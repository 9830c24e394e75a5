"""Evolution: the algorithm — the individual (individual.py), every birth
as a pure function of a population snapshot (birth.py), the reproduction
loop that schedules them on its two population backends (the event log,
the shared store), budgets, the named key streams, replaying the log into
individuals, the crash-safety invariants and the progress line. No subprocesses, signals, Ray or workdir lock: those are
runs/, which drives this package and which it never imports.

The package re-exports nothing: import from its modules
(`evojax_nas.evolution.loop.SteadyState`).
"""
