"""One asyncio protocol object per tracker connection: TCP streams and the OsmAnd HTTP port.

Callbacks (``asyncio.Protocol``) rather than stream readers and a coroutine per connection: at
tens of thousands of frames a second the coroutine machinery alone would eat the gateway's core.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from telematics.gateway.agent_batch import BATCH_PATH, decode_agent_batch
from telematics.gateway.registry import UNRESOLVED, DeviceInfo
from telematics.protocols.base import Message, ProtocolError, StreamSession

if TYPE_CHECKING:
    from telematics.gateway.app import Gateway

log = logging.getLogger("telematics.gateway")


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "")


class Connection(asyncio.Protocol):
    """What both kinds share: flow control, acknowledgements in order, device resolution."""

    protocol_name = ""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.remote = ""
        self.unique_id: str | None = None
        self.inflight = 0
        self.closed = False
        self._reading = True
        self._resolving = False
        self._pending: list[Message] | None = None
        self.last_activity = 0.0

    # --- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.remote = _peer(transport)
        self.gateway.connection_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
        self.gateway.connection_closed(self)

    # --- flow control -----------------------------------------------------------------------

    def update_reading(self) -> None:
        """Read only while this connection is not waiting too much on the database."""
        if self.closed or self.transport is None:
            return
        should_read = (
            not self._resolving
            and self.inflight < self.gateway.config.max_inflight_frames
            and not self.gateway.overloaded
            and self._ready_for_more()
        )
        if should_read and not self._reading:
            self._reading = True
            self.transport.resume_reading()
        elif not should_read:
            if self._reading:
                self._reading = False
                self.transport.pause_reading()
            if self.gateway.overloaded:
                # Also a connection that had already stopped reading (waiting for its acks or
                # a device lookup): it resumes with the others once the database catches up.
                self.gateway.paused_connections.add(self)

    def _ready_for_more(self) -> bool:
        return True

    def ack(self, reply: bytes) -> None:
        """Called by the gateway once this connection's frame is committed."""
        self.inflight -= 1
        if self.closed:
            return
        if reply:
            self.transport.write(reply)
        self.after_ack()
        self.update_reading()

    def after_ack(self) -> None:
        pass

    def reply_now(self, reply: bytes) -> None:
        """Answer a message that had nothing to commit (and nothing was waiting before it)."""
        if reply and not self.closed:
            self.transport.write(reply)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def fail(self, reason: str, detail: str = "") -> None:
        """Malformed input: log it and close only this connection."""
        self.gateway.stats.frames_rejected[reason] += 1
        log.warning(
            "gateway.frame_rejected protocol=%s device=%s remote=%s reason=%s detail=%s",
            self.protocol_name,
            self.unique_id or "-",
            self.remote,
            reason,
            detail[:120],
        )
        self.close()

    # --- messages -----------------------------------------------------------------------------

    def handle_messages(
        self, messages: list[Message], resolved: tuple[str, DeviceInfo | None] | None = None
    ) -> None:
        """``resolved``: the answer of a database lookup just made for the first message's
        device (so a lookup is never repeated in a loop for the same message)."""
        registry = self.gateway.registry
        for index, message in enumerate(messages):
            if self.closed:
                return
            unique_id = message.unique_id or self.unique_id
            if not unique_id:
                self.fail("no_device_id", message.kind)
                return
            if resolved is not None and resolved[0] == unique_id:
                info = resolved[1]
            else:
                info = registry.get(unique_id)
            if info is UNRESOLVED:
                self._pending = messages[index:]
                self._resolving = True
                self.update_reading()
                asyncio.get_running_loop().create_task(self._resolve(unique_id))
                return
            if info is None or not info.active or not self.authorised(info, message):
                self.refuse(unique_id, info, message)
                return
            self.unique_id = unique_id
            self.gateway.ingest(self, info, message)

    async def _resolve(self, unique_id: str) -> None:
        found = await self.gateway.resolve(unique_id)
        self._resolving = False
        if found is UNRESOLVED:
            # The database cannot say now; the tracker reconnects and tries again.
            log.warning(
                "gateway.device_lookup_failed protocol=%s device=%s remote=%s",
                self.protocol_name,
                unique_id,
                self.remote,
            )
            self.close()
            return
        pending, self._pending = self._pending or [], None
        self.handle_messages(pending, resolved=(unique_id, found))
        self.update_reading()

    def authorised(self, info: DeviceInfo, message: Message) -> bool:
        return True

    def refuse(self, unique_id: str, info: DeviceInfo | None, message: Message) -> None:
        reason = "unknown" if info is None else ("inactive" if not info.active else "bad_token")
        self.gateway.device_refused(self, unique_id, reason)
        self.close()


