"""Requests byte for byte as a browser (or an attacker) sends them, over real HTTP to a real server."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def reason(self) -> str:
        return self.headers.get("x-emulator-reason", "")


def send(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    *,
    timeout: float = 10.0,
) -> Answer:
    """One request with exactly ``headers`` (``Host`` included: nothing is added but ``Content-Length``
    when there is a body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items() if isinstance(headers, dict) else headers or []:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def cross_origin_simple_post(port: int, path: str, body: bytes, origin: str = "http://attacker.example") -> Answer:
    """What Chrome sends for ``fetch(url, {method: "POST", mode: "no-cors", body: text})`` on a page of
    ``origin``: a "simple" request, sent without asking first, whose answer the page cannot read (it needs
    none: the call itself is the attack)."""
    return send(
        port,
        "POST",
        path,
        [
            ("Host", f"127.0.0.1:{port}"),
            ("Connection", "keep-alive"),
            ("User-Agent", CHROME),
            ("Content-Type", "text/plain;charset=UTF-8"),
            ("Accept", "*/*"),
            ("Origin", origin),
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "no-cors"),
            ("Sec-Fetch-Dest", "empty"),
            ("Accept-Language", "en-US,en;q=0.9"),
        ],
        body,
    )


def rebound(
    port: int, method: str, path: str, body: bytes | None = None, name: str = "rebind.attacker.example"
) -> Answer:
    """What Chrome sends for a same-origin ``fetch`` from a page served under ``name``, once the attacker's DNS
    points ``name`` at 127.0.0.1 (DNS rebinding): the page may read the answer, so GETs are the attack too."""
    headers = [("Host", f"{name}:{port}"), ("User-Agent", CHROME), ("Accept", "*/*")]
    if method not in ("GET", "HEAD"):
        headers += [("Content-Type", "application/json"), ("Origin", f"http://{name}:{port}")]
    headers += [("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Mode", "cors"), ("Sec-Fetch-Dest", "empty")]
    return send(port, method, path, headers, body)
