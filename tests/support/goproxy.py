"""A Go module proxy on loopback: the GOPROXY protocol's static files (`MODULE/@v/list`,
`.info`, `.mod`, `.zip`) served from a folder, made from fixture modules written here, with
the go.sum lines Go computes for them (dirhash's h1)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tests.support.loopback import served


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    files: Mapping[str, str]

    @property
    def go_mod(self) -> str:
        return self.files["go.mod"]

    def zipped(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in sorted(self.files.items()):
                archive.writestr(f"{self.path}@{self.version}/{name}", text)
        return buffer.getvalue()

    def go_sum(self) -> list[str]:
        """Its two go.sum lines, as `go mod download` checks them."""
        prefix = f"{self.path}@{self.version}/"
        tree = _h1({prefix + name: text.encode() for name, text in self.files.items()})
        return [
            f"{self.path} {self.version} {tree}",
            f"{self.path} {self.version}/go.mod {_h1({'go.mod': self.go_mod.encode()})}",
        ]


def _h1(files: Mapping[str, bytes]) -> str:
    """golang.org/x/mod/sumdb/dirhash.Hash1: sha256 of the sorted "sha256  name" lines."""
    summary = "".join(
        f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files)
    )
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def publish(folder: Path, modules: list[Module]) -> None:
    """Lay `modules` out in `folder` as a GOPROXY serves them."""
    for module in modules:
        at = folder / module.path / "@v"
        at.mkdir(parents=True, exist_ok=True)
        listed = at / "list"
        versions = set(listed.read_text().split()) if listed.exists() else set()
        listed.write_text("\n".join(sorted(versions | {module.version})) + "\n")
        info = {"Version": module.version, "Time": "2026-01-01T00:00:00Z"}
        (at / f"{module.version}.info").write_text(json.dumps(info))
        (at / f"{module.version}.mod").write_text(module.go_mod)
        (at / f"{module.version}.zip").write_bytes(module.zipped())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  # the base class names it
        pass


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """`folder` served on loopback for as long as the block runs; its GOPROXY URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Quiet, directory=str(folder))
    )
    with served(server) as port:
        yield f"http://127.0.0.1:{port}"


# The fixture: a program needing a chain of two modules (greet needs words), and a third
# replaced by a folder of its own.
WORDS = Module(
    "example.com/words",
    "v1.1.0",
    {
        "go.mod": "module example.com/words\n\ngo 1.19\n",
        "words.go": 'package words\n\nfunc Hello() string { return "Hello" }\n',
    },
)
GREET = Module(
    "example.com/greet",
    "v1.0.0",
    {
        "go.mod": "module example.com/greet\n\ngo 1.19\n\nrequire example.com/words v1.1.0\n",
        "greet.go": (
            'package greet\n\nimport "example.com/words"\n\n'
            'func Greeting(name string) string { return words.Hello() + " " + name }\n'
        ),
    },
)
PROGRAM = {
    "go.mod": (
        "module example.com/shrinkme\n\ngo 1.19\n\nrequire (\n"
        "\texample.com/greet v1.0.0\n\texample.com/local v0.0.0\n"
        "\texample.com/words v1.1.0 // indirect\n)\n\n"
        "replace example.com/local => ./local\n"
    ),
    # Greets its first argument; what it reads on stdin it adds, and then exits 3.
    "main.go": """package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"example.com/greet"
	"example.com/local"
)

func main() {
	name := "world"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	extra, _ := io.ReadAll(os.Stdin)
	fmt.Println(greet.Greeting(name) + local.Mark + strings.TrimSpace(string(extra)))
	if len(extra) > 0 {
		os.Exit(3)
	}
}
""",
    "local/go.mod": "module example.com/local\n\ngo 1.19\n",
    "local/local.go": 'package local\n\nconst Mark = "!"\n',
}


def write_program(folder: Path, *, go_sum: list[str] | None = None) -> Path:
    """The fixture program in `folder`, its go.sum as Go would write it (or `go_sum`)."""
    for name, text in PROGRAM.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    lines = go_sum if go_sum is not None else [*GREET.go_sum(), *WORDS.go_sum()]
    (folder / "go.sum").write_text("\n".join(sorted(lines)) + "\n")
    return folder
