"""`python3 -m smartcam.follow.seed DEPLOY_DIR CHECKOUT`: put the checkout's HEAD in force (postinstall).

The first tree in force is the one the operator chose by running postinstall from a checkout; it is laid out
exactly as the follower lays out every later commit (`Deployments`), so there is one layout, written once.
Standard library only: postinstall runs it with the system python3, before any venv exists. Prints the commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

from smartcam.follow.deployments import Deployments
from smartcam.follow.git import GitError

FETCH_TIMEOUT_S = 600.0


def seed(deploy_dir: Path, checkout: Path) -> str:
    deployments = Deployments(deploy_dir)
    commit = deployments.repository.fetch_ref(str(checkout), "HEAD", FETCH_TIMEOUT_S)
    deployments.prepare(commit)
    deployments.switch(commit)
    return commit


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python3 -m smartcam.follow.seed DEPLOY_DIR CHECKOUT", file=sys.stderr)
        return 2
    try:
        print(seed(Path(argv[0]), Path(argv[1])))
    except GitError as error:
        print(f"cannot put {argv[1]} in force under {argv[0]}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
