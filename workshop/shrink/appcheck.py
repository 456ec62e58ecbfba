"""How `invoke shrink` decides that an image of a person's program still works.

From `shrink.toml` in the program's folder, with the task's flags over it:

    args = ["--once"]          # run /app with these arguments
    stdin = "input\n"          # and this on its standard input
    output = "Hello world!"    # expect exactly this output (stdout and stderr, as docker run)
    exit = 0                   # and this exit status (the default, as the workshop's check)
    timeout = 30               # seconds it may run (or serve, until it answers)
    network = "host"           # the container's network, for a program that talks to this host
    trust = ["ca.pem"]         # CA certificates it must trust beyond the system's (PEM files)

    port = 8080                # or a server: probe this port (published on 127.0.0.1)
    path = "/healthz"          # with GET on this path
    status = 200               # until it answers this status, within `timeout`

With neither file nor flags the check is the workshop's own: /app exits 0.
"""

from __future__ import annotations

import http.client
import shlex
import socket
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from workshop.engine.values import EngineAPI, RunResult
from workshop.errors import BadInput, TimedOut
from workshop.files import parse_toml
from workshop.records.datafile import read_text

__all__ = ["CHECK_FILE", "AppCheck", "CheckFlags", "Outcome", "load_check"]

CHECK_FILE = "shrink.toml"
PROBE_EVERY = 0.2


@dataclass(frozen=True)
class Outcome:
    """What one run of the check saw."""

    works: bool
    exit_code: int | None
    output: str
    seconds: float
    # Why it does not work, as the check sees it ("" when it works).
    failure: str = ""
    timed_out: bool = False
    binary: bytes = b""


@dataclass(frozen=True)
class AppCheck:
    args: tuple[str, ...] = ()
    stdin: str | None = None
    output: str | None = None
    exit: int = 0
    timeout: float = 30.0
    network: str | None = None
    trust: tuple[str, ...] = ()
    port: int | None = None
    path: str = "/"
    status: int = 200
    # Where it came from, in words.
    source: str = "the workshop's check"

    @property
    def serves(self) -> bool:
        return self.port is not None

    def describe(self) -> str:
        command = " ".join(["/app", *self.args])
        if self.serves:
            return (
                f"{command} answers GET {self.path} on port {self.port} with {self.status} "
                f"within {self.timeout:g} s ({self.source})"
            )
        expects = [f"exits {self.exit}"]
        if self.output is not None:
            expects.append(f"prints {self.output!r}")
        fed = f" with {len(self.stdin.encode())} bytes on stdin" if self.stdin else ""
        return f"{command}{fed} {' and '.join(expects)} within {self.timeout:g} s ({self.source})"

    def judge(
        self,
        engine: EngineAPI,
        image_id: str,
        *,
        fetch: bool = True,
        as_built: bool = False,
        platform: str = "",
    ) -> Outcome:
        """Run `image_id` with this check: the outcome, with /app's bytes (`fetch`).
        `as_built`: the image's ENTRYPOINT and CMD hold /app and the args, and are run as
        they are, as `docker run IMAGE` runs them. `platform`: the image's, where it is not
        the engine's own (run under emulation)."""
        command = ["/app", *self.args] if self.args and not as_built else None
        if self.serves:
            return self._probe(engine, image_id, command, fetch=fetch, platform=platform)
        try:
            ran = engine.run(
                image_id,
                command=command,
                fetch="/app" if fetch else None,
                stdin=self.stdin.encode() if self.stdin is not None else None,
                network=self.network,
                bound=self.timeout,
                platform=platform,
            )
        except TimedOut:
            return Outcome(
                False,
                None,
                "",
                self.timeout,
                failure=f"it did not exit within {self.timeout:g} s; its container was removed",
                timed_out=True,
            )
        return self._judge_run(ran)

    def _judge_run(self, ran: RunResult) -> Outcome:
        failure = ""
        if ran.exit_code != self.exit:
            failure = f"it exited {ran.exit_code}, not {self.exit}"
        elif self.output is not None and ran.output.rstrip("\n") != self.output.rstrip("\n"):
            failure = f"it printed {ran.output[:200]!r}, not {self.output[:200]!r}"
        return Outcome(
            not failure, ran.exit_code, ran.output, ran.seconds, failure, binary=ran.fetched or b""
        )

    def _probe(
        self,
        engine: EngineAPI,
        image_id: str,
        command: list[str] | None,
        *,
        fetch: bool,
        platform: str = "",
    ) -> Outcome:
        assert self.port is not None
        started = time.monotonic()
        deadline = started + self.timeout
        answered: int | None = None
        if self.network == "host" and engine.info.where.shares_loopback and port_taken(self.port):
            taken = f"port {self.port} was taken on this host before the program started"
            return Outcome(False, None, "", 0.0, taken)
        with engine.serving(
            image_id, port=self.port, command=command, network=self.network, platform=platform
        ) as up:
            while time.monotonic() < deadline:
                answered = probe_once(
                    up.address, self.path, timeout=max(0.5, deadline - time.monotonic())
                )
                if answered == self.status:
                    break
                code = up.exited()
                if code is not None:
                    return Outcome(
                        False,
                        code,
                        up.output(),
                        time.monotonic() - started,
                        failure=f"it exited {code} instead of serving on port {self.port}",
                    )
                time.sleep(PROBE_EVERY)
            output = up.output()
        seconds = time.monotonic() - started
        binary = engine.read_file(image_id, "/app") if fetch else b""
        if answered == self.status:
            return Outcome(True, None, output, seconds, binary=binary)
        failure = (
            f"GET {self.path} on port {self.port} answered {answered}, not {self.status}"
            if answered is not None
            else f"nothing answered on port {self.port} within {self.timeout:g} s"
        )
        return Outcome(
            False, None, output, seconds, failure, timed_out=answered is None, binary=binary
        )


