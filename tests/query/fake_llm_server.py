"""A local stand-in for an OpenAI-compatible chat server: real HTTP on 127.0.0.1, in a thread.

It speaks the wire protocol of ``POST /v1/chat/completions`` (a JSON request; a
``chat.completion`` JSON answer), records every request it receives (path, headers,
body) and answers from a script: the assistant message's content, a refusal, a raw
status and body, or a delay longer than the client waits.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    status: int = 200
    raw: bytes | None = None  # sent as is instead of a chat.completion
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes


@dataclass
class FakeLlm:
    url: str
    replies: list[Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def reply(self, content: str | dict[str, Any] | None = None, **kw: Any) -> None:
        text = json.dumps(content) if isinstance(content, dict) else content
        self.replies.append(Reply(content=text, **kw))


def completion(model: str, reply: Reply) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content, "refusal": reply.refusal},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@contextmanager
def fake_llm() -> Iterator[FakeLlm]:
    """Serve on an ephemeral port until the block ends."""
    state: dict[str, FakeLlm] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            fake = state["fake"]
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            fake.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw))
            reply = fake.replies.pop(0) if fake.replies else Reply(status=500, raw=b'{"error": "no reply scripted"}')
            if reply.delay:
                time.sleep(reply.delay)
            if self.path != "/v1/chat/completions":
                reply = Reply(status=404, raw=b'{"error": {"message": "not found"}}')
            data = reply.raw if reply.raw is not None else json.dumps(completion(body.get("model", ""), reply)).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = int(server.server_address[1])
    state["fake"] = FakeLlm(f"http://127.0.0.1:{port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["fake"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
