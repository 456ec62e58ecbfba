from __future__ import annotations

from tests.fakeengine import FakeEngine
from workshop import LABEL
from workshop.cleanup import remove_built_images


class LabelledEngine(FakeEngine):
    removed: list[str]

    def images_labelled(self, label: str) -> list[object]:
        return [image for image in self.images.values() if label in image.labels]

    def remove_image(self, image_id: str) -> None:
        self.removed.append(image_id)


def engine_with_images() -> LabelledEngine:
    engine = LabelledEngine()
    engine.removed = []
    engine.add("go-big").labels[LABEL] = "step"
    engine.add("workshop-base/golang:1.19-busybox").labels[LABEL] = "base"
    leftover = engine.add("none")
    leftover.tags, leftover.labels[LABEL] = [], "base"  # a build stage the legacy builder left
    engine.add("someone-elses-image")
    # The fake keys each image twice (by tag and id): keep one key each.
    engine.images = {image.id: image for image in engine.images.values()}
    return engine


def test_clean_removes_step_images_and_build_leftovers_but_not_bases() -> None:
    engine = engine_with_images()
    remove_built_images(engine, bases=False)  # type: ignore[arg-type]
    removed = {
        engine.images[image_id].tags[0] if engine.images[image_id].tags else "leftover"
        for image_id in engine.removed
    }
    assert removed == {"go-big", "leftover"}


def test_clean_with_bases_removes_the_stand_ins_too_and_nothing_else() -> None:
    engine = engine_with_images()
    remove_built_images(engine, bases=True)  # type: ignore[arg-type]
    assert len(engine.removed) == 3
    assert all(
        "someone-elses-image" not in engine.images[image_id].tags for image_id in engine.removed
    )
