"""Finding (and shutting down) a PC/SC context's socket to pcscd, without pcscd.

A listening UNIX socket named pcscd.comm in a temporary directory stands in for
pcscd; "establishing a context" connects to it, as pcsc-lite does.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from reader_driver import pcsc_socket


@pytest.fixture
def pcscd_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("PCSCLITE_CSOCK_NAME", raising=False)
    path = str(tmp_path / "pcscd.comm")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(8)
        yield path


def _connect(path: str, keep: list[socket.socket]) -> int:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    keep.append(client)
    return client.fileno()


def test_the_one_new_pcscd_socket_is_found_and_can_be_shut_down(pcscd_path: str) -> None:
    keep: list[socket.socket] = []
    try:
        fd, found = pcsc_socket.establish_context(lambda: _connect(pcscd_path, keep))
        assert found is not None
        assert found == (fd, os.fstat(fd).st_ino)
        assert pcsc_socket.shutdown(*found)
        # a blocked read on it returns at once: end of stream
        keep[0].settimeout(5)
        assert keep[0].recv(1) == b""
    finally:
        for sock in keep:
            sock.close()


def test_two_new_pcscd_sockets_or_none_are_not_told_apart(pcscd_path: str, tmp_path: Path) -> None:
    keep: list[socket.socket] = []
    try:
        _, found = pcsc_socket.establish_context(
            lambda: (_connect(pcscd_path, keep), _connect(pcscd_path, keep))
        )
        assert found is None
        # a socket to some other UNIX server is not pcscd's
        other = str(tmp_path / "other.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(other)
            server.listen(1)
            _, found = pcsc_socket.establish_context(lambda: _connect(other, keep))
        assert found is None
    finally:
        for sock in keep:
            sock.close()


def test_a_socket_whose_descriptor_was_reused_is_left_alone(pcscd_path: str) -> None:
    keep: list[socket.socket] = []
    try:
        fd, found = pcsc_socket.establish_context(lambda: _connect(pcscd_path, keep))
        assert found is not None
        keep.pop().close()  # released: the descriptor may now belong to anything
        assert not pcsc_socket.shutdown(fd, found[1])
    finally:
        for sock in keep:
            sock.close()
