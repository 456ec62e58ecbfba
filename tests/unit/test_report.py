"""The report from crafted data; opening it in a real browser is in test_workshop_e2e."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from tests.support.fakeengine import FakeEngine
from tests.support.images import saved_archive
from tests.support.paths import REAL_RUN
from workshop.checks.verify import verify
from workshop.engine.values import ImageFile, ImageInfo
from workshop.errors import DataFileError, EngineUnavailable
from workshop.inspection.explain import Explanation
from workshop.records.history import History, Run
from workshop.records.sizelog import SizeLog
from workshop.report.render import Report, _side_by_side, write_report
from workshop.steps.figures import load_figures
from workshop.steps.sweep import Sweep


def report(tmp_path: Path) -> Report:
    records = SizeLog(REAL_RUN).read()
    explained = Explanation(
        reference="go-scratch",
        image_id="sha256:" + "a" * 64,
        size=1_819_268,
        base="",
        layers=(),
        parts=(("the app", 1_819_268),),
        directories=(),
        files=(("app", 1_819_268),),
        file_count=1,
        file_bytes=1_819_268,
        wasted=0,
        seconds=0.1,
    )
    history = History(tmp_path / "history.json", keep=20)
    history.add(Run.of(records))
    verdict = verify(records, load_figures(), log=REAL_RUN)
    return Report(records, load_figures(), {7: explained}, verdict, "", history.read())


def test_the_html_stands_alone(tmp_path: Path) -> None:
    page = report(tmp_path).html()
    assert "http://" not in page and "https://" not in page and "src=" not in page
    assert page.count('class="bar measured"') == 6 and page.count('class="bar documented"') == 6
    assert "go-big (1.07GB) is 1,364 times go-smaller (785kB)" in page
    assert "All checks passed" in page and "The figures don't gate" in page


def test_the_markdown_summary(tmp_path: Path) -> None:
    text = report(tmp_path).markdown()
    assert "| 4 | go-big | 1.07GB | 796MB | +34.4% |" in text
    assert "**Verify:** passed." in text


def test_history_keeps_the_last_runs(tmp_path: Path) -> None:
    history = History(tmp_path / "history.json", keep=3)
    records = SizeLog(REAL_RUN).read()
    for _ in range(5):
        history.add(Run.of(records))
    runs = history.read()
    assert len(runs) == 3 and runs[-1].sizes[9] == records[9].size
    document = json.loads((tmp_path / "history.json").read_text())
    assert document["schema"] == 3


def test_text_from_files_is_escaped_in_html_and_markdown(tmp_path: Path) -> None:
    records = SizeLog(REAL_RUN).read()
    evil = "<script>alert(1)</script>[x](http://evil.example)|"
    records[4] = replace(records[4], tag=evil)
    sweep = Sweep(
        releases=("1.19",),
        go_versions={"1.19": "go1.19.8"},
        bases={"1.19": "<b>bold</b>"},
        sizes={"1.19": {4: 1000}},
        tags={4: "go-big"},
        timestamp="<img src=x onerror=alert(1)>",
    )
    made = Report(records, load_figures(), {}, None, "a note with <i>", [], sweep)
    page = made.html()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold" not in page
    text = made.markdown()
    assert "[x](http" not in text and "<script>" not in text
    assert "\\[x\\](http://evil.example)\\|" in text


def test_the_floors_smallest_pull_is_shown_part_by_part(tmp_path: Path) -> None:
    made = report(tmp_path)
    parts = {"manifest": 344, "config": 177, "layer": 110}
    floor = replace(made.records[9], step=12, tag="go-floor", smallest_pull=parts, pull_size=874)
    with_floor = replace(made, records={**made.records, 12: floor})
    expected = "874B; by hand: 631 bytes (manifest 344, config 177, layer 110)"
    assert expected in with_floor.markdown()
    assert expected in with_floor.html()


def test_another_platforms_sizes_are_set_beside_this_logs(tmp_path: Path) -> None:
    shown = report(tmp_path)
    assert "This log's platform only" in shown.html()
    arm64 = {
        step: replace(record, size=record.size * 3 // 4, platform="linux/arm64")
        for step, record in shown.records.items()
        if step != 9
    }
    amd64 = {
        step: replace(record, platform="linux/amd64") for step, record in shown.records.items()
    }
    both = replace(shown, records=amd64, platforms={"linux/arm64": arm64})
    page, text = both.html(), both.markdown()
    assert "<th>arm64 ÷ amd64</th>" in page and page.count("<td>0.75</td>") == 5
    assert "| step | image | linux/amd64 | linux/arm64 | arm64 ÷ amd64 |" in text
    assert "| 9 | go-smaller | 785kB | — | — |" in text


def test_the_headline_is_the_workshops_comparison_after_beyond_too(tmp_path: Path) -> None:
    """Steps beyond the workshop (here a smaller step 15) leave the headline as the workshop
    writes it: go-big against go-smaller."""
    made = report(tmp_path)
    records = dict(made.records)
    records[15] = replace(records[9], step=15, tag="go-reproducible", size=records[9].size // 3)
    page = replace(made, records=records).html()
    assert "go-big (1.07GB) is 1,364 times go-smaller (785kB)" in page
    assert "times go-reproducible" not in page


@dataclass
class SavingEngine(FakeEngine):
    """Counts each `docker save`; a container's export fails the test."""

    saves: list[tuple[str, ...]] = field(default_factory=list)

    def saved(self, *references: str) -> AbstractContextManager[Iterator[bytes]]:
        self.saves.append(references)
        return super().saved(*references)

    def files(self, reference: str) -> AbstractContextManager[Iterator[ImageFile]]:
        raise AssertionError(f"the report exported {reference}, which its save already gave")


