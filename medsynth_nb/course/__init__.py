"""Course tooling: running chapter notebooks headless (``notebook_runner``) and the results
record that chapter runs and benchmarks write, from which ``docs/results.md`` is generated
(``results``)."""
__all__ = ["notebook_runner", "results"]
