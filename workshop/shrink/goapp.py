"""A person's own Go program, as `invoke shrink PATH` finds it: what to copy into the build,
what to build, with which Go, and whether it uses cgo.

PATH is a single `.go` file, a directory of `package main` files without a go.mod (built as
the workshop builds app.go: `go build -o /app FILES`), or the directory of a main package in
a module: its go.mod may be in PATH or a folder above it. A module's dependencies are built
from vendor/ where it has one, else fetched by the build through the user's GOPROXY, checked
against go.sum.

A module's build context is its folder as `docker build` would send it: without what its
.dockerignore leaves out, without version control and editor folders, and without files that
look like secrets (workshop.shrink.secretfiles) unless a `!` line keeps them.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from workshop.engine.buildcontext import IgnoreRules
from workshop.errors import BadInput
from workshop.records.datafile import read_text
from workshop.shrink.secretfiles import looks_secret

__all__ = ["GoApp", "find_app", "listed", "packages"]

# What a context never needs: version control, and what editors and builds leave.
_SKIPPED = {".git", ".hg", ".svn", ".idea", ".vscode", "__pycache__", "node_modules"}
MAX_CONTEXT_FILES = 20_000

_PACKAGE = re.compile(r"^\s*package\s+(\w+)", re.MULTILINE)
_MAIN_FUNC = re.compile(r"^func\s+main\s*\(\s*\)", re.MULTILINE)
# `import "C"` alone, or a line `"C"` in an import block: each pattern reads a file once (a
# nested `(?:[^)]*\n)*?` backtracked for ever on a long import block without "C").
_IMPORT_C = re.compile(r'^\s*import\s+"C"', re.MULTILINE)
_IMPORT_BLOCK = re.compile(r"^\s*import\s*\(([^)]*)\)", re.MULTILINE)
_C_LINE = re.compile(r'^\s*"C"\s*$', re.MULTILINE)
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class GoApp:
    """What `invoke shrink` builds."""

    # What it is called: the file's stem, the folder's or the module's name (docker's alphabet).
    name: str
    # The build context: the module's root, or the folder of the files.
    root: Path
    # The context's files, relative to root.
    files: tuple[str, ...]
    # What `go build` is given: the files (no module), or the package's path (./cmd/x, or .).
    target: tuple[str, ...]
    module: str = ""
    # The go directive of go.mod (1.21), or "" without one.
    go: str = ""
    vendored: bool = False
    # The modules go.mod requires, and whether a go.sum is beside it.
    requires: tuple[str, ...] = ()
    go_sum: bool = False
    # Folders inside the module that go.mod's replace lines point at (./local), relative.
    replaced: tuple[str, ...] = ()
    # Files left out of the context as they look like secrets; and other main packages.
    left_out: tuple[str, ...] = ()
    other_mains: tuple[str, ...] = ()
    # The files that `import "C"`: the program needs a C toolchain to build as it is.
    cgo_files: tuple[str, ...] = ()
    # Where it is: the resolved path it was given as.
    source: Path = Path()

    @property
    def key(self) -> str:
        """What its folder, log and tags are known by: its name and where it is, so that two
        programs called app (or a folder called 日本語, also app) never share them."""
        where = hashlib.sha256(str(self.source).encode()).hexdigest()[:8]
        return f"{self.name}-{where}"

    @property
    def uses_cgo(self) -> bool:
        return bool(self.cgo_files)

    @property
    def downloads(self) -> bool:
        """Whether the build fetches modules: a module that requires some and has no vendor/."""
        return bool(self.requires) and not self.vendored


# What a Dockerfile reads in a file name: variables, escapes, line ends and other controls.
_UNSAFE_NAME = re.compile(r"[$\\\x00-\x1f\x7f]")


def find_app(path: Path) -> GoApp:
    """The Go program at `path`, or BadInput saying what is missing and how to fix it (a
    folder or file this user may not read among it)."""
    try:
        app = _find_app(path)
    except PermissionError as error:
        raise BadInput(
            f"{error.filename or path} can't be read ({error.strerror}), and shrink reads the "
            f"program's folder to build it. Give this user read access to {path} and what is "
            "in it (chmod -R u+rX), or copy the program somewhere readable, then run again."
        ) from None
    unreadable = [name for name in app.files if not os.access(app.root / name, os.R_OK)]
    if unreadable:
        raise BadInput(
            f"{listed(unreadable)} in {app.root} can't be read, and every file of the folder "
            "goes to the build (as `docker build` would send it). Make them readable, or name "
            "them in .dockerignore, then run again."
        )
    return app


def _find_app(path: Path) -> GoApp:
    if not path.exists():
        raise BadInput(
            f"{path} does not exist. Give the directory of a Go main package, or a .go file."
        )
    if path.is_file():
        # A link is built from where it points: a build context holds the file, not the link.
        path = path.resolve()
        if path.suffix != ".go":
            raise BadInput(
                f"{path} is a file but not Go source. Give the directory of a Go main package, "
                "or a single .go file."
            )
        _require_main(path.parent, [path])
        return _finish(
            GoApp(_name(path.stem), path.parent, (path.name,), (path.name,), source=path.resolve())
        )
    if not path.is_dir():
        raise BadInput(f"{path} is neither a file nor a directory.")
    go_mod = _find_go_mod(path)
    if go_mod is None:
        sources = _sources(path)
        _require_main(path, sources)
        names = tuple(each.name for each in sources)
        return _finish(GoApp(_name(path.resolve().name), path, names, names, source=path.resolve()))
    root = go_mod.parent
    text = read_text(go_mod, what="go.mod") or ""
    files, left_out = _context_files(root)
    mains = _main_packages(root, files)
    package = path.resolve().relative_to(root.resolve())
    if package.as_posix() not in mains:
        _require_main(path, _sources(path), mains=mains)
    module = _directive(text, "module")
    requires = tuple(_requires(text))
    vendored = (root / "vendor" / "modules.txt").is_file()
    go_sum = (root / "go.sum").is_file()
    if requires and not vendored and not go_sum:
        raise BadInput(
            f"{go_mod} requires modules ({listed(list(requires))}) but there is no go.sum "
            f"beside it, so nothing could check what is fetched: run `go mod tidy` in {root}, "
            "then run shrink again."
        )
    target = "." if package == Path(".") else f"./{package.as_posix()}"
    return _finish(
        GoApp(
            _name(
                path.resolve().name
                if package != Path(".")
                else (module.rsplit("/", 1)[-1] or root.resolve().name)
            ),
            root,
            files,
            (target,),
            module=module,
            go=_go_release(_directive(text, "go")),
            vendored=vendored,
            requires=requires,
            go_sum=go_sum,
            replaced=() if vendored else _local_replacements(text, root, go_mod),
            left_out=left_out,
            other_mains=tuple(main for main in mains if main != package.as_posix()),
            source=path.resolve(),
        )
    )


def _sources(folder: Path) -> list[Path]:
    return sorted(
        each
        for each in folder.glob("*.go")
        if each.is_file() and not each.name.endswith("_test.go")
    )


def listed(names: list[str], most: int = 8) -> str:
    """`a, b, c and 5 more`: names in a message, the first `most` of them."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def packages(folders: list[str] | tuple[str, ...], most: int = 8) -> str:
    """Main packages' folders as Go names them: ./cmd/serve, and . for the module's root."""
    return ", ".join(f"./{folder}" if folder != "." else "." for folder in folders[:most])


