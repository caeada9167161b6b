"""The lab's copy of this repository: the publisher's side of a channel, with the lab's own signing key.

A release engineer signs the commits of a channel branch and the `custom_cmds` file with the project's key;
the lab does the same with a key made for the test run, installed into the copy's `host/keys/` so the
device trusts it, exactly as an operator's fork would.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from smartcam.cmds.signature import NAMESPACE as CUSTOM_CMDS_NAMESPACE

REPO = Path(__file__).resolve().parents[2]


def git(folder: Path, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=timeout,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout.strip()


def make_key(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


class LabRepo:
    """A working copy of this repository's files on branch `branch`, pushed to the lab's git server."""

    def __init__(self, folder: Path, key: Path, push_url: str, branch: str = "devrelease") -> None:
        self.folder = folder
        self.key = key
        self.push_url = push_url
        self.branch = branch
        files = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
        for name in filter(None, files):
            source = REPO / name
            if source.is_file() and not source.is_symlink():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, folder / name)
        git(folder, "init", "--quiet", "-b", branch)
        for key_, value in (("user.name", "smartcam lab"), ("user.email", "lab@smartcam.invalid"),
                            ("gpg.format", "ssh"), ("user.signingkey", str(key))):
            git(folder, "config", key_, value)
        public = Path(f"{key}.pub").read_text().split()
        # The same key signs commits, images (scripts/sign-image) and model manifests, as in host/keys.
        namespaces = "git,smartcam-image,smartcam-model"
        self.write("host/keys/allowed_signers", f'smartcam-lab namespaces="{namespaces}" {public[0]} {public[1]}\n')
        self.write("host/keys/custom_cmds.pub", f"{public[0]} {public[1]} smartcam lab\n")

    def write(self, name: str, text: str) -> None:
        (self.folder / name).parent.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_text(text)

    def read(self, name: str) -> str:
        return (self.folder / name).read_text()

    def sign_custom_cmds(self, text: str) -> None:
        """Write custom_cmds and sign it as host/README.md tells the release engineer to."""
        self.write("custom_cmds", text)
        signature = self.folder / "custom_cmds.sig"
        signature.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(self.key), "-n", CUSTOM_CMDS_NAMESPACE,
                        str(self.folder / "custom_cmds")], check=True, capture_output=True)

    def commit(self, message: str, *, signed: bool = True) -> str:
        git(self.folder, "add", "-A")
        git(self.folder, "commit", "--quiet", "--allow-empty", "-S" if signed else "--no-gpg-sign", "-m", message)
        return git(self.folder, "rev-parse", "HEAD")

    def push(self) -> float:
        """Push the branch; returns the time it was accepted (the start of every figure measured)."""
        git(self.folder, "push", "--quiet", "--force", self.push_url, f"HEAD:refs/heads/{self.branch}")
        return time.time()
