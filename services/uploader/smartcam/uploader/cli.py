"""The `smartcam` command in the uploader image: `smartcam status [--json]`.

A command word first, so more commands can join later without breaking scripts that use this one.
"""

from __future__ import annotations

import sys

from smartcam.uploader import status

COMMANDS = {"status": status.main}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        print(f"usage: smartcam {{{','.join(COMMANDS)}}} [--help]", file=sys.stderr)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
