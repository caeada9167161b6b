"""Entry point: `python3 -m smartcam.cmds` runs the service; `--check FILE [--key PUBKEY]` only validates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartcam.cmds.check import check_file
from smartcam.cmds.service import CmdsService
from smartcam.cmds.settings import CmdsSettings
from smartcam.common.service import ServiceContext, run_service


def serve(context: ServiceContext[CmdsSettings]) -> None:
    service = CmdsService(context.settings, context.logger, context.counters, context.stop)
    context.logger.info("polling %s every %.0fs (catch-up window %.0fs)", context.settings.resolved_source(),
                        context.settings.cmds_poll_interval_s, context.settings.catch_up_window_s)
    while not context.stop.is_set():
        service.poll()
        if service.last_error:
            context.health.degraded(service.last_error)
        context.health.working()
        context.stop.wait(context.settings.cmds_poll_interval_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m smartcam.cmds", description=__doc__)
    parser.add_argument("--check", type=Path, metavar="FILE", help="validate FILE, run nothing, exit 1 on problems")
    parser.add_argument("--key", type=Path, metavar="PUBKEY", help="with --check: also verify FILE.sig")
    args = parser.parse_args(argv)
    if args.check is not None:
        return check_file(args.check, args.key, sys.stdout)
    if args.key is not None:
        parser.error("--key only goes with --check (the service reads SMARTCAM_PUBLIC_KEY)")
    return run_service("cmds", CmdsSettings, serve)


if __name__ == "__main__":
    sys.exit(main())