def _main_packages(root: Path, files: tuple[str, ...]) -> list[str]:
    """The folders (relative, "." for the root) of the module's main packages."""
    folders = sorted(
        {
            str(Path(name).parent.as_posix())
            for name in files
            if name.endswith(".go")
            and not name.endswith("_test.go")
            and not name.startswith(("vendor/", "testdata/"))
            and "/testdata/" not in name
        }
    )
    # Only .go files are Go sources: a PNG, a large data file or an unreadable one beside
    # main.go is the program's business, not its source.
    sources = [name for name in files if name.endswith(".go") and not name.endswith("_test.go")]
    return [
        folder
        for folder in folders
        if _is_main([root / name for name in sources if Path(name).parent.as_posix() == folder])
    ]


def _local_replacements(text: str, root: Path, go_mod: Path) -> tuple[str, ...]:
    """The folders go.mod's replace lines point at, inside the module; one outside it is
    refused, as the build context is the module's folder."""
    text = re.sub(r"//[^\n]*", "", text)
    lines = re.findall(r"^\s*replace\s+([^(\n]+)$", text, re.MULTILINE)
    for block in re.findall(r"^\s*replace\s*\((.*?)\)", text, re.MULTILINE | re.DOTALL):
        lines += [line for line in block.splitlines() if line.strip()]
    found = []
    for line in lines:
        old, arrow, new = line.partition("=>")
        target = new.split()
        if not arrow or not target or not target[0].startswith(("./", "../", "/")):
            continue
        folder = (root / target[0]).resolve()
        if not folder.is_relative_to(root.resolve()):
            raise BadInput(
                f"{go_mod} replaces {old.split()[0]} with {target[0]}, outside the module's "
                f"folder {root}: the build gets only that folder. Move it inside, or run "
                f"`go mod vendor` in {root}, then run shrink again."
            )
        found.append(folder.relative_to(root.resolve()).as_posix())
    return tuple(found)


