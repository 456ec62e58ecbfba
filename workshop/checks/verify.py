"""Check a size log against the workshop's figures and claims (figures.toml). Needs no engine.

Claims hold on any bases and Go; documented figures gate only on the workshop's own bases (or
with --strict), and are shown with the reason otherwise. The command line is checks/cli.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workshop.catalogue import WORKSHOP_BUILD_STEPS
from workshop.checks.junit import Case, junit_suite
from workshop.engine.values import CONTAINERS_STORAGE, FILES_MEASURED
from workshop.errors import DataFileError
from workshop.records.sizelog import SizeRecord
from workshop.steps.figures import Claim, DocumentedImage, Figures
from workshop.steps.reproducible import why_built_once
from workshop.units import docker_size, ratio, times

__all__ = ["Check", "Verdict", "Verdicts", "verify"]

PASS, FAIL, SHOWN = "pass", "fail", "shown"


@dataclass(frozen=True)
class Check:
    id: str
    kind: str  # "figure" or "claim"
    verdict: str  # pass, fail, or shown (a figure that does not gate)
    message: str
    quote: str
    expected: str = ""
    found: str = ""
    deviation: str = ""
    step: int = 0
    # Why the check's bound is what it is (figures.toml), shown where a verdict is explained.
    reason: str = ""


@dataclass(frozen=True)
class Verdict:
    log: Path
    checks: tuple[Check, ...]
    gating_figures: bool
    why_not_gating: str
    # The measured headline ratio, beside the workshop's words for it.
    headline: str = ""
    # What the sizes compared are, on the image stores the log's records came from.
    compared: str = ""

    @property
    def passed(self) -> bool:
        return all(check.verdict != FAIL for check in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def __rich__(self) -> RenderableType:
        figures = Table(title=f"Sizes in {self.log} against the workshop's", title_style="bold")
        for column in ("step", "image", "documented", "measured", "deviation", "verdict"):
            figures.add_column(
                column, justify="right" if column in ("step", "deviation") else "left"
            )
        claims = Table(title="The workshop's claims", title_style="bold")
        if not any(check.kind == "figure" for check in self.checks):
            claims.title = f"The workshop's claims, on the ladder in {self.log}"
        for column in ("claim", "verdict", "what was found"):
            claims.add_column(column)
        for check in self.checks:
            verdict = _styled(check.verdict)
            if check.kind == "figure":
                image = check.id.removeprefix("figure-")
                row = (
                    str(check.step),
                    image,
                    check.expected,
                    check.found,
                    check.deviation,
                    verdict,
                )
                figures.add_row(*row)
            else:
                claims.add_row(check.id, verdict, check.message)
        has_figures = any(check.kind == "figure" for check in self.checks)
        parts: list[RenderableType] = [figures] if has_figures else []
        if self.compared:
            parts.append(Text(self.compared, style="dim"))
        figure_reason = next((c.reason for c in self.checks if c.kind == "figure"), "")
        if figure_reason:
            parts.append(Text(f"Why ±5%: {figure_reason}", style="dim"))
        if not self.gating_figures:
            parts.append(Text(f"The figures don't gate: {self.why_not_gating}", style="yellow"))
        parts.append(claims)
        if self.headline:
            parts.append(Text(self.headline, style="bold"))
        failed = [check for check in self.checks if check.verdict == FAIL]
        shown = sum(check.verdict == SHOWN for check in self.checks)
        passed = len(self.checks) - len(failed) - shown
        summary = f"{passed} passed, {len(failed)} failed, {shown} shown without gating"
        parts.append(Text(summary, style="bold green" if not failed else "bold red"))
        for check in failed:
            parts.append(Text(f"FAIL {check.id}: {check.message}", style="red"))
            if check.reason:
                parts.append(Text(f"  Why this bound: {check.reason}", style="dim"))
        return Group(*parts)

    def to_json(self) -> dict[str, object]:
        return {
            "log": str(self.log),
            "passed": self.passed,
            "gating_figures": self.gating_figures,
            "why_not_gating": self.why_not_gating,
            "headline": self.headline,
            "compared": self.compared,
            "checks": [asdict(check) for check in self.checks],
        }

    def to_junit(self) -> str:
        return junit_suite("workshop-verify", self.cases())

    def cases(self, within: str = "verify") -> tuple[Case, ...]:
        """A JUnit test case per check, each of the class `within`.KIND."""
        outcomes = {FAIL: "failed", SHOWN: "skipped", PASS: "passed"}
        return tuple(
            Case(
                classname=f"{within}.{check.kind}",
                name=check.id,
                outcome=outcomes[check.verdict],
                message=(
                    f"{check.message} {self.why_not_gating}"
                    if check.verdict == SHOWN
                    else check.message
                ),
                details=f"{check.quote}\nWhy this bound: {check.reason}",
            )
            for check in self.checks
        )


@dataclass(frozen=True)
class Verdicts:
    """verify on several platforms, each platform's size log with its own verdict."""

    verdicts: Mapping[str, Verdict]  # platform -> its verdict

    @property
    def passed(self) -> bool:
        return all(verdict.passed for verdict in self.verdicts.values())

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = []
        for platform, verdict in self.verdicts.items():
            parts += [Text(f"On {platform}", style="bold underline"), verdict]
        return Group(*parts)

    def to_json(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "platforms": {platform: v.to_json() for platform, v in self.verdicts.items()},
        }

    def to_junit(self) -> str:
        return junit_suite(
            "workshop-verify",
            (
                case
                for platform, verdict in self.verdicts.items()
                for case in verdict.cases(f"{platform}.verify")
            ),
        )


