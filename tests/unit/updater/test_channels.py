"""The channel -> tag rule shared by publishing and the updater."""

import pytest

from smartcam.common.channels import channel_tag, commit_tag, image_ref, main


def test_channel_tag_is_the_channel_and_commit_tag_is_immutable_and_short():
    assert channel_tag("release") == "release"
    assert commit_tag("0123456789abcdef0123456789abcdef01234567") == "git-0123456789ab"


@pytest.mark.parametrize("bad", ["Release", "-x", "", "a/b", "x" * 65])
def test_bad_channels_are_refused(bad):
    with pytest.raises(ValueError, match="channel name"):
        channel_tag(bad)


def test_commit_must_be_hex():
    with pytest.raises(ValueError, match="commit"):
        commit_tag("HEAD")


def test_image_ref_uses_the_compose_form():
    assert image_ref("", "infer", "master") == "smartcam/infer:master"
    assert image_ref("127.0.0.1:5000/", "infer", "git-0123456789ab") == "127.0.0.1:5000/smartcam/infer:git-0123456789ab"
    with pytest.raises(ValueError, match="must end with '/'"):
        image_ref("registry.example.com", "infer", "master")


def test_command_line_prints_both_tags(capsys):
    assert main(["devrelease", "0123456789abcdef"]) == 0
    assert capsys.readouterr().out.split() == ["devrelease", "git-0123456789ab"]
    assert main(["devrelease"]) == 2
