"""A module's dependencies, fetched here through the user's own GOPROXY and handed to the build.

The client fetches every module go.sum names from the proxies of the user's GOPROXY list, as
Go does (`,` falls through to the next on 404 or 410, `|` on any error; `off` stops; `direct`
leaves the module to the build), checks each `.zip` and `.mod` against go.sum (dirhash's h1,
as `go mod download` checks them), and lays them out as a file proxy (`MODULE/@v/VERSION.zip`,
`.mod`, `.info`, `list`) in the build context. The build's `modules` stage reads them with
GOPROXY=file:///goproxy: no address, token or password of the user's proxy reaches any image,
its history or its layers, on either builder; and a proxy on this machine's loopback serves an
engine in a VM or on another host as well as one here.

Modules matching GOPRIVATE or GONOPROXY are fetched from their source, by the build, as Go
would; so is a module the list leaves to `direct`. Credentials come from the URL's userinfo
or ~/.netrc, as Go takes them (requests reads both).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from workshop.records.datafile import read_text
from workshop.shrink.goenv import GoEnvironment, mask_proxy

__all__ = ["FILE_PROXY", "GOPROXY_FOLDER", "Fetched", "ModuleNotFetched", "fetch_modules"]

# Where the file proxy sits in the build context, and where the modules stage puts it.
GOPROXY_FOLDER = ".workshop-goproxy"
FILE_PROXY = "/goproxy"
# No module zip comes near this (Go's own limit is 500 MB).
_MOST_BYTES = 500 * 1024 * 1024


class ModuleNotFetched(Exception):
    """Why a module could not be had, in words (its URLs masked)."""


@dataclass(frozen=True)
class Fetched:
    """The file proxy's files by their path in the build context, and what they hold."""

    files: Mapping[str, bytes] = field(default_factory=dict)
    modules: int = 0
    # Modules the build fetches itself: private ones, and those the list leaves to direct.
    left_to_build: tuple[str, ...] = ()
    # Whether the build may go direct for those.
    direct: bool = False

    @property
    def size(self) -> int:
        return sum(len(content) for content in self.files.values())


@dataclass(frozen=True)
class _Entry:
    url: str  # a URL, "direct" or "off"
    any_error: bool  # `|` after it: fall through on any error, not only 404 and 410


def fetch_modules(root: Path, go_env: GoEnvironment, *, timeout: float) -> Fetched:
    """Every module the go.sum in `root` names, fetched and checked; ModuleNotFetched saying
    which and why otherwise."""
    wanted = _wanted(read_text(root / "go.sum", what="go.sum") or "")
    private = _patterns(go_env.values.get("GONOPROXY") or go_env.values.get("GOPRIVATE", ""))
    entries = _entries(go_env.proxy)
    files: dict[str, bytes] = {}
    left: list[str] = []
    versions: dict[str, set[str]] = {}
    with requests.Session() as session:
        for (module, version), hashes in sorted(wanted.items()):
            if _matches(private, module):
                left.append(f"{module}@{version}")
                continue
            got = _one(session, entries, module, version, hashes, timeout=timeout)
            if got is None:
                left.append(f"{module}@{version}")
                continue
            at = f"{GOPROXY_FOLDER}/{_escaped(module)}/@v"
            for suffix, content in got.items():
                files[f"{at}/{_escaped(version)}{suffix}"] = content
            files[f"{at}/{_escaped(version)}.info"] = json.dumps({"Version": version}).encode()
            versions.setdefault(at, set()).add(version)
    for at, listed in versions.items():
        files[f"{at}/list"] = "".join(f"{each}\n" for each in sorted(listed)).encode()
    direct = any(entry.url == "direct" for entry in entries) or bool(private)
    return Fetched(files, sum(map(len, versions.values())), tuple(left), direct)


def _wanted(go_sum: str) -> dict[tuple[str, str], dict[str, str]]:
    """(module, version) -> {".zip": h1, ".mod": h1} from go.sum's lines."""
    wanted: dict[tuple[str, str], dict[str, str]] = {}
    for line in go_sum.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("h1:"):
            continue
        module, version, digest = parts
        suffix = ".mod" if version.endswith("/go.mod") else ".zip"
        wanted.setdefault((module, version.removesuffix("/go.mod")), {})[suffix] = digest
    return wanted


def _entries(proxy: str) -> list[_Entry]:
    """GOPROXY's list: its entries, and how each falls through to the next."""
    entries = []
    for match in re.finditer(r"([^,|]+)([,|]?)", proxy):
        url = match.group(1).strip()
        if url:
            entries.append(_Entry(url.rstrip("/"), match.group(2) == "|"))
    return entries


