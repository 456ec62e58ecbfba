from __future__ import annotations

from dataclasses import replace

import pytest
from rich.console import Console

from tests.support.fakeengine import FakeEngine
from tests.support.rendering import said
from workshop.errors import BadInput, BaseUnavailable
from workshop.progress import Progress
from workshop.steps.bases import RECIPE_LABEL, BaseResolver, Standins


def standin_engine() -> FakeEngine:
    """An engine with no workshop images, nothing pullable, and the stand-ins already built."""
    engine = FakeEngine()
    recipes = BaseResolver(engine=engine, progress=Progress(Console(file=None))).recipes()
    for reference in Standins.for_go("1.19").all():
        engine.add(reference, size=100, labels={RECIPE_LABEL: recipes[reference]})
    return engine


def test_the_workshops_own_image_is_used_where_present(fake_bases: BaseResolver) -> None:
    resolved = fake_bases.resolve("golang")
    assert (resolved.reference, resolved.standin, resolved.size) == (
        "golang:1.10",
        False,
        400_000_000,
    )


def test_a_pullable_workshop_image_is_pulled(console: Console) -> None:
    engine = standin_engine()
    engine.pullable.add("alpine")
    bases = BaseResolver(engine=engine, progress=Progress(console))
    assert bases.resolve("alpine").reference == "alpine"
    assert engine.pulls == ["alpine"]


def test_otherwise_the_stand_in_is_used_and_said_once(console: Console) -> None:
    engine = standin_engine()
    bases = BaseResolver(engine=engine, progress=Progress(console))
    for _ in range(3):
        resolved = bases.resolve("golang-alpine")
    assert (resolved.reference, resolved.standin) == ("workshop-base/golang:1.19-busybox", True)
    assert engine.pulls == ["golang:1.10-alpine"]
    assert said(console).count("neither present nor pullable") == 1


def test_workshop_mode_refuses_stand_ins(console: Console) -> None:
    engine = standin_engine()
    bases = BaseResolver(engine=engine, progress=Progress(console), mode="workshop")
    with pytest.raises(BaseUnavailable, match=r"golang:1\.10 is neither present nor pullable"):
        bases.resolve("golang")


def test_local_mode_never_asks_a_registry(console: Console) -> None:
    engine = standin_engine()
    engine.add("golang:1.10")
    bases = BaseResolver(engine=engine, progress=Progress(console), mode="local")
    assert bases.resolve("golang").reference == "workshop-base/golang:1.19-bookworm"
    assert engine.pulls == []


def test_the_go_version_is_asked_once_of_the_resolved_image(
    fake_bases: BaseResolver, fake_engine: FakeEngine
) -> None:
    resolved = fake_bases.resolve("golang")
    assert fake_bases.go_version(resolved) == fake_bases.go_version(resolved) == "go1.19.8"
    assert fake_engine.runs == [resolved.image_id]


def test_a_go_release_with_no_stand_in_is_refused() -> None:
    with pytest.raises(BadInput, match="has no Debian stand-in"):
        BaseResolver(
            engine=standin_engine(), progress=Progress(Console(file=None)), go="1.19; rm -rf /"
        )


def test_a_stand_in_from_another_recipe_is_built_again(console: Console) -> None:
    engine = standin_engine()
    stale = engine.image("workshop-base/golang:1.19-busybox")
    assert stale is not None
    engine.images[stale.id] = replace(stale, labels={RECIPE_LABEL: "an older recipe"})
    bases = BaseResolver(engine=engine, progress=Progress(console))
    assert bases.build_standins() == ["workshop-base/golang:1.19-busybox"]
    assert engine.builds[0].tag == "workshop-base/golang:1.19-busybox"
    assert engine.builds[0].buildargs == {
        "GOLANG_IMAGE": "workshop-base/golang:1.19-bookworm",
        "BUSYBOX_IMAGE": "workshop-base/busybox:bookworm",
        "GO_VERSION": "1.19",
        "DEBIAN_MIRROR": "http://deb.debian.org/debian",
        "BACKPORTS": "bookworm-backports",
    }


