"""The tasks as a person runs them: one-paragraph errors, the right exit codes, no traceback."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import invoke

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
        ({"INVOKE_WORKSHOP_BASES": "sometimes"}, "Unknown bases mode 'sometimes'"),
        ({"INVOKE_WORKSHOP_GO": "1.19$(reboot)"}, "has no Debian stand-in"),
        ({"INVOKE_WORKSHOP_TAG_PREFIX": "x;rm -rf /"}, "an image name may hold only"),
        ({"INVOKE_WORKSHOP_DEBIAN_MIRROR": "http://x`id`"}, "not a plain http"),
    ],
)
def test_bad_settings_stop_before_the_engine_is_asked(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    result = invoke("step-7", env=settings(tmp_path, **extra))
    assert result.returncode == 2
    assert message in result.stderr
    assert "No Docker Engine" not in result.stderr and "Traceback" not in result.stderr


def test_a_log_path_that_is_a_directory_stops_the_step(tmp_path: Path) -> None:
    (tmp_path / "sizes.json").mkdir()
    result = invoke("step-4", env=settings(tmp_path))
    assert result.returncode == 2
    assert "sizes.json can't be written: it is a directory" in result.stderr


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
    assert result.returncode == 2
    assert "workshop.verbose is 'maybe', which is not a bool" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_command_is_ever_built_through_a_shell() -> None:
    """Input reaches commands as argument lists: no shell argument, os.system or os.popen."""
    root = Path(__file__).resolve().parent.parent
    for path in [root / "tasks.py", root / "noxfile.py", *sorted((root / "workshop").glob("*.py"))]:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "shell":
                pytest.fail(f"{path.name}:{node.value.lineno} passes shell=")
            if isinstance(node, ast.Attribute) and node.attr in ("system", "popen"):
                pytest.fail(f"{path.name}:{node.lineno} calls os.{node.attr}")


def test_an_engine_refusal_is_not_taken_for_a_lost_connection() -> None:
    import docker.errors

    from workshop.engine import Engine
    from workshop.errors import EngineRefused

    engine = Engine(client=None)  # type: ignore[arg-type]
    with pytest.raises(EngineRefused, match="refused removing x: conflict: unable to delete"):  # noqa: SIM117
        with engine.talking("removing x"):
            raise docker.errors.APIError(
                "409 Client Error", explanation="conflict: unable to delete"
            )
