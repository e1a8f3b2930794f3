"""Settings every test shares.

Hypothesis's per-example deadline (200 ms) measures the machine's load, not the code: on CI's two
cores, with servers and browsers running beside, a slow example is not a failure. Speed is measured in
`make bench`, never here.
"""

from hypothesis import settings

settings.register_profile("gridsync", deadline=None)
settings.load_profile("gridsync")
