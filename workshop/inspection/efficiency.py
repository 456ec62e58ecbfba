"""dive's three CI measures of an image, as dive defines them, and its rules done right.

The definitions, from dive's source (github.com/wagoodman/dive, filetree/efficiency.go and the
image analysis that uses it):

- Every leaf of every layer (a file, an empty folder, a whiteout) is a node of its path. A
  whiteout's size is that of the folder it deletes in the layers below (0 for a deleted file).
- **efficiency** = Σ over paths of the smallest size seen / Σ over paths of all sizes seen
  (1.0 when there is nothing).
- **wasted bytes** = Σ, over the paths seen in two or more layers, of all their sizes.
- **user wasted percent** = wasted bytes / the bytes of every layer but the first.

And its rules (runtime/ci/rules.go): `lowestEfficiency` fails when efficiency is below it;
`highestWastedBytes` when wasted bytes are above it; `highestUserWastedPercent` when the
percent is above it.

Done right here: a layer's bytes are the bytes of its files on either image store (dive takes
`docker history`'s, which count disk blocks on the containerd store). The percent rule has a
floor: at or under `wasted_floor` wasted bytes it passes, since a small image that rewrites one
small file of its base is not wasteful though its percent is huge. And a single-layer image
has a defined percent: its one layer is its own (FROM scratch), so the percent is wasted bytes
over it, 0 (dive divides 0 by 0, and the rule can never fail).
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from workshop.inspection.layers import OPAQUE, WHITEOUT, Layer

__all__ = ["Measures", "measure"]


@dataclass(frozen=True)
class Measures:
    layers: int
    efficiency: float
    wasted_bytes: int
    user_bytes: int
    # dive's, NaN or inf where its division has no user bytes.
    dive_user_wasted_percent: float
    # The largest wasted paths: (path, how many layers hold it, their bytes).
    wasted_paths: tuple[tuple[str, int, int], ...]

    @property
    def user_wasted_percent(self) -> float:
        """The percent with a defined answer for a single-layer image (its one layer is its own)."""
        if self.layers <= 1:
            return 0.0 if not self.wasted_bytes else math.inf
        return self.dive_user_wasted_percent


def measure(layers: Sequence[Layer], *, top: int = 10) -> Measures:
    seen: dict[str, list[int]] = {}  # path -> [nodes, cumulative, smallest]
    stacked: dict[str, tuple[int, str]] = {}  # path -> (size, kind), the layers so far
    for layer in layers:
        parents = {posixpath.dirname(entry.path) for entry in layer.entries}
        for entry in layer.entries:
            folder, name = posixpath.split(entry.path)
            if name == OPAQUE:
                continue
            if name.startswith(WHITEOUT):
                path = posixpath.join(folder, name.removeprefix(WHITEOUT))
                size = _folder_bytes(stacked, path)
            elif entry.kind == "dir" and entry.path in parents:
                continue  # not a leaf: it has entries of its own in this layer
            else:
                path, size = entry.path, entry.size
            counts = seen.setdefault(path, [0, 0, size])
            counts[0] += 1
            counts[1] += size
            counts[2] = min(counts[2], size)
        for path in layer.deleted():
            for each in [p for p in stacked if p == path or p.startswith(path + "/")]:
                del stacked[each]
        for entry in layer.entries:
            if not posixpath.basename(entry.path).startswith(WHITEOUT):
                stacked[entry.path] = (entry.size, entry.kind)
    discovered = sum(counts[1] for counts in seen.values())
    smallest = sum(counts[2] for counts in seen.values())
    repeated = sorted(
        ((path, counts[0], counts[1]) for path, counts in seen.items() if counts[0] >= 2),
        key=lambda each: -each[2],
    )
    wasted = sum(each[2] for each in repeated)
    user = sum(layer.size for layer in layers[1:])
    return Measures(
        layers=len(layers),
        efficiency=smallest / discovered if discovered else 1.0,
        wasted_bytes=wasted,
        user_bytes=user,
        dive_user_wasted_percent=_divide(wasted, user),
        wasted_paths=tuple(repeated[:top]),
    )


def _folder_bytes(stacked: dict[str, tuple[int, str]], path: str) -> int:
    """What a whiteout of `path` deletes, as dive counts it: a folder's bytes; 0 for a file."""
    if stacked.get(path, (0, ""))[1] != "dir":
        return 0
    return sum(size for each, (size, _) in stacked.items() if each.startswith(path + "/"))


def _divide(part: int, whole: int) -> float:
    if whole:
        return part / whole
    return math.nan if not part else math.inf
