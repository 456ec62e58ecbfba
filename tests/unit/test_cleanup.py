"""`invoke clean` on the fake engine: only this configuration's names, nothing in use, nothing
of another prefix's; leftover containers of this project only."""

from __future__ import annotations

import os
import socket
import time

from tests.support.fakeengine import FakeEngine
from tests.support.rendering import render
from workshop.engine.values import OWNER_LABEL, ContainerInfo
from workshop.labels import LABEL, PREFIX_LABEL
from workshop.steps.cleanup import clean_images, remove_leftover_containers


def engine_with_images() -> FakeEngine:
    engine = FakeEngine()
    for created, (reference, labels) in enumerate(
        [
            ("workshop-base/golang:1.19-busybox", {LABEL: "base"}),
            ("", {LABEL: "base"}),  # a build stage the legacy builder left, the label inherited
            ("hunt-go-big", {LABEL: "step", PREFIX_LABEL: "hunt-"}),
            ("", {LABEL: "step", PREFIX_LABEL: "hunt-"}),  # a build of ours that failed its check
            ("", {LABEL: "step", PREFIX_LABEL: "other-"}),  # another prefix's
            ("other-go-smaller", {LABEL: "step", PREFIX_LABEL: "other-"}),
            ("hunt-go-big-but-not-ours", {LABEL: "step", PREFIX_LABEL: "hunt-"}),
            ("someone-elses-image", {}),
        ]
    ):
        engine.add(reference, labels=labels, created=f"2026-11-28T08:0{created}:00Z")
    return engine


def names(engine: FakeEngine, ids: list[str]) -> list[str]:
    return [image_id[-2:] for image_id in ids]


def test_clean_removes_only_its_own_prefix_newest_first() -> None:
    engine = engine_with_images()
    before = dict(engine.images)
    cleaned = clean_images(engine, prefix="hunt-", bases=False)
    assert [before[image_id].tags for image_id in engine.removed] == [(), ("hunt-go-big:latest",)]
    assert cleaned.removed[1] == "hunt-go-big:latest"
    assert engine.image("other-go-smaller") is not None
    assert engine.image("hunt-go-big-but-not-ours") is not None


def test_an_empty_prefix_does_not_take_every_name() -> None:
    engine = engine_with_images()
    clean_images(engine, prefix="", bases=False)
    assert engine.removed == []


def test_clean_with_bases_removes_the_stand_ins_and_their_leftovers_too() -> None:
    engine = engine_with_images()
    before = dict(engine.images)
    clean_images(engine, prefix="hunt-", bases=True)
    removed = [before[image_id].tags for image_id in engine.removed]
    assert ("workshop-base/golang:1.19-busybox",) in removed
    assert removed.count(()) == 2  # its build-stage leftover, and our failed build
    assert engine.image("someone-elses-image") is not None


def test_an_image_in_use_or_built_on_is_kept_and_said() -> None:
    engine = engine_with_images()
    big = engine.image("hunt-go-big")
    assert big is not None
    engine.in_use = {big.id}
    cleaned = clean_images(engine, prefix="hunt-", bases=False)
    assert cleaned.kept == (("hunt-go-big:latest", "a container uses it"),)
    engine.in_use, engine.parents = set(), {big.id}
    cleaned = clean_images(engine, prefix="hunt-", bases=False)
    assert cleaned.kept == (("hunt-go-big:latest", "another image is built on it"),)


def test_an_image_of_ours_someone_else_also_named_keeps_their_name() -> None:
    engine = engine_with_images()
    big = engine.image("hunt-go-big")
    assert big is not None
    engine.tag(big.id, "kept-by-someone")
    clean_images(engine, prefix="hunt-", bases=False)
    assert engine.image("hunt-go-big") is None
    kept = engine.image("kept-by-someone")
    assert kept is not None and kept.id == big.id


def test_a_name_of_ours_on_an_image_we_did_not_make_is_left_alone() -> None:
    engine = engine_with_images()
    other = engine.image("someone-elses-image")
    assert other is not None
    engine.tag(other.id, "hunt-go-scratch")
    clean_images(engine, prefix="hunt-", bases=False)
    assert engine.image("hunt-go-scratch") is not None


def test_leftover_containers_are_this_projects_lost_ones_only() -> None:
    engine = FakeEngine()
    host, now = socket.gethostname(), time.time()
    dead_pid = 2**22 + 7  # above the kernel's pid_max default: no such process
    engine.containers = [
        ContainerInfo(
            "run-of-a-dead-process",
            "running",
            0,
            {LABEL: "run", OWNER_LABEL: f"{host}:{dead_pid}"},
            now,
        ),
        ContainerInfo(
            "run-of-this-process",
            "exited",
            0,
            {LABEL: "run", OWNER_LABEL: f"{host}:{os.getpid()}"},
            now,
        ),
        ContainerInfo(
            "run-on-another-host",
            "exited",
            0,
            {LABEL: "run", OWNER_LABEL: f"elsewhere:{dead_pid}"},
            now,
        ),
        ContainerInfo("build-after-a-crash", "exited", 255, {LABEL: "base"}, now),
        ContainerInfo("build-under-way", "running", 0, {LABEL: "base"}, now - 9999),
        ContainerInfo("build-just-stopped", "exited", 0, {LABEL: "base"}, now),
        ContainerInfo("build-never-started", "created", 0, {LABEL: "base"}, now - 9999),
        ContainerInfo("someone-elses", "exited", 255, {}, now),
    ]
    assert remove_leftover_containers(engine) == 3
    assert engine.removed == ["run-of-a-dead-process", "build-after-a-crash", "build-never-started"]


