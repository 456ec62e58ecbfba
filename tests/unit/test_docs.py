"""README.md and docs/ name only what exists: every `invoke` task and its flags, every setting,
every nox session; and every setting is documented."""

from __future__ import annotations

import ast
import itertools
import re

import pytest

import tasks
from tests.support.paths import ROOT
from workshop.settings import CONFIG_KEYS

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# invoke's own options, allowed before or after a task name.
CORE_FLAGS = {"--list", "--help", "--version", "--complete", "--collection"}


def code_of(text: str) -> list[str]:
    """The commands a page shows: fenced blocks line by line, and inline code spans."""
    fenced = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)
    outside = re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.S | re.M)
    return [line for block in fenced for line in block.splitlines()] + re.findall(
        r"`([^`\n]+)`", outside
    )


def commands(program: str) -> list[tuple[str, str]]:
    """(page, `program ...` command) for every command of `program` the pages show."""
    found = []
    for page in PAGES:
        for code in code_of(page.read_text()):
            for part in re.split(r"&&|;|\|", code.split(" #")[0]):
                words = part.split()
                if program in words:
                    found.append((page.name, " ".join(words[words.index(program) :])))
    return found


def task_flags(name: str) -> set[str]:
    arguments = tasks.ns[name].get_arguments()
    names = {f"--{name}" for argument in arguments for name in argument.names if len(name) > 1}
    return names | {f"--no-{flag[2:]}" for flag in names}


def test_the_pages_show_invoke_commands() -> None:
    assert len(commands("invoke")) > 20


@pytest.mark.parametrize(("page", "command"), commands("invoke"))
def test_every_invoke_task_and_flag_the_pages_name_exists(page: str, command: str) -> None:
    words = [word for word in command.split()[1:] if word not in CORE_FLAGS]
    task = None
    for word in words:
        if word.startswith("--"):
            assert task is not None, f"{page}: {command}: a flag before any task"
            flag = word.split("=")[0]
            assert flag in task_flags(task), f"{page}: {command}: invoke {task} has no {flag}"
        elif re.fullmatch(r"[a-z][a-z0-9-]*", word) and word in tasks.ns.task_names:
            task = word
        elif task is None:
            pytest.fail(f"{page}: {command}: {word!r} is not a task")


@pytest.mark.parametrize(("page", "command"), commands("nox"))
def test_every_nox_session_the_pages_name_exists(page: str, command: str) -> None:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    sessions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    words = command.split()
    for flag, value in itertools.pairwise(words):
        if flag == "-s":
            assert value in sessions, f"{page}: {command}: no nox session {value}"


def test_every_setting_the_pages_name_exists_and_every_setting_is_documented() -> None:
    named = set()
    for page in PAGES:
        text = page.read_text()
        named |= {name.lower() for name in re.findall(r"INVOKE_WORKSHOP_([A-Z_]+)", text)}
    assert named - set(CONFIG_KEYS) == set()
    reference = (ROOT / "docs" / "reference.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", reference, flags=re.M))
    assert documented == set(CONFIG_KEYS)
