from __future__ import annotations

import io
import tarfile

import pytest

from workshop.tarwalk import walk_tar

MEMBERS = [("a" * 150 + "/file", 10), ("ünïcode/ß", 3), ("dir", None), ("x/" + "b" * 120, 70_000)]


def archive(fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, size in MEMBERS:
            info = tarfile.TarInfo(name)
            if size is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = size
            tar.addfile(info, io.BytesIO(b"z" * size) if size else None)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
@pytest.mark.parametrize("chunk", [1, 7, 512, 1000, 1 << 20])
def test_agrees_with_tarfile_whatever_the_chunks(fmt: int, chunk: int) -> None:
    data = archive(fmt)
    walked = [
        (m.path, m.size, m.kind)
        for m in walk_tar(data[i : i + chunk] for i in range(0, len(data), chunk))
    ]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        expected = [(m.name, m.size, "dir" if m.isdir() else "file") for m in tar.getmembers()]
    assert walked == expected
    assert [path for path, *_ in walked] == [name for name, _ in MEMBERS]
