"""A registry, for the size that costs time and money: what a pull downloads.

The pull size of an image is what a registry stores for it and every pull downloads: its
config blob and its layer blobs, compressed, as the manifest lists them. It is measured, never
guessed: the step pushes its image to the registry (the `registry` setting), reads the manifest
back over the registry API (`GET /v2/NAME/manifests/TAG`), and adds up the sizes it lists.
Where no registry is set, the pull size is "not measured".
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import requests

from workshop.errors import RegistryError

__all__ = ["MANIFEST_TYPES", "Registry", "content_digest"]

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# The most of a registry's answer that is read: a manifest or index is a few kilobytes.
ANSWER_LIMIT = 4 * 1024 * 1024
# The largest size a blob can have (the size log's own bound).
MAX_SIZE = 2**63 - 1
_ADDRESS = re.compile(r"(?:(https?)://)?([A-Za-z0-9.-]+(?::[0-9]{1,5})?)/?")


def content_digest(blob: bytes) -> str:
    """The digest a registry names `blob` by: sha256:HEX."""
    return "sha256:" + hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Registry:
    """A registry at `address` (host:port), spoken to over `scheme`."""

    address: str
    scheme: str = "http"
    timeout: float = 60.0

    @classmethod
    def parse(cls, text: str, *, timeout: float = 60.0) -> Registry:
        """From the setting: host:port, or http:// or https:// before it."""
        match = _ADDRESS.fullmatch(text.strip())
        if match is None:
            raise RegistryError(
                f"The registry {text!r} (the setting workshop.registry) is not host:port with "
                "http:// or https:// before it or nothing (loopback registries speak http, "
                "others https)."
            )
        scheme, address = match.groups()
        if scheme is None:
            loopback = address.split(":")[0] in ("localhost", "127.0.0.1")
            scheme = "http" if loopback else "https"
        return cls(address, scheme, timeout)

    def _get(self, path: str, **headers: str) -> tuple[int, bytes]:
        """GET `path`: its status and body, the whole answer within `timeout` (not each read)
        and at most ANSWER_LIMIT bytes of it."""
        url = f"{self.scheme}://{self.address}{path}"
        deadline = time.monotonic() + self.timeout
        body = bytearray()
        try:
            with requests.get(url, headers=headers, timeout=self.timeout, stream=True) as answer:
                for chunk in answer.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > ANSWER_LIMIT:
                        raise self._error(f"GET {path} answered more than {ANSWER_LIMIT:,} bytes")
                    if time.monotonic() > deadline:
                        raise requests.exceptions.Timeout
                return answer.status_code, bytes(body)
        except requests.exceptions.Timeout:
            raise self._error(f"it did not answer {path} within {self.timeout:g} s") from None
        except requests.exceptions.SSLError as error:
            raise self._error(f"TLS failed ({error.__class__.__name__}); is it http?") from None
        except requests.exceptions.RequestException as error:
            reason = str(error).split(": ")[-1][:200] or error.__class__.__name__
            raise self._error(f"it can't be reached ({reason})") from None

    def _send(self, method: str, path: str, data: bytes, **headers: str) -> requests.Response:
        """`method` `data` to `path` (or to the full URL a registry's Location gave), within
        `timeout`."""
        url = path if "://" in path else f"{self.scheme}://{self.address}{path}"
        try:
            return requests.request(method, url, data=data, headers=headers, timeout=self.timeout)
        except requests.exceptions.Timeout:
            what = f"{method} {path}"
            raise self._error(f"it did not answer {what} within {self.timeout:g} s") from None
        except requests.exceptions.RequestException as error:
            reason = str(error).split(": ")[-1][:200] or error.__class__.__name__
            raise self._error(f"it can't be reached ({reason})") from None

    def push_blob(self, name: str, blob: bytes) -> str:
        """Upload `blob` to repository `name` in one request (POST, then PUT with its digest);
        its digest."""
        digest = content_digest(blob)
        started = self._send("POST", f"/v2/{name}/blobs/uploads/", b"")
        location = started.headers.get("Location", "")
        if started.status_code != 202 or not location:
            raise self._error(f"POST /v2/{name}/blobs/uploads/ answered {started.status_code}")
        if location.startswith("/"):
            location = f"{self.scheme}://{self.address}{location}"
        joined = "&" if "?" in location else "?"
        done = self._send(
            "PUT",
            f"{location}{joined}digest={digest}",
            blob,
            **{"Content-Type": "application/octet-stream"},
        )
        if done.status_code != 201:
            raise self._error(f"the upload of blob {digest[:19]} answered {done.status_code}")
        return digest

    def push_manifest(self, name: str, reference: str, manifest: bytes, media_type: str) -> str:
        """Put `manifest` as NAME:REFERENCE; its digest, which a pull names it by."""
        path = f"/v2/{name}/manifests/{reference}"
        done = self._send("PUT", path, manifest, **{"Content-Type": media_type})
        if done.status_code != 201:
            raise self._error(f"PUT {path} answered {done.status_code}: {done.text[:200]}")
        return content_digest(manifest)

    def manifest_bytes(self, name: str, reference: str) -> tuple[bytes, str]:
        """NAME:REFERENCE's manifest as the registry stores it, and its media type."""
        path = f"/v2/{name}/manifests/{reference}"
        status, body = self._get(path, Accept=", ".join(MANIFEST_TYPES))
        if status != 200:
            raise self._error(f"GET {path} answered {status}")
        try:
            media_type = json.loads(body).get("mediaType") or MANIFEST_TYPES[0]
        except (ValueError, AttributeError, RecursionError):
            raise self._error(f"GET {path} answered something that is not a manifest") from None
        if media_type not in MANIFEST_TYPES:
            raise self._error(f"{name}:{reference} is a {media_type!r}, not an image manifest")
        return body, str(media_type)

    def mount_blob(self, name: str, digest: str, source: str) -> None:
        """Make blob `digest` of repository `source` one of `name`'s too, without a copy."""
        path = f"/v2/{name}/blobs/uploads/?mount={digest}&from={source}"
        mounted = self._send("POST", path, b"")
        if mounted.status_code != 201:
            answered = mounted.status_code
            raise self._error(f"mounting {digest[:19]} from {source} answered {answered}")

    def check(self) -> None:
        """Refuse, before anything is built, a registry that does not answer its API."""
        status, _ = self._get("/v2/")
        if status == 401:
            raise self._error(
                "it asks for a login (401), and this project pushes only to registries that "
                "take pushes without one: a local one (see docs/engines.md)"
            )
        if status != 200:
            raise self._error(f"GET /v2/ answered {status}, not 200")

    def pull_size(self, name: str, tag: str = "latest", *, platform: str = "linux/amd64") -> int:
        """Bytes a pull of NAME:TAG downloads: its config and layer blobs, as its manifest says;
        of an index, those of its manifest for `platform`."""
        manifest = self._manifest(name, tag)
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            entries = manifest.get("manifests")
            if not isinstance(entries, list):
                raise self._error(f"the index of {name}:{tag} lists no manifests")
            os_name, _, architecture = platform.partition("/")
            chosen = [
                entry
                for entry in entries
                if isinstance(entry, dict)
                and isinstance(entry.get("platform"), dict)
                and entry["platform"].get("os") == os_name
                and entry["platform"].get("architecture") == architecture
            ]
            digest = chosen[0].get("digest") if chosen else None
            if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
                raise self._error(f"{name}:{tag} has no {platform} manifest with a digest")
            manifest = self._manifest(name, digest)
        config, layers = manifest.get("config"), manifest.get("layers")
        if not isinstance(config, dict) or not isinstance(layers, list):
            raise self._error(f"the manifest of {name}:{tag} lists no config and layers")
        return sum(self._size(blob, f"{name}:{tag}") for blob in [config, *layers])

    def _size(self, blob: object, what: str) -> int:
        size = blob.get("size") if isinstance(blob, dict) else None
        # A size is a whole number of bytes a disk can hold: not a fraction, a flag or 1e400.
        if type(size) is not int or not 0 <= size <= MAX_SIZE:
            raise self._error(f"the manifest of {what} gives a blob the size {size!r}")
        return size

    def _manifest(self, name: str, reference: str) -> dict[str, Any]:
        path = f"/v2/{name}/manifests/{reference}"
        status, body = self._get(path, Accept=", ".join((*MANIFEST_TYPES, *INDEX_TYPES)))
        if status != 200:
            raise self._error(f"GET {path} answered {status}")
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise self._error(f"GET {path} answered something that is not JSON") from None
        if not isinstance(document, dict):
            raise self._error(f"GET {path} answered something that is not a manifest")
        return document

    def _error(self, what: str) -> RegistryError:
        return RegistryError(
            f"The registry {self.scheme}://{self.address} (the setting workshop.registry) can't "
            f"be used: {what}. Nothing was logged as measured. Start it, fix the setting "
            "(INVOKE_WORKSHOP_REGISTRY), or unset it to leave the pull size unmeasured."
        )
