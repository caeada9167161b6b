"""The fetched copy of the channel's repository: fetch a branch, judge a commit's signature, export a tree.

Nothing from a fetched commit is used before `verify` accepted it: fetching only stores objects in a bare
repository, and `export` (a plain `git archive`, no hooks, no checkout) is called after verification.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REMOTE_REF = "refs/smartcam/channel"
# %G? is git's verdict on a signature: G good, B bad, U good but untrusted key, X/Y expired, R revoked,
# E cannot be checked, N none.
_VERDICTS = {"N": "is not signed", "B": "has a bad signature (changed after signing?)",
             "U": "is signed by a key that is not in the allowed signers",
             "E": "has a signature that cannot be checked",
             "X": "has an expired signature", "Y": "is signed by an expired key", "R": "is signed by a revoked key"}


class GitError(Exception):
    """A git command failed; the message carries git's own last line."""


class UntrustedCommitError(Exception):
    """The commit must not be used: unsigned, badly signed, signed by an unknown key, or unreadable."""


@dataclass(frozen=True)
class Signature:
    verdict: str
    key: str
    signer: str


def _clean_env() -> dict[str, str]:
    """No user or system git configuration and no prompts: the follower's git behaves the same everywhere."""
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": "/nonexistent",
            "LANG": "C.UTF-8", "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}


class Repository:
    """A bare repository at `path` holding what was fetched from the channel's remote."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _git(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(["git", f"--git-dir={self.path}", *args], capture_output=True, text=True,
                                    timeout=timeout, env=_clean_env(), check=False)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {timeout:.0f}s") from None
        except FileNotFoundError:
            raise GitError("git is not installed; install it (apt-get install git)") from None
        if check and result.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_last_line(result)}")
        return result

    def ensure(self) -> None:
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--bare", "--quiet")

    def fetch(self, url: str, branch: str, timeout_s: float) -> str:
        """Fetch `branch` (force-pushes included) and return its head commit."""
        return self.fetch_ref(url, f"refs/heads/{branch}", timeout_s)

    def fetch_ref(self, url: str, ref: str, timeout_s: float) -> str:
        """Fetch `ref` of the repository at `url` (a branch, or HEAD of a checkout) and return its commit."""
        self.ensure()
        self._git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", url, f"+{ref}:{REMOTE_REF}",
                  timeout=timeout_s)
        return self.resolve(REMOTE_REF)

    def resolve(self, ref: str) -> str:
        return self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").stdout.strip()

    def has_commit(self, commit: str) -> bool:
        return self._git("cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0

    def descends_from(self, commit: str, ancestor: str) -> bool:
        """True if `commit` has `ancestor` in its history (False also when `ancestor` is unknown here)."""
        if not self.has_commit(ancestor):
            return False
        return self._git("merge-base", "--is-ancestor", ancestor, commit, check=False).returncode == 0

    def verify(self, commit: str, allowed_signers: Path) -> Signature:
        """The signature of `commit` if a key in `allowed_signers` made it; else UntrustedCommitError."""
        if not allowed_signers.is_file():
            raise UntrustedCommitError(f"the allowed signers file {allowed_signers} is missing; rerun host/postinstall")
        config = ("-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}")
        shown = self._git(*config, "log", "-1", "--format=%G?%x00%GK%x00%GS", commit, check=False)
        if shown.returncode != 0:
            raise UntrustedCommitError(f"commit {commit[:12]} cannot be read: {_last_line(shown)}")
        verdict, _, rest = shown.stdout.strip("\n").partition("\0")
        key, _, signer = rest.partition("\0")
        verified = self._git(*config, "verify-commit", commit, check=False)
        if verdict != "G" or verified.returncode != 0:
            why = _VERDICTS.get(verdict, f"has an unusable signature ({verdict or 'no verdict'})")
            detail = _last_line(verified)
            suffix = f": {detail}" if detail and verdict != "N" else ""
            raise UntrustedCommitError(f"commit {commit[:12]} {why}{suffix}")
        return Signature(verdict, key, signer)

    def subject(self, commit: str) -> str:
        return self._git("log", "-1", "--format=%s", commit).stdout.strip()

    def export(self, commit: str, folder: Path, timeout_s: float = 300.0) -> None:
        """Write the tree of `commit` into the empty `folder` (a plain export: no .git, no hooks)."""
        folder.mkdir(parents=True)
        archive = subprocess.Popen(["git", f"--git-dir={self.path}", "archive", "--format=tar", commit],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_clean_env())
        assert archive.stdout is not None
        try:
            unpacked = subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout, capture_output=True,
                                      text=True, timeout=timeout_s, check=False)
        finally:
            archive.stdout.close()
            archive_error = archive.stderr.read().decode(errors="replace") if archive.stderr else ""
            archive.wait(timeout=30)
        if archive.returncode != 0:
            raise GitError(f"git archive {commit[:12]} failed: {archive_error.strip().splitlines()[-1:]}")
        if unpacked.returncode != 0:
            lines = unpacked.stderr.strip().splitlines()
            if any("No space left" in line for line in lines):
                raise GitError(f"disk full while unpacking commit {commit[:12]} into {folder}: free space "
                               "there (old images: docker image prune)")
            raise GitError(f"unpacking commit {commit[:12]} into {folder} failed: "
                           f"{lines[-1] if lines else f'tar exited {unpacked.returncode}'}")


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else f"exit code {result.returncode}"
