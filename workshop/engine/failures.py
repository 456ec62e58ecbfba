"""The engine's failures in the project's words: docker-py's, requests' and urllib3's errors
become EngineUnavailable (a lost connection), EngineRefused (an answer: no) or TimedOut."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from contextlib import contextmanager

import docker.errors
import requests.exceptions
import urllib3.exceptions

from workshop.engine.endpoint import Endpoint
from workshop.errors import EngineRefused, EngineUnavailable, TimedOut

__all__ = [
    "LOST_CONNECTION",
    "TIMEOUTS",
    "connecting_failed",
    "is_timeout",
    "reason",
    "translated_errors",
    "unreachable",
]

# What a connection to an engine that went away raises, from a refused connect to a stream cut
# in the middle of a build (urllib3's ProtocolError is not wrapped by requests when streaming).
LOST_CONNECTION = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
)
TIMEOUTS = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)


def is_timeout(error: BaseException) -> bool:
    """Whether `error` is a read or connect timeout, however requests and urllib3 wrapped it."""
    seen: list[BaseException] = [error]
    while seen:
        each = seen.pop()
        if isinstance(each, TIMEOUTS):
            return True
        seen += [arg for arg in each.args if isinstance(arg, BaseException)]
        seen += [link for link in (each.__cause__, each.__context__) if link is not None][:1]
        if len(seen) > 20:
            break
    return False


def unreachable(endpoint: Endpoint, what: str, reason: object) -> EngineUnavailable:
    if endpoint.podman_socket:
        return _podman_unreachable(endpoint, str(reason))
    return EngineUnavailable(
        f"No Docker Engine answered while {what}, at {endpoint.describe()}: {reason}. "
        "Start one (`invoke engine --start` as root on Debian or Ubuntu, or `sudo systemctl "
        "start docker`), or choose a running one (DOCKER_HOST, or `docker context use NAME`), "
        "then run the task again."
    )


def _podman_unreachable(endpoint: Endpoint, reason: str) -> EngineUnavailable:
    """Podman's two usual failures, each in its words: the socket is someone else's, or its
    API service is not running."""
    path = endpoint.podman_socket
    if "ermission denied" in reason:
        return EngineUnavailable(
            f"Podman's socket {path} ({endpoint.chosen_by}) is not yours to use: permission "
            "denied. Rootful Podman's socket is root's; as a user, use your own rootless one "
            "(DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock), or run the task as root."
        )
    return EngineUnavailable(
        f"Podman's API service is not running at {path} ({endpoint.chosen_by}): {reason}. Start "
        f"it with `invoke engine --start` (it runs `podman system service --time=0 "
        f"unix://{path}` in the background), or `systemctl --user start podman.socket`, then "
        "run the task again."
    )


def connecting_failed(endpoint: Endpoint, error: BaseException, *, bound: float) -> Exception:
    """Why the first request to the engine failed, in words: a host that took the connection
    and said nothing (TimedOut, naming the bound), a certificate that does not verify (naming
    the CA and the host), or no engine at all (`unreachable`)."""
    text = str(error)
    # urllib3 counts a refused connection as a connect timeout too: only a wait that ran out is.
    if is_timeout(error) and "timed out" in text.lower():
        return TimedOut(
            f"The Docker Engine at {endpoint.describe()} took the connection and did not answer "
            f"within {bound:g} s (workshop.engine_timeout). Check that host's engine (docker "
            "info), or raise INVOKE_WORKSHOP_ENGINE_TIMEOUT if it is only slow."
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "SSL" in type(error).__name__:
        tls = endpoint.tls
        ca = getattr(tls, "ca_cert", None) or "the system's CAs"
        detail = re.search(r"certificate verify failed: ([^(')\]]+)", text)
        return EngineUnavailable(
            f"The Docker Engine at {endpoint.describe()} answered, but TLS with it failed: "
            f"{detail.group(1).strip() if detail else reason(error)}, checked against {ca}. "
            "Point DOCKER_CERT_PATH (or the context's TLS files) at the CA that signed that "
            "engine's certificate, and a client certificate it accepts; the certificate must "
            "name the host as DOCKER_HOST does."
        )
    return unreachable(endpoint, "connecting", reason(error))


@contextmanager
def translated_errors(what: str, *, endpoint: Endpoint, bound: float) -> Iterator[None]:
    """A timeout during `what` becomes TimedOut; a lost connection, EngineUnavailable; a
    refusal, EngineRefused."""
    try:
        yield
    except docker.errors.APIError as error:
        # An answer, not a lost connection (an APIError is a requests HTTPError too).
        raise EngineRefused(
            f"The Docker Engine refused {what}: {error.explanation or error}."
        ) from None
    except (*LOST_CONNECTION, *TIMEOUTS) as error:
        if is_timeout(error):
            raise TimedOut(
                f"The Docker Engine at {endpoint.describe()} did not answer within "
                f"{bound:g} s while "
                f"{what}. What this step started was removed and nothing was logged. Check "
                "the engine (docker info); raise the bound with INVOKE_WORKSHOP_ENGINE_TIMEOUT"
                " or INVOKE_WORKSHOP_BUILD_TIMEOUT if it is only slow."
            ) from None
        raise EngineUnavailable(
            f"The Docker Engine at {endpoint.describe()} stopped answering while {what}: "
            f"{reason(error)}. Nothing was logged for this step. Check that it runs "
            "(docker info), start it again if not, then run the step again."
        ) from None


def reason(error: BaseException) -> str:
    """The shortest honest account of a connection error."""
    text = str(error)
    if "Connection broken" in text or "IncompleteRead" in text:
        return "the connection broke off"
    for known in ("No such file or directory", "Connection refused", "Permission denied"):
        if known in text:
            return known
    return text.splitlines()[0][:200] if text else type(error).__name__
