"""Batch inference over archives of photos and videos on Ray Data: ``python -m batch INPUT... --out DIR``.

The same pipeline as ``python -m core predict`` and ``core video`` (it uses :mod:`core`, never
``app``), spread over an actor pool on a local Ray or a cluster, writing one Parquet dataset.
Ray is imported only when a job runs, and only by :mod:`batch.job`.
"""
