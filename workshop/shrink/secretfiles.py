"""Files in a program's folder that look like secrets, which no build context gets unless the
folder's .dockerignore keeps them with a `!` line.

A build stage's layers are cached on the engine, can be pushed (`--target`, `--cache-to`) and
stay as dangling images: a key copied into one is a key on the machine. What is matched:

- `.env` and `.env.*`, `.netrc`/`_netrc`, `.git-credentials`, `.npmrc`, `.pypirc`;
- SSH keys: `id_*` with no extension (id_rsa, id_ed25519; not id_rsa.pub, not id_gen.go);
- cloud and cluster credentials: `.aws/credentials`, `.docker/config.json`, `kubeconfig`,
  `*.kubeconfig`, `credentials.json`, `*service-account*.json`, `.gcloud/`, `.azure/`;
- `*.p12`, `*.pfx`, `*.jks`, `*.keystore`, and any `*.pem` or `*.key` holding a PRIVATE KEY.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

__all__ = ["looks_secret"]

_NAMES = ("*.p12", "*.pfx", "*.jks", "*.keystore", "kubeconfig", "*.kubeconfig")
_EXACT = {".netrc", "_netrc", ".git-credentials", ".npmrc", ".pypirc", "credentials.json"}
_PATHS = (".aws/credentials", ".docker/config.json")
_FOLDERS = {".gcloud", ".azure"}
# Where a private key is, its PEM armour says so within the first few kilobytes.
_SNIFFED = ("*.pem", "*.key")
_SNIFF_BYTES = 64 * 1024


def looks_secret(root: Path, name: str) -> bool:
    """Whether `name` (relative to `root`, with /) looks like a secret."""
    parts = name.split("/")
    base = parts[-1]
    if base == ".env" or base.startswith(".env."):
        return True
    if base in _EXACT or any(fnmatch.fnmatch(base, pattern) for pattern in _NAMES):
        return True
    if fnmatch.fnmatch(base, "*service-account*.json"):
        return True
    if base.startswith("id_") and "." not in base:
        return True
    if any(name == path or name.endswith("/" + path) for path in _PATHS):
        return True
    if _FOLDERS.intersection(parts[:-1]):
        return True
    if any(fnmatch.fnmatch(base, pattern) for pattern in _SNIFFED):
        try:
            with open(root / name, "rb") as file:
                return b"PRIVATE KEY-----" in file.read(_SNIFF_BYTES)
        except OSError:
            return True
    return False
