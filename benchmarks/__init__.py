"""Speed, memory and accuracy benchmarks against the ``fer`` package: ``python -m benchmarks.run``.

Not part of the test suite; ``tests/benchmarks`` only checks the helpers and that ``--quick`` runs.
"""
