"""A webhook receiver on loopback, started by a test: what notifications are delivered to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hook:
    """A webhook receiver: answers each POST with the next of `answers` (then 204) and keeps what it got."""

    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    gate: threading.Event | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def serve_hook() -> Iterator[Hook]:
    """Run a receiver until the generator is closed (the `hook` fixture)."""
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.gate is not None:
                state.gate.wait(30)
            time.sleep(state.delay)
            state.received.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            code = state.answers.pop(0) if state.answers else 204
            self.send_response(code)
            if code == 302:
                self.send_header("Location", "http://elsewhere.example/hook")
            text = b"" if code == 204 else f"answer {code}".encode()
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    if state.gate is not None:
        state.gate.set()
    server.shutdown()
    server.server_close()
