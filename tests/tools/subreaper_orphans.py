#!/usr/bin/env python3
"""Run a command as a child subreaper would; print how many orphans it left to us.

Usage: subreaper_orphans.py COMMAND [ARG...] < stdin-for-the-command   (the environment is passed on)

Some runtimes mark themselves PR_SET_CHILD_SUBREAPER, so the orphans of the plugins they run are
reparented to them, not to init. This counts our children, other than the command itself, right
after the command has exited, then reaps them. Exits with the command's status.
"""
import ctypes
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def children():
    me = str(os.getpid())
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                # the ppid is the 2nd field after the parenthesised command name
                if f.read().rsplit(")", 1)[1].split()[1] == me:
                    out.append(int(pid))
        except (OSError, IndexError):
            pass
    return out


def main():
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("subreaper_orphans: prctl failed")
    p = subprocess.run(sys.argv[1:], stdin=sys.stdin, stdout=subprocess.DEVNULL)
    print(len(children()))
    for pid in children():
        os.waitpid(pid, 0)
    sys.exit(p.returncode)


if __name__ == "__main__":
    main()
