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


POSIX_ONLY = ("fcntl", "termios", "pwd", "grp", "resource")


def test_every_module_imports_where_posix_only_modules_are_missing() -> None:
    """As on Windows: `invoke --list` and every task's modules import without fcntl, termios,
    pwd or grp (the libraries we use bring their own branch per platform, so they are imported
    first), and the data files still write. The lock is the system's own: fcntl's flock here,
    given back for it; Windows's is test_sizelog's."""
    script = f"""
import importlib, pkgutil, sys, tempfile, pathlib
import invoke, docker, requests, rich, yaml
for name in {POSIX_ONLY!r}:
    sys.modules[name] = None
import workshop
names = [m.name for m in pkgutil.walk_packages(workshop.__path__, "workshop.")
         if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
sys.path.insert(0, ".")
import tasks
from workshop.records.datafile import locked, write_atomic
from workshop.system import user_name
folder = pathlib.Path(tempfile.mkdtemp())
write_atomic(folder / "log.json", "[]", what="log")
del sys.modules["fcntl"]
with locked(folder / "log.json", what="log"):
    write_atomic(folder / "log.json", "{{}}", what="log")
print(len(names), user_name(0), (folder / "log.json").read_text())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    count, name, content = done.stdout.split()
    assert int(count) > 70 and name == "0" and content == "{}"
