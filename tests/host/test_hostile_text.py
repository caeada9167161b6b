"""Hostile bytes in a signed custom_cmds: one bad line is reported and skipped, the others still run."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smartcam.cmds.entries import parse
from smartcam.cmds.service import CmdsService
from smartcam.common.counters import Counters

REPO = Path(__file__).resolve().parents[2]
ENV = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{REPO / 'common'}:{REPO / 'host' / 'cmds'}"}
HIDDEN = {
    "NUL": "\x00", "lone CR": "\r", "form feed": "\x0c", "vertical tab": "\x0b", "escape": "\x1b",
    "next line": "\x85", "line separator": "\u2028", "paragraph separator": "\u2029",
    **{f"bidi U+{code:04X}": chr(code) for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]},
    "zero width space": "\u200b", "byte-order mark inside": "\ufeff",
}


@pytest.mark.parametrize("character", HIDDEN.values(), ids=HIDDEN.keys())
def test_a_hidden_character_makes_its_line_a_problem_and_the_others_stay(character):
    parsed = parse(f"1767225600 @ true\n1767225601 @ echo a{character}b\n# note{character}x\n1767225602 @ true\n")
    assert [entry.line for entry in parsed.entries] == [1, 4]
    assert [problem.line for problem in parsed.problems] == [2, 3]
    assert f"hidden character U+{ord(character):04X}" in parsed.problems[0].message
    assert "column 20" in parsed.problems[0].message


def test_lines_split_on_newline_only_crlf_and_a_leading_bom_are_accepted():
    parsed = parse("\ufeff1767225600 @ true\r\n1767225601 @ echo a\x0c1767225602 @ reboot\r\n\t0 3 * * *\t@\ttrue\n")
    assert [(entry.line, entry.schedule) for entry in parsed.entries] == [(1, "1767225600"), (3, "0 3 * * *")]
    assert [problem.line for problem in parsed.problems] == [2]  # not split into an extra `reboot` entry


def test_a_nul_byte_in_a_signed_file_skips_that_line_and_the_poll_goes_on(tmp_path, write_signed, settings_for,
                                                                          caplog):
    log = tmp_path / "ran.log"
    now = int(time.time())
    source = write_signed(f"{now - 30} @ sh: echo before >> {log}\n"
                          f"{now - 20} @ sh: echo nul\x00 >> {log}\n"
                          f"{now - 15} @ echo \u202eoot\u202c >> {log}\n"
                          f"{now - 10} @ sh: echo after >> {log}\n")
    settings = settings_for(source)
    with caplog.at_level(logging.ERROR):
        CmdsService(settings, logging.getLogger("smartcam.cmds.test"), Counters()).poll()
    assert log.read_text() == "before\nafter\n"
    report = json.loads(settings.status_file.read_text())
    assert report["poll"]["ok"] is True
    assert [(p["line"], "U+0000" in p["message"] or "U+202E" in p["message"])
            for p in report["file"]["problems"]] == [(2, True), (3, True)]
    assert report["counters"]["bad_lines"] == 2
    assert "custom_cmds line 2 skipped: column" in caplog.text


def test_check_flags_each_hidden_character_and_accepts_a_bom(tmp_path):
    file = tmp_path / "custom_cmds"
    file.write_bytes("\ufeff1767225600 @ true\n1767225601 @ a\x00b\n1767225602 @ x\u2066y\n".encode())
    result = subprocess.run([sys.executable, "-m", "smartcam.cmds", "--check", str(file)], env=ENV,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{file}:2: column 15: hidden character U+0000 (NUL)")
    assert lines[1].startswith(f"{file}:3: column 15: hidden character U+2066")
    assert lines[-1].startswith("FAILED: 1 valid entries")
