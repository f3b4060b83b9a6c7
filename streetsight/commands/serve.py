"""`streetsight serve --config FILE [--role all|api|worker]` and `streetsight demo`: the long-running
processes (their output is logs on stderr, so they take no ``--json``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from streetsight.config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser("serve", help="run live on the configured sources with the API and review UI")
    s.add_argument("--config", required=True)
    s.add_argument("--role", choices=["all", "api", "worker"], default="all",
                   help="all: one machine, no Redis (default); api: records, UI, dispatch; worker: cameras "
                        "and detectors (api and worker need cluster.redis_url)")
    s.add_argument("--host", help="address to listen on (api/all; a worker's metrics)")
    s.add_argument("--port", type=int, help="API port (api/all)")
    s.add_argument("--worker-id", help="worker: a stable name (default cluster.worker_id, else host-pid)")
    s.add_argument("--capacity", type=int, help="worker: most sources it carries (default cluster.capacity)")
    s.add_argument("--metrics-port", type=int, help="worker: serve Prometheus /metrics on this port")
    s.set_defaults(func=cmd_serve)

    m = subparsers.add_parser("demo", help="everything on embedded defaults with the sample footage")
    m.add_argument("--port", type=int, default=8080)
    m.add_argument("--data-dir", default="var/demo")
    m.add_argument("--keep", action="store_true", help="keep earlier demo incidents")
    m.add_argument("--exit-when-done", action="store_true", help="stop once the sample footage has been analysed")
    m.set_defaults(func=cmd_demo)


def cmd_serve(args: argparse.Namespace) -> int:
    from streetsight.server import serve

    cfg = load_config(args.config)
    if args.role in ("worker", "api") and not cfg.cluster.redis_url:
        raise ConfigError(f"{args.config}: cluster.redis_url: required by --role {args.role} "
                          "(workers and API processes meet in Redis)")
    serve(cfg, host=args.host, port=args.port, role=args.role, worker_id=args.worker_id,
          capacity=args.capacity, metrics_port=args.metrics_port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streetsight.demo import run_demo

    run_demo(port=args.port, data_dir=Path(args.data_dir), keep=args.keep, exit_when_done=args.exit_when_done)
    return 0