def _one(
    session: requests.Session,
    entries: list[_Entry],
    module: str,
    version: str,
    hashes: Mapping[str, str],
    *,
    timeout: float,
) -> dict[str, bytes] | None:
    """One module's .mod and .zip (those go.sum has), checked; None where the list leaves it
    to direct."""
    why = []
    for entry in entries:
        if entry.url == "direct":
            return None
        if entry.url == "off":
            why.append("GOPROXY=off disallows fetching it")
            break
        try:
            return {
                suffix: _checked(
                    _get(session, entry.url, f"{_escaped(module)}/@v/{_escaped(version)}{suffix}",
                         timeout=timeout),
                    module, version, suffix, hashes[suffix], mask_proxy(entry.url),
                )
                for suffix in (".mod", ".zip")
                if suffix in hashes
            }  # fmt: skip
        except _NotThere as missing:
            why.append(str(missing))
            continue
        except _Failed as failed:
            why.append(str(failed))
            if entry.any_error:
                continue
            break
    raise ModuleNotFetched(f"{module}@{version} could not be fetched: {'; '.join(why)}")


class _NotThere(Exception):
    """404 or 410: the next proxy of the list is asked."""


class _Failed(Exception):
    """Any other error: the next is asked only after `|`."""


def _get(session: requests.Session, proxy: str, path: str, *, timeout: float) -> bytes:
    shown = f"{mask_proxy(proxy)}/{path}"
    if proxy.startswith("file://"):
        local = Path(urlsplit(proxy).path) / path
        try:
            return local.read_bytes()
        except FileNotFoundError:
            raise _NotThere(f"{shown}: not there") from None
        except OSError as error:
            raise _Failed(f"{shown}: {error.strerror}") from None
    if not proxy.startswith(("http://", "https://")):
        raise _Failed(f"{mask_proxy(proxy)} is not a proxy's URL (http, https or file)")
    try:
        with session.get(f"{proxy}/{path}", timeout=timeout, stream=True) as answer:
            if answer.status_code in (404, 410):
                raise _NotThere(f"{shown}: {answer.status_code}")
            if answer.status_code != 200:
                raise _Failed(f"{shown}: {answer.status_code} {answer.reason}")
            return _bounded(answer.iter_content(1 << 20), shown)
    except requests.RequestException as error:
        raise _Failed(f"{shown}: {_reason(error)}") from None


def _bounded(chunks: Iterator[bytes], shown: str) -> bytes:
    buffer = io.BytesIO()
    for chunk in chunks:
        buffer.write(chunk)
        if buffer.tell() > _MOST_BYTES:
            raise _Failed(f"{shown}: more than {_MOST_BYTES:,} bytes, past any module's size")
    return buffer.getvalue()


def _reason(error: requests.RequestException) -> str:
    text = str(error)
    for known in ("Connection refused", "timed out", "Name or service not known"):
        if known in text:
            return known
    return type(error).__name__


def _checked(
    content: bytes, module: str, version: str, suffix: str, expected: str, proxy: str
) -> bytes:
    """`content` if its h1 is go.sum's; _Failed saying what differs otherwise."""
    if suffix == ".mod":
        found = _h1({"go.mod": content})
    else:
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                found = _h1(
                    {
                        name: archive.read(name)
                        for name in archive.namelist()
                        if not name.endswith("/")
                    }
                )
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise _Failed(
                f"{proxy} served {module}@{version}{suffix}, not a zip ({error})"
            ) from None
    if found != expected:
        raise _Failed(
            f"{module}@{version} is not what go.sum says it is: {proxy} served its {suffix} "
            f"with {found}, go.sum has {expected}"
        )
    return content


def _h1(files: Mapping[str, bytes]) -> str:
    """golang.org/x/mod/sumdb/dirhash.Hash1: sha256 of the sorted "sha256  name" lines."""
    summary = "".join(
        f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files)
    )
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def _escaped(path: str) -> str:
    """Go's case-encoding of a module path or version: an upper-case letter is ! and the
    letter in lower case (golang.org/x/mod/module.EscapePath)."""
    return re.sub(r"[A-Z]", lambda upper: "!" + upper.group().lower(), path)


def _patterns(text: str) -> list[str]:
    return [pattern.strip() for pattern in text.split(",") if pattern.strip()]


def _matches(patterns: list[str], module: str) -> bool:
    """golang.org/x/mod/module.MatchPrefixPatterns: a pattern matches the module path's
    leading elements, as many as the pattern has."""
    elements = module.split("/")
    for pattern in patterns:
        count = pattern.rstrip("/").count("/") + 1
        if len(elements) >= count and fnmatch.fnmatchcase(
            "/".join(elements[:count]), pattern.rstrip("/")
        ):
            return True
    return False
