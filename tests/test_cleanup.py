from __future__ import annotations

from tests.fakeengine import FakeEngine
from workshop import LABEL
from workshop.cleanup import remove_built_images


class LabelledEngine(FakeEngine):
    """Removes images; refuses one that another image is built on, as the engine does (409)."""

    removed: list[str]
    in_use: set[str]

    def images_labelled(self, label: str) -> list[object]:
        return [image for image in self.images.values() if label in image.labels]

    def remove_image(self, image_id: str) -> bool:
        if image_id in self.in_use:
            return False
        self.removed.append(image_id)
        return True


def engine_with_images() -> LabelledEngine:
    engine = LabelledEngine()
    engine.removed, engine.in_use = [], set()
    for created, (reference, kind) in enumerate(
        [
            ("workshop-base/golang:1.19-busybox", "base"),
            ("none", "base"),
            ("go-big", "step"),
            ("someone-elses-image", ""),
        ]
    ):
        image = engine.add(reference)
        image.attrs["Created"] = f"2026-11-28T08:0{created}:00Z"
        if kind:
            image.labels[LABEL] = kind
    engine.images = {image.id: image for image in engine.images.values()}
    leftover = next(image for image in engine.images.values() if image.tags == ["none"])
    leftover.tags = []  # a build stage the legacy builder left, with the label it inherited
    return engine


def names(engine: LabelledEngine) -> list[str]:
    return [(engine.images[image_id].tags or ["leftover"])[0] for image_id in engine.removed]


def test_clean_removes_step_images_and_build_leftovers_newest_first_but_not_bases() -> None:
    engine = engine_with_images()
    removed, kept = remove_built_images(engine, bases=False)  # type: ignore[arg-type]
    assert names(engine) == ["go-big", "leftover"]
    assert (len(removed), kept) == (2, [])


def test_clean_with_bases_removes_the_stand_ins_too_and_nothing_else() -> None:
    engine = engine_with_images()
    remove_built_images(engine, bases=True)  # type: ignore[arg-type]
    assert names(engine) == ["go-big", "leftover", "workshop-base/golang:1.19-busybox"]


def test_an_image_another_is_built_on_is_kept_and_said() -> None:
    engine = engine_with_images()
    engine.in_use = {image.id for image in engine.images.values() if image.tags == ["go-big"]}
    _, kept = remove_built_images(engine, bases=False)  # type: ignore[arg-type]
    assert kept == ["go-big"] and names(engine) == ["leftover"]
