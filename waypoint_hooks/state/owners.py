"""Which command wrote an intent or claimed a destroy, and whether that command still runs.

A pending record whose command is gone was interrupted; a destroy claimed by a command that is
gone may be claimed again. A pid alone would lie after the pid is reused, so the owner is the
pid with its start time and the boot it started in, where the system tells them (Linux). A pid
says nothing on another machine: there, a lease in the state says it (``_state``'s instances).
"""

from __future__ import annotations

import functools
import os
from typing import Final

__all__ = ["alive", "this_command"]

_BOOT_ID: Final = "/proc/sys/kernel/random/boot_id"


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    # Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces and parentheses,
    # so the fields are counted from the last ")".
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


@functools.cache
def this_command() -> str:
    """This process, as ``BOOT:PID:START`` (the parts that cannot be known left empty)."""
    pid = os.getpid()
    return f"{_read(_BOOT_ID)}:{pid}:{_start_time(pid)}"


def alive(owner: str, leased: bool = False) -> bool:
    """Whether the process ``owner`` names (as :func:`this_command` wrote it) still runs.

    A process of this machine's boot is looked at; one of another boot ran before a reboot,
    or runs on another machine that shares the state (DESIGN §16): it is alive only while
    the lease it renews lasts (``leased``), and gone once it ran out.
    """
    boot, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if not pid_text.isdigit():
        return False
    if boot and boot != _read(_BOOT_ID):
        return leased
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    return not start or start == _start_time(pid)
