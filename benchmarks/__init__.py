"""``make bench``: realistic comments through the real stack (API, workers, Redis, the
database), measured as a publisher sees them, beside the raw model on the same texts.

Modules: ``corpus`` (the comments), ``stack`` (the processes), ``database`` (a fresh one per
stack), ``client`` (the publisher's HTTP calls), ``tracker`` (when each comment was decided),
``measure`` (the measurements), ``memory`` (peak RSS), ``raw`` (one MiniLM pass),
``suite`` (one run), ``report`` (table, JSON, PNG). Figures are compared within one run,
never promised in tests.
"""

from benchmarks.suite import Options, run_suite

__all__ = ["Options", "run_suite"]
