"""The report: one self-contained HTML file (no network needed to open it) and a Markdown summary.

The HTML holds a chart of each step's size on a log scale, measured against documented; what the
bytes of each image are (from explain); the verify result when the log is complete; and the run
history. The Markdown summary is for CI job pages, such as GitHub's $GITHUB_STEP_SUMMARY.
"""

from __future__ import annotations

import html
import math
import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path
from typing import TypeVar, cast

from workshop.catalogue import WORKSHOP_BUILD_STEPS
from workshop.checks.verify import Verdict, verify
from workshop.engine.values import EngineAPI
from workshop.errors import DataFileError, EngineUnavailable, WorkshopError
from workshop.inspection.diff import ImageDiff, diff_layers
from workshop.inspection.explain import Explanation, explain
from workshop.inspection.layers import Layer, flattened, read_layers
from workshop.markdown import markdown_text
from workshop.platforms import PLATFORMS
from workshop.records.datafile import check_folder, write_atomic
from workshop.records.history import History, Run
from workshop.records.sizelog import SizeLog, SizeRecord, platform_log
from workshop.steps.figures import Figures, load_figures
from workshop.steps.sweep import Sweep, read_sweep
from workshop.units import docker_size, ratio, times

__all__ = ["Report", "write_report"]

# The images read from the engine at once: each is a `docker save` the engine prepares before
# it streams (go-big's took 9 s alone), so most of a read is a wait (six saves took 9.3 s one
# after another here, 5.0 s side by side).
READ_AT_ONCE = 4
_Item = TypeVar("_Item")
_Answer = TypeVar("_Answer")

# Colours of what the bytes are, in the breakdown.
_PART_COLOURS = {
    "the app": "#d62728",
    "Go toolchain": "#1f77b4",
    "C toolchain": "#9467bd",
    "Go build cache": "#8c564b",
    "the OS and the rest": "#7f7f7f",
}


