"""``covsev hub``: run a reader study on JupyterHub (study folder, accounts, hub, status)."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add ``covsev hub init|add-user|remove-user|assign|finish|start|prestart|status``."""
    parser = subparsers.add_parser(
        "hub", help="run a reader study on JupyterHub",
        description="Run a blinded reader study on JupyterHub: raters log in with their own account, "
                    "and the operating system keeps the key, the model outputs and other raters' "
                    "labels out of their reach.")
    sub = parser.add_subparsers(dest="hub_command", metavar="SUBCOMMAND")
    parser.set_defaults(handler=lambda args: _help(parser))
    _register_init(sub)
    _register_users(sub)
    _register_assignments(sub)
    _register_start(sub)
    p = sub.add_parser("prestart", help="start the raters' servers before a reading session (needs root)",
                       description="Start the server of every rater with an active case list on the running "
                                   "hub, and wait until each is ready, so that raters logging in together at "
                                   "the start of a session do not wait for their servers. Servers nobody uses "
                                   "are stopped after the study's idle timeout.")
    p.add_argument("study_dir", metavar="STUDY_DIR")
    p.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                   help="longest wait for all servers (default 600)")
    p.set_defaults(handler=_prestart)
    p = sub.add_parser("status", help="users, roles, running servers and progress counts (no scores)")
    p.add_argument("study_dir", metavar="STUDY_DIR")
    p.set_defaults(handler=_status)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _register_init(sub) -> None:
    p = sub.add_parser("init", help="make a study folder (hub config, database, cookie secret, cohorts)",
                       description="Make STUDY_DIR (or add cohorts to it): the hub's generated "
                                   "configuration, its database and cookie secret (mode 0600), a copy "
                                   "of each cohort, and the folder's owners and modes. Needs root.")
    p.add_argument("study_dir", metavar="STUDY_DIR")
    p.add_argument("--cohort", action="append", default=[], metavar="COHORT_DIR",
                   help="cohort folder to include (repeatable)")
    p.add_argument("--name", help="study name shown on the login page (default: the folder name)")
    p.add_argument("--rater-group", default="covsev-raters", help="Unix group of all study accounts")
    p.add_argument("--coordinator-group", default="covsev-coordinators", help="Unix group of coordinators")
    p.add_argument("--idle-timeout", type=int, default=3600, metavar="SECONDS",
                   help="stop servers idle this long (default 3600)")
    p.add_argument("--memory-limit", type=int, metavar="MIB",
                   help="address space of each process of a rater's server, kernels included (default 2048)")
    p.add_argument("--max-processes", type=int, metavar="N",
                   help="processes and threads of each study account (default 256)")
    p.set_defaults(handler=_init)


def _register_users(sub) -> None:
    p = sub.add_parser("add-user", help="create a rater or coordinator account (needs root)")
    p.add_argument("study_dir", metavar="STUDY_DIR")
    p.add_argument("name", metavar="NAME", help="user name: the login and the rater ID")
    p.add_argument("--role", required=True, choices=("rater", "coordinator"))
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (else one is generated and printed once)")
    p.add_argument("--cohort", help="assign this cohort of the study right away (raters)")
    p.set_defaults(handler=_add_user)
    p = sub.add_parser("remove-user", help="remove an account (its label logs are kept)")
    p.add_argument("study_dir", metavar="STUDY_DIR")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=_remove_user)


def _register_assignments(sub) -> None:
    for command, text in (("assign", "give a rater a cohort to score"),
                          ("finish", "mark a rater's assignment finished")):
        p = sub.add_parser(command, help=text)
        p.add_argument("study_dir", metavar="STUDY_DIR")
        p.add_argument("name", metavar="RATER")
        p.add_argument("cohort", metavar="COHORT", help="cohort name (as in `covsev hub status`)")
        if command == "assign":
            p.add_argument("--block-size", type=int, metavar="N",
                           help="blocked design: every rater reads the same blocks of N cases (each in "
                                "their own order) before the next block; set before the first order")
        p.set_defaults(handler=_assign if command == "assign" else _finish)


