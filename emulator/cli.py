"""The command line: ``jira-deployments-emulator [serve] [flags]``, and ``... token`` to mint credentials."""

from __future__ import annotations

import argparse
import gc
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
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
    server = EmulatorServer(served, on_hangup=snapshot_on_hangup(app.state.emulator))
    server.run()
    return server.exit_code if server.started else STARTUP_FAILURE


# Collect the youngest generation every 50,000 allocations rather than every 700 (CPython's default, tuned
# for small scripts), and leave what start-up made (modules, classes, fixtures) out of every collection.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_garbage_collector() -> None:
    """The emulator's own process only: a server under a submit load keeps tens of thousands of pending
    writes alive for the apply delay, and with the default thresholds the cyclic collector walked them
    about twice per request, 40% of the server's time (README, Performance). Its data forms no
    reference cycles, so collecting less often costs no memory worth counting. Not done by
    ``create_app``: in-process users own their interpreter's collector."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


TOKEN_EXAMPLE = (
    'curl -H "$(jira-deployments-emulator token --header --app emulator-app --method GET '
    '--url /rest/deployments/0.1/pipelines/p/environments/e/deployments/1)" '
    "http://localhost:8080/rest/deployments/0.1/pipelines/p/environments/e/deployments/1"
)


def add_token_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    import os
    import time

    from emulator.auth.oauth import DEFAULT_TTL as OAUTH_TTL
    from emulator.auth.oauth import mint_access_token
    from emulator.fixtures import FixtureError, load_fixtures
    from emulator.tokens import DEFAULT_TTL as CONNECT_TTL
    from emulator.tokens import connect_token

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
    now = time.time()
    if args.app is not None:
        app = site.connect_apps.get(args.app)
        if app is None:
            known = ", ".join(site.connect_apps) or "none"
            return fail(f"no Connect app {args.app!r} on site {site.name!r} (apps: {known})")
        value = connect_token(
            app.key,
            app.shared_secret,
            args.method,
            args.url,
            now=now,
            ttl=args.ttl or CONNECT_TTL,
            context_path=site.context_path,
        )
        print(f"Authorization: JWT {value}" if args.header else value)
        return 0
    client = site.oauth_clients.get(args.oauth_client)
    if client is None:
        known = ", ".join(site.oauth_clients) or "none"
        return fail(f"no OAuth client {args.oauth_client!r} on site {site.name!r} (clients: {known})")
    value = mint_access_token(client.client_id, client.client_secret, site.cloud_id, now=now, ttl=args.ttl or OAUTH_TTL)
    print(f"Authorization: Bearer {value}" if args.header else value)
    return 0
