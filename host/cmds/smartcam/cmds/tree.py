"""Killing a command's whole process tree, including children that left its process group.

A child that calls `setsid` (or `setpgid`) is out of reach of a process-group kill, and once its
parent dies it is re-parented to init and can no longer be traced by parent PID. So the tree is
collected from /proc *before* anything is killed, and frozen with SIGSTOP while it is collected, so
nothing can fork away between the look and the kill. A process belongs to the tree if it is in the
command's process group, descends from a member by parent PID, or carries the command's marker
variable in its environment (which catches a daemon whose intermediate parent already exited).
Each PID is remembered with its start time, so a PID reused by an unrelated process is never hit.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_MAX_FREEZE_ROUNDS = 20


@dataclass(frozen=True)
class _Stat:
    ppid: int
    pgrp: int
    start: int  # clock ticks after boot: with the PID, the identity of a process
    zombie: bool


def _stat(pid: int) -> _Stat | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "PID (COMM) STATE PPID PGRP ...": COMM may hold spaces and parentheses, so split after the last ')'.
    fields = text[text.rfind(")") + 2:].split()
    return _Stat(int(fields[1]), int(fields[2]), int(fields[19]), fields[0] in ("Z", "X"))


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        return marker in (_PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _snapshot() -> dict[int, _Stat]:
    table: dict[int, _Stat] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def collect(root: int, marker: bytes, known: dict[int, int]) -> dict[int, int]:
    """The tree of `root` now, as PID -> start time, grown from the processes already `known`."""
    table = _snapshot()
    own = os.getpid()
    tree = {pid: start for pid, start in known.items() if pid in table and table[pid].start == start}
    if root in table and known.get(root, table[root].start) == table[root].start:  # not a reused PID
        tree[root] = table[root].start
    for pid, stat in table.items():
        if pid != own and pid not in tree and (stat.pgrp == root or _has_marker(pid, marker)):
            tree[pid] = stat.start
    grown = True
    while grown:
        grown = False
        for pid, stat in table.items():
            if pid not in tree and stat.ppid in tree and pid != own:
                tree[pid] = stat.start
                grown = True
    return tree


def _signal(tree: dict[int, int], sig: signal.Signals) -> None:
    for pid, start in tree.items():
        stat = _stat(pid)
        if stat is None or stat.start != start or stat.zombie:
            continue
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            continue


def freeze(root: int, marker: bytes, known: dict[int, int] | None = None) -> dict[int, int]:
    """Collect the tree and SIGSTOP it, again until no new process shows up; returns the stopped tree."""
    tree = dict(known or {})
    for _ in range(_MAX_FREEZE_ROUNDS):
        found = collect(root, marker, tree)
        new = {pid: start for pid, start in found.items() if pid not in tree}
        tree = found
        if not new:
            break
        _signal(new, signal.SIGSTOP)
    return tree


def terminate(tree: dict[int, int]) -> None:
    """Ask the whole (stopped) tree to end: SIGTERM, then SIGCONT so the signal is acted upon."""
    _signal(tree, signal.SIGTERM)
    _signal(tree, signal.SIGCONT)


def kill(tree: dict[int, int]) -> None:
    _signal(tree, signal.SIGKILL)
