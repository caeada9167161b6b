"""Fixtures shared by every test folder: counters, a logger, real ZeroMQ contexts, free loopback ports."""

import logging
import socket

import pytest
import zmq

from smartcam.common.counters import Counters
from tests.signing import Signer


@pytest.fixture
def counters():
    return Counters()


@pytest.fixture
def logger():
    return logging.getLogger("smartcam.test")


@pytest.fixture
def zmq_context():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def find_free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def free_port():
    return find_free_port()


@pytest.fixture(scope="session")
def release_signer(tmp_path_factory):
    """The publisher's key the tested devices trust (SMARTCAM_RELEASE_SIGNERS / SMARTCAM_ALLOWED_SIGNERS)."""
    return Signer(tmp_path_factory.mktemp("release-key"))


@pytest.fixture(scope="session")
def stranger_signer(tmp_path_factory):
    """A key no tested device trusts."""
    return Signer(tmp_path_factory.mktemp("stranger-key"))
