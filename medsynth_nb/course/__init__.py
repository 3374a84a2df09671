"""Course tooling: running chapter notebooks headless (``notebook_runner``), the results
record that chapter runs and benchmarks write, from which ``docs/results.md`` is generated
(``results``), a chapter's conclusions checked on its run (``claims``), the with-solutions
copy of a chapter (``solutions``), the course website (``site``), the static form of an
executed chapter's widgets for its pages (``static_widgets``) and what one student's seat on a
course hub needs (``seats``)."""
__all__ = ["claims", "notebook_runner", "results", "seats", "site", "solutions", "static_widgets"]
