"""`python3 -m smartcam.follow`: the channel follower service (systemd unit smartcam-follow.service, root).

After it put a new commit in force it exits, and systemd starts it again from that commit's code and
settings; everything it must remember is on disk.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from smartcam.common.logs import OncePerKind
from smartcam.common.polling import PollSchedule
from smartcam.common.service import ServiceContext, run_service
from smartcam.common.settings import SettingsError, env_name, load_settings
from smartcam.follow.follower import Follower, Outcome
from smartcam.follow.settings import FollowSettings


def serve(context: ServiceContext[FollowSettings]) -> None:
    settings = context.settings
    if not settings.repo_url:
        context.logger.info("SMARTCAM_REPO_URL is empty: not following a channel (rerun host/postinstall "
                            "with --repo=URL to follow one)")
        context.health.working(following=False)
        context.stop.wait()
        return
    follower = Follower(settings, context.logger, context.counters)
    follower.resume()
    schedule = PollSchedule(settings.poll_interval, settings.checkout_poll_jitter, settings.checkout_retry_initial_s)
    context.logger.info("following branch %s of %s every %.0fs; in force: %s", settings.channel,
                        settings.repo_url, settings.poll_interval, (follower.current or "nothing yet")[:12])
    once = OncePerKind(context.logger, context.counters, "follow")
    delay = settings.checkout_first_poll_delay_s
    interrupted = False
    while not context.stop.wait(delay):
        try:
            if interrupted:
                follower.resume()  # finish or undo what the failed write cut short, as after a power cut
                interrupted = False
            outcome = follower.poll()
        except OSError as error:
            # Its own state folder unwritable (disk full): finish or undo the attempt first, then poll again.
            once.report("state_unwritable", f"cannot record the follower's state in {settings.checkout_dir}: "
                                            f"{error}; nothing more is applied until it can", logging.ERROR)
            context.health.degraded(str(error))
            interrupted = True
            delay = schedule.failed()
            continue
        once.forget("state_unwritable")
        if follower.last_error:
            context.health.degraded(follower.last_error)
        context.health.working(commit=follower.current)
        if outcome is Outcome.APPLIED:
            context.logger.info("restarting to run the new commit's follower")
            return
        delay = schedule.failed() if outcome in (Outcome.UNREACHABLE, Outcome.FAILED) else schedule.succeeded()


def self_test(tree: Path) -> int:
    """Run by the follower of the commit in force on a new tree, before that tree may come into force.

    With the new tree's code (PYTHONPATH) and settings (its channel.env, then the device's env files): the
    host services' modules import and their settings are valid.
    """
    default_config = FollowSettings.model_fields["host_config_dir"].default
    config = Path(os.environ.get(env_name("host_config_dir"), str(default_config)))
    env_files = (tree / "host" / "channel.env", config / "smartcam.env", config / "local.env")
    try:
        for module in ("smartcam.follow.follower", "smartcam.cmds.service"):
            importlib.import_module(module)
        cmds_settings = importlib.import_module("smartcam.cmds.settings").CmdsSettings
        for settings_class in (FollowSettings, cmds_settings):
            load_settings(settings_class, _env_file=env_files)
    except SettingsError as error:
        print(f"self-test failed: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # any failure to import means the tree must not come into force
        print(f"self-test failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"self-test OK: {tree}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m smartcam.follow", description=__doc__)
    parser.add_argument("--self-test", type=Path, metavar="TREE", help="check TREE's host services, run nothing")
    args = parser.parse_args(argv)
    if args.self_test is not None:
        return self_test(args.self_test)
    return run_service("follow", FollowSettings, serve)


if __name__ == "__main__":
    sys.exit(main())
