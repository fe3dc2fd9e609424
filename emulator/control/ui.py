"""The dashboard at ``/_emulator/ui``: one HTML page, one stylesheet, one script, nothing from the internet.

The page reads only the control surface's JSON (``/_emulator/state``, ``queue``, ``journal``, ``faults``,
``contract-report``, ``ready``) and acts only through it (gating decisions, flush, pause, resume, clearing
fault rules and the journal). The three files are read once, at import, with ``importlib.resources``, so the
dashboard works the same from a source tree and from an installed wheel.

The Content-Security-Policy allows scripts, styles and requests from the emulator itself and nothing else:
no inline script, no inline style, no ``eval``, no frames, no forms. The script builds the page with DOM
calls and ``textContent`` only, so data (ids may hold ``<``, quotes, any Unicode) is always text.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from emulator.api.errors import json_response

_HERE = resources.files("emulator.control")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_COMMON_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # the files are small and change with the emulator's version: always revalidate
    "Cache-Control": "no-cache",
}

PAGE: bytes = (_HERE / "ui.html").read_bytes()

# name in the URL -> (bytes, media type); nothing else is served, so no path ever reaches the file system
ASSETS: dict[str, tuple[bytes, str]] = {
    "ui.css": ((_HERE / "static" / "ui.css").read_bytes(), "text/css; charset=utf-8"),
    "ui.js": ((_HERE / "static" / "ui.js").read_bytes(), "text/javascript; charset=utf-8"),
}


async def ui_page(request: Request) -> Response:
    """``GET /_emulator/ui``: the dashboard page."""
    return Response(PAGE, media_type="text/html; charset=utf-8", headers=_COMMON_HEADERS)


async def ui_asset(request: Request) -> Response:
    """``GET /_emulator/ui/{name}``: the page's stylesheet (``ui.css``) and script (``ui.js``)."""
    name = request.path_params["name"]
    found = ASSETS.get(name)
    if found is None:
        return json_response({"error": f"no dashboard file named {name!r}; there are {', '.join(sorted(ASSETS))}"}, 404)
    content, media_type = found
    return Response(content, media_type=media_type, headers=_COMMON_HEADERS)
