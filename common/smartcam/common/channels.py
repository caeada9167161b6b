"""The one rule from a channel (git branch) to image tags, used by `scripts/publish`, CI and the updater.

A device follows the channel it was installed with: `master` (evaluation), `devrelease` (lab),
`release` (production). Every published image gets two tags:

- the **channel tag**, equal to the channel name (`smartcam/infer:release`); it moves with each
  publish, and the updater polls its registry digest;
- the **commit tag**, `git-<first 12 hex digits of the commit>` (`smartcam/infer:git-0123456789ab`);
  it never moves, so an operator can pin or roll back to exactly one build.

Channel names are lower-case branch names, so they are valid tags as they are.
Run `python -m smartcam.common.channels <channel> <commit>` to print both tags (the publish script does).
"""

from __future__ import annotations

import re
import sys

CHANNELS = ("master", "devrelease", "release")
COMMIT_TAG_PREFIX = "git-"
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_COMMIT = re.compile(r"^[0-9a-f]{12,40}$")


def channel_tag(channel: str) -> str:
    """The moving tag a channel's images are published under: the channel name itself."""
    if not _CHANNEL.match(channel):
        raise ValueError(f"{channel!r} is not a channel name (a lower-case git branch name, e.g. "
                         f"{', '.join(CHANNELS)})")
    return channel


def commit_tag(commit: str) -> str:
    """The immutable tag of one build: `git-` plus the first 12 hex digits of its commit."""
    if not _COMMIT.match(commit):
        raise ValueError(f"{commit!r} is not a git commit id (12-40 lower-case hex digits)")
    return COMMIT_TAG_PREFIX + commit[:12]


def image_ref(registry: str, service: str, tag: str) -> str:
    """`<registry>smartcam/<service>:<tag>`, the same form compose.yaml uses (registry ends with `/` or is empty)."""
    if registry and not registry.endswith("/"):
        raise ValueError(f"registry prefix {registry!r} must end with '/' (e.g. 'registry.example.com/')")
    return f"{registry}smartcam/{service}:{tag}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m smartcam.common.channels <channel> <commit>", file=sys.stderr)
        return 2
    try:
        print(channel_tag(argv[0]), commit_tag(argv[1]))
    except ValueError as error:
        print(f"channels: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
