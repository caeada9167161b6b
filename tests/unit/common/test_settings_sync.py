"""scripts/sync-settings: compose.yaml's environment entries and the README's table agree with the settings classes."""

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from smartcam.common.settings import CommonSettings

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "sync-settings"


def check(compose=REPO / "compose.yaml", readme=REPO / "README.md", write=False):
    args = [] if write else ["--check"]
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--compose", str(compose), "--readme", str(readme)],
                          capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture
def copies(tmp_path):
    compose, readme = tmp_path / "compose.yaml", tmp_path / "README.md"
    compose.write_text((REPO / "compose.yaml").read_text())
    readme.write_text((REPO / "README.md").read_text())
    return compose, readme


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}: the test's anchor moved"
    path.write_text(text.replace(old, new, 1))


def test_the_repository_agrees_with_its_declarations():
    result = check()
    assert result.returncode == 0, result.stderr


def test_a_missing_compose_entry_is_named(copies):
    compose, readme = copies
    edit(compose, "      SMARTCAM_COOLDOWN_S:\n", "")
    result = check(compose, readme)
    assert result.returncode == 1
    assert "compose.yaml disagrees" in result.stderr
    assert "+      SMARTCAM_COOLDOWN_S:" in result.stderr


def test_a_compose_entry_with_a_hand_written_default_is_named(copies):
    compose, readme = copies
    edit(compose, "      SMARTCAM_COOLDOWN_S:\n", "      SMARTCAM_COOLDOWN_S: ${SMARTCAM_COOLDOWN_S:-60}\n")
    result = check(compose, readme)
    assert result.returncode == 1
    assert "${SMARTCAM_COOLDOWN_S:-60}: write ${SMARTCAM_COOLDOWN_S:-30}" in result.stderr


def test_a_drifted_readme_default_is_named(copies):
    compose, readme = copies
    edit(readme, "| `SMARTCAM_COOLDOWN_S` | `30` |", "| `SMARTCAM_COOLDOWN_S` | `60` |")
    result = check(compose, readme)
    assert result.returncode == 1
    assert "README.md disagrees" in result.stderr
    assert "-| `SMARTCAM_COOLDOWN_S` | `60` |" in result.stderr


def test_an_interpolation_default_must_be_the_declared_one(copies):
    compose, readme = copies
    edit(compose, "smartcam/capture:${SMARTCAM_CHANNEL:-master}", "smartcam/capture:${SMARTCAM_CHANNEL:-release}")
    result = check(compose, readme)
    assert result.returncode == 1
    assert "${SMARTCAM_CHANNEL:-release}: write ${SMARTCAM_CHANNEL:-master}" in result.stderr


def test_an_undeclared_variable_in_compose_is_named(copies):
    compose, readme = copies
    edit(compose, "    pids_limit: 64\n", "    pids_limit: ${SMARTCAM_PIDS:-64}\n")
    result = check(compose, readme)
    assert result.returncode == 1
    assert "no settings class declares SMARTCAM_PIDS" in result.stderr


def test_a_service_without_its_generated_block_is_named(copies):
    compose, readme = copies
    text = compose.read_text()
    start = text.index("      # settings: begin", text.index("  infer:"))
    end = text.index("      # settings: end\n", start) + len("      # settings: end\n")
    compose.write_text(text[:start] + text[end:])
    result = check(compose, readme)
    assert result.returncode == 1
    assert "service infer has no '# settings: begin'" in result.stderr


def test_writing_repairs_what_check_reports(copies):
    compose, readme = copies
    edit(compose, "      SMARTCAM_FPS:\n", "")
    edit(readme, "| `SMARTCAM_FPS` | `2` |", "| `SMARTCAM_FPS` | `5` |")
    assert check(compose, readme).returncode == 1
    assert check(compose, readme, write=True).returncode == 0
    assert check(compose, readme).returncode == 0
    assert compose.read_text() == (REPO / "compose.yaml").read_text()
    assert readme.read_text() == (REPO / "README.md").read_text()


def load_script(monkeypatch):
    loader = importlib.machinery.SourceFileLoader("sync_settings", str(SCRIPT))
    spec = importlib.util.spec_from_loader("sync_settings", loader)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "sync_settings", module)  # its dataclasses look their module up
    monkeypatch.setattr(sys, "path", list(sys.path))  # it puts the services' folders first
    loader.exec_module(module)
    return module


def test_one_name_declared_in_two_classes_is_a_problem(monkeypatch):
    script = load_script(monkeypatch)

    class OtherPoller(CommonSettings):
        poll_interval_s: float = Field(120.0, description="Polls something else under the updater's name.")

    monkeypatch.setitem(script.HOST, "other (host)", OtherPoller)
    problems = []
    script.collect(problems)
    assert any("SMARTCAM_POLL_INTERVAL_S is declared in OtherPoller, UpdaterSettings" in p for p in problems), problems


def test_a_setting_without_a_description_is_a_problem(monkeypatch):
    script = load_script(monkeypatch)

    class Undocumented(CommonSettings):
        mystery_s: float = 1.0

    monkeypatch.setitem(script.HOST, "mystery (host)", Undocumented)
    problems = []
    script.collect(problems)
    assert any("Undocumented.mystery_s (SMARTCAM_MYSTERY_S) has no description=" in p for p in problems), problems
