"""The same digest twice: where two clean builds of one Dockerfile give one image id.

A build stamps times into an image: the config's creation time and each history entry's, and
each file's modification time in the layers. With BuildKit, SOURCE_DATE_EPOCH sets the first two
and the exporter's `rewrite-timestamp` the third; the Go toolchain's output is the same from the
same source already. What holds where, measured here with go-smaller built twice with no cache:

- Docker 20.10 (BuildKit 0.8), either builder: the creation times differ. SOURCE_DATE_EPOCH
  came with BuildKit 0.11 (Docker 23), rewrite-timestamp with 0.13 (Docker 26).
- Docker 28.5, classic image store, BuildKit: the config is the same, but the docker exporter
  (`--load`) keeps each file's time and the classic store can't take BuildKit's OCI export, so
  the layer differs.
- Docker 28.5, containerd image store, BuildKit: the same image id twice, exporting OCI with
  rewrite-timestamp and no provenance (its build time is in it) and loading that.
- The legacy builder, anywhere: it stamps the time of the build.
"""

from __future__ import annotations

import re

from workshop.engine.values import CONTAINERD, DOCKER_ENGINE, PODMAN

__all__ = ["REWRITE_SINCE", "why_built_once", "why_not_reproducible"]

# Docker 26 is the first to ship BuildKit 0.13, whose exporters take rewrite-timestamp.
REWRITE_SINCE = 26


def why_not_reproducible(
    engine_version: str, image_store: str, *, buildx: bool = True, product: str = DOCKER_ENGINE
) -> str:
    """Why two clean builds can't give one image id on this engine; "" where they can.
    `buildx`: whether the docker CLI's buildx plugin is installed, which BuildKit needs."""
    if product == PODMAN:
        return (
            f"Podman {engine_version} builds with Buildah, not BuildKit, and its Docker API "
            "takes neither SOURCE_DATE_EPOCH nor rewrite-timestamp"
        )
    major = re.match(r"\d+", engine_version)
    if major is None or int(major.group()) < REWRITE_SINCE:
        return (
            f"Docker {engine_version}'s BuildKit stamps each build with its own time "
            f"(rewrite-timestamp came with Docker {REWRITE_SINCE})"
        )
    if image_store != CONTAINERD:
        return (
            "the classic image store keeps each file's time as the build made it (it can't "
            "load BuildKit's rewritten OCI export); the containerd image store can"
        )
    if not buildx:
        return (
            "the docker CLI's buildx plugin, which BuildKit needs, is not installed here "
            "(Debian packages it as docker-buildx)"
        )
    return ""


def why_built_once(engine_version: str, image_store: str, product: str = DOCKER_ENGINE) -> str:
    """Why a step that builds twice was built once, read from its record: the engine's reason,
    or, where the engine could have, the buildx plugin that was missing."""
    return why_not_reproducible(engine_version, image_store, product=product) or (
        "the buildx plugin, which BuildKit needs, was not installed where it was built"
    )
