"""One build: every compose service is the target of its name in the one Dockerfile, and every service
starts the same way (`python -m smartcam.<service>` -> smartcam.<service>.main.main()).

Compose's own `config` resolves compose.yaml (anchors, overrides, profiles) as `docker compose build` would;
the images themselves are built by the integration tests.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
SHARED_STAGES = {"python"}  # built FROM by the services' targets, not a service of its own

ENTRY_POINT = '''"""`python -m smartcam.{package}` runs the service; what it does is in smartcam.{package}.main."""

import sys

from smartcam.{package}.main import main

if __name__ == "__main__":
    sys.exit(main())
'''


@dataclass
class Stage:
    name: str
    parent: str
    args: set[str] = field(default_factory=set)
    copies_from: set[str] = field(default_factory=set)
    cmd: list[str] | None = None


@dataclass
class Dockerfile:
    global_args: set[str]
    stages: dict[str, Stage]

    def chain(self, name: str) -> list[Stage]:
        """The stage and the stages it is built FROM, up to the base image."""
        chain = [self.stages[name]]
        while chain[-1].parent in self.stages:
            chain.append(self.stages[chain[-1].parent])
        return chain


def parse_dockerfile(text: str) -> Dockerfile:
    """Stages with their parent, ARGs, COPY --from sources and CMD (continuation lines joined)."""
    global_args: set[str] = set()
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in re.sub(r"\\\n", " ", text).splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        instruction = words[0].upper()
        if instruction == "FROM":
            assert len(words) == 4, f"every stage is named (FROM <image> AS <name>): {line!r}"
            assert words[2].upper() == "AS", f"every stage is named (FROM <image> AS <name>): {line!r}"
            current = Stage(words[3].lower(), words[1].lower())
            assert current.name not in stages, f"stage {current.name} defined twice"
            stages[current.name] = current
        elif instruction == "ARG":
            (global_args if current is None else current.args).add(words[1].split("=")[0])
        elif current is not None and instruction == "COPY":
            current.copies_from |= {word.split("=", 1)[1].lower() for word in words if word.startswith("--from=")}
        elif current is not None and instruction == "CMD":
            current.cmd = json.loads(line.split(None, 1)[1])
    return Dockerfile(global_args, stages)


def compose_services(*files: str) -> dict[str, dict]:
    if shutil.which("docker") is None or subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                        check=False).returncode != 0:
        pytest.skip("needs the docker CLI with the Compose v2 plugin (`docker compose config`)")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SMARTCAM_", "COMPOSE_"))}
    env["COMPOSE_PROFILES"] = "demo"
    command = ["docker", "compose", "--project-directory", str(REPO)]
    for file in files:
        command += ["-f", str(REPO / file)]
    result = subprocess.run([*command, "config", "--format", "json"], capture_output=True, text=True, env=env,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.mark.parametrize("files", [("compose.yaml",), ("compose.yaml", "compose.picamera2.yaml")])
def test_every_compose_service_builds_the_dockerfile_target_of_its_name(dockerfile, files):
    services = compose_services(*files)
    assert {"capture", "infer", "uploader", "updater", "docker-api", "demo-sink"} <= services.keys()
    for name, service in services.items():
        build = service["build"]
        assert Path(build["context"]) == REPO, name
        assert Path(build["context"], build.get("dockerfile", "Dockerfile")) == DOCKERFILE, name
        assert build.get("target") == name, f"{name} builds target {build.get('target')!r}"
        assert name in dockerfile.stages, f"the Dockerfile has no target {name}"
        # A build argument no ARG declares is silently ignored by the build.
        declared = dockerfile.global_args.union(*(stage.args for stage in dockerfile.chain(name)))
        assert set(build.get("args", {})) <= declared, f"{name}: build args no ARG of its target declares"


def test_every_dockerfile_stage_is_a_service_or_used_by_one(dockerfile):
    services = compose_services("compose.yaml")
    used = {stage.parent for stage in dockerfile.stages.values()}.union(
        *(stage.copies_from for stage in dockerfile.stages.values()))
    for name in dockerfile.stages:
        assert name in services or name in used, f"stage {name} is neither a compose service nor used by one"
    assert used >= SHARED_STAGES
    assert not list(REPO.glob("services/*/Dockerfile")), "services are built from the one Dockerfile only"


def test_python_targets_share_the_python_stage_and_run_their_package(dockerfile):
    # A stage another one only copies files from (coco-model: the fetched COCO model) is a build step, not a target.
    build_steps = set().union(*(stage.copies_from for stage in dockerfile.stages.values()))
    targets = 0
    for name, stage in dockerfile.stages.items():
        if name in SHARED_STAGES | build_steps or "python" not in (s.name for s in dockerfile.chain(name)[1:]):
            continue
        targets += 1
        package = name.replace("-", "_")
        assert stage.cmd == ["python", "-m", f"smartcam.{package}"], name
        assert Path(REPO, "services", package, "smartcam", package, "__main__.py").is_file(), name
    assert targets == 6  # capture, infer, uploader, updater, demo-sink, docker-api


@pytest.mark.parametrize("entry", sorted(REPO.glob("services/*/smartcam/*/__main__.py")), ids=lambda p: p.parent.name)
def test_every_service_entry_point_has_the_same_shape(entry):
    package = entry.parent.name
    assert entry.read_text() == ENTRY_POINT.format(package=package)
    main = importlib.import_module(f"smartcam.{package}.main").main
    signature = inspect.signature(main)
    assert not signature.parameters, f"smartcam.{package}.main.main takes no arguments"
    assert signature.return_annotation in (int, "int"), f"smartcam.{package}.main.main returns the exit code"


def test_the_dockerfile_parser_reads_stages_args_and_sources():
    parsed = parse_dockerfile("ARG BASE=x\nFROM ${BASE} AS a\nARG ONE=1\nFROM a AS b\nCOPY --from=c /x /y\n"
                              "CMD [\"run\", \\\n  \"b\"]\nFROM scratch AS c\n")
    assert parsed.global_args == {"BASE"}
    assert [stage.name for stage in parsed.chain("b")] == ["b", "a"]
    assert parsed.stages["b"].copies_from == {"c"}
    assert parsed.stages["b"].cmd == ["run", "b"]
    assert parsed.stages["a"].args == {"ONE"}
