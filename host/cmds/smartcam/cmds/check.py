"""`--check FILE [--key PUBKEY]`: what an operator runs before committing custom_cmds.

Prints every problem as `FILE:LINE: message` (the form editors jump to) and runs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from smartcam.cmds.entries import parse
from smartcam.cmds.signature import SignatureError, verify
from smartcam.cmds.source import SIGNATURE_SUFFIX


def check_file(path: Path, key: Path | None, out: TextIO) -> int:
    """Return 0 if the file (and, with a key, its signature) is fine, 1 otherwise."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except OSError as error:
        print(f"{path}: cannot read: {error.strerror}", file=out)
        return 1
    except UnicodeDecodeError as error:
        print(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8", file=out)
        return 1
    parsed = parse(text)
    for problem in parsed.problems:
        print(f"{path}:{problem.line}: {problem.message}", file=out)
    signature_ok = True
    if key is None:
        print(f"{path}: signature not checked (pass --key PUBKEY to check it)", file=out)
    else:
        signature_path = Path(str(path) + SIGNATURE_SUFFIX)
        try:
            signature = signature_path.read_bytes() if signature_path.exists() else b""
            verify(data, signature, key)
        except SignatureError as error:
            signature_ok = False
            print(f"{signature_path}: {error}", file=out)
    one_shot = sum(1 for entry in parsed.entries if entry.epoch is not None)
    verdict = "OK" if signature_ok and not parsed.problems else "FAILED"
    print(f"{verdict}: {len(parsed.entries)} valid entries ({one_shot} one-shot, "
          f"{len(parsed.entries) - one_shot} recurring), {len(parsed.problems)} problem line(s)"
          f"{'' if signature_ok else ', signature invalid'}", file=out)
    return 0 if verdict == "OK" else 1
