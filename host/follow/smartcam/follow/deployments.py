"""Deployed commits side by side, and the one `current` link that says which is in force.

Layout under the deploy folder: `repo.git` (what was fetched), `trees/<commit>/` (one complete export per
deployed commit) and `current` -> `trees/<commit>`. A tree is unpacked under a temporary name and renamed
only when complete; `current` is switched by renaming a new link over it. Both renames are atomic, and both
are preceded by a sync, so after a power cut the device has either the old commit in force or the new one,
never a mix, and never a half-written tree under a commit's name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from smartcam.common.files import fsync_directory
from smartcam.follow.git import GitError, Repository

COMMIT_MARK = ".smartcam-commit"


class Deployments:
    def __init__(self, deploy_dir: Path) -> None:
        self.root = deploy_dir
        self.repository = Repository(deploy_dir / "repo.git")
        self.trees = deploy_dir / "trees"
        self.link = deploy_dir / "current"

    def tree(self, commit: str) -> Path:
        return self.trees / commit

    def current(self) -> str | None:
        """The commit in force: the target of the `current` link (None before the first deployment)."""
        try:
            target = os.readlink(self.link)
        except FileNotFoundError:
            return None
        commit = Path(target).name
        return commit if (self.trees / commit / COMMIT_MARK).is_file() else None

    def prepare(self, commit: str) -> Path:
        """The complete tree of `commit`, unpacked now if it is not there yet."""
        tree = self.tree(commit)
        if (tree / COMMIT_MARK).is_file():
            return tree
        partial = self.trees / f".{commit}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(tree, ignore_errors=True)
        self.trees.mkdir(parents=True, exist_ok=True)
        try:
            self.repository.export(commit, partial)
            (partial / COMMIT_MARK).write_text(commit + "\n")
            os.sync()
            partial.rename(tree)
            fsync_directory(self.trees)
        except OSError as error:
            shutil.rmtree(partial, ignore_errors=True)
            if error.errno == 28:  # ENOSPC
                raise GitError(f"disk full while preparing commit {commit[:12]} in {self.trees}: free space "
                               "there (old images: docker image prune)") from None
            raise GitError(f"cannot prepare commit {commit[:12]} in {self.trees}: {error}") from None
        except GitError:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return tree

    def switch(self, commit: str) -> None:
        """Put `commit` in force: one atomic rename of a new link over `current`."""
        staged = self.root / ".current.new"
        staged.unlink(missing_ok=True)
        staged.symlink_to(Path("trees") / commit)
        os.replace(staged, self.link)
        fsync_directory(self.root)

    def prune(self, keep: set[str]) -> None:
        """Remove trees other than `keep` (the commit in force and the one to roll back to)."""
        if not self.trees.is_dir():
            return
        for tree in self.trees.iterdir():
            if tree.name not in keep:
                shutil.rmtree(tree, ignore_errors=True)
