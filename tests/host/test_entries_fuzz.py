"""Fuzzing the custom_cmds parser: any text yields entries and problems, never an exception."""

from hypothesis import given, settings
from hypothesis import strategies as st

from smartcam.cmds.entries import parse

_TOKENS = ["@", " @ ", "@@", "sh:", "#", "*", "*/5", "0", "3", "1767225600", "99999999999", "-1", "'", '"',
           "\\", " ", "\t", "\r", "\x00", "\x0c", "\u2028", "\u202e", "\ufeff", "\u00b2", "\u0661",
           "echo", "true", ",", "-"]
_LINE = st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=4)), max_size=12).map("".join)
_FILE = st.one_of(st.text(max_size=300), st.lists(_LINE, max_size=8).map("\n".join))


@settings(max_examples=200, deadline=None)
@given(_FILE)
def test_any_text_gives_each_line_an_entry_or_a_problem_and_never_raises(text):
    parsed = parse(text)
    lines = text.removeprefix("\ufeff").split("\n")
    meaningful = {number for number, line in enumerate(lines, start=1)
                  if line.removesuffix("\r").strip() and not line.strip().startswith("#")}
    entry_lines = [entry.line for entry in parsed.entries]
    problem_lines = [problem.line for problem in parsed.problems]
    assert len(set(entry_lines + problem_lines)) == len(entry_lines) + len(problem_lines)  # never both
    assert set(entry_lines) <= meaningful
    assert meaningful <= set(entry_lines + problem_lines) <= meaningful | set(range(1, len(lines) + 1))
    for entry in parsed.entries:
        assert entry.key
        assert all(command.args for command in entry.commands)
        assert (entry.epoch is None) != (entry.cron is None)
