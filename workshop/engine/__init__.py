"""Everything that differs between engines: how one is found, reached, asked and started.

docker-py imports paramiko (and cryptography with it) as it is itself imported, for `ssh://`
engines alone: 35 ms of every task's start here. It is held back until an `ssh://` engine is
asked for (`endpoint.load_ssh_support`); until then docker-py goes without its ssh transport, as
it does where paramiko is not installed.
"""

from __future__ import annotations

import sys

if "docker" not in sys.modules:
    sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]  # the import system's "not here"