def test_each_image_is_saved_once_and_explained_from_its_layers(tmp_path: Path) -> None:
    records = SizeLog(REAL_RUN).read()
    engine = SavingEngine()
    layers = {
        4: ({"usr/lib/go/bin/go": 300, "etc/hostname": 3}, {"app": 100}),
        7: ({"app": 100},),
        9: ({"app": 80, "tmp/x": 20}, {".wh.tmp": 0}),
    }
    for step, its_layers in layers.items():
        image_id = records[step].image_id
        engine.images[image_id] = ImageInfo(image_id, 1000, (records[step].tag,), {}, "")
        engine.archives[image_id] = saved_archive(*its_layers)
    write_report(
        engine,
        size_log=SizeLog(REAL_RUN),
        history=History(tmp_path / "history.json", keep=20),
        sweep_dir=tmp_path / "sweep",
        folder=tmp_path / "report",
    )
    assert sorted(engine.saves) == sorted((records[step].image_id,) for step in layers)
    page = (tmp_path / "report" / "report.html").read_text()
    rows = page.split("<table class=breakdown>", 1)[1].split("</table>", 1)[0].split("<tr>")[1:]
    assert [row.split("</td>", 1)[0] for row in rows] == [
        "<td>4. go-big",
        "<td>7. go-scratch",
        "<td>9. go-smaller",
    ]
    # go-big's own /etc/hostname counts (a container's export shows the engine's, empty); the
    # file go-smaller's second layer deletes does not.
    assert "Go toolchain 300B (74.4%)" in rows[0] and "the OS and the rest 3B" in rows[0]
    assert "the app 80B (100.0%)" in rows[2]


def test_images_are_read_side_by_side_in_order_and_a_failure_comes_at_once() -> None:
    at_once, most = 0, 0
    counting = threading.Lock()
    released = threading.Event()

    def work(item: int) -> int:
        nonlocal at_once, most
        with counting:
            at_once += 1
            most = max(most, at_once)
        time.sleep(0.05 * (5 - item))  # the first items end last
        with counting:
            at_once -= 1
        return item * 10

    assert _side_by_side(work, [1, 2, 3, 4], at_once=2) == [10, 20, 30, 40]
    assert most == 2

    def failing(item: int) -> int:
        if item == 2:
            raise EngineUnavailable("the engine went")
        released.wait(10)  # still reading when the failure is raised
        return item

    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match="the engine went"):
        _side_by_side(failing, [1, 2, 3], at_once=3)
    released.set()
    assert time.monotonic() - started < 5


def test_after_a_failure_no_further_image_is_read() -> None:
    # Each read is a save the engine prepares and streams: once one has failed, the report
    # is over, and the images still waiting are not asked for.
    asked: list[int] = []

    def work(item: int) -> int:
        asked.append(item)
        if item == 0:
            raise EngineUnavailable("the engine went")
        time.sleep(0.1)
        return item

    with pytest.raises(EngineUnavailable):
        _side_by_side(work, list(range(20)), at_once=2)
    time.sleep(0.6)  # the reads already asked for end; without the stop, the rest would follow
    assert set(asked) <= {0, 1}, asked


def test_a_report_folder_that_cant_be_made_says_nothing_was_written(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(DataFileError) as refused:
        write_report(
            FakeEngine(),
            size_log=SizeLog(REAL_RUN),
            history=History(tmp_path / "history.json", keep=20),
            sweep_dir=tmp_path / "sweep",
            folder=tmp_path / "afile" / "report",
        )
    assert "Nothing was written." in refused.value.message
    assert "Nothing was built" not in refused.value.message
