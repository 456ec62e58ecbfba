"""Diffs from layers: whiteouts, opaque folders, and what each change is."""

from __future__ import annotations

from tests.support.fakeengine import FakeEngine
from tests.support.images import saved_archive
from tests.support.rendering import render
from workshop.engine.values import ImageFile
from workshop.inspection.diff import diff_images
from workshop.inspection.layers import Layer, final_tree, flattened, read_layers


def layer(*entries: tuple[str, int, str]) -> Layer:
    return Layer(tuple(ImageFile(path, size, kind) for path, size, kind in entries))


def test_the_filesystem_is_the_layers_with_deletions_applied() -> None:
    base = layer(
        ("etc", 0, "dir"),
        ("etc/a", 10, "file"),
        ("opt", 0, "dir"),
        ("opt/x", 5, "file"),
        ("big", 99, "file"),
    )
    top = layer(
        (".wh.big", 0, "file"),
        ("opt", 0, "dir"),
        ("opt/.wh..wh..opq", 0, "file"),
        ("opt/y", 7, "file"),
    )
    tree = final_tree([base, top])
    assert tree == {
        "etc": (0, "dir", 0),
        "etc/a": (10, "file", 0),
        "opt": (0, "dir", 1),
        "opt/y": (7, "file", 1),
    }


def test_added_removed_and_changed_paths_with_their_layer_and_what_they_are() -> None:
    engine = FakeEngine()
    old = engine.add("before")
    new = engine.add("after")
    engine.archives[old.id] = saved_archive({"app": 1000, "usr/lib/go/x": 300})
    engine.archives[new.id] = saved_archive({"etc/motd": 5}, {"app": 600, "etc/new": 40})
    diff = diff_images(engine, "before", "after")
    assert [(c.path, c.change, c.delta, c.layer) for c in diff.changes] == [
        ("app", "changed", -400, "layer 2 of 2 of after"),
        ("usr/lib/go/x", "removed", -300, "layer 1 of 1 of before"),
        ("etc/new", "added", 40, "layer 2 of 2 of after"),
        ("etc/motd", "added", 5, "layer 1 of 2 of after"),
    ]
    assert diff.by_what()[0] == ("the app", 0, 400)
    assert "4 paths changed" in render(diff)


def test_an_image_with_two_identical_layers_is_read_layer_by_layer() -> None:
    """Docker 20.10's save links the second of two identical layers to the first: both are
    read, the link followed, instead of tarfile's stream refusing the link."""
    engine = FakeEngine()
    image = engine.add("twice", size=10)
    engine.archives[image.id] = saved_archive({"etc/a": 7}, {"app": 3}, {"etc/a": 7})
    layers = read_layers(engine, image.id)
    assert [layer.size for layer in layers] == [7, 3, 7]
    assert [entry.path for entry in layers[2].entries] == ["etc/a"]


def test_the_files_are_the_merged_layers_in_the_order_a_walk_gives() -> None:
    """What explain counts when it has the layers already (the report): no whiteout, nothing
    deleted, and a folder's files before the names that sort after it ("a/b" before "a.txt")."""
    base = layer(("a.txt", 1, "file"), ("a", 0, "dir"), ("a/b", 2, "file"), ("gone", 9, "file"))
    top = layer((".wh.gone", 0, "file"), ("a/c", 3, "file"), ("a/b", 4, "file"))
    assert flattened([base, top]) == (
        ImageFile("a", 0, "dir"),
        ImageFile("a/b", 4, "file"),
        ImageFile("a/c", 3, "file"),
        ImageFile("a.txt", 1, "file"),
    )
    assert set(final_tree([base, top])) == {entry.path for entry in flattened([base, top])}