def test_shrinks_images_of_this_prefix_go_and_nobody_elses() -> None:
    engine = FakeEngine()
    for created, (reference, labels) in enumerate(
        [
            ("hunt-shrink-myapp-4b", {LABEL: "shrink", PREFIX_LABEL: "hunt-"}),
            ("", {LABEL: "shrink", PREFIX_LABEL: "hunt-"}),  # a rung that broke, lost
            ("other-shrink-myapp-4b", {LABEL: "shrink", PREFIX_LABEL: "other-"}),
            ("hunt-shrink-theirs", {}),  # the name, on an image we did not make
        ]
    ):
        engine.add(reference, labels=labels, created=f"2026-11-28T08:0{created}:00Z")
    before = dict(engine.images)
    clean_images(engine, prefix="hunt-", bases=False)
    assert sorted(before[image_id].tags for image_id in engine.removed) == [
        (),
        ("hunt-shrink-myapp-4b:latest",),
    ]


def test_an_image_two_of_our_names_share_goes_with_both() -> None:
    # Two programs whose rung 6 built the same image: the engine refuses to remove by id an image
    # several names hold; nothing is built on it.
    engine = FakeEngine()
    shared = engine.add("hunt-shrink-dup-6", labels={LABEL: "shrink", PREFIX_LABEL: "hunt-"})
    engine.tag(shared.id, "hunt-shrink-main-6:latest")
    cleaned = clean_images(engine, prefix="hunt-", bases=False)
    assert engine.image(shared.id) is None
    assert cleaned.kept == ()


def test_clean_takes_a_foreign_platforms_images_and_with_bases_its_stand_ins() -> None:
    engine = FakeEngine()
    engine.add("hunt-go-big-linux-arm64", labels={LABEL: "step", PREFIX_LABEL: "hunt-"})
    engine.add("workshop-base/golang:1.19-busybox-linux-arm64", labels={LABEL: "base"})
    clean_images(engine, prefix="hunt-", bases=False)
    assert engine.image("hunt-go-big-linux-arm64") is None
    assert engine.image("workshop-base/golang:1.19-busybox-linux-arm64") is not None
    clean_images(engine, prefix="hunt-", bases=True)
    assert engine.image("workshop-base/golang:1.19-busybox-linux-arm64") is None


def test_build_stages_are_offered_and_removed_only_when_asked() -> None:
    """Untagged images carrying the stand-ins' label are the build stages builds left (a
    shrink's modules stage among them): counted and offered, removed with --stages."""
    engine = FakeEngine()
    stage = engine.add("", size=61_000_000, labels={LABEL: "base"})
    other = engine.add("", size=5, labels={"someone": "else"})
    engine.add("workshop-base/golang:1.19-bookworm", labels={LABEL: "base"})
    kept = clean_images(engine, prefix="hunt-", bases=False)
    assert kept.stages_kept == (1, 61_000_000) and stage.id not in engine.removed
    assert "Kept 1 build stages the builds left untagged (61MB)" in render(kept)
    cleaned = clean_images(engine, prefix="hunt-", bases=False, stages=True)
    assert stage.id in engine.removed and other.id not in engine.removed
    assert "workshop-base/golang:1.19-bookworm" in engine.image_names()
    assert cleaned.stages_kept == (0, 0)


def test_a_leftover_the_engine_will_not_remove_yet_is_left_for_the_next_sweep() -> None:
    """A killed shrink's last request can still be under way on a busy engine (a container
    being started as the next run sweeps): the engine refuses to remove it then. The sweep goes
    on with the others, and the run it starts goes on too; the next sweep takes it."""
    engine = FakeEngine()
    host, now = socket.gethostname(), time.time()
    dead_pid = 2**22 + 7
    lost = {LABEL: "run", OWNER_LABEL: f"{host}:{dead_pid}"}
    engine.containers = [
        ContainerInfo("being-started", "created", 0, lost, now),
        ContainerInfo("serving", "running", 0, lost, now),
    ]
    engine.busy_containers = {"being-started"}
    assert remove_leftover_containers(engine) == 1
    assert [each.id for each in engine.containers] == ["being-started"]
    engine.busy_containers.clear()
    assert remove_leftover_containers(engine) == 1
    assert engine.containers == []
