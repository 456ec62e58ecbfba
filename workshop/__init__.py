"""The 'Multi-stage Image Build' workshop as code: build, run, measure and log each step.

Modules are imported where they are used, so that `invoke --list` stays quick.
"""

__version__ = "0.1.0"

# The label every image this project builds carries; `invoke clean` removes by it.
LABEL = "io.github.multi-stage-workshop"
# On a step's image: its step, and the tag prefix of the configuration that built it.
STEP_LABEL = f"{LABEL}.step"
PREFIX_LABEL = f"{LABEL}.prefix"