def _finish(app: GoApp) -> GoApp:
    """`app` with the files that use cgo, its own and vendored ones alike; a file name that a
    Dockerfile would read as more than a name is refused."""
    for name in app.files:
        if unsafe := _UNSAFE_NAME.search(name):
            raise BadInput(
                f"{app.root / name}: its name holds {unsafe.group()!r}, which "
                "a Dockerfile's COPY reads as a variable or an escape ($ and \\) or a line's end, "
                "so the file can't be copied under its own name. Rename it, then run again."
            )
    cgo = tuple(
        name
        for name in app.files
        if name.endswith(".go")
        and not name.endswith("_test.go")
        and _builds_on_linux(name, text := _read(app.root / name))
        and _imports_c(_COMMENTS.sub("", text))
    )
    return GoApp(**{**app.__dict__, "cgo_files": cgo})


# Go's build constraints, as far as "is this file built for linux?" needs them: a file's
# name (x_windows.go, x_aix_ppc64.go) and its //go:build line. Architectures are all taken as
# possible; cgo, unix and gc hold; any other tag (gccgo, ignore, purego) does not.
_GOOS = {
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
    "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos",
}  # fmt: skip
_GOARCH = {
    "386", "amd64", "amd64p32", "arm", "arm64", "arm64be", "armbe", "loong64", "mips", "mipsle",
    "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv",
    "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
}  # fmt: skip
_TRUE_TAGS = {"linux", "unix", "cgo", "gc"}
_BUILD_LINE = re.compile(r"^//go:build\s+(.+)$", re.MULTILINE)
_TOKEN = re.compile(r"\s*(\(|\)|&&|\|\||!|[\w.]+)")


def _builds_on_linux(name: str, text: str) -> bool:
    parts = Path(name).name.removesuffix(".go").removesuffix("_test").split("_")
    if len(parts) > 1:
        if parts[-1] in _GOARCH and len(parts) > 2 and parts[-2] in _GOOS:
            return parts[-2] == "linux"
        if parts[-1] in _GOOS:
            return parts[-1] == "linux"
    header = text.split("\npackage ", 1)[0]
    found = _BUILD_LINE.search(header)
    return _constraint_holds(found.group(1)) if found else True


