"""A test's own HTTP server on loopback, served from a thread for as long as a block runs."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["served"]

# How often serve_forever looks whether it is to stop. Its default, half a second, is what
# every shutdown waits: 5 s of the unit tests' 20 when it was left so.
POLL_SECONDS = 0.05


@contextmanager
def served(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve `server` from a thread while the block runs, then stop and close it; its port."""
    address = server.server_address
    assert isinstance(address, tuple), address
    thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), daemon=True)
    thread.start()
    try:
        yield int(address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
