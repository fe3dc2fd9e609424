"""Minting Atlassian Connect JWTs for requests to the emulator (auth.md sections 1 and 2).

The signing side of ``emulator.auth.connect``: the CLI's ``token`` command, the Python client's
``ConnectAuth`` and the control surface all build their tokens here, so the qsh they sign is computed by
the very code the emulator verifies with.
"""

from __future__ import annotations

import re
import time
import warnings
from urllib.parse import urlsplit

import jwt

from emulator.auth.qsh import query_string_hash

DEFAULT_TTL = 180
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def split_url(url: str, context_path: str = "") -> tuple[str, str]:
    """The site-relative raw path and the raw query of ``url``, exactly as they go on the wire.

    ``url`` is absolute (scheme, host and port are dropped) or site-relative; a fragment is dropped. The
    site's context path is removed when the path starts with it, as the emulator does when it resolves the
    site of a request.
    """
    if _ABSOLUTE.match(url):
        parts = urlsplit(url)
        path, query = parts.path, parts.query
    else:
        path, _, query = url.partition("#")[0].partition("?")
    if not path.startswith("/"):
        path = "/" + path
    context_path = context_path.rstrip("/")
    if context_path and (path == context_path or path.startswith(context_path + "/")):
        path = path[len(context_path) :] or "/"
    return path, query


def connect_token(
    app_key: str,
    shared_secret: str,
    method: str,
    url: str,
    *,
    now: float | None = None,
    ttl: int = DEFAULT_TTL,
    context_path: str = "",
) -> str:
    """A Connect JWT (HS256, ``iss`` the app key) whose qsh binds it to ``method url``.

    The qsh is computed over the raw (still percent-encoded) path, so ids holding ``%2F`` keep it.
    """
    assert ttl > 0, "a Connect token needs a lifetime of at least one second"
    path, query = split_url(url, context_path)
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": app_key,
        "iat": issued,
        "exp": issued + ttl,
        "qsh": query_string_hash(method, path, query),
    }
    # Fixture secrets are short on purpose; PyJWT would warn on every signature.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, shared_secret, algorithm="HS256")


def connect_authorization(
    app_key: str,
    shared_secret: str,
    method: str,
    url: str,
    *,
    now: float | None = None,
    ttl: int = DEFAULT_TTL,
    context_path: str = "",
) -> str:
    """The ``Authorization`` header value, ``JWT <token>``, for ``method url``."""
    token = connect_token(app_key, shared_secret, method, url, now=now, ttl=ttl, context_path=context_path)
    return f"JWT {token}"
