"""The whole workshop on a real Docker Engine, checked with the docker CLI where it can be."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from itertools import pairwise
from pathlib import Path

import pytest

from tests.support.images import TAGS, app_of, binary, docker, saved_files
from tests.support.paths import ROOT
from tests.support.running import WorkshopRun, invoke, verify_cli

pytestmark = pytest.mark.engine


def test_every_step_was_logged(workshop_run: WorkshopRun) -> None:
    assert sorted(workshop_run.records()) == list(TAGS)


@pytest.mark.parametrize("step", sorted(TAGS))
def test_every_image_prints_hello_world(workshop_run: WorkshopRun, step: int) -> None:
    ran = subprocess.run(
        ["docker", "run", "--rm", workshop_run.tag(TAGS[step])], capture_output=True, text=True
    )
    # println writes to stderr, as `docker run -ti` shows.
    assert (ran.returncode, ran.stdout + ran.stderr) == (0, "Hello world!\n")
    assert workshop_run.records()[step].output == "Hello world!\n"


def test_sizes_strictly_decrease_from_step_4_to_step_9(workshop_run: WorkshopRun) -> None:
    sizes = [workshop_run.records()[step].size for step in sorted(TAGS)]
    assert all(later < earlier for earlier, later in pairwise(sizes)), sizes


def test_every_logged_size_is_what_docker_inspect_says(workshop_run: WorkshopRun) -> None:
    for step, record in workshop_run.records().items():
        inspected = docker(
            "image", "inspect", "--format", "{{.Id}} {{.Size}}", workshop_run.tag(TAGS[step])
        ).split()
        assert inspected == [record.image_id, str(record.size)]


def test_go_scratch_holds_exactly_one_file_app(workshop_run: WorkshopRun) -> None:
    assert saved_files(workshop_run.tag("go-scratch")) == ["app"]


def test_go_stripped_has_no_symbol_table_and_go_scratch_has_one(
    workshop_run: WorkshopRun,
) -> None:
    assert binary(workshop_run.tag("go-scratch")).get_section_by_name(".symtab") is not None
    assert binary(workshop_run.tag("go-stripped")).get_section_by_name(".symtab") is None


def test_the_size_text_is_what_docker_image_ls_prints(workshop_run: WorkshopRun) -> None:
    for step, record in workshop_run.records().items():
        listed = docker("image", "ls", "--format", "{{.Size}}", workshop_run.tag(TAGS[step]))
        assert listed.strip() == record.size_human, (step, listed, record.size_human)


def test_each_record_measures_the_image_its_tag_names(workshop_run: WorkshopRun) -> None:
    # size and /app come from one image: the one the build returned, run by its id.
    for step, record in workshop_run.records().items():
        assert len(app_of(record.image_id)) == record.binary_size, step


def test_the_summary_shows_the_headline(workshop_run: WorkshopRun) -> None:
    assert "The workshop, measured" in workshop_run.result.stdout
    assert "796mb was 1167 times bigger than 682kb" in workshop_run.result.stdout


def test_step_8_alone_brings_back_go_scratch_and_go_stripped(workshop_run: WorkshopRun) -> None:
    big_before = docker("image", "inspect", "--format", "{{.Id}}", workshop_run.tag("go-big"))
    docker("image", "rm", workshop_run.tag("go-scratch"), workshop_run.tag("go-stripped"))
    result = invoke("step-8", env=workshop_run.env)
    assert result.returncode == 0, result.stderr
    for tag in ("go-scratch", "go-stripped"):
        docker("image", "inspect", workshop_run.tag(tag))
    assert "Step 7: building" in result.stdout and "Step 8: building" in result.stdout
    assert "Step 4:" not in result.stdout and "Step 9:" not in result.stdout
    assert (
        docker("image", "inspect", "--format", "{{.Id}}", workshop_run.tag("go-big")) == big_before
    )
    assert "less than" in result.stdout and workshop_run.tag("go-scratch") in result.stdout


def test_the_logged_go_version_is_what_the_toolchain_says(workshop_run: WorkshopRun) -> None:
    for record in workshop_run.records().values():
        base = record.bases[0].reference
        said = docker("run", "--rm", base, "go", "version").split()[2]
        assert record.go_version == said


def test_explain_shows_the_toolchain_and_os_dominate_go_big(workshop_run: WorkshopRun) -> None:
    result = invoke("explain", workshop_run.tag("go-big"), env=workshop_run.env)
    assert result.returncode == 0, result.stderr
    from workshop.engine.client import Engine
    from workshop.inspection.explain import explain

    known = {
        base.image_id: base.reference for r in workshop_run.records().values() for base in r.bases
    }
    explained = explain(Engine.from_env(), workshop_run.tag("go-big"), known_bases=known)
    assert explained.share("the app") < 0.01
    assert explained.parts[0][0] in ("Go toolchain", "the OS and the rest")
    assert explained.base == workshop_run.records()[4].bases[0].reference
    assert explained.base_bytes / explained.size > 0.99
    assert "What the bytes are" in result.stdout and "Go toolchain" in result.stdout


def test_explain_shows_app_is_all_of_go_scratch(workshop_run: WorkshopRun) -> None:
    from workshop.engine.client import Engine
    from workshop.inspection.explain import explain

    explained = explain(Engine.from_env(), workshop_run.tag("go-scratch"))
    assert explained.parts == (("the app", explained.size),)
    assert explained.files == (("app", explained.size),)
    assert [layer.from_base for layer in explained.layers] == [False]
    assert explained.wasted == 0


def test_explain_shows_the_go_toolchain_is_most_of_go_alpine(workshop_run: WorkshopRun) -> None:
    from workshop.engine.client import Engine
    from workshop.inspection.explain import explain

    explained = explain(Engine.from_env(), workshop_run.tag("go-alpine"))
    assert explained.parts[0][0] == "Go toolchain"
    assert explained.share("Go toolchain") > 0.9
    assert explained.share("the app") < 0.01


def test_the_files_the_report_reads_from_layers_are_those_an_export_shows(
    workshop_run: WorkshopRun,
) -> None:
    """The report explains each image from its save (its layers merged), not a container's
    export: the same files, bytes and kinds, but for what the engine adds to a container. (Of
    two hard links, which one a tar holds as the file can differ: go-big's gunzip.)"""
    from workshop.engine.client import Engine
    from workshop.inspection.layers import flattened, read_layers

    engine = Engine.from_env()
    image = workshop_run.tag("go-alpine")
    merged = {entry.path: entry for entry in flattened(read_layers(engine, image))}
    with engine.files(image) as members:
        exported = {entry.path: entry for entry in members}
    engines_own = {".", ".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab"}
    engines_own |= {"proc", "sys", "dev", *(path for path in exported if path.startswith("dev/"))}
    assert len(merged) > 10_000
    assert {path: entry for path, entry in merged.items() if path not in engines_own} == {
        path: entry for path, entry in exported.items() if path not in engines_own
    }


@pytest.mark.browser
def test_the_report_renders_in_a_real_browser(workshop_run: WorkshopRun) -> None:
    result = invoke("report", env=workshop_run.env)
    assert result.returncode == 0, result.stderr
    folder = Path(workshop_run.env["INVOKE_WORKSHOP_REPORT_DIR"])
    page = folder / "report.html"
    assert "| 9 | " in (folder / "report.md").read_text()
    chromium = shutil.which("chromium")
    assert chromium is not None  # the browser marker's rule checked it
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={folder / 'chromium-profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-rendered="yes"' in dom
    assert 'data-chart-bars="12"' in dom
    assert "data-errors" not in dom
    assert "What the bytes are" in dom and "go-big" in dom


def test_the_golang_stand_in_keeps_no_apt_caches(workshop_run: WorkshopRun) -> None:
    base = workshop_run.records()[4].bases[0]
    if not base.standin:
        pytest.skip(f"this run used {base.reference}, not a stand-in")
    cached = docker("run", "--rm", base.reference, "du", "-sk", "/var/cache/apt").split()[0]
    assert int(cached) < 1024, f"{cached} kB of apt caches in {base.reference}"


def test_explain_reads_an_image_with_no_command(workshop_run: WorkshopRun, tmp_path: Path) -> None:
    from tests.support.leftovers import RUN_PREFIX

    (tmp_path / "hello.txt").write_text("hello")
    with subprocess.Popen(
        ["tar", "-C", str(tmp_path), "-c", "hello.txt"], stdout=subprocess.PIPE
    ) as tar:
        imported = subprocess.run(
            ["docker", "import", "-", f"{RUN_PREFIX}no-command"],
            stdin=tar.stdout,
            capture_output=True,
            check=True,
        )
    assert imported.returncode == 0
    result = invoke("explain", f"{RUN_PREFIX}no-command", env=workshop_run.env)
    assert result.returncode == 0, result.stderr
    assert "/hello.txt" in result.stdout


def test_explain_refuses_a_bad_top_with_its_code(workshop_run: WorkshopRun) -> None:
    result = invoke("explain", workshop_run.tag("go-scratch"), "--top", "abc", env=workshop_run.env)
    assert result.returncode == 64
    assert "--top is 'abc'" in result.stderr and "Traceback" not in result.stderr


def test_engine_shows_the_engine_the_tasks_use(workshop_run: WorkshopRun) -> None:
    result = invoke("engine", env=workshop_run.env)
    assert result.returncode == 0, result.stderr
    version = docker("version", "--format", "{{.Server.Version}}").strip()
    assert f"Answers: Docker {version}" in result.stdout
    assert "image store" in result.stdout


def test_diff_says_what_strip_took_away(workshop_run: WorkshopRun) -> None:
    result = invoke("diff", "--steps", "7", "8", env=workshop_run.env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1 path changed" in out and "/app, section by section" in out
    for section in (".symtab", ".strtab", ".debug_info"):
        assert section in out


def exported_files(image: str) -> dict[str, int]:
    """Regular files and their bytes, from `docker export` of a container never started."""
    container = docker("create", image, "/none").strip()
    try:
        exported = subprocess.run(
            ["docker", "export", container], capture_output=True, check=True
        ).stdout
    finally:
        docker("rm", "--force", container)
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        files = {m.name.removeprefix("./"): m.size for m in tar.getmembers() if m.isfile()}
    mounts = {".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf"}
    return {path: size for path, size in files.items() if path not in mounts}


@pytest.mark.parametrize(
    ("before", "after"), [("go-multi-stage", "go-scratch"), ("go-alpine", "go-multi-stage")]
)
def test_a_diff_agrees_with_docker_export(
    workshop_run: WorkshopRun, before: str, after: str
) -> None:
    from workshop.engine.client import Engine
    from workshop.inspection.diff import diff_images

    a, b = workshop_run.tag(before), workshop_run.tag(after)
    diff = diff_images(Engine.from_env(), a, b)
    old, new = exported_files(a), exported_files(b)
    expected = {
        path: ("added" if path not in old else "removed" if path not in new else "changed")
        for path in set(old) | set(new)
        if old.get(path) != new.get(path)
    }
    assert {change.path: change.change for change in diff.changes} == expected
    assert (diff.a_bytes, diff.b_bytes) == (sum(old.values()), sum(new.values()))


GROWN_APP = (
    'package main\n\nvar padding = "' + "x" * 200_000 + '"\n\n'
    "func main() {\n  if padding[len(padding)-1] == 'y' {\n    println(padding)\n  }\n"
    '  println("Hello world!")\n}\n'
)


def test_trends_name_the_run_where_an_image_grew_and_which_files(
    workshop_run: WorkshopRun, tmp_path: Path
) -> None:
    env = workshop_run.own("trends", tmp_path)
    assert invoke("all", env=env).returncode == 0
    # The second run, with a go-smaller 200 kB larger (the workspace keeps an edited file).
    (tmp_path / "workspace" / "app-smaller.go").write_text(GROWN_APP)
    grown = invoke("all", env=env)
    assert grown.returncode == 0, grown.stderr
    result = verify_cli("--trends", "--history", env["INVOKE_WORKSHOP_HISTORY"])
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, out
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    assert "go-smaller grew" in out and f"(commit {commit[:10]}" in out
    assert "/app changed +" in out
    assert "go-big" in out and out.count("GREW") == 1
    report = invoke("report", env=env)
    assert report.returncode == 0, report.stderr
    assert (
        out.count("GREW") == 1
        and "svg class=trend" in (tmp_path / "report" / "report.html").read_text()
    )
