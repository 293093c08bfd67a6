"""A run's console log, streamed live as server-sent events while the run goes on.

`taskctl.runner.logs.follow` (what `taskctl logs --follow` uses) runs in a thread of its own per stream, so
a slow or idle viewer never holds one of the server's worker threads; a bounded queue makes the follower wait
for a slow viewer instead of reading a huge log into memory, and the stream ends its thread when the viewer
goes away. Events: `log` (new text; its id is the byte offset reached, so a reconnecting EventSource resumes
with Last-Event-ID), `run` (run.json changed: the record, as `show --json` has it), `end` (the run finished).
"""

from __future__ import annotations

import asyncio
import codecs
import concurrent.futures
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from taskctl.documents import dumps
from taskctl.runner.logs import follow
from taskctl.runs import RunRecord

POLL = 0.25  # seconds between looks at the log and run.json
KEEP_ALIVE = 15.0  # seconds of silence after which a comment keeps proxies from closing the stream
QUEUE_SIZE = 16  # chunks of up to 64 KiB waiting for the viewer

_END = object()


class _Stopped(Exception):
    """The viewer went away."""


class _Follower(threading.Thread):
    def __init__(
        self,
        path: Path,
        folder: Path,
        start: int,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[object],
    ) -> None:
        super().__init__(name="taskctl-log-stream", daemon=True)
        self.path, self.folder, self.start_at = path, folder, start
        self.loop, self.queue = loop, queue
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            for item in follow(self.path, self.folder, self.start_at, POLL, self._sleep):
                self._put(item)
            self._put(_END)
        except _Stopped:
            pass

    def _sleep(self, seconds: float) -> None:
        if self.stopped.wait(seconds):
            raise _Stopped

    def _put(self, item: object) -> None:
        try:
            future = asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop)
        except RuntimeError:  # the event loop has closed
            raise _Stopped from None
        while True:
            try:
                future.result(timeout=POLL)
                return
            except concurrent.futures.TimeoutError:
                if self.stopped.is_set():
                    future.cancel()
                    raise _Stopped from None


async def log_events(path: Path, folder: Path, start: int) -> AsyncIterator[bytes]:
    """The events of the log at `path` from byte `start`, until the run in `folder` has finished."""
    queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
    follower = _Follower(path, folder, start, asyncio.get_running_loop(), queue)
    follower.start()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    offset = start
    last: RunRecord | None = None
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is _END:
                status = str(last.status) if last is not None else "unknown"
                yield event("end", dumps({"status": status}, indent=None))
                return
            if isinstance(item, bytes):
                offset += len(item)
                text = decoder.decode(item)
                if text:
                    yield event("log", text, offset)
            elif isinstance(item, RunRecord):
                last = item
                yield event("run", dumps(item.to_json(), indent=None))
    finally:
        follower.stopped.set()


def event(name: str, data: str, event_id: int | None = None) -> bytes:
    """One server-sent event; every line of `data` becomes a `data:` line (a lone CR, which would end an
    event line too, becomes a line break)."""
    data = data.replace("\r\n", "\n").replace("\r", "\n")
    head = f"event: {name}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return (head + body + "\n").encode()