def _constraint_holds(expression: str) -> bool:
    """A //go:build expression on linux (any architecture, cgo on); True where unreadable."""
    tokens = _TOKEN.findall(expression)
    position = 0

    def tag(word: str) -> bool:
        return word in _TRUE_TAGS or word in _GOARCH or word.startswith("go1.")

    def primary() -> bool:
        nonlocal position
        word = tokens[position]
        position += 1
        if word == "!":
            return not primary()
        if word == "(":
            value = either()
            position += 1  # the ")"
            return value
        return tag(word)

    def both() -> bool:
        nonlocal position
        value = primary()
        while position < len(tokens) and tokens[position] == "&&":
            position += 1
            value = primary() and value
        return value

    def either() -> bool:
        nonlocal position
        value = both()
        while position < len(tokens) and tokens[position] == "||":
            position += 1
            value = both() or value
        return value

    try:
        return either()
    except IndexError:
        return True


def _imports_c(text: str) -> bool:
    if _IMPORT_C.search(text):
        return True
    return any(_C_LINE.search(block) for block in _IMPORT_BLOCK.findall(text))


def _is_main(sources: list[Path]) -> bool:
    for source in sources:
        text = _COMMENTS.sub("", _read(source))
        package = _PACKAGE.search(text)
        if package and package.group(1) == "main" and _MAIN_FUNC.search(text):
            return True
    return False


def _require_main(folder: Path, sources: list[Path], *, mains: list[str] | None = None) -> None:
    if _is_main(sources):
        return
    found = ", ".join(each.name for each in sources[:5]) or "no .go file"
    if mains:
        shown = packages(mains)
        raise BadInput(
            f"{folder} holds no Go main package ({found}); the module's main packages are "
            f"{shown}. Give the folder of the one to shrink, {folder / mains[0]} say."
        )
    raise BadInput(
        f"{folder} holds no Go main package ({found}): shrink needs `package main` with a "
        "`func main()`. Give the folder of the program's main package (./cmd/NAME, say), or its "
        ".go file."
    )


def _read(path: Path) -> str:
    return read_text(path, what="Go source") or ""


def _find_go_mod(folder: Path) -> Path | None:
    """The go.mod of the module `folder` is in: in it, or in a folder above it."""
    for each in (folder.resolve(), *folder.resolve().parents):
        if (each / "go.mod").is_file():
            return each / "go.mod"
    return None


def _directive(text: str, name: str) -> str:
    found = re.search(rf"^\s*{name}\s+(\S+)", text, re.MULTILINE)
    return found.group(1).strip('"') if found else ""


def _go_release(version: str) -> str:
    """1.21 from 1.21.3 or 1.21; "" where there is none."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return f"{found.group(1)}.{found.group(2)}" if found else ""


def _requires(text: str) -> list[str]:
    """The module paths go.mod requires, in single lines and blocks."""
    text = re.sub(r"//[^\n]*", "", text)
    paths = re.findall(r"^\s*require\s+([^\s(]+)\s+\S+", text, re.MULTILINE)
    for block in re.findall(r"^\s*require\s*\((.*?)\)", text, re.MULTILINE | re.DOTALL):
        paths += [line.split()[0] for line in block.splitlines() if line.split()]
    return paths


def _context_files(root: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The files the build gets, and those left out as they look like secrets."""
    rules = IgnoreRules(read_text(root / ".dockerignore", what=".dockerignore") or "")
    files: list[str] = []
    left_out: list[str] = []
    for each in sorted(root.rglob("*")):
        relative = each.relative_to(root)
        if any(part in _SKIPPED for part in relative.parts) or not each.is_file():
            continue
        name = relative.as_posix()
        if rules.ignores(name):
            continue
        if looks_secret(root, name) and not rules.keeps_explicitly(name):
            left_out.append(name)
            continue
        files.append(name)
        if len(files) > MAX_CONTEXT_FILES:
            raise BadInput(
                f"{root} holds more than {MAX_CONTEXT_FILES:,} files: point shrink at the "
                "program's own module, not a folder above it."
            )
    return tuple(files), tuple(left_out)


def _name(raw: str) -> str:
    """A name docker accepts in a tag: lower case, digits, and . _ -."""
    name = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip(".-_")
    return name[:60] or "app"
