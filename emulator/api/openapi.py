"""The OpenAPI document of the Jira surface (being written)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def build_openapi() -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "Jira Deployments API (emulator)", "version": "0.1"}, "paths": {}}


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(build_openapi())