class StreamConnection(Connection):
    """A TCP tracker (Teltonika, GT06, H02): the protocol's session does the framing."""

    def __init__(
        self,
        gateway: Gateway,
        protocol_name: str,
        session_class: type[StreamSession],
        session_options: dict | None = None,
    ) -> None:
        super().__init__(gateway)
        self.protocol_name = protocol_name
        self.session = session_class(**(session_options or {}))

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.gateway.clock
        try:
            messages = self.session.feed(data)
        except ProtocolError as exc:
            self.fail(exc.reason, exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - a decoder bug must cost one connection only
            log.exception(
                "gateway.decoder_crashed protocol=%s device=%s remote=%s",
                self.protocol_name,
                self.unique_id or "-",
                self.remote,
            )
            self.fail("decoder_error", repr(exc))
            return
        if messages:
            self.handle_messages(messages)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def refuse(self, unique_id: str, info: DeviceInfo | None, message: Message) -> None:
        if self.transport is not None and not self.closed:
            reply = self.session.reject_reply()
            if reply:
                self.transport.write(reply)
        super().refuse(unique_id, info, message)


_REASONS = {
    200: "OK",
    100: "Continue",
    400: "Bad Request",
    401: "Unauthorized",
    408: "Request Timeout",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    503: "Service Unavailable",
}


def http_response(status: int, body: bytes = b"", *, close: bool = False) -> bytes:
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: text/plain; charset=utf-8\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode("ascii") + b"\r\n" + body


OK_KEEP_ALIVE = http_response(200)
OK_CLOSE = http_response(200, close=True)


class HttpRequest:
    __slots__ = ("body", "content_type", "headers", "keep_alive", "method", "query", "target")

    def __init__(self, method, target, headers, body, keep_alive) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.query = target.partition("?")[2]
        self.content_type = headers.get("content-type")


class HttpConnection(Connection):
    """The OsmAnd port: HTTP/1.1 with keep-alive, one request answered at a time, in order.

    A small parser of our own: the requests are tiny and of one shape, and a full HTTP framework
    would cost more than the decoding itself. Anything it does not understand gets a 400 (or 413/
    431 for sizes over the limits) and the connection is closed.
    """

    protocol_name = "osmand"

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.buffer = bytearray()
        self.current: HttpRequest | None = None
        self._sent_continue = False

    def _ready_for_more(self) -> bool:
        # Requests are answered one at a time, in order; one that waits for its commit does not
        # stop reading (a client waits for its answer, so little comes meanwhile, and pausing
        # and resuming the socket cost two system calls per request), unless a pipelining
        # client has sent more than a request head's worth ahead.
        return self.current is None or len(self.buffer) <= self.gateway.config.http_max_head

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.gateway.clock
        self.buffer += data
        if self.current is not None:
            if len(self.buffer) > self.gateway.config.http_max_head:
                self.update_reading()  # a pipelining client: stop reading until answered
            return
        self._process()

    def _process(self) -> None:
        while not self.closed and self.current is None and self.buffer:
            request = self._parse()
            if request is None:
                return
            self.current = request
            self._handle(request)

    def _parse(self) -> HttpRequest | None:
        buffer = self.buffer
        config = self.gateway.config
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > config.http_max_head:
                self._reject(431, "head_too_large")
            return None
        try:
            head = bytes(buffer[:end]).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            method, target, version = request_line.split(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
            headers: dict[str, str] = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                if not _:
                    raise ValueError(line[:40])
                headers[name.strip().lower()] = value.strip()
        except ValueError as exc:
            self._reject(400, "bad_http", str(exc))
            return None
        connection = headers.get("connection", "").lower()
        keep_alive = (
            ("close" not in connection) if version == "HTTP/1.1" else ("keep-alive" in connection)
        )
        body_start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parsed = self._dechunk(body_start)
            if parsed is None:
                return None
            body, consumed = parsed
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._reject(400, "bad_http", "content-length")
                return None
            if length < 0 or length > config.http_max_body:
                self._reject(413, "body_too_large", str(length))
                return None
            if len(buffer) - body_start < length:
                self._maybe_continue(headers)
                return None
            body = bytes(buffer[body_start : body_start + length])
            consumed = body_start + length
        del buffer[:consumed]
        self._sent_continue = False
        return HttpRequest(method.upper(), target, headers, body, keep_alive)

    def _maybe_continue(self, headers: dict[str, str]) -> None:
        if headers.get("expect", "").lower() == "100-continue" and not self._sent_continue:
            self._sent_continue = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dechunk(self, start: int) -> tuple[bytes, int] | None:
        buffer = self.buffer
        body = bytearray()
        position = start
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            try:
                size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            except ValueError:
                self._reject(400, "bad_http", "chunk size")
                return None
            if size < 0 or len(body) + size > self.gateway.config.http_max_body:
                self._reject(413, "body_too_large")
                return None
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", line_end)
                if buffer[line_end : line_end + 4] == b"\r\n\r\n":
                    return bytes(body), line_end + 4
                if trailer_end < 0:
                    return None
                return bytes(body), trailer_end + 4
            chunk_start = line_end + 2
            if len(buffer) < chunk_start + size + 2:
                return None
            body += buffer[chunk_start : chunk_start + size]
            position = chunk_start + size + 2

    def _reject(self, status: int, reason: str, detail: str = "") -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(http_response(status, reason.encode(), close=True))
        self.fail(reason, detail)

    def _handle(self, request: HttpRequest) -> None:
        from telematics.protocols.osmand import decode_osmand

        try:
            if request.target.partition("?")[0] == BATCH_PATH and request.method == "POST":
                message = decode_agent_batch(request.body)
            else:
                message = decode_osmand(
                    request.method, request.query, request.body, request.content_type
                )
        except ProtocolError as exc:
            self._answer_bad(exc.reason, exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - a decoder bug must cost one request only
            log.exception("gateway.decoder_crashed protocol=osmand remote=%s", self.remote)
            self._answer_bad("decoder_error", repr(exc))
            return
        message.reply = OK_KEEP_ALIVE if request.keep_alive else OK_CLOSE
        self.handle_messages([message])

    def _answer_bad(self, reason: str, detail: str) -> None:
        """A request we cannot use: 400 but keep the connection (HTTP framing is intact)."""
        self.gateway.stats.frames_rejected[reason] += 1
        log.warning(
            "gateway.request_rejected protocol=osmand remote=%s reason=%s detail=%s",
            self.remote,
            reason,
            detail[:120],
        )
        self._finish(http_response(400, reason.encode(), close=not self.current.keep_alive))

    def authorised(self, info: DeviceInfo, message: Message) -> bool:
        if not info.token_hash:
            return True
        header = self.current.headers.get("authorization", "") if self.current else ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            token = ""
        return info.token_matches(token.strip())

    def refuse(self, unique_id: str, info: DeviceInfo | None, message: Message) -> None:
        # HTTP: refuse the request, not the connection (Traccar answers 400 as well).
        reason = "unknown" if info is None else ("inactive" if not info.active else "bad_token")
        self.gateway.device_refused(self, unique_id, reason)
        status = 401 if reason == "bad_token" else 400
        self._finish(http_response(status, reason.encode(), close=not self.current.keep_alive))

    def _finish(self, response: bytes) -> None:
        keep_alive = self.current.keep_alive if self.current else False
        self.current = None
        if not self.closed:
            self.transport.write(response)
            if not keep_alive:
                self.close()
                return
        self.update_reading()
        self._process()

    def ack(self, reply: bytes) -> None:
        self.inflight -= 1
        if self.closed:
            return
        self._finish(reply)

    def reply_now(self, reply: bytes) -> None:
        if self.current is not None:
            self._finish(reply)