def port_taken(port: int) -> bool:
    """Whether something on this host listens on `port` (loopback or any address)."""
    for host in ("127.0.0.1", "0.0.0.0"):  # noqa: S104 - a bind test, closed at once
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return True
    return False


def require_free_port(check: AppCheck) -> None:
    """With the host's network, a listener already on the check's port would answer for the
    program: refuse that before anything is built (each probe looks again)."""
    if (
        check.serves
        and check.network == "host"
        and check.port is not None
        and port_taken(check.port)
    ):
        raise BadInput(
            f"The check probes port {check.port} on the host's network ({check.source}), and "
            f"port {check.port} is taken on this host: whatever listens there would answer for "
            "the program. Stop it, or use another port, or leave network unset (bridge)."
        )


def probe_once(address: tuple[str, int], path: str, *, timeout: float) -> int | None:
    """The status of GET `path` at `address`, or None while nothing answers there. The answer
    may take all of `timeout`, what is left of the check's own: a slow server is no broken one."""
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


_TYPES: dict[str, Any] = {
    "args": (list, tuple),
    "stdin": str,
    "output": str,
    "exit": int,
    "timeout": (int, float),
    "network": str,
    "trust": (list, tuple),
    "port": int,
    "path": str,
    "status": int,
}


def load_check(folder: Path, app_root: Path, flags: CheckFlags | None = None) -> AppCheck:
    """The check for the program in `folder`: its shrink.toml, then the flags given."""
    check = AppCheck()
    path = folder / CHECK_FILE
    text = read_text(path, what="shrink check file")
    if text is not None:
        try:
            document = parse_toml(text)
        except ValueError as error:
            raise BadInput(f"{path} is not valid TOML: {error}.") from None
        check = replace(_apply(check, document, where=str(path)), source=str(path))
    given = flags.given() if flags is not None else {}
    if given:
        check = replace(
            _apply(check, given, where="the task's flags"),
            source=(
                f"{check.source}, with the task's flags" if text is not None else "the task's flags"
            ),
        )
    if check.serves and check.network == "none":
        raise BadInput(
            f"The check ({check.source}) probes port {check.port} with network none: nothing "
            "can reach a server that has no network. Leave network unset (bridge) or use host."
        )
    for name in check.trust:
        trusted = app_root / name
        if not trusted.is_file() or Path(name).is_absolute() or ".." in Path(name).parts:
            raise BadInput(
                f"The certificate {name!r} to trust ({check.source}) is not a file inside "
                f"{app_root}: give PEM files by their path in the program's folder."
            )
    return check