def _register_start(sub) -> None:
    p = sub.add_parser("start", help="run JupyterHub for the study (needs root)",
                       description="Run JupyterHub and configurable-http-proxy for STUDY_DIR. Listening "
                                   "beyond localhost needs TLS (--ssl-cert/--ssl-key) or --insecure.")
    p.add_argument("study_dir", metavar="STUDY_DIR")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--ssl-cert", metavar="FILE")
    p.add_argument("--ssl-key", metavar="FILE")
    p.add_argument("--insecure", action="store_true",
                   help="allow a non-local address without TLS (only behind a TLS-terminating proxy)")
    p.set_defaults(handler=_start)


def _init(args) -> int:
    from covsev_tools.hub import init_study
    from covsev_tools.hub.permissions import exposed_originals

    study = init_study(args.study_dir, args.cohort, name=args.name, rater_group=args.rater_group,
                       coordinator_group=args.coordinator_group, idle_timeout=args.idle_timeout,
                       memory_limit_mb=args.memory_limit, max_processes=args.max_processes)
    print(f"study {study.name} in {study.dir}: cohorts {', '.join(sorted(study.settings['cohorts'])) or 'none'}")
    print(f"limits per study server: {study.limit('memory_limit_mb')} MiB of address space per process "
          f"(raters), {study.limit('max_processes')} processes and threads per account")
    for path in study.protected_sources:
        print(f"note: {path} was readable by every account; closed (chmod o-rwx)", file=sys.stderr)
    for folder in exposed_originals(study):
        print(f"warning: original images in {folder} are readable by every account (chmod o-rwx {folder})",
              file=sys.stderr)
    return 0


def _add_user(args) -> int:
    from covsev_tools.hub import add_user, assign

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    generated = add_user(args.study_dir, args.name, args.role, password=password)
    if args.cohort:
        assign(args.study_dir, args.name, args.cohort)
    print(f"{args.role} {args.name} added")
    if generated:
        print(f"password (shown once): {generated}")
    return 0


def _remove_user(args) -> int:
    from covsev_tools.hub import remove_user

    remove_user(args.study_dir, args.name)
    print(f"{args.name} removed (label logs kept)")
    return 0


def _assign(args) -> int:
    from covsev_tools.hub import assign

    assign(args.study_dir, args.name, args.cohort, block_size=args.block_size)
    print(f"{args.name} now scores {args.cohort}")
    return 0


def _finish(args) -> int:
    from covsev_tools.hub import finish

    finish(args.study_dir, args.name, args.cohort)
    print(f"{args.name}: {args.cohort} finished")
    return 0


def _start(args) -> int:
    from covsev_tools.hub import start_hub

    start_hub(args.study_dir, ip=args.ip, port=args.port, ssl_cert=args.ssl_cert, ssl_key=args.ssl_key,
              insecure=args.insecure)
    return 0


def _prestart(args) -> int:
    import time

    from covsev_tools.errors import printable
    from covsev_tools.hub import Study, prestart_servers

    began = time.monotonic()
    outcome = prestart_servers(args.study_dir, timeout=args.timeout)
    for name, state in outcome.items():
        print(f"{name}: {printable(state)}")
    ready = sum(state in ("started", "already running") for state in outcome.values())
    minutes = int(Study.load(args.study_dir).settings["idle_timeout"]) / 60
    print(f"{ready} of {len(outcome)} rater servers ready in {time.monotonic() - began:.0f} s; "
          f"a server nobody uses is stopped after {minutes:.0f} min (the idle timeout)")
    return 0 if ready == len(outcome) else 1


def _status(args) -> int:
    from covsev_tools.hub import study_status

    from covsev_tools.errors import printable

    frame = study_status(args.study_dir)
    print(frame.to_string(index=False, na_rep="") if len(frame) else "no users yet")
    for warning in frame.attrs.get("warnings", []):  # lines of a log left out of the counts
        print(f"warning: {printable(warning)}", file=sys.stderr)
    for cohort, counts in frame.attrs.get("read_by_all", {}).items():
        print(f"{cohort}: {counts['cases']} of {counts['of']} cases read by all {counts['raters']} raters")
    return 0
