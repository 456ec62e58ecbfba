"""A registry, for the size that costs time and money: what a pull downloads.

The pull size of an image is what a registry stores for it and every pull downloads: its
config blob and its layer blobs, compressed, as the manifest lists them. It is measured, never
guessed: the step pushes its image to the registry (the `registry` setting), reads the manifest
back over the registry API (`GET /v2/NAME/manifests/TAG`), and adds up the sizes it lists.
Where no registry is set, the pull size is "not measured".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests

from workshop.errors import RegistryError

__all__ = ["MANIFEST_TYPES", "Registry"]

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_ADDRESS = re.compile(r"(?:(https?)://)?([A-Za-z0-9.-]+(?::[0-9]{1,5})?)/?")


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

    def _get(self, path: str, **headers: str) -> requests.Response:
        url = f"{self.scheme}://{self.address}{path}"
        try:
            return requests.get(url, headers=headers, timeout=self.timeout)
        except requests.exceptions.Timeout:
            raise self._error(f"it did not answer {path} within {self.timeout:g} s") from None
        except requests.exceptions.SSLError as error:
            raise self._error(f"TLS failed ({error.__class__.__name__}); is it http?") from None
        except requests.exceptions.RequestException as error:
            reason = str(error).split(": ")[-1][:200] or error.__class__.__name__
            raise self._error(f"it can't be reached ({reason})") from None

    def check(self) -> None:
        """Refuse, before anything is built, a registry that does not answer its API."""
        answer = self._get("/v2/")
        if answer.status_code == 401:
            raise self._error(
                "it asks for a login (401), and this project pushes only to registries that "
                "take pushes without one: a local one (see the README's Registry section)"
            )
        if answer.status_code != 200:
            raise self._error(f"GET /v2/ answered {answer.status_code}, not 200")

    def pull_size(self, name: str, tag: str = "latest") -> int:
        """Bytes a pull of NAME:TAG downloads: its config and layer blobs, as its manifest says."""
        manifest = self._manifest(name, tag)
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            chosen = [
                entry
                for entry in manifest.get("manifests", [])
                if entry.get("platform", {}).get("os") == "linux"
                and entry.get("platform", {}).get("architecture") == "amd64"
            ]
            if not chosen:
                raise self._error(f"{name}:{tag} has no linux/amd64 manifest")
            manifest = self._manifest(name, str(chosen[0]["digest"]))
        try:
            blobs = [manifest["config"], *manifest["layers"]]
            return sum(int(blob["size"]) for blob in blobs)
        except (KeyError, TypeError, ValueError):
            raise self._error(f"the manifest of {name}:{tag} lists no config and layers") from None

    def _manifest(self, name: str, reference: str) -> dict[str, Any]:
        path = f"/v2/{name}/manifests/{reference}"
        answer = self._get(path, Accept=", ".join((*MANIFEST_TYPES, *INDEX_TYPES)))
        if answer.status_code != 200:
            raise self._error(f"GET {path} answered {answer.status_code}")
        try:
            document = answer.json()
        except ValueError:
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
