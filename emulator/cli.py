"""The command line: ``jira-deployments-emulator [serve] [flags]``, and ``... token`` to mint credentials."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from emulator import __version__, config

STARTUP_FAILURE = 3


def _exit_with(code: int) -> Callable[[int, object], None]:
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
    add_token_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version"):
        args_list.insert(0, "serve")
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command == "token":
        return token(args)
    if args.command != "serve":
        parser.print_help()
        return 2
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    gc.set_threshold(*GC_THRESHOLDS)  # from the start: the imports below would run some 70 collections
    if hasattr(signal, "SIGHUP"):  # its default action kills; the server answers it once it runs
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from emulator.app import create_app
    from emulator.faults import FaultSpecError
    from emulator.fixtures import FixtureError
    from emulator.limits import raise_open_file_limit, server_config
    from emulator.log_stream import CallLineHandler
    from emulator.signals import EmulatorServer, snapshot_on_hangup

    try:
        settings = config.load(args)
    except ValueError as exc:
        print(f"jira-deployments-emulator: {exc}", file=sys.stderr)
        return 2
    startup_errors: tuple[type[Exception], ...] = (FixtureError, FaultSpecError)
    if settings.data_dir:  # the durable state's module is imported only when there is one
        from emulator.persistence import PersistenceError

        startup_errors += (PersistenceError,)
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    log_output = CallLineHandler()  # stderr, "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, handlers=[log_output])
    try:
        app = create_app(settings)
    except startup_errors as exc:
        print(f"jira-deployments-emulator: {exc}", file=sys.stderr)
        return STARTUP_FAILURE
    tune_garbage_collector()
    # before the server answers signals itself and after it has stopped, SIGTERM and SIGINT are a clean exit
    # rather than death by signal; while it runs, EmulatorServer handles them (emulator/signals.py)
    signal.signal(signal.SIGTERM, _exit_with(0))
    signal.signal(signal.SIGINT, _exit_with(130))
    raised = raise_open_file_limit()
    if raised is not None:
        logging.getLogger("emulator").debug("open-file limit raised from %d to %d", *raised)
    served = server_config(app, settings, host=settings.host, port=settings.port, log_level=settings.log_level)
    log_output.writes_before(logging.getLogger("uvicorn").handlers)  # uvicorn's own handler writes to stderr too
    server = EmulatorServer(served, on_hangup=snapshot_on_hangup(app.state.emulator))
    try:
        server.run()
    finally:
        log_output.flush()  # the call lines of the last event-loop turn
    return server.exit_code if server.started else STARTUP_FAILURE


# Collect the youngest generation every 50,000 allocations rather than every 700 (CPython's default, tuned
# for small scripts), and leave what start-up made (modules, classes, fixtures) out of every collection.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_garbage_collector() -> None:
    """The emulator's own process only: a server under a submit load keeps tens of thousands of pending
    writes alive for the apply delay, which the default thresholds make the cyclic collector walk over and
    over (see the performance docs). Its data forms no reference cycles, so collecting less often costs
    no memory worth counting. Not done by ``create_app``: in-process users own their interpreter's
    collector."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


TOKEN_EXAMPLE = (
    'curl -H "$(jira-deployments-emulator token --header --app emulator-app --method GET '
    '--url /rest/deployments/0.1/pipelines/p/environments/e/deployments/1)" '
    "http://localhost:8080/rest/deployments/0.1/pipelines/p/environments/e/deployments/1"
)


def add_token_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "token",
        help="print a Connect JWT for one request, or an OAuth access token",
        description="Print a Connect JWT (qsh included) for one request, or an OAuth 2.0 access token, "
        "signed with a secret from the fixtures.",
        epilog=f"example:\n  {TOKEN_EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--app", help="key of the Connect app that signs the request")
    who.add_argument("--oauth-client", dest="oauth_client", help="an OAuth client id: print an access token")
    parser.add_argument("--method", default="GET", help="HTTP method of the request [default GET]")
    parser.add_argument(
        "--url",
        help="the request's URL, absolute or site-relative, with its query, percent-encoded as it will be "
        "sent (needed with --app)",
    )
    parser.add_argument(
        "--fixtures",
        default=None,
        help=f"fixture file or folder [env {config.ENV_PREFIX}FIXTURES; default: the built-in default site]",
    )
    parser.add_argument("--site", default=None, help="site name [default: the first site of the fixtures]")
    parser.add_argument(
        "--ttl", type=int, default=None, help="lifetime in seconds [default 180 for a JWT, 3600 for OAuth]"
    )
    parser.add_argument("--header", action="store_true", help="print a whole 'Authorization: ...' line")


def token(args: argparse.Namespace) -> int:
    """``jira-deployments-emulator token``: print a Connect JWT for one request, or an OAuth access token."""
    from emulator.fixtures import FixtureError, load_fixtures

    def fail(message: str) -> int:
        print(f"jira-deployments-emulator token: {message}", file=sys.stderr)
        return 2

    if args.app is not None and not args.url:
        return fail("--app needs --url, the URL of the request to sign")
    if args.ttl is not None and args.ttl < 1:
        return fail("--ttl must be at least 1 second")
    # like serve: the flag, then EMULATOR_FIXTURES, then the built-in default site
    fixtures = args.fixtures or os.environ.get(config.ENV_PREFIX + "FIXTURES") or None
    try:
        sites, _ = load_fixtures(fixtures)
    except FixtureError as exc:
        return fail(str(exc))
    site = sites.default if args.site is None else sites.get(args.site)
    if site is None:
        return fail(f"no site named {args.site!r} (sites: {', '.join(s.name for s in sites)})")
    try:
        value = _connect_token(site, args) if args.app is not None else _oauth_token(site, args)
    except LookupError as exc:
        return fail(str(exc.args[0]))
    scheme = "JWT" if args.app is not None else "Bearer"
    try:
        print(f"Authorization: {scheme} {value}" if args.header else value, flush=True)
    except BrokenPipeError:  # `token ... | head -c 20`: the reader took what it wanted and left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more reaches the closed pipe
    return 0


def _connect_token(site: Any, args: argparse.Namespace) -> str:
    from emulator.tokens import DEFAULT_TTL, connect_token

    app = _installed(site, site.connect_apps, args.app, "Connect app", "apps")
    ttl = args.ttl or DEFAULT_TTL
    return connect_token(
        app.key, app.shared_secret, args.method, args.url, now=time.time(), ttl=ttl, context_path=site.context_path
    )


def _oauth_token(site: Any, args: argparse.Namespace) -> str:
    from emulator.api.families import oauth_scopes
    from emulator.auth.oauth import DEFAULT_TTL, mint_access_token

    client = _installed(site, site.oauth_clients, args.oauth_client, "OAuth client", "clients")
    ttl = args.ttl or DEFAULT_TTL
    scopes = oauth_scopes(client.permissions)
    return mint_access_token(
        client.client_id, client.client_secret, site.cloud_id, now=time.time(), scopes=scopes, ttl=ttl
    )


def _installed(site: Any, installed: dict[str, Any], name: str, what: str, plural: str) -> Any:
    """The app or client ``name`` installed on ``site``; LookupError naming the ones there are otherwise."""
    found = installed.get(name)
    if found is None:
        known = ", ".join(installed) or "none"
        raise LookupError(f"no {what} {name!r} on site {site.name!r} ({plural}: {known})")
    return found
