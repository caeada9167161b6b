from smartcam.cmds.entries import parse


def test_valid_lines_of_both_forms_with_comments_and_blanks():
    parsed = parse("# maintenance\n\n1767225600 @ apt-get update @ apt-get -y upgrade\n"
                   "  0 3 * * 0  @ sh: journalctl --vacuum-time=30d && true\n")
    assert parsed.problems == ()
    one_shot, recurring = parsed.entries
    assert (one_shot.line, one_shot.epoch, one_shot.cron) == (3, 1767225600, None)
    assert [c.argv for c in one_shot.commands] == [("apt-get", "update"), ("apt-get", "-y", "upgrade")]
    assert (recurring.line, recurring.cron, recurring.epoch) == (4, "0 3 * * 0", None)
    assert recurring.commands[0].shell
    assert recurring.commands[0].args == ["/bin/sh", "-c", "journalctl --vacuum-time=30d && true"]


def test_quoting_follows_shell_words_and_at_inside_a_word_is_not_a_separator():
    (entry,) = parse("""1767225600 @ logger -t smartcam "two words" user@host\n""").entries
    assert entry.commands[0].argv == ("logger", "-t", "smartcam", "two words", "user@host")


def test_each_malformed_line_is_reported_with_its_number_and_valid_lines_survive():
    text = "\n".join([
        "12x45 @ reboot",              # 1 bad epoch
        "61 * * * * @ reboot",         # 2 bad cron
        "1767225600 reboot",           # 3 missing @
        "1767225600 @",                # 4 empty command
        "1767225600 @ true @ @ true",  # 5 empty second command
        "1767225600 @ echo 'open",     # 6 bad quoting
        "1767225600000 @ true",        # 7 milliseconds
        "* * * @ true",                # 8 three fields
        "1767225600 @ true",           # 9 valid
        "sh: @ true",                  # 10 not a schedule
    ])
    parsed = parse(text)
    messages = {p.line: p.message for p in parsed.problems}
    assert sorted(messages) == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert "bad epoch '12x45'" in messages[1]
    assert "bad cron expression '61 * * * *'" in messages[2]
    assert "missing ' @ '" in messages[3]
    assert "empty command #1" in messages[4]
    assert "empty command #2" in messages[5]
    assert "fix the quoting" in messages[6]
    assert "milliseconds" in messages[7]
    assert "3 fields" in messages[8]
    assert [e.line for e in parsed.entries] == [9]


def test_a_duplicate_entry_is_reported_and_kept_once():
    parsed = parse("1767225600 @ true\n1767225600   @   true\n")
    assert [e.line for e in parsed.entries] == [1]
    assert parsed.problems[0].line == 2
    assert "duplicate of line 1" in parsed.problems[0].message


def test_entry_key_ignores_spacing_and_line_position_but_not_content():
    first = parse("1767225600 @ true").entries[0]
    moved = parse("\n\n1767225600   @  true").entries[0]
    other = parse("1767225601 @ true").entries[0]
    assert first.key == moved.key
    assert first.key != other.key
