"""A 100 MB unauthenticated body against a real ``taxvault serve`` process.

The server must answer 413 quickly and must not buffer the body: its resident memory
(peak included) may grow by a few MB at most. Before the limit, the whole body was
read and parsed before the 401 (the server grew by about 190 MB).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BIG = 100 * 1024 * 1024
CHUNK = 256 * 1024
MB = 1024 * 1024
TAXVAULT = [sys.executable, "-c", "from taxvault.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    var = tmp_path_factory.mktemp("served") / "var"
    port = _free_port()
    env = {**os.environ, "TAXVAULT_VAR_DIR": str(var), "TAXVAULT_PORT": str(port)}
    env.pop("TAXVAULT_DATABASE_URL", None)
    env.pop("TAXVAULT_MAX_BODY_BYTES", None)
    subprocess.run([*TAXVAULT, "init"], env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen([*TAXVAULT, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)
    try:
        yield proc.pid, base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident) of ``pid`` in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _body(total: int) -> Iterator[bytes]:
    """The body as a stream of chunks: ``{"tin": "999...`` never built whole in memory."""
    yield b'{"tin": "'
    block = b"9" * CHUNK
    sent = 0
    while sent < total:
        n = min(CHUNK, total - sent)
        sent += n
        yield block[:n]
    yield b'"}'


def _post_streaming(port: int, *, chunked: bool) -> tuple[int, int, float]:
    """POST a 100 MB body to the look-up; stop sending as soon as the server answers.

    Returns (status, bytes sent, seconds).
    """
    head = [
        b"POST /v1/taxpayers/lookup HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Content-Type: application/json",
        b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % (BIG + 11),
    ]
    started = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        pending = b""
        chunks = _body(BIG)
        answered = False
        while not answered and time.monotonic() - started < 60:
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable:
                answered = True
                break
            if not writable:
                continue
            if not pending:
                chunk = next(chunks, None)
                if chunk is None:
                    if chunked:
                        sock.sendall(b"0\r\n\r\n")
                    break
                pending = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            try:
                n = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += n
            pending = pending[n:]
        response = b""
        while b"\r\n" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0
    return status, sent, time.monotonic() - started


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_100mb_unauthenticated_body_is_413_without_growing_the_server(server: tuple[int, str], chunked: bool) -> None:
    pid, base = server
    port = int(base.rsplit(":", 1)[1])
    # warm up the code paths a body takes (a small unauthenticated look-up: 401)
    for _ in range(3):
        assert httpx.post(base + "/v1/taxpayers/lookup", json={"tin": "900010005"}).status_code == 401
    before = _memory(pid)
    status, sent, seconds = _post_streaming(port, chunked=chunked)
    after = _memory(pid)
    assert status == 413
    assert seconds < 5, seconds
    assert sent < 32 * MB, sent  # it stopped reading long before the end
    assert after["VmRSS"] - before["VmRSS"] < 5 * MB, (before, after)
    assert after["VmHWM"] - max(before["VmHWM"], before["VmRSS"]) < 5 * MB, (before, after)
    # and the server is still serving
    assert httpx.get(base + "/health").status_code == 200
