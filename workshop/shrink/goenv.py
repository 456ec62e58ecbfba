"""The user's Go environment for fetching modules, as their own `go` would read it.

Each variable is taken from the process environment, else from the file `go env -w` writes
($GOENV, else the user's config folder's go/env), else left to Go's default. The client fetches
the modules through GOPROXY itself (workshop/shrink/modfetch.py); the build gets only the
patterns and flags of BUILD_GO_ENV_NAMES, as build args of the stage that reads them: a
proxy's address may carry a token, and no image or its history may hold it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from workshop.errors import BadInput
from workshop.files import NotReadable, read_small_text

__all__ = [
    "BUILD_GO_ENV_NAMES",
    "GO_ENV_NAMES",
    "NO_GO_ENV",
    "GoEnvironment",
    "go_environment",
    "mask_proxy",
]

# What decides where modules come from and how they are verified.
GO_ENV_NAMES = (
    "GOPROXY",
    "GONOPROXY",
    "GOPRIVATE",
    "GONOSUMDB",
    "GOSUMDB",
    "GOINSECURE",
    "GOFLAGS",
)
# What the build's modules stage is given: the patterns that send private modules to their
# source, and flags. Never GOPROXY (the client fetches through it, see modfetch) nor GOSUMDB:
# an address there may carry a credential, and the history of a build records its args.
BUILD_GO_ENV_NAMES = ("GONOPROXY", "GOPRIVATE", "GONOSUMDB", "GOINSECURE", "GOFLAGS")
# Go's own default, said in messages where the user set none.
DEFAULT_PROXY = "https://proxy.golang.org,direct"
_ENV_FILE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class GoEnvironment:
    """The variables that are set, and where each came from."""

    values: Mapping[str, str]
    sources: Mapping[str, str]

    @property
    def proxy(self) -> str:
        return self.values.get("GOPROXY", "") or DEFAULT_PROXY

    @property
    def build_values(self) -> dict[str, str]:
        """The variables the build is given (BUILD_GO_ENV_NAMES), where set."""
        return {name: value for name, value in self.values.items() if name in BUILD_GO_ENV_NAMES}

    def describe(self) -> str:
        """GOPROXY=... (from the environment), for what the output says it used, its
        credentials masked (`mask_proxy`)."""
        where = self.sources.get("GOPROXY", "Go's default")
        return f"GOPROXY={mask_proxy(self.proxy)} ({where})"


# A path segment of a proxy's URL that names one of these is taken for a credential.
_SECRET_WORDS = re.compile(r"tok|key|secret|auth|pass|cred|sig|session", re.IGNORECASE)


def mask_proxy(text: str) -> str:
    """A GOPROXY value (a list) as it is safe to show: in each URL a password becomes xxxxx
    (`user:xxxxx@host`, as Go prints it), and so does every query value and every path segment
    that looks like a token: one naming tok, key, secret, auth, pass, cred, sig or session, one
    of 20 characters or more, or one of 8 or more mixing letters and digits."""

    def masked(url: str) -> str:
        parts = urlsplit(url)
        if not parts.scheme or not parts.netloc:
            return url
        netloc = parts.netloc
        if "@" in netloc:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.split(':')[0]}:xxxxx@{host}" if ":" in user else f"xxxxx@{host}"
        path = "/".join(
            "xxxxx" if _looks_secret(segment) else segment for segment in parts.path.split("/")
        )
        query = re.sub(r"=([^&]*)", "=xxxxx", parts.query)
        return urlunsplit(parts._replace(netloc=netloc, path=path, query=query))

    return re.sub(r"[^,|]+", lambda entry: masked(entry.group()), text)


def _looks_secret(segment: str) -> bool:
    if not segment:
        return False
    mixed = any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment)
    return (
        bool(_SECRET_WORDS.search(segment)) or len(segment) >= 20 or (mixed and len(segment) >= 8)
    )


# Where nothing is fetched: no variable is read.
NO_GO_ENV = GoEnvironment({}, {})


def go_environment(environ: Mapping[str, str] | None = None) -> GoEnvironment:
    """The Go environment of `environ` (the process's own by default)."""
    environ = os.environ if environ is None else environ
    from_file = _env_file(environ)
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name in GO_ENV_NAMES:
        if environ.get(name):
            values[name], sources[name] = environ[name], "from the environment"
        elif from_file[0].get(name):
            values[name], sources[name] = from_file[0][name], f"from {from_file[1]}"
    for name, value in values.items():
        if any(ord(character) < 32 for character in value):
            raise BadInput(
                f"{name} ({sources[name]}) holds a control character, which no Go setting "
                "does; set it again, then run again."
            )
    return GoEnvironment(values, sources)


def _env_file(environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The settings in Go's env file, and its path; nothing where there is none."""
    given = environ.get("GOENV", "")
    if given == "off":
        return {}, ""
    if given:
        path = Path(given)
    else:
        home = Path(environ.get("HOME", "") or Path.home())
        if environ.get("XDG_CONFIG_HOME"):
            config = Path(environ["XDG_CONFIG_HOME"])
        elif sys.platform == "darwin":
            config = home / "Library" / "Application Support"
        else:
            config = home / ".config"
        path = config / "go" / "env"
    try:
        text = read_small_text(path, limit=_ENV_FILE_LIMIT)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return {}, ""
    except NotReadable as error:
        raise BadInput(f"Go's env file {path} can't be read: {error}.") from None
    settings = {}
    for line in text.splitlines():
        name, equals, value = line.strip().partition("=")
        if equals and name in GO_ENV_NAMES:
            settings[name] = value.strip()
    return settings, str(path)