def _styled(verdict: str) -> Text:
    text, style = {PASS: ("pass", "green"), FAIL: ("FAIL", "bold red"), SHOWN: ("shown", "yellow")}[
        verdict
    ]
    return Text(text, style=style)


class IncompleteLog(DataFileError):
    """The log lacks steps the checks need."""


# A shrink ladder's claims: the workshop's, on a person's program. Each rung, by its place in
# the log (workshop.ladder: 1 2 3 4 4b 5 6 are 1 to 7), is smaller than the rung it improves on:
# the first of those candidates that was logged (rung 5 improves on 4b, or on 4 without one).
_LADDER_CLAIMS = (
    ("alpine-smaller", 2, (1,), "golang-alpine makes it smaller than golang"),
    (
        "multi-stage-smaller",
        3,
        (2,),
        "Only the last stage is stored as the resulting image: multi-stage ships less",
    ),
    ("scratch-smaller", 4, (3,), "scratch, the zero-files image, ships less than alpine"),
    ("stripped-smaller", 6, (5, 4), "the stripped binary is smaller than the unstripped one"),
    ("upx-smaller", 7, (6,), "UPX makes the stripped binary smaller still"),
)


def is_ladder(records: Mapping[int, SizeRecord]) -> bool:
    """Whether a log is `invoke shrink`'s (its tags are PREFIXshrink-KEY-RUNG)."""
    return bool(records) and all("shrink-" in record.tag for record in records.values())


def verify_ladder(records: Mapping[int, SizeRecord], *, log: Path) -> Verdict:
    """A shrink log: each technique made the image smaller than the one before it, where
    both rungs worked (a rung that broke was not logged, and its claim is shown)."""
    checks: list[Check] = []
    for name, rung, candidates, quote in _LADDER_CLAIMS:
        against = next((each for each in candidates if each in records), None)
        if rung not in records or against is None:
            checks.append(
                Check(
                    name,
                    "claim",
                    SHOWN,
                    "a rung it compares did not work, so it was not logged",
                    quote,
                )
            )
            continue
        this, other = records[rung], records[against]
        checks.append(
            Check(
                id=name,
                kind="claim",
                verdict=PASS if this.size < other.size else FAIL,
                message=(
                    f"{this.tag} {docker_size(this.size)} against {other.tag} "
                    f"{docker_size(other.size)}"
                ),
                quote=quote,
                step=this.step,
            )
        )
    first, last = records[min(records)], records[max(records)]
    return Verdict(
        log=log,
        checks=tuple(checks),
        gating_figures=True,
        why_not_gating="",
        headline=(
            f"Measured: {first.tag} ({docker_size(first.size)}) is "
            f"{times(ratio(first.size, last.size))} times {last.tag} ({docker_size(last.size)})."
        ),
        compared=_compared(records),
    )


