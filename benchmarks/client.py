"""A minimal blocking HTTP/1.1 keep-alive client on a raw socket: little client time in what is measured."""

from __future__ import annotations

import socket
import time


class HttpError(Exception):
    pass


class Client:
    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer = sock, b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request, return (status, body); reconnects once when a kept-alive socket was closed."""
        raw = encode_request(method, path, self.host, self.port, headers, body)
        for attempt in (0, 1):
            if self.sock is None:
                self.connect()
            try:
                assert self.sock is not None
                self.sock.sendall(raw)
                return self._read_response()
            except (ConnectionError, HttpError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _read_response(self) -> tuple[int, bytes]:
        assert self.sock is not None
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(rest) < length:
            self.buffer = rest
            self._fill()
            rest = self.buffer
        body, self.buffer = rest[:length], rest[length:]
        if close:
            self.close()
        return status, body

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise HttpError("connection closed by the server")
        self.buffer += chunk


def encode_request(
    method: str, path: str, host: str, port: int, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def first_ok(host: str, port: int, path: str, deadline: float, poll: float = 0.001) -> float:
    """Poll (connect + GET) until ``path`` answers 200; return the perf_counter time it did."""
    while True:
        try:
            with Client(host, port, timeout=2.0) as client:
                status, _ = client.request("GET", path)
            if status == 200:
                return time.perf_counter()
        except OSError:
            pass
        except HttpError:
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"http://{host}:{port}{path} did not answer 200 in time")
        time.sleep(poll)
