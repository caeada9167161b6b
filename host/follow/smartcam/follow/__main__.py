"""`python3 -m smartcam.follow`: the channel follower service (systemd unit smartcam-follow.service, root).

After it put a new commit in force it exits, and systemd starts it again from that commit's code and
settings; everything it must remember is on disk.
"""

from __future__ import annotations

import logging
import sys

from smartcam.common.logs import OncePerKind
from smartcam.common.polling import PollSchedule
from smartcam.common.service import ServiceContext, run_service
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


def main() -> int:
    return run_service("follow", FollowSettings, serve)


if __name__ == "__main__":
    sys.exit(main())
