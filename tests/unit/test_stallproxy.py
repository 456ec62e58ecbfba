"""The quiet-copy proxy (tests/support/stallproxy.py) holds a build's answer right after the
message that heads its first COPY step, however the engine's bytes come in pieces: on a busy
machine one piece went on to the steps after the COPY, the proxy held after them, and the build
it meant to show patient was given up (the rehearsal of 27b846e)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import cast

import pytest

from tests.support.stallproxy import QuietCopyProxy

COPY = b'{"stream":"Step 2/4 : COPY app.go .\\n"}\r\n'
LAYER = b'{"stream":" ---\\u003e Using cache\\n"}\r\n{"stream":" ---\\u003e 1a2b3c4d5e6f\\n"}\r\n'
NEXT = b'{"stream":"Step 3/4 : RUN go build app.go\\n"}\r\n'


@pytest.fixture
def proxy() -> Iterator[QuietCopyProxy]:
    # Nothing connects through it: its _answer is fed the engine's pieces by hand, with no
    # hold, so that no timing enters: what it sends is sorted by whether it had held by then.
    made = QuietCopyProxy(hold=0, path="/nonexistent")
    yield made
    made.close()


class Client:
    """Takes what the proxy sends on: before it held the answer back, and after."""

    def __init__(self, proxy: QuietCopyProxy) -> None:
        self.proxy = proxy
        self.before = self.after = b""

    def sendall(self, data: bytes) -> None:
        if self.proxy.held:
            self.after += data
        else:
            self.before += data


def held_then_rest(proxy: QuietCopyProxy, pieces: list[bytes]) -> tuple[bytes, bytes]:
    """What the client has while the proxy holds, and what comes after."""
    client = Client(proxy)
    building = threading.Event()
    building.set()
    for each in pieces:
        proxy._answer(each, cast(socket.socket, None), cast(socket.socket, client), building)
    return client.before, client.after


def test_one_piece_that_goes_past_the_copy_is_held_right_after_its_heading(
    proxy: QuietCopyProxy,
) -> None:
    during, after = held_then_rest(proxy, [COPY + LAYER + NEXT])
    assert during.endswith(COPY)
    assert after == LAYER + NEXT
    assert proxy.held == ["COPY app.go ."]


def test_a_heading_cut_across_two_pieces_is_held_once_its_message_ends(
    proxy: QuietCopyProxy,
) -> None:
    cut = COPY.index(b"app.go")
    during, after = held_then_rest(proxy, [COPY[:cut], COPY[cut:] + LAYER, NEXT])
    assert during == COPY
    assert after == LAYER + NEXT
    assert proxy.held == ["COPY app.go ."]
