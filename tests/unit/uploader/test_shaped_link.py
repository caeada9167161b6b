"""The upload rate and the data budget over a real rate-limited link, measured from the target's side.

The test builds the link: a network namespace holding the target, joined to this one by a veth pair,
the uploader -> target direction shaped with `tc` (a tbf token bucket at three times the uploader's
rate, as a thin 2G/3G link; no netem delay: tbf is in every kernel, netem is a module many container
hosts lack). The uploader's delivery loop runs in this process, the target (`shaped_target.py`) in the
namespace, recording the bytes it reads off the socket and when. Needs root and iproute2 (`ip`, `tc`);
skipped elsewhere.
"""

import ipaddress
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from .conftest import delivered

LINK_RATE_BPS = 48_000  # the shaped link's own rate, bytes/s: three times the uploader's
RATE_BPS = 16_000  # SMARTCAM_UPLOAD_RATE_BPS
IMAGE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 24 + b"\xff\xd9"  # about 8.4 kB per event on the wire (JSON)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates a network namespace, a veth pair and tc "
                                                 "shaping (run the suite as root, as CI does)"),
    pytest.mark.skipif(not (shutil.which("ip") and shutil.which("tc")),
                       reason="needs iproute2 (ip, tc): apt-get install iproute2 (.ci/run installs it)"),
]


def _sh(*args):
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=30)


def _free_subnet():
    """A /30 in 10.213.0.0/16 that no route of this machine touches."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                            check=True).stdout
    used = [ipaddress.ip_network(word, strict=False) for line in routes.splitlines() for word in line.split()[:2]
            if "/" in word or word.count(".") == 3]
    for third in itertools.chain(range(os.getpid() % 250, 250), range(os.getpid() % 250)):
        subnet = ipaddress.ip_network(f"10.213.{third}.0/30")
        if not any(subnet.overlaps(network) for network in used):
            return subnet
    pytest.skip("no free /30 in 10.213.0.0/16 for the shaped link")


class ShapedLink:
    """The namespace, the veth pair, the shaping and the recording target in the namespace."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.namespace, self.outside, self.inside = f"smartcam-shaped-{tag}", f"shp{tag}o", f"shp{tag}i"
        subnet = _free_subnet()
        host, target = (str(address) for address in subnet.hosts())
        self.records = []
        self._lock = threading.Lock()
        self._process = None
        try:
            _sh("ip", "netns", "add", self.namespace)
        except subprocess.CalledProcessError as error:
            pytest.skip(f"cannot create a network namespace here ({error.stderr.strip()})")
        inside = ("ip", "netns", "exec", self.namespace)
        try:
            _sh("ip", "link", "add", self.outside, "type", "veth", "peer", "name", self.inside)
            _sh("ip", "link", "set", self.inside, "netns", self.namespace)
            _sh("ip", "addr", "add", f"{host}/30", "dev", self.outside)
            _sh("ip", "link", "set", self.outside, "up")
            _sh(*inside, "ip", "addr", "add", f"{target}/30", "dev", self.inside)
            _sh(*inside, "ip", "link", "set", self.inside, "up")
            _sh(*inside, "ip", "link", "set", "lo", "up")
            # uploader -> target: a token bucket at the link's rate, bursting one 1.5 kB packet at most
            _sh("tc", "qdisc", "add", "dev", self.outside, "root", "tbf", "rate", f"{LINK_RATE_BPS * 8}bit",
                "burst", "1600", "latency", "2s")
        except subprocess.CalledProcessError as error:  # a kernel without veth or tbf: the machine, not the uploader
            self.close()
            pytest.skip(f"cannot build the shaped link here: {' '.join(error.cmd)}: {error.stderr.strip()}")
        except BaseException:
            self.close()
            raise
        try:
            self._process = subprocess.Popen([*inside, sys.executable, str(Path(__file__).with_name(
                "shaped_target.py")), target], stdout=subprocess.PIPE, text=True)
            ready = self._process.stdout.readline().split()
            assert ready[:1] == ["ready"], ready
            self.url = f"http://{target}:{ready[1]}"
            threading.Thread(target=self._read, daemon=True).start()
        except BaseException:
            self.close()
            raise

    def _read(self):
        for line in self._process.stdout:
            with self._lock:
                self.records.append(json.loads(line))

    def received(self, path):
        with self._lock:
            return [record for record in self.records if record["path"] == path]

    def close(self):
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
        subprocess.run(["ip", "netns", "delete", self.namespace], capture_output=True, check=False)  # and its veth


