"""The command line: ``jira-deployments-emulator [serve] [flags]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from emulator import __version__, config

STARTUP_FAILURE = 3


def _exit_with(code: int):  # type: ignore[no-untyped-def]
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(code)

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jira-deployments-emulator",
        description="A local, stateful emulator of the Jira Software Cloud Deployments API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the emulator (the default command)")
    config.add_arguments(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version"):
        args_list.insert(0, "serve")
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command != "serve":
        parser.print_help()
        return 2
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from emulator.app import create_app
    from emulator.fixtures import FixtureError

    try:
        settings = config.load(args)
    except ValueError as exc:
        print(f"jira-deployments-emulator: {exc}", file=sys.stderr)
        return 2
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except FixtureError as exc:
        print(f"jira-deployments-emulator: {exc}", file=sys.stderr)
        return STARTUP_FAILURE
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler that was
    # there before it: make that handler a clean exit rather than death by signal
    signal.signal(signal.SIGTERM, _exit_with(0))
    signal.signal(signal.SIGINT, _exit_with(130))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    return 0
