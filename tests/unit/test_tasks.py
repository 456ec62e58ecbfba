"""The tasks as a person runs them: one-paragraph errors, the right exit codes, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.running import invoke

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def settings(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **NO_ENGINE,
        "INVOKE_WORKSHOP_WORKSPACE": str(tmp_path / "workspace"),
        "INVOKE_WORKSHOP_SIZE_LOG": str(tmp_path / "sizes.json"),
        "INVOKE_WORKSHOP_HISTORY": str(tmp_path / "history.json"),
        **extra,
    }


def test_list_shows_every_step() -> None:
    listed = invoke("--list").stdout
    for name in ("all", "bases", "clean", *(f"step-{n}" for n in range(1, 10))):
        assert f"  {name} " in listed


def test_file_steps_need_no_engine(tmp_path: Path) -> None:
    result = invoke("step-2", env=settings(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "$ ls -altr app.go" in result.stdout
    assert (tmp_path / "workspace" / "app.go").is_file()


def test_no_engine_is_one_clear_message(tmp_path: Path) -> None:
    result = invoke("step-4", env=settings(tmp_path))
    assert result.returncode == 3
    assert "No Docker Engine answered" in result.stderr
    assert "unix:///nonexistent/docker.sock (from DOCKER_HOST)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "sizes.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"INVOKE_WORKSHOP_BASES": "sometimes"}, "workshop.bases is 'sometimes'"),
        ({"INVOKE_WORKSHOP_GO": "1.19$(reboot)"}, "workshop.go is '1.19$(reboot)'"),
        ({"INVOKE_WORKSHOP_TAG_PREFIX": "x;rm -rf /"}, "does not take as an image name"),
        ({"INVOKE_WORKSHOP_TAG_PREFIX": "hunt..-"}, "does not take as an image name"),
        ({"INVOKE_WORKSHOP_TAG_PREFIX": "[/bogus]"}, "does not take as an image name"),
        ({"INVOKE_WORKSHOP_DEBIAN_MIRROR": "http://x`id`"}, "not a plain http"),
        ({"INVOKE_WORKSHOP_HISTORY_KEEP": "abc"}, "workshop.history_keep is 'abc'"),
        ({"INVOKE_WORKSHOP_HISTORY_KEEP": "0"}, "workshop.history_keep is 0"),
        ({"INVOKE_WORKSHOP_RUN_TIMEOUT": "soon"}, "workshop.run_timeout is 'soon'"),
        ({"INVOKE_WORKSHOP_VERBOSE": "maybe"}, "workshop.verbose is 'maybe'"),
        ({"INVOKE_WORKSHOP_BUILDER": "kaniko"}, "workshop.builder is 'kaniko'"),
    ],
)
def test_bad_settings_stop_before_the_engine_is_asked(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    result = invoke("step-7", env=settings(tmp_path, **extra))
    assert result.returncode == 64, result.stderr
    assert message in result.stderr
    assert "No Docker Engine" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["ENGINE", "RESOLVER", "AHEAD"])
def test_runtime_objects_are_not_settings(tmp_path: Path, name: str) -> None:
    # These were config keys once: a string there ended in an AttributeError traceback.
    result = invoke("step-2", env=settings(tmp_path, **{f"INVOKE_WORKSHOP_{name}": "x"}))
    assert result.returncode == 0, result.stderr


def test_an_unknown_key_in_a_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "invoke.yaml"
    config.write_text("workshop:\n  engine: x\n")
    result = invoke("-f", str(config), "step-7", env=settings(tmp_path))
    assert result.returncode == 64
    assert "Unknown setting workshop.engine" in result.stderr


def test_a_log_path_that_is_a_directory_stops_the_step(tmp_path: Path) -> None:
    (tmp_path / "sizes.json").mkdir()
    result = invoke("step-4", env=settings(tmp_path))
    assert result.returncode == 2
    assert "sizes.json (the setting workshop.size_log) is a directory" in result.stderr


@pytest.mark.parametrize("device", ["/dev/full", "/dev/zero", "/dev/null"])
def test_a_log_that_is_a_device_is_refused_before_anything_runs(
    tmp_path: Path, device: str
) -> None:
    result = invoke("step-7", env=settings(tmp_path, INVOKE_WORKSHOP_SIZE_LOG=device), timeout=30)
    assert result.returncode == 2
    assert f"{device} (the setting workshop.size_log) is not a regular file" in result.stderr
    assert "No Docker Engine" not in result.stderr


def test_an_unwritable_history_is_found_before_the_first_build(tmp_path: Path) -> None:
    (tmp_path / "history.json").mkdir()
    result = invoke("all", env=settings(tmp_path))
    assert result.returncode == 2
    assert "history.json (the setting workshop.history) is a directory" in result.stderr
    assert "No Docker Engine" not in result.stderr


def test_paths_are_taken_from_the_project_root_not_the_working_directory(tmp_path: Path) -> None:
    from tests.support.paths import ROOT

    env = {**NO_ENGINE, "INVOKE_WORKSHOP_WORKSPACE": f"build/test-{tmp_path.name}"}
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "step-1"],
        cwd=ROOT / "tests",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (ROOT / "build" / f"test-{tmp_path.name}" / "app.go").is_file()
    assert not (ROOT / "tests" / "build").exists()
    shutil.rmtree(ROOT / "build" / f"test-{tmp_path.name}")


def test_a_corrupt_log_is_left_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "sizes.json").write_text("{half a log")
    result = invoke("step-4", env=settings(tmp_path))
    assert result.returncode == 2
    assert "can't be read" in result.stderr and "nothing in it is lost" in result.stderr
    assert (tmp_path / "sizes.json").read_text() == "{half a log"


def test_an_unknown_step_is_refused(tmp_path: Path) -> None:
    result = invoke("step-99", env=settings(tmp_path))
    assert result.returncode != 0
    assert "step-99" in result.stderr


def test_a_malformed_value_in_a_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "invoke.yaml"
    config.write_text("workshop:\n  verbose: maybe\n")
    result = invoke("-f", str(config), "step-4", env=settings(tmp_path))
    assert result.returncode == 64
    assert "workshop.verbose is 'maybe', which is not a bool" in result.stderr
    assert "Traceback" not in result.stderr


def test_engine_says_which_engine_and_how_it_was_chosen_or_exits_3(tmp_path: Path) -> None:
    result = invoke("engine", env=settings(tmp_path))
    assert result.returncode == 3
    message = " ".join(result.stderr.split())
    assert "at unix:///nonexistent/docker.sock (from DOCKER_HOST)" in message


def test_engine_start_does_not_start_a_remote_engine(tmp_path: Path) -> None:
    result = invoke("engine", "--start", env=settings(tmp_path, DOCKER_HOST="tcp://127.0.0.1:9"))
    assert result.returncode == 3
    assert "--start starts one only on this machine's default socket" in " ".join(
        result.stderr.split()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("shrink",), "'shrink' did not receive required positional arguments: 'program'"),
        (("step-4", "--colour"), "No idea what '--colour' is!"),
    ],
)
def test_what_invokes_own_parser_refuses_exits_1_as_documented(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    # invoke's parser ends these itself, with exit 1, before any task runs (docs/reference.md).
    result = invoke(*args, env=settings(tmp_path))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("task", ["all", "beyond", "bases", "sweep"])
def test_an_unknown_platform_stops_the_task_before_anything_is_written(
    tmp_path: Path, task: str
) -> None:
    result = invoke(task, "--platform", "linux/s390x", env=settings(tmp_path))
    assert result.returncode == 64, result.stderr
    assert "--platform names the platform 'linux/s390x'" in result.stderr
    assert "choose from linux/amd64, linux/arm64" in result.stderr
    assert not (tmp_path / "workspace").exists()