def test_another_go_release_of_the_same_suite_shares_its_busybox() -> None:
    engine = FakeEngine()
    progress = Progress(Console(file=None))
    go_1_19 = BaseResolver(engine=engine, progress=progress).recipes()
    go_1_21 = BaseResolver(engine=engine, progress=progress, go="1.21").recipes()
    assert go_1_19["workshop-base/busybox:bookworm"] == go_1_21["workshop-base/busybox:bookworm"]
    assert go_1_19["workshop-base/debian:bookworm"] == go_1_21["workshop-base/debian:bookworm"]
    assert "workshop-base/golang:1.21-busybox" in go_1_21


def test_a_role_needs_only_its_own_stand_in(console: Console) -> None:
    # As on an engine that was given only the stand-ins step 7 uses (docker load, say).
    engine = standin_engine()
    for reference in ("workshop-base/debian:bookworm", "workshop-base/golang:1.19-bookworm"):
        image = engine.image(reference)
        assert image is not None
        del engine.images[image.id]
    bases = BaseResolver(engine=engine, progress=Progress(console), mode="local")
    assert bases.resolve("golang-alpine").reference == "workshop-base/golang:1.19-busybox"
    assert engine.builds == []


def test_a_foreign_platforms_stand_ins_are_named_for_its_architecture() -> None:
    arm64 = Standins.for_go("1.19", platform="linux/arm64")
    assert arm64.all() == (
        "workshop-base/debian:bookworm-linux-arm64",
        "workshop-base/golang:1.19-bookworm-linux-arm64",
        "workshop-base/busybox:bookworm-linux-arm64",
        "workshop-base/golang:1.19-busybox-linux-arm64",
    )
    # The engine's own platform keeps the names it always had.
    assert Standins.for_go("1.19").debian == "workshop-base/debian:bookworm"


def test_a_foreign_platforms_stand_ins_have_recipes_of_their_own() -> None:
    progress = Progress(Console(file=None))
    own = BaseResolver(engine=FakeEngine(), progress=progress).recipes()
    arm64 = BaseResolver(engine=FakeEngine(), progress=progress, platform="linux/arm64")
    recipes = arm64.recipes()
    # Every stand-in's recipe differs, down the chain from the root filesystem.
    assert set(recipes.values()).isdisjoint(own.values())
    # The arm64 golang stand-in is built from the arm64 Debian, named in its build args.
    assert arm64._buildargs("Dockerfile.golang")["DEBIAN_IMAGE"].endswith("bookworm-linux-arm64")


def test_for_a_foreign_platform_an_image_of_another_is_not_used(console: Console) -> None:
    engine = standin_engine()
    engine.add("golang:1.10", platforms=("linux/amd64",))
    engine.pullable.add("golang:1.10")
    bases = BaseResolver(engine=engine, progress=Progress(console), platform="linux/arm64")
    resolved = bases.resolve("golang")
    # The amd64 image present was passed over; the arm64 one was pulled.
    assert engine.pulls == ["golang:1.10 for linux/arm64"]
    assert engine.image(resolved.reference).platforms == ("linux/arm64",)  # type: ignore[union-attr]


def test_a_foreign_platform_with_nothing_pullable_gets_its_own_stand_in(console: Console) -> None:
    engine = standin_engine()
    engine.add("golang:1.10", platforms=("linux/amd64",))
    recipes = BaseResolver(
        engine=engine, progress=Progress(Console(file=None)), platform="linux/arm64"
    ).recipes()
    for reference in Standins.for_go("1.19", platform="linux/arm64").all():
        engine.add(reference, labels={RECIPE_LABEL: recipes[reference]})
    bases = BaseResolver(engine=engine, progress=Progress(console), platform="linux/arm64")
    assert bases.resolve("golang").reference == "workshop-base/golang:1.19-bookworm-linux-arm64"
    assert "neither present nor pullable for linux/arm64" in said(console)
