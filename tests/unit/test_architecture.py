"""The package's shape: no import circle anywhere, and `invoke --list` imports no docker-py.
(The layers themselves are import-linter's contracts in pyproject.toml, run by `nox -s lint`.)"""

from __future__ import annotations

import subprocess
import sys

import grimp

from tests.support.paths import ROOT


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("workshop")
    circles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    ]
    assert circles == []


def test_invoke_list_imports_no_docker_py() -> None:
    listed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "invoke", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "step-8" in listed.stdout
    imported = {line.split("|")[-1].strip() for line in listed.stderr.splitlines() if "|" in line}
    assert "invoke" in imported  # importtime's report is what it should be
    assert not {name for name in imported if name.split(".")[0] in ("docker", "requests")}
