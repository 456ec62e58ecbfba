"""The tables `invoke all` and `invoke beyond` end with."""

from __future__ import annotations

from dataclasses import replace

from tests.support.paths import REAL_RUN
from tests.support.rendering import render
from workshop.records.sizelog import SizeLog
from workshop.steps.figures import load_figures
from workshop.steps.summary import Summary, by_platform, workshop_summary
from workshop.units import docker_size


def test_the_headline_and_bars_from_a_real_run() -> None:
    shown = render(Summary(SizeLog(REAL_RUN).read(), load_figures()), width=120)
    assert "go-big (1.07GB) is 1,364 times go-smaller (785kB)" in shown
    assert '"796mb was 1167 times bigger than 682kb."' in shown
    assert shown.count("█") > 20


def test_an_app_or_a_tag_that_looks_like_markup_is_shown_as_it_is() -> None:
    records = SizeLog(REAL_RUN).read()
    records[4] = replace(records[4], tag="[blink red]EVIL[/]")
    records[9] = replace(records[9], tag="[/bogus]")
    shown = render(Summary(records, load_figures()), width=160)
    assert "[blink red]EVIL[/]" in shown and "[/bogus]" in shown


def test_two_platforms_side_by_side_with_their_ratio() -> None:
    amd64 = SizeLog(REAL_RUN).read()
    arm64 = {
        step: replace(
            record,
            tag=f"{record.tag}-linux-arm64",
            size=record.size // 2,
            size_human=docker_size(record.size // 2),
            platform="linux/arm64",
        )
        for step, record in amd64.items()
    }
    amd64 = {step: replace(record, platform="linux/amd64") for step, record in amd64.items()}
    summaries = {
        "": workshop_summary(amd64),
        "linux/arm64": workshop_summary(arm64),
    }
    shown = " ".join(render(by_platform(summaries), width=80).split())
    assert "┃ step ┃ image ┃ amd64 ┃ arm64 ┃ arm64 ÷ amd64 ┃ workshop ┃" in shown
    assert "│ 4 │ go-big │ 1.07GB │ 535MB │ 0.50 │ 796MB │" in shown
    assert shown.count("0.50") == 6
    assert "linux/arm64: go-big-linux-arm64" in shown
    # One platform: the summary as it always was.
    assert isinstance(by_platform({"": summaries[""]}), Summary)


def test_a_long_tag_prefix_never_cuts_a_size() -> None:
    """The image names wrap; every size, documented figure and ratio shows whole at 80
    columns."""
    records = {
        step: replace(record, tag=f"team-ci-pipeline-{'x' * 30}-{record.tag}")
        for step, record in SizeLog(REAL_RUN).read().items()
    }
    shown = render(Summary(records, load_figures()), width=80)
    assert "…" not in shown
    for record in records.values():
        assert docker_size(record.size) in shown, record.tag
