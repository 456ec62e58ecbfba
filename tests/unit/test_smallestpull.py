"""The smallest image around the floor's program: each document as short as engines take it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from workshop.steps.smallestpull import smallest_image, tar_member

PROGRAM = bytes(range(91))


def test_the_layer_is_one_executable_file_that_tar_reads_back() -> None:
    archive = tar_member("app", PROGRAM)
    assert len(archive) == 512 + len(PROGRAM)
    # Python's reader, unlike Go's, wants the last block whole: the engines' own take is in
    # tests/e2e/test_beyond_e2e.py.
    with tarfile.open(fileobj=io.BytesIO(archive + bytes(-len(archive) % 512))) as read:
        (member,) = read.getmembers()
        assert (member.name, member.mode, member.size, member.uid, member.mtime) == (
            "app",
            0o755,
            91,
            0,
            0,
        )
        assert member.isreg()
        extracted = read.extractfile(member)
        assert extracted is not None and extracted.read() == PROGRAM


@pytest.mark.parametrize("name", ["", "bin/app", "x" * 101])
def test_a_name_a_v7_header_cant_hold_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="1-100 bytes"):
        tar_member(name, PROGRAM)


def test_the_manifest_names_the_config_and_the_layer_by_digest_and_size() -> None:
    image = smallest_image(PROGRAM, platform="linux/arm64")
    manifest = json.loads(image.manifest)
    config = json.loads(image.config)
    for blob, entry in ((image.config, manifest["config"]), (image.layer, manifest["layers"][0])):
        assert entry["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
        assert entry["size"] == len(blob)
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(image.layer)).hexdigest()
    assert config == {
        "architecture": "arm64",
        "os": "linux",
        "config": {"Cmd": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    assert image.parts == {
        "manifest": len(image.manifest),
        "config": len(image.config),
        "layer": len(image.layer),
    }
    assert image.largest == "manifest"


def test_the_layer_is_smaller_than_pythons_own_tar_of_the_same_file() -> None:
    info = tarfile.TarInfo("app")
    info.size, info.mode = len(PROGRAM), 0o755
    usual = io.BytesIO()
    with tarfile.open(fileobj=usual, mode="w") as written:
        written.addfile(info, io.BytesIO(PROGRAM))
    usual_layer = gzip.compress(usual.getvalue(), compresslevel=9, mtime=0)
    assert len(smallest_image(PROGRAM, platform="linux/amd64").layer) < len(usual_layer) - 10
