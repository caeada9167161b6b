import logging
import socket

import pytest
import zmq

from smartcam.common.counters import Counters


@pytest.fixture
def context():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def counters():
    return Counters()


@pytest.fixture
def logger():
    return logging.getLogger("smartcam.test")


@pytest.fixture
def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