def verify(
    records: Mapping[int, SizeRecord], figures: Figures, *, log: Path, strict: bool = False
) -> Verdict:
    if is_ladder(records):
        return verify_ladder(records, log=log)
    missing = sorted(set(WORKSHOP_BUILD_STEPS) - set(records))
    if missing:
        steps = " ".join(f"step-{step}" for step in missing)
        raise IncompleteLog(
            f"The size log {log} has no record for {steps}, so it can't be verified. Run "
            f"`invoke all` (or `invoke {steps}`) to measure them, then verify again."
        )
    foreign = sorted(
        {
            f"{base.reference}{' (a local stand-in)' if base.standin else ''}"
            for record in records.values()
            for base in record.bases
            if base.standin or base.reference not in figures.workshop_bases
        }
    )
    go_versions = sorted({record.go_version for record in records.values()})
    platforms = sorted({r.platform for r in records.values() if r.platform} - {figures.platform})
    why_not = ""
    if foreign:
        why_not = (
            f"this run was built on {', '.join(foreign)} with {', '.join(go_versions)}, and the "
            f"workshop measured on {', '.join(figures.workshop_bases)} with Go 1.10. "
            "Pass --strict to gate on them anyway."
        )
    if platforms:
        # Another platform's images are other programs: no --strict makes them the figures'.
        why_not = (
            f"this run was built for {', '.join(platforms)}, and the workshop measured "
            f"{figures.platform} images."
        )
    gating = not platforms and (not foreign or strict)
    checks = [
        _figure(records[step], documented, figures, gating)
        for step, documented in figures.images.items()
    ]
    checks += [_claim(claim, records) for claim in figures.claims]
    big, small = records[min(WORKSHOP_BUILD_STEPS)], records[max(WORKSHOP_BUILD_STEPS)]
    headline = (
        f"Measured: {big.tag} ({docker_size(big.size)}) is {times(ratio(big.size, small.size))} "
        f'times {small.tag} ({docker_size(small.size)}). The workshop: "{figures.headline}"'
    )
    return Verdict(
        log=log,
        checks=tuple(checks),
        gating_figures=gating,
        why_not_gating=why_not,
        headline=headline,
        compared=_compared(records),
    )


def _compared(records: Mapping[int, SizeRecord]) -> str:
    """Which size the checks compare, in words, for the stores the records came from."""
    containerd = sorted(
        step for step, record in records.items() if record.image_store in FILES_MEASURED
    )
    if not containerd:
        return (
            "Sizes compared: each image's layers as the classic image store counts them, what "
            "docker image ls shows there and what the workshop measured."
        )
    example = records[containerd[0]]
    store, listed = (
        ("Podman's store", "each layer as a tar, a header and padding for each file")
        if example.image_store == CONTAINERS_STORAGE
        else ("the containerd image store", "stored content and unpacked snapshot together")
    )
    return (
        "Sizes compared: the bytes of each image's files, as the workshop measured them. On "
        f"{store} (steps {', '.join(map(str, containerd))}) they are read from "
        f"the image's filesystem, not what docker image ls shows there ({listed}: "
        f"{docker_size(example.listed)} for {example.tag}, whose files are "
        f"{docker_size(example.size)})."
    )


def _figure(
    record: SizeRecord, documented: DocumentedImage, figures: Figures, gating: bool
) -> Check:
    size = documented.size
    deviation = ratio(record.size - size, size)
    within = abs(deviation) <= figures.figure_tolerance
    verdict = (PASS if within else FAIL) if gating else SHOWN
    return Check(
        id=f"figure-{record.tag}",
        kind="figure",
        verdict=verdict,
        message=(
            f"{record.tag} measures {docker_size(record.size)} ({record.size:,} bytes), documented "
            f"{documented.documented}: {deviation:+.1%}, "
            f"{'within' if within else 'beyond'} ±{figures.figure_tolerance:.0%}."
        ),
        quote=documented.quote,
        expected=documented.documented,
        found=docker_size(record.size),
        deviation=f"{deviation:+.1%}",
        step=record.step,
        reason=figures.figure_tolerance_reason,
    )


