"""Bad digests survive a restart and are kept per repository."""

from smartcam.common.badlist import BadDigests


def test_bad_digest_survives_reopening_and_is_per_repository(tmp_path):
    path = tmp_path / "bad-digests.json"
    BadDigests(path).mark("reg/smartcam/infer", "sha256:bad")
    BadDigests(path).mark("reg/smartcam/infer", "sha256:bad")
    reopened = BadDigests(path)
    assert reopened.is_bad("reg/smartcam/infer", "sha256:bad")
    assert not reopened.is_bad("reg/smartcam/capture", "sha256:bad")
    assert not reopened.is_bad("reg/smartcam/infer", "sha256:newer")
    assert path.read_text().count("sha256:bad") == 1
