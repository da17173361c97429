"""What Linux's ``/proc`` says about processes and about the sockets that listen for TCP.

Every reader answers for the moment it reads: a process may exit, or its pid be given to
another, right after. Callers tell processes apart by pid *and* start time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Final

import attrs

#: /proc/<pid>/stat states of a process that has exited: zombie (not yet reaped) and dead.
_EXITED: Final = frozenset({"Z", "X"})
#: /proc/net/tcp's state of a listening socket (TCP_LISTEN).
_LISTEN: Final = "0A"
#: A gone process, or one that exited while we read it, or another user's.
_UNREADABLE: Final = (FileNotFoundError, ProcessLookupError, PermissionError)
#: Flags of /proc/<pid>/stat's field 9: a process on its way out, which has given up its
#: memory (and with it its arguments and environment) but is not a zombie yet (PF_EXITING),
#: and a kernel thread (PF_KTHREAD).
_EXITING: Final = 0x00000004
_KERNEL_THREAD: Final = 0x00200000
#: How long to wait for a process that is inside an exec to show its new environment: the
#: kernel sets it up a moment after the exec cannot fail any more (when the parent of a new
#: process learns that it started).
_EXEC_WAIT: Final = 1.0


@attrs.frozen
class Stat:
    """The fields of ``/proc/<pid>/stat`` that tell a process apart and place it."""

    pid: int
    #: The kernel's name of its program (``ps -o comm``), at most 15 characters.
    name: str
    state: str
    parent: int
    #: When it started, in clock ticks since boot (field 22).
    start_time: int
    #: The kernel's flags of it (field 9).
    flags: int

    @property
    def running(self) -> bool:
        """False once it has exited, reaped or not, or is exiting."""
        return self.state not in _EXITED and not self.flags & _EXITING

    @property
    def kernel_thread(self) -> bool:
        """A thread of the kernel's own, with no program, arguments or environment."""
        return bool(self.flags & _KERNEL_THREAD)

    @property
    def label(self) -> str:
        # program[pid], as syslog names a process.
        return f"{self.name}[{self.pid}]"


def stat(pid: int) -> Stat | None:
    """What ``/proc`` says about ``pid``, or ``None`` when there is no such process."""
    data = _read(pid, "stat")
    if data is None:
        return None
    # The name (field 2) is in parentheses and may hold spaces and parentheses itself: the
    # fields after its last ")" start with field 3.
    name = data[data.index(b"(") + 1 : data.rindex(b")")].decode(errors="replace")
    fields = data[data.rindex(b")") + 2 :].split()
    return Stat(pid, name, fields[0].decode(), int(fields[1]), int(fields[19]), int(fields[6]))


def processes() -> Iterator[Stat]:
    """Every process there is now (threads are not processes)."""
    for entry in os.listdir("/proc"):
        if entry.isdecimal():
            found = stat(int(entry))
            if found is not None:
                yield found


def has_environment_entry(process: Stat, entry: str) -> bool:
    """Whether ``NAME=VALUE`` is in the environment ``process`` was started with.

    False where it cannot be read: another user's process, one that made itself undumpable,
    a zombie or a kernel thread (they have none).
    """
    if process.kernel_thread:
        return False
    deadline = time.monotonic() + _EXEC_WAIT
    while True:
        # Inside an exec, a process shows neither arguments nor environment for a moment;
        # once its arguments show, so does its environment (read second for that reason).
        arguments = _read(process.pid, "cmdline")
        environment = _read(process.pid, "environ")
        if arguments != b"" or environment != b"":
            break
        now = stat(process.pid)  # nor does one that exits, for good
        if now is None or not now.running or time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return environment is not None and f"\0{entry}\0".encode() in b"\0" + environment + b"\0"


def command_line(pid: int) -> list[str]:
    """The program and arguments of ``pid`` (empty once it is gone or a zombie)."""
    data = _read(pid, "cmdline") or b""
    # Each word ends with a NUL, unless the process rewrote them (as setproctitle does).
    words = data.removesuffix(b"\0").split(b"\0") if data else []
    return [word.decode(errors="replace") for word in words]


def _read(pid: int, name: str) -> bytes | None:
    """``/proc/PID/NAME``, or ``None`` where it cannot be read."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as file:
            return file.read()
    except _UNREADABLE:
        return None


def boot_id() -> str:
    """Which boot this is: start times count from it."""
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as file:
        return file.read().strip()


def ticks_since_boot() -> int:
    """Now, in clock ticks since boot: no process started from now on has a smaller start
    time (``/proc/uptime`` reads the clock start times are taken from, in centiseconds)."""
    with open("/proc/uptime", encoding="ascii") as file:
        seconds, _, hundredths = file.read().split()[0].partition(".")
    return (int(seconds) * 100 + int(hundredths)) * os.sysconf("SC_CLK_TCK") // 100


def started_at(start_time: int) -> datetime:
    """The wall-clock time of a start time in clock ticks since boot."""
    with open("/proc/stat", encoding="ascii") as file:
        boot = next(int(line.split()[1]) for line in file if line.startswith("btime "))
    return datetime.fromtimestamp(boot + start_time / os.sysconf("SC_CLK_TCK"), timezone.utc)


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets ``pid`` holds open (none where its descriptors cannot be
    read: another user's process, or one gone)."""
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except _UNREADABLE:
        return set()
    inodes = set()
    for descriptor in descriptors:
        with contextlib.suppress(*_UNREADABLE):  # closed since the listing
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def listeners(peer: tuple[str, int]) -> set[int]:
    """The inodes of the listening sockets of this machine that accept a TCP connection to
    ``peer`` (an address and port, as ``getpeername`` gives them): those bound to its very
    address, else those bound to every address. None when ``peer`` is not on this machine."""
    address, port = _mapped(peer[0]), peer[1]
    exact, wildcard = set(), set()
    for bound, bound_port, inode in _listening():
        if bound_port != port:
            continue
        if bound == address:
            exact.add(inode)
        elif bound == _ANY6 or (bound == _ANY4 and address.startswith(_V4_PREFIX)):
            wildcard.add(inode)
    return exact or wildcard


# IPv4 addresses as IPv6 maps them (::ffff:a.b.c.d), so that one comparison serves both.
_V4_PREFIX: Final = b"\0" * 10 + b"\xff\xff"
_ANY4: Final = _V4_PREFIX + b"\0" * 4
_ANY6: Final = b"\0" * 16


def _mapped(address: str) -> bytes:
    try:
        return _V4_PREFIX + socket.inet_pton(socket.AF_INET, address)
    except OSError:
        return socket.inet_pton(socket.AF_INET6, address.partition("%")[0])


def _listening() -> Iterator[tuple[bytes, int, int]]:
    """``(address, port, inode)`` of every listening TCP socket, IPv4 and IPv6."""
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{table}", encoding="ascii") as file:
                lines = file.readlines()[1:]
        except FileNotFoundError:  # a kernel without IPv6
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != _LISTEN:
                continue
            address, _, port = fields[1].partition(":")
            yield _address(address), int(port, 16), int(fields[9])


def _address(text: str) -> bytes:
    # The kernel prints each 32-bit word of the address as a number in this machine's order.
    words = [int(text[start : start + 8], 16) for start in range(0, len(text), 8)]
    packed = struct.pack(f"={len(words)}I", *words)
    return _V4_PREFIX + packed if len(packed) == 4 else packed
