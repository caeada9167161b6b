"""Static files of host/: the firewall rules parse, shell scripts are shellcheck-clean, units are complete."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_firewall_rules_are_valid_nftables():
    result = subprocess.run(["nft", "--check", "--file", str(REPO / "host" / "nftables.conf")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_shell_scripts_are_shellcheck_clean():
    scripts = [REPO / "host" / "postinstall", REPO / "host" / "compose"]
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_unit_templates_use_only_known_placeholders():
    for unit in (REPO / "host" / "systemd").glob("*.service"):
        text = unit.read_text()
        assert set(re.findall(r"@[A-Z_]+@", text)) <= {"@REPO_DIR@", "@VENV_DIR@"}, unit  # postinstall fills these
        assert "[Install]\nWantedBy=multi-user.target" in text, unit
