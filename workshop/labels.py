"""The labels this project puts on what it makes; `invoke clean` and the tests remove by them."""

from __future__ import annotations

__all__ = ["LABEL", "PREFIX_LABEL", "STEP_LABEL"]

# The label every image this project builds carries.
LABEL = "io.github.multi-stage-workshop"
# On a step's image: its step, and the tag prefix of the configuration that built it.
STEP_LABEL = f"{LABEL}.step"
PREFIX_LABEL = f"{LABEL}.prefix"
