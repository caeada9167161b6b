"""Session fixtures for the virtual lab: one set of lab services and one device, shared by every lab test.

A scenario test that needs a pristine device should make its own `LabDevice(lab_services, ...)`.
"""

from collections.abc import Iterator

import pytest

from tests.lab.harness import LabDevice, LabServices, docker_available


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def lab_services(tmp_path_factory) -> Iterator[LabServices]:
    if not docker_available():
        pytest.fail("the lab tests need Docker")
    services = LabServices(tmp_path_factory.mktemp("lab")).start()
    yield services
    services.close()


@pytest.fixture(scope="session")
def lab_device(lab_services) -> Iterator[LabDevice]:
    device = LabDevice(lab_services).start()
    yield device
    device.close()
