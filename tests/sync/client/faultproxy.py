"""A TCP fault proxy between a sync client and the hub, on loopback, driven by rules.

It reads each HTTP/1.1 request whole (head and ``Content-Length`` body), so a rule can pick
requests by method and path and act on exactly one request. Every request goes upstream on
a fresh connection marked ``Connection: close``, so the hub's answer ends where the upstream
connection does, and the client is told to close too: one request per connection, which
makes "cut the answer to the third push after 40 bytes" mean exactly that.

Actions (``Action``):

* ``PASS``         forward the request and relay the answer
* ``REFUSE``       close the client's connection; the hub never sees the request
* ``CUT_REQUEST``  send the hub only the first ``after_bytes`` of the request, then hang up
* ``CUT_BODY``     send the hub the first ``after_bytes`` of the request and end its half of
                   the connection; relay what the hub answers (a middlebox that lost the rest)
* ``DELAY``        wait ``delay_s`` before relaying the answer (or, with ``hold_request``,
                   before forwarding the request)
* ``TRUNCATE``     the hub answers in full; relay ``after_bytes`` of it and close (FIN)
* ``RESET``        the same, but end with a TCP reset (RST) instead of a close
* ``DUPLICATE``    deliver the request to the hub twice at once; relay the first answer
* ``BLACKHOLE``    swallow the request and never answer (until the client gives up)
* ``ANSWER``       answer ``answer`` itself (a middlebox's page: ``page``); the hub never
                   sees the request
* ``MANGLE``       the hub answers in full; relay it with ``garbage`` written over its body
                   from body offset ``after_bytes`` (same length: the head still fits it),
                   or over the first ``find`` in it when that is set
* ``MANGLE_REQUEST`` the same, to the request's body on its way to the hub

A rule applies to the next ``times`` matching requests (``None``: all); the first rule that
matches and has uses left wins. ``seen`` is set once the proxy holds the whole request,
``notify`` once it has reached the hub; ``record`` keeps its bytes for a later ``replay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType

_HEAD_LIMIT = 64 * 1024
_UPSTREAM_TIMEOUT_S = 60.0
_BLACKHOLE_MAX_S = 30.0


class Action(StrEnum):
    PASS = "pass"
    REFUSE = "refuse"
    CUT_REQUEST = "cut_request"
    CUT_BODY = "cut_body"
    DELAY = "delay"
    TRUNCATE = "truncate"
    RESET = "reset"
    DUPLICATE = "duplicate"
    BLACKHOLE = "blackhole"
    ANSWER = "answer"
    MANGLE = "mangle"
    MANGLE_REQUEST = "mangle_request"


@dataclass
class Rule:
    action: Action
    match: str = ""  # a substring of the request line, e.g. "POST /api/v1/sites/s/push"
    times: int | None = 1
    after_bytes: int = 0
    delay_s: float = 0.0
    hold_request: bool = False
    seen: threading.Event | None = None  # set when the proxy has read the request
    notify: threading.Event | None = None  # set when the request has reached the hub
    record: bool = False
    answer: bytes = field(default=b"", repr=False)  # for ``ANSWER``
    garbage: bytes = b"\x00}{\xff"  # for ``MANGLE`` and ``MANGLE_REQUEST``
    find: bytes = b""  # for ``MANGLE``: where the garbage goes instead of ``after_bytes``


@dataclass
class _Request:
    line: str
    data: bytes = field(repr=False)


class FaultProxy:
    """Listens on ``127.0.0.1:<port>`` and forwards to ``127.0.0.1:<upstream_port>``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.applied: Counter[str] = Counter()
        self.recorded: list[bytes] = []
        self.request_lines: list[str] = []  # every request's first line, in order
        # A proxy's body-size limit: a longer request body gets its bare 413 page.
        self.body_limit: int | None = None
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy")
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *rules: Rule) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def start(self) -> FaultProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def replay(self, data: bytes, timeout_s: float = 30.0) -> bytes:
        """Send recorded request bytes to the hub again; returns the raw answer."""
        future = asyncio.run_coroutine_threadsafe(self._exchange(data), self._loop)
        return future.result(timeout_s)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _take(self, line: str) -> Rule:
        with self._lock:
            for rule in self._rules:
                if rule.match in line and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    self.applied[rule.action.value] += 1
                    return rule
        self.applied[Action.PASS.value] += 1
        return Rule(Action.PASS)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is not None:
                await self._serve(request, self._take(request.line), reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client or the hub went away: what a faulty network looks like
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _serve(
        self,
        request: _Request,
        rule: Rule,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        if rule.record:
            self.recorded.append(request.data)
        if rule.seen is not None:
            rule.seen.set()
        self.request_lines.append(request.line)
        if self.body_limit is not None and _body_size(request) > self.body_limit:
            writer.write(page("413 Request Entity Too Large"))
            await writer.drain()
            return
        if await self._without_the_hub(request, rule, reader, writer):
            return
        action = rule.action
        if action == Action.DELAY and rule.hold_request:
            await asyncio.sleep(rule.delay_s)
        answer = await self._deliver(_outgoing(request, rule), rule)
        if answer is None:
            return
        if action == Action.DELAY and not rule.hold_request:
            await asyncio.sleep(rule.delay_s)
        writer.write(_relayed(answer, rule))
        await writer.drain()
        if action == Action.RESET:
            _reset(writer)

    async def _without_the_hub(
        self,
        request: _Request,
        rule: Rule,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Serve the actions that never hand the hub the whole request; False for the rest."""
        action = rule.action
        if action == Action.ANSWER:
            writer.write(rule.answer)
        elif action == Action.BLACKHOLE:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(), _BLACKHOLE_MAX_S)
        elif action == Action.CUT_REQUEST:
            await self._send_part(request.data[: rule.after_bytes], rule)
        elif action == Action.CUT_BODY:
            writer.write(await self._exchange(request.data[: rule.after_bytes], half_close=True))
        elif action != Action.REFUSE:
            return False
        await writer.drain()
        return True

    async def _deliver(self, request: _Request, rule: Rule) -> bytes | None:
        copies = 2 if rule.action == Action.DUPLICATE else 1
        calls = [self._exchange(request.data, rule.notify) for _ in range(copies)]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        first = answers[0]
        return first if isinstance(first, bytes) else None

    async def _exchange(
        self, data: bytes, notify: threading.Event | None = None, *, half_close: bool = False
    ) -> bytes:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port
        )
        try:
            upstream_writer.write(data)
            await upstream_writer.drain()
            if half_close:
                upstream_writer.write_eof()
            if notify is not None:
                notify.set()
            return await asyncio.wait_for(upstream_reader.read(), _UPSTREAM_TIMEOUT_S)
        finally:
            upstream_writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await upstream_writer.wait_closed()

    async def _send_part(self, data: bytes, rule: Rule) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            _, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            upstream_writer.write(data)
            await upstream_writer.drain()
            if rule.notify is not None:
                rule.notify.set()
            upstream_writer.close()
            await upstream_writer.wait_closed()


def page(status: str, body: bytes = b"<html><body>Please log in</body></html>") -> bytes:
    """An HTML answer as a captive portal, firewall or proxy sends it (no hub ``ErrorBody``),
    e.g. ``page("403 Forbidden")``."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _outgoing(request: _Request, rule: Rule) -> _Request:
    """The request as it goes on to the hub."""
    if rule.action != Action.MANGLE_REQUEST:
        return request
    return _Request(request.line, mangled(request.data, rule.after_bytes, rule.garbage))


def _relayed(answer: bytes, rule: Rule) -> bytes:
    """The hub's answer as it goes back to the client."""
    if rule.action in (Action.TRUNCATE, Action.RESET):
        return answer[: rule.after_bytes]
    if rule.action == Action.MANGLE:
        body = answer.partition(b"\r\n\r\n")[2]
        offset = body.find(rule.find) if rule.find else rule.after_bytes
        return mangled(answer, offset, rule.garbage)
    return answer


def mangled(message: bytes, offset: int, garbage: bytes) -> bytes:
    """An HTTP message with ``garbage`` over its body from ``offset``, the length kept (a
    body shorter than that ends in as much of it as fits)."""
    head, separator, body = message.partition(b"\r\n\r\n")
    start = min(offset, max(len(body) - len(garbage), 0))
    body = body[:start] + garbage[: len(body) - start] + body[start + len(garbage) :]
    return head + separator + body


def _body_size(request: _Request) -> int:
    return len(request.data.partition(b"\r\n\r\n")[2])


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One request, head rewritten to ``Connection: close``; None at a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            return None
        raise
    if len(head) > _HEAD_LIMIT:
        raise ConnectionError("request head too large")
    lines = head.decode("latin-1").split("\r\n")[:-2]
    length = 0
    kept = [lines[0]]
    for header in lines[1:]:
        name, _, value = header.partition(":")
        lowered = name.strip().lower()
        if lowered == "content-length":
            length = int(value.strip())
        if lowered == "transfer-encoding":
            raise ConnectionError("chunked request bodies are not supported by this proxy")
        if lowered not in ("connection", "keep-alive"):
            kept.append(header)
    kept.append("Connection: close")
    body = await reader.readexactly(length) if length else b""
    data = ("\r\n".join(kept) + "\r\n\r\n").encode("latin-1") + body
    return _Request(lines[0], data)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort with an RST (linger 0) rather than the orderly FIN of ``close``."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
