"""`make bench`: how fast gridsync is, as ratios against the raw limits of the same machine.

Run as `python -m bench` (see `bench/__main__.py`). Every figure is printed beside a baseline measured
in the same run on the same disk, so a slow or noisy machine moves both. Nothing here asserts a time:
the tests prove correctness, the bench reports speed (docs/performance.md).
"""