@dataclass(frozen=True)
class CheckFlags:
    """The check as the task's flags give it: each None where the flag was not given."""

    args: tuple[str, ...] | None = None
    stdin: str | None = None
    output: str | None = None
    exit: int | None = None
    timeout: float | None = None
    network: str | None = None
    trust: tuple[str, ...] | None = None
    port: int | None = None
    path: str | None = None
    status: int | None = None

    @classmethod
    def parse(
        cls,
        *,
        args: str | None = None,
        stdin: str | None = None,
        output: str | None = None,
        exit_status: str | None = None,
        timeout: str | None = None,
        network: str | None = None,
        trust: str | None = None,
        port: str | None = None,
        path: str | None = None,
        status: str | None = None,
    ) -> CheckFlags:
        """From invoke's strings to the check's types; BadInput naming the flag otherwise."""
        return cls(
            args=_split(args),
            stdin=stdin,
            output=output,
            exit=_whole("exit", exit_status),
            timeout=_seconds(timeout),
            network=network,
            trust=tuple(n.strip() for n in trust.split(",") if n.strip()) if trust else None,
            port=_whole("port", port),
            path=path,
            status=_whole("status", status),
        )

    def given(self) -> dict[str, Any]:
        """The flags that were given, by the check's names."""
        return {
            each.name: getattr(self, each.name)
            for each in fields(self)
            if getattr(self, each.name) is not None
        }


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    try:
        return tuple(shlex.split(value))
    except ValueError as error:
        raise BadInput(f"--args {value!r} can't be split like a shell would: {error}.") from None


def _whole(flag: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise BadInput(f"--{flag} {value!r} is not a whole number.")
    return int(value)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise BadInput(f"--timeout {value!r} is not a number of seconds.") from None


def _apply(check: AppCheck, values: dict[str, Any], *, where: str) -> AppCheck:
    known = {each.name for each in fields(AppCheck)} - {"source"}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise BadInput(
                f"{where} has {key!r}, which shrink does not know; it knows "
                f"{', '.join(sorted(known))}."
            )
        wanted = _TYPES[key]
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise BadInput(f"{where}: {key} = {value!r} is not a {_kind(key)}.")
        if key in ("args", "trust"):
            if not all(isinstance(each, str) for each in value):
                raise BadInput(f"{where}: {key} must be a list of strings, not {value!r}.")
            value = tuple(value)
        if key in ("timeout",) and not 0 < value <= 3600:
            raise BadInput(f"{where}: timeout = {value!r} must be between 0 and 3600 seconds.")
        if key == "port" and not 0 < value < 65536:
            raise BadInput(f"{where}: port = {value!r} is not a TCP port.")
        if key == "status" and not 100 <= value < 600:
            raise BadInput(f"{where}: status = {value!r} is not an HTTP status.")
        if key == "exit" and not 0 <= value < 256:
            raise BadInput(f"{where}: exit = {value!r} is not an exit status (0 to 255).")
        if key == "path" and not value.startswith("/"):
            raise BadInput(f"{where}: path = {value!r} must start with /.")
        if key == "network" and value not in ("host", "bridge", "none"):
            raise BadInput(f"{where}: network = {value!r}: use host, bridge or none.")
        changes[key] = float(value) if key == "timeout" else value
    return replace(check, **changes)


def _kind(key: str) -> str:
    return {
        "args": "list of strings",
        "trust": "list of strings",
        "timeout": "number of seconds",
        "exit": "whole number",
        "port": "whole number",
        "status": "whole number",
    }.get(key, "string")