def _not_gated(claim: Claim, records: Mapping[int, SizeRecord], needed: set[int]) -> str:
    """Why `claim` is shown rather than checked on `records`; "" where it is checked."""
    if missing := sorted(needed - set(records)):
        # Only steps beyond the workshop can be missing here: verify() requires steps 4 to 9.
        steps = " ".join(f"step-{step}" for step in missing)
        return f"not run: the log has no {steps} (invoke beyond measures them)."
    if claim.params.get("measure") == "pull_size" and not all(
        records[step].pull_size for step in needed
    ):
        return "not measured: no registry was set (INVOKE_WORKSHOP_REGISTRY=HOST:PORT)."
    if elsewhere := _other_platform(claim, records):
        return elsewhere
    record = records.get(int(claim.params.get("step", 0)))
    if record is not None and claim.kind == "same-id" and not record.rebuilt_image_id:
        why = why_built_once(record.engine_version, record.image_store, record.engine_product)
        return f"not checked: {record.tag} was built once, as {why}."
    return ""


def _other_platform(claim: Claim, records: Mapping[int, SizeRecord]) -> str:
    """Why `claim`, whose bound is one platform's, is not held to `records` of another."""
    record = records.get(int(claim.params.get("step", 0)))
    only_on = str(claim.params.get("platform", ""))
    if record is not None and only_on and record.platform and record.platform != only_on:
        return f"not for {record.platform}: the claim's bound is {only_on}'s."
    return ""


def _claim(claim: Claim, records: Mapping[int, SizeRecord]) -> Check:
    needed = {
        int(claim.params[key]) for key in ("step", "against", "minus_step") if key in claim.params
    }
    needed |= {int(step) for step in claim.params.get("steps", ())}
    shown = _not_gated(claim, records, needed)
    if shown and shown == _other_platform(claim, records):
        # Another platform's: measured all the same, and what was found shown beside why.
        _, found = _CLAIMS[claim.kind](claim.params, records)
        verdict, message = SHOWN, f"{shown} Measured here: {found}"
    elif shown:
        verdict, message = SHOWN, shown
    else:
        holds, message = _CLAIMS[claim.kind](claim.params, records)
        verdict = PASS if holds else FAIL
    return Check(
        id=claim.id,
        kind="claim",
        verdict=verdict,
        message=message,
        quote=claim.quote,
        reason=claim.reason,
    )


def _decreasing(params: Mapping[str, Any], records: Mapping[int, SizeRecord]) -> tuple[bool, str]:
    """Each step's `measure` (its size, or its pull size) smaller than the one before."""
    measure = str(params.get("measure", "size"))
    what = "A pull of " if measure == "pull_size" else ""
    steps = [records[step] for step in params["steps"]]
    for earlier, later in pairwise(steps):
        now, before = getattr(later, measure), getattr(earlier, measure)
        if now >= before:
            return False, (
                f"{what}{later.tag} ({docker_size(now)}, {now:,} bytes) is not smaller than "
                f"{earlier.tag} ({docker_size(before)}, {before:,} bytes)."
            )
    prefix = "pulls: " if measure == "pull_size" else ""
    return True, prefix + " > ".join(
        f"{record.tag} {docker_size(getattr(record, measure))}" for record in steps
    )


def _share_outside(
    params: Mapping[str, Any], records: Mapping[int, SizeRecord]
) -> tuple[bool, str]:
    whole, part = records[params["step"]], records[params["minus_step"]]
    share = ratio(whole.size - part.size, whole.size)
    at_least = float(params["at_least"])
    return share >= at_least, (
        f"{share:.1%} of {whole.tag} ({docker_size(whole.size)}) is beyond {part.tag} "
        f"({docker_size(part.size)}); "
        f"expected at least {at_least:.0%}."
    )