@pytest.fixture(scope="module")
def link():
    shaped = ShapedLink()
    yield shaped
    shaped.close()


def _events(make_event, samples, detections):
    def store(queue):  # a backlog after an outage: baseline samples captured before the detections
        for n in range(samples + detections):
            queue.put(make_event(n, sample=n < samples, image=IMAGE))
    return store


def _assert_rate(received, rate):
    """Every stretch of requests, by when the target read their first byte: at most `rate` bytes a second, plus
    one request (the documented slack: one request goes at the link's speed, the rate holds on average)."""
    slack = max(record["bytes"] for record in received)
    for first, last in itertools.combinations(range(len(received)), 2):
        elapsed = received[last]["first_at"] - received[first]["first_at"]
        sent = sum(record["bytes"] for record in received[first:last])
        assert sent <= rate * elapsed + slack, (first, last, sent, elapsed)


def test_over_a_shaped_link_the_target_receives_events_at_no_more_than_the_configured_rate(link, start_delivery,
                                                                                           make_event, wait_until):
    path = f"/rate-{uuid.uuid4().hex[:6]}"
    queue, _ = start_delivery(link.url + path, before=_events(make_event, 0, 8), upload_rate_bps=RATE_BPS)
    assert wait_until(delivered(queue, 8), timeout_s=20)
    received = link.received(path)
    assert [record["key"] for record in received] == [f"evt-{n}" for n in range(8)]
    assert 8000 < received[0]["bytes"] < 9000  # what the uploader books: the event's bytes on the wire
    _assert_rate(received, RATE_BPS)
    whole = received[-1]["first_at"] - received[0]["first_at"]
    assert sum(record["bytes"] for record in received[:-1]) / whole <= RATE_BPS * 1.1

    # The same backlog without a rate: the link itself carries it much faster, so the limit above is the uploader's.
    unlimited = f"/unlimited-{uuid.uuid4().hex[:6]}"
    queue, _ = start_delivery(link.url + unlimited, before=_events(make_event, 0, 8), queue_dir=queue.directory.parent
                              / "unlimited")
    assert wait_until(delivered(queue, 8), timeout_s=20)
    fast = link.received(unlimited)
    assert sum(r["bytes"] for r in fast[:-1]) / (fast[-1]["first_at"] - fast[0]["first_at"]) > RATE_BPS * 1.5
    _assert_rate(fast, LINK_RATE_BPS)  # and the link is a real thin link, not loopback speed


def test_over_a_shaped_link_the_budget_holds_per_day_detections_go_first_and_held_events_go_when_it_renews(
        link, start_delivery, make_event, wait_until):
    path = f"/budget-{uuid.uuid4().hex[:6]}"
    day = 3.0  # SMARTCAM_BUDGET_PERIOD_S: the day boundary every 3 s
    budget = 18_000  # two events a day (about 8.4 kB each)
    # Start just after a day boundary, so the day's two events go at its start, far from its end.
    time.sleep(day - time.time() % day + 0.05)
    queue, _ = start_delivery(link.url + path, before=_events(make_event, 2, 4), upload_rate_bps=RATE_BPS,
                              daily_budget_mb=budget / 1024 / 1024, budget_period_s=day)
    assert wait_until(delivered(queue, 6), timeout_s=20)  # all of them: held back, never dropped
    received = link.received(path)
    # detections (evt-2..5) before the baseline samples (evt-0, evt-1), each once
    assert [record["key"] for record in received] == ["evt-2", "evt-3", "evt-4", "evt-5", "evt-0", "evt-1"]
    by_day = [list(group) for _, group in itertools.groupby(received, key=lambda r: math.floor(r["first_at"] / day))]
    spent = [sum(record["bytes"] for record in group) for group in by_day]
    assert max(spent) <= budget, spent  # never more than the day's budget reached the target
    assert len(by_day) == 3, spent  # the held-back events went as the budget renewed, two a day
    _assert_rate(received, RATE_BPS)
