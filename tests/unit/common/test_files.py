"""Atomic writes leave a complete file that the other services' users can read."""

import json
import stat

from smartcam.common.files import write_json_atomically, write_json_durably


def test_written_files_are_complete_and_readable_by_other_users(tmp_path):
    for write, name in ((write_json_atomically, "a.json"), (write_json_durably, "d.json")):
        path = tmp_path / name
        write(path, {"n": 1})
        write(path, {"n": 2})
        assert json.loads(path.read_text()) == {"n": 2}
        # Host services write as root; the uploader reads as uid 10001 through a read-only mount.
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "d.json"]  # no temporary left behind
