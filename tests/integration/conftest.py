import pytest

from tests.integration.harness import Stack, build_images, docker_available


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def images():
    if not docker_available():
        pytest.fail("the integration tests need Docker with the compose plugin (scripts/install-compose-plugin)")
    build_images()


@pytest.fixture
def stack_factory(images, tmp_path):
    stacks = []

    def make(settings):
        stack = Stack(tmp_path / f"stack{len(stacks)}", settings)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.down()