@dataclass(frozen=True)
class Report:
    records: Mapping[int, SizeRecord]
    figures: Figures
    explanations: Mapping[int, Explanation]
    verdict: Verdict | None
    verify_note: str
    runs: Sequence[Run]
    sweep: Sweep | None = None
    # What changed from each step to the next, where both images are on the engine.
    diffs: Sequence[ImageDiff] = ()
    # Other platforms' steps, from their size logs beside this one (`invoke all --platform`).
    platforms: Mapping[str, Mapping[int, SizeRecord]] = field(default_factory=dict)

    def html(self) -> str:
        made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        sections = [
            f"<h1>Multi-stage Image Build, measured</h1><p class=note>Made {made} from the size log.</p>",
            self._headline(),
            "<h2>Size per step</h2>",
            self._chart(),
            self._size_table(),
            "<h2>What the bytes are</h2>",
            self._breakdown(),
            "<h2>What changed, step to step</h2>",
            self._diffs(),
            "<h2>Verify</h2>",
            self._verify(),
            "<h2>History</h2>",
            self._history(),
            "<h2>By Go release</h2>",
            self._sweep(),
            "<h2>By platform</h2>",
            self._platforms(),
        ]
        return _PAGE.format(
            style=_asset("report.css"), script=_asset("report.js"), body="\n".join(sections)
        )

    def markdown(self) -> str:
        lines = [
            "## Multi-stage Image Build, measured",
            "",
            markdown_text(self._headline_text()),
            "",
        ]
        lines += [
            "| step | image | measured | the workshop | deviation | pull |",
            "| ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for step, record in sorted(self.records.items()):
            documented = self.figures.images.get(step)
            deviation = (
                f"{ratio(record.size - documented.size, documented.size):+.1%}"
                if documented
                else ""
            )
            cells = (
                str(step),
                record.tag,
                docker_size(record.size),
                documented.documented if documented else "",
                deviation,
                _pull(record),
            )
            lines.append("| " + " | ".join(markdown_text(cell) for cell in cells) + " |")
        lines.append("")
        if self.verdict is not None:
            failed = [check for check in self.verdict.checks if check.verdict == "fail"]
            lines.append(f"**Verify:** {'passed' if not failed else f'{len(failed)} failed'}.")
            lines += [
                f"- FAIL {markdown_text(check.id)}: {markdown_text(check.message)}"
                for check in failed
            ]
        else:
            lines.append(f"**Verify:** {markdown_text(self.verify_note)}")
        if self.platforms:
            head, rows = self._platform_rows()
            lines += ["", "| " + " | ".join(head) + " |", "|" + " ---: |" * len(head)]
            lines += ["| " + " | ".join(markdown_text(cell) for cell in row) + " |" for row in rows]
        lines += ["", f"History: {len(self.runs)} runs kept."]
        return "\n".join(lines) + "\n"

    def _headline_text(self) -> str:
        # The workshop's own comparison: its first image against its last (go-big against
        # go-smaller), whatever steps beyond it have logged since.
        workshop = sorted(step for step in self.records if step in WORKSHOP_BUILD_STEPS)
        if len(workshop) < 2:
            return "Run `invoke all` to measure the workshop."
        first, last = self.records[workshop[0]], self.records[workshop[-1]]
        return (
            f"{first.tag} ({docker_size(first.size)}) is {times(ratio(first.size, last.size))} times "
            f"{last.tag} ({docker_size(last.size)}). The workshop: \u201c{self.figures.headline}\u201d"
        )

    def _headline(self) -> str:
        return f"<p class=headline>{html.escape(self._headline_text())}</p>"

    def _chart(self) -> str:
        """Horizontal bars on a log scale: measured filled, documented outlined, per step."""
        steps = sorted(self.records)
        if not steps:
            return "<p>No sizes logged yet.</p>"
        values = [self.records[step].size for step in steps]
        values += [self.figures.images[step].size for step in steps if step in self.figures.images]
        low = 10 ** math.floor(math.log10(max(min(values), 1)))
        high = 10 ** math.ceil(math.log10(max(values)))
        left, width, row = 150, 560, 34
        height = row * len(steps) + 40

        def x(size: int) -> float:
            return left + width * math.log10(max(size, 1) / low) / (math.log10(high / low) or 1.0)

        parts = [
            f'<svg id=size-chart role=img aria-label="Image size per step, log scale" '
            f'viewBox="0 0 {left + width + 90} {height}" width="{left + width + 90}" height="{height}">'
        ]
        tick = low
        while tick <= high:
            parts.append(
                f'<line class=grid x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="0" y2="{height - 30}"/>'
                f'<text class=tick x="{x(tick):.1f}" y="{height - 12}">{docker_size(tick)}</text>'
            )
            tick *= 10
        for index, step in enumerate(steps):
            record = self.records[step]
            top = index * row + 6
            parts.append(
                f'<text class=label x="{left - 8}" y="{top + 17}">{step}. {html.escape(record.tag)}</text>'
            )
            parts.append(
                f'<rect class="bar measured" x="{left}" y="{top}" width="{x(record.size) - left:.1f}" height="14">'
                f"<title>{html.escape(record.tag)}: measured {docker_size(record.size)}</title></rect>"
            )
            parts.append(
                f'<text class=value x="{x(record.size) + 4:.1f}" y="{top + 12}">{docker_size(record.size)}</text>'
            )
            documented = self.figures.images.get(step)
            if documented:
                parts.append(
                    f'<rect class="bar documented" x="{left}" y="{top + 16}" width="{x(documented.size) - left:.1f}" '
                    f'height="8"><title>{html.escape(record.tag)}: the workshop says {documented.documented}</title></rect>'
                )
        parts.append("</svg>")
        legend = "<p class=legend><span class=measured-key></span> measured <span class=documented-key></span> the workshop</p>"
        return "".join(parts) + legend

    def _size_table(self) -> str:
        rows = []
        for step, record in sorted(self.records.items()):
            documented = self.figures.images.get(step)
            deviation = (
                f"{ratio(record.size - documented.size, documented.size):+.1%}"
                if documented
                else ""
            )
            bases = ", ".join(
                base.reference + (" (stand-in)" if base.standin else "") for base in record.bases
            )
            rows.append(
                _row(
                    step,
                    record.tag,
                    docker_size(record.size),
                    f"{record.size:,}",
                    documented.documented if documented else "",
                    deviation,
                    bases,
                    record.go_version,
                    _pull(record),
                )
            )
        head = _row(
            "step",
            "image",
            "size",
            "bytes",
            "the workshop",
            "deviation",
            "bases",
            "Go",
            "pull",
            cell="th",
        )
        return f"<table>{head}{''.join(rows)}</table>"

    def _breakdown(self) -> str:
        if not self.explanations:
            return "<p>No image could be read from the engine, so there is no breakdown.</p>"
        rows = []
        for step, explained in sorted(self.explanations.items()):
            total = explained.file_bytes or 1
            segments = "".join(
                f'<span class=segment style="width:{100 * ratio(part_bytes, total):.2f}%;background:{_PART_COLOURS.get(label, "#bbb")}" '
                f'title="{html.escape(label)}: {docker_size(part_bytes)}"></span>'
                for label, part_bytes in explained.parts
            )
            words = "; ".join(
                f"{html.escape(label)} {docker_size(part_bytes)} ({ratio(part_bytes, total):.1%})"
                for label, part_bytes in explained.parts
            )
            rows.append(
                f"<tr><td>{step}. {html.escape(explained.reference)}</td><td class=stack>{segments}</td>"
                f"<td>{words}; wasted {docker_size(explained.wasted)}</td></tr>"
            )
        keys = " ".join(
            f'<span class=key style="background:{colour}"></span> {html.escape(label)}'
            for label, colour in _PART_COLOURS.items()
        )
        return f"<p class=legend>{keys}</p><table class=breakdown>{''.join(rows)}</table>"

    def _diffs(self) -> str:
        if not self.diffs:
            return "<p>The images are not on the engine, so there is no diff.</p>"
        rows = []
        for diff in self.diffs:
            net = diff.b_bytes - diff.a_bytes
            moved = "; ".join(
                f"{what} +{docker_size(added)} -{docker_size(removed)}"
                for what, added, removed in diff.by_what()[:4]
            )
            largest = "; ".join(
                f"/{change.path} {change.change} "
                f"({'+' if change.delta >= 0 else '-'}{docker_size(abs(change.delta))})"
                for change in diff.changes[:3]
            )
            sections = "; ".join(
                f"/{path}: "
                + ", ".join(f"{name} {after - before:+,} B" for name, before, after in found[:4])
                for path, found in diff.sections.items()
            )
            rows.append(
                _row(
                    f"{diff.a} → {diff.b}",
                    f"{'+' if net >= 0 else '-'}{docker_size(abs(net))}",
                    len(diff.changes),
                    moved,
                    largest,
                    sections,
                )
            )
        head = _row(
            "step to step",
            "net",
            "paths",
            "by what the bytes are",
            "largest changes",
            "ELF sections",
            cell="th",
        )
        return f"<table>{head}{''.join(rows)}</table>"

    def _verify(self) -> str:
        if self.verdict is None:
            return f"<p>{html.escape(self.verify_note)}</p>"
        rows = [
            _row(
                check.id,
                check.verdict,
                check.message,
                cell="td",
                classes=("", f"verdict {check.verdict}", ""),
            )
            for check in self.verdict.checks
        ]
        failed = sum(check.verdict == "fail" for check in self.verdict.checks)
        note = f"<p>{'All checks passed' if not failed else f'{failed} checks failed'}.</p>"
        if not self.verdict.gating_figures:
            note += f"<p class=note>The figures don't gate: {html.escape(self.verdict.why_not_gating)}</p>"
        return (
            note
            + f"<table>{_row('check', 'verdict', 'what was found', cell='th')}{''.join(rows)}</table>"
        )

    def _sweep(self) -> str:
        sweep = self.sweep
        if sweep is None:
            return "<p>No sweep yet: <code>invoke sweep --go 1.19,1.21,1.24</code> makes one.</p>"
        head = _row(
            "step", "image", *(sweep.go_versions.get(r, r) for r in sweep.releases), cell="th"
        )
        rows = [
            _row(step, tag, *(docker_size(sweep.sizes[r][step]) for r in sweep.releases))
            for step, tag in sorted(sweep.tags.items())
        ]
        bases = "; ".join(f"Go {r}: {sweep.bases[r]}" for r in sweep.releases)
        return f"<table>{head}{''.join(rows)}</table><p class=note>{html.escape(bases)} ({html.escape(sweep.timestamp)}).</p>"

    def _platform_rows(self) -> tuple[list[str], list[list[str]]]:
        """Each step's size on this log's platform and on each other one, and their ratio."""
        own = next((record.platform for record in self.records.values()), "") or "this log"
        others = list(self.platforms)
        arch = {name: name.rpartition("/")[2] for name in (own, *others)}
        head = ["step", "image", own, *others, *(f"{arch[o]} ÷ {arch[own]}" for o in others)]
        rows = []
        for step, record in sorted(self.records.items()):
            found = [self.platforms[other].get(step) for other in others]
            rows.append(
                [
                    str(step),
                    record.tag,
                    docker_size(record.size),
                    *(docker_size(each.size) if each else "—" for each in found),
                    *(f"{each.size / record.size:.2f}" if each else "—" for each in found),
                ]
            )
        return head, rows

    def _platforms(self) -> str:
        if not self.platforms:
            return (
                "<p>This log's platform only: <code>invoke all --platform "
                "linux/amd64,linux/arm64</code> builds the steps for both.</p>"
            )
        head, rows = self._platform_rows()
        return f"<table>{_row(*head, cell='th')}{''.join(_row(*row) for row in rows)}</table>"

    def _trend_charts(self) -> str:
        """Each image's size over the kept runs: a line of its own, on its own scale."""
        names = list(dict.fromkeys(name for run in self.runs for name in run.images))
        rows = []
        for name in names:
            sizes = [run.images[name].size if name in run.images else None for run in self.runs]
            known = [size for size in sizes if size is not None]
            low, high = min(known), max(known)
            step = 240 / max(len(sizes) - 1, 1)
            points = " ".join(
                f"{index * step:.1f},{36 - 32 * ((size - low) / (high - low) if high > low else 0.5):.1f}"
                for index, size in enumerate(sizes)
                if size is not None
            )
            chart = (
                f'<svg class=trend role=img aria-label="{html.escape(name)} over {len(sizes)} runs" '
                f'viewBox="-4 0 248 40" width="248" height="40"><polyline points="{points}" /></svg>'
            )
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{chart}</td><td>{docker_size(known[0])} → "
                f"{docker_size(known[-1])}</td></tr>"
            )
        return f"<table class=trends>{_row('image', 'size over the runs', 'first → last', cell='th')}{''.join(rows)}</table>"

    def _history(self) -> str:
        if not self.runs:
            return "<p>No runs yet: each <code>invoke all</code> adds one.</p>"
        steps = sorted({step for run in self.runs for step in run.sizes})
        head = _row("run", "commit", "engine", "Go", *(str(step) for step in steps), cell="th")
        rows = [
            _row(
                run.timestamp,
                f"{run.commit[:10]} ({run.branch})" if run.commit else "",
                run.engine,
                run.go_version,
                *(docker_size(run.sizes[s]) if s in run.sizes else "" for s in steps),
            )
            for run in reversed(self.runs)
        ]
        return self._trend_charts() + f"<table>{head}{''.join(rows)}</table>"