def _base_plus_binary(
    params: Mapping[str, Any], records: Mapping[int, SizeRecord]
) -> tuple[bool, str]:
    record = records[params["step"]]
    bases = [base for base in record.bases if base.role == params["role"]]
    if not bases:
        return False, f"{record.tag} has no base in the {params['role']} role in the log."
    expected = bases[0].size + record.binary_size
    tolerance = int(params["tolerance_bytes"])
    off = record.size - expected
    return abs(off) <= tolerance, (
        f"{record.tag} is {record.size:,} bytes; its base {bases[0].reference} ({bases[0].size:,}) "
        f"plus /app ({record.binary_size:,}) is {expected:,}: {off:+,} bytes, "
        f"allowed ±{tolerance:,}."
    )


def _binary_only(params: Mapping[str, Any], records: Mapping[int, SizeRecord]) -> tuple[bool, str]:
    record = records[params["step"]]
    off = record.size - record.binary_size
    tolerance = int(params["tolerance_bytes"])
    return abs(off) <= tolerance, (
        f"{record.tag} is {record.size:,} bytes and /app is {record.binary_size:,}: "
        f"{off:+,} bytes, "
        f"allowed ±{tolerance:,}."
    )


def _saves(params: Mapping[str, Any], records: Mapping[int, SizeRecord]) -> tuple[bool, str]:
    record, against = records[params["step"]], records[params["against"]]
    saved = ratio(against.size - record.size, against.size)
    at_least = float(params["at_least"])
    return saved >= at_least, (
        f"{record.tag} ({docker_size(record.size)}) saves {saved:.1%} against {against.tag} "
        f"({docker_size(against.size)}); expected at least {at_least:.0%}."
    )


def _ratio(params: Mapping[str, Any], records: Mapping[int, SizeRecord]) -> tuple[bool, str]:
    record, against = records[params["step"]], records[params["against"]]
    found = ratio(record.size, against.size)
    at_least = float(params["at_least"])
    return found >= at_least, (
        f"{record.tag} ({docker_size(record.size)}) is {times(found)} times {against.tag} "
        f"({docker_size(against.size)}); expected more than {times(at_least)}."
    )


def _close(params: Mapping[str, Any], records: Mapping[int, SizeRecord]) -> tuple[bool, str]:
    record, against = records[params["step"]], records[params["against"]]
    off = ratio(record.size - against.size, against.size)
    within = float(params["within"])
    return abs(off) <= within, (
        f"{record.tag} ({docker_size(record.size)}) is {off:+.1%} against {against.tag} "
        f"({docker_size(against.size)}); expected within ±{within:.0%}."
    )


def _at_most(params: Mapping[str, Any], records: Mapping[int, SizeRecord]) -> tuple[bool, str]:
    record = records[params["step"]]
    limit = int(params["bytes"])
    return (
        record.size <= limit,
        f"{record.tag} is {record.size:,} bytes; expected at most {limit:,}.",
    )


def _same(params: Mapping[str, Any], records: Mapping[int, SizeRecord]) -> tuple[bool, str]:
    record, against = records[params["step"]], records[params["against"]]
    return record.size == against.size, (
        f"{record.tag} is {record.size:,} bytes and {against.tag} {against.size:,}: "
        f"{record.size - against.size:+,} bytes."
    )


def _same_id(params: Mapping[str, Any], records: Mapping[int, SizeRecord]) -> tuple[bool, str]:
    record = records[params["step"]]
    first, second = record.image_id, record.rebuilt_image_id
    return first == second, (
        f"{record.tag} built twice from scratch on Docker {record.engine_version} "
        f"({record.image_store} image store): {first[:19]} and {second[:19]}."
    )


_CLAIMS: dict[str, Callable[[Mapping[str, Any], Mapping[int, SizeRecord]], tuple[bool, str]]] = {
    "decreasing": _decreasing,
    "share-outside": _share_outside,
    "base-plus-binary": _base_plus_binary,
    "binary-only": _binary_only,
    "saves": _saves,
    "ratio": _ratio,
    "close": _close,
    "at-most": _at_most,
    "same": _same,
    "same-id": _same_id,
}