def _asset(name: str) -> str:
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


def _row(*cells: object, cell: str = "td", classes: Sequence[str] = ()) -> str:
    parts = []
    for index, value in enumerate(cells):
        css = f' class="{classes[index]}"' if index < len(classes) and classes[index] else ""
        parts.append(f"<{cell}{css}>{html.escape(str(value))}</{cell}>")
    return f"<tr>{''.join(parts)}</tr>"


_PAGE = """<!doctype html>
<html lang=en>
<head>
<meta charset=utf-8>
<title>Multi-stage Image Build, measured</title>
<style>{style}</style>
<script>{script}</script>
</head>
<body>
{body}
</body>
</html>
"""


def write_report(
    engine: EngineAPI, *, size_log: SizeLog, history: History, sweep_dir: Path, folder: Path
) -> str:
    """`invoke report`: the HTML report and the Markdown summary, each image the engine still
    has explained; the Markdown is added to $GITHUB_STEP_SUMMARY where that is set."""
    check_folder(
        folder, what="the report folder", setting="report_dir", nothing="Nothing was written."
    )
    targets = [folder / "report.html", folder / "report.md"]
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    records = size_log.read()
    own = {record.platform for record in records.values()}
    others = {
        platform: SizeLog(platform_log(size_log.path, platform)).read()
        for platform in PLATFORMS
        if platform not in own and platform_log(size_log.path, platform).exists()
    }
    figures = load_figures()
    known = {base.image_id: base.reference for record in records.values() for base in record.bases}
    explanations = {}
    diffs = []
    try:
        layers = {}
        present = {
            step: record
            for step, record in sorted(records.items())
            if engine.image(record.image_id) is not None
        }

        def read(record: SizeRecord) -> tuple[Explanation, tuple[Layer, ...]]:
            # One save of the image gives both: its layers, and its files (the layers merged).
            image_layers = read_layers(engine, record.image_id)
            explained = explain(
                engine, record.image_id, known_bases=known, files=flattened(image_layers)
            )
            return replace(explained, reference=record.tag), image_layers

        read_all = _side_by_side(read, list(present.values()), at_once=READ_AT_ONCE)
        for step, (explained, image_layers) in zip(present, read_all, strict=True):
            explanations[step], layers[step] = explained, image_layers
        for old, new in pairwise(sorted(layers)):
            a, b = records[old], records[new]
            diffs.append(
                diff_layers(
                    engine,
                    (a.tag, a.image_id, layers[old]),
                    (b.tag, b.image_id, layers[new]),
                    top=3,
                )
            )
    except EngineUnavailable:
        explanations, diffs = {}, []
    verdict, note = None, ""
    try:
        verdict = verify(records, figures, log=size_log.path)
    except WorkshopError as error:
        note = error.message
    report = Report(
        records,
        figures,
        explanations,
        verdict,
        note,
        history.read(),
        read_sweep(sweep_dir),
        diffs,
        {platform: logged for platform, logged in others.items() if logged},
    )
    write_atomic(targets[0], report.html(), what="HTML report", setting="report_dir")
    write_atomic(targets[1], report.markdown(), what="Markdown report", setting="report_dir")
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as job_summary:
                job_summary.write(report.markdown())
        except OSError as error:
            raise DataFileError(
                f"Wrote {targets[0]} and {targets[1]}, but can't add to $GITHUB_STEP_SUMMARY "
                f"({summary_file}): {error.strerror}."
            ) from None
    return f"Wrote {targets[0]} and {targets[1]}."


def _side_by_side(
    work: Callable[[_Item], _Answer], items: Sequence[_Item], *, at_once: int
) -> list[_Answer]:
    """`work` of each item, in their order, at most `at_once` at a time in threads of their
    own; the first failure as soon as it comes. The threads are daemons: Ctrl-C ends the task at
    once, a save still streaming ending with the process (it needs no clean-up, unlike a
    container), where a pool's threads would each be waited for. Once one has failed, or the
    caller was interrupted, no thread takes another item."""
    todo = iter(list(enumerate(items)))
    taking = threading.Lock()
    stopped = threading.Event()
    answers: queue.SimpleQueue[tuple[int, _Answer | None, BaseException | None]] = (
        queue.SimpleQueue()
    )

    def worker() -> None:
        while not stopped.is_set():
            with taking:
                item = next(todo, None)
            if item is None:
                return
            index, value = item
            try:
                answers.put((index, work(value), None))
            except BaseException as error:  # handed to the caller, raised there
                stopped.set()
                answers.put((index, None, error))

    for _ in range(min(at_once, len(items))):
        threading.Thread(target=worker, name="report-read", daemon=True).start()
    done: dict[int, _Answer] = {}
    try:
        while len(done) < len(items):
            index, answer, error = answers.get()
            if error is not None:
                raise error
            done[index] = cast("_Answer", answer)
    finally:
        stopped.set()
    return [done[index] for index in range(len(items))]


def _pull(record: SizeRecord) -> str:
    """What a pull of `record`'s image downloads, and of the smallest image around its program
    (the floor's, pushed by hand), where measured."""
    pulled = docker_size(record.pull_size) if record.pull_size else "not measured"
    parts = record.smallest_pull
    if not parts:
        return pulled
    listed = ", ".join(f"{part} {size:,}" for part, size in parts.items())
    return f"{pulled}; by hand: {sum(parts.values()):,} bytes ({listed})"
