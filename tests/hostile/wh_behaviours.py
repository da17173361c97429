"""What the hostile plugins do, by mode name; shared by the sync and the async plugin.

Not a plugin itself: it implements no hook. A mode is written in the app's plugin config
(``mode = "raise:ValueError"``), and takes effect only while the file named by ``armed``
exists, so that ``deploy`` (which checks status too) succeeds and the test then arms it.
"""

from __future__ import annotations

import ast
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from waypoint_hooks import Health, Resource, StatusReport


class Doom(BaseException):
    """Not an Exception: what `except Exception` in a framework would miss."""


class Unprintable(Exception):
    """An exception whose message cannot even be computed."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ of Unprintable raised")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ of Unprintable raised")


EXCEPTIONS: dict[str, Callable[[], BaseException]] = {
    "ValueError": lambda: ValueError("the value is bad"),
    "RuntimeError": lambda: RuntimeError("the runtime is bad"),
    "SystemExit": lambda: SystemExit(3),
    "SystemExit0": lambda: SystemExit(0),
    "KeyboardInterrupt": KeyboardInterrupt,
    "GeneratorExit": GeneratorExit,
    "MemoryError": MemoryError,
    "StopIteration": StopIteration,
    "Doom": lambda: Doom("a BaseException subclass"),
    "Unprintable": Unprintable,
    "HugeMessage": lambda: ValueError("x" * 200_000),
}


def ready(message: str = "") -> StatusReport:
    return StatusReport(health=Health.READY, health_message=message)


def armed(config: dict[str, Any]) -> bool:
    path = config.get("armed")
    return not path or os.path.exists(path)


def recurse(depth: int = 0) -> int:
    return recurse(depth + 1) + 1


def invalid(field: str, literal: str) -> StatusReport:
    """A READY report whose ``field`` is set to ``literal``, bypassing validation."""
    report = ready()
    object.__setattr__(report, field, ast.literal_eval(literal))
    return report


def invalid_resource(field: str, literal: str) -> StatusReport:
    resource = Resource(name="r", health=Health.READY)
    object.__setattr__(resource, field, ast.literal_eval(literal))
    return StatusReport(resources=[resource], health=Health.READY)


def sync_mode(config: dict[str, Any]) -> Any:
    """Do what ``config["mode"]`` says, in plain (sync) code; return what the hook returns."""
    mode: str = config.get("mode", "ready")
    name, _, argument = mode.partition(":")
    if name == "ready":
        return ready(f"pid {os.getpid()}")
    if name == "raise":
        raise EXCEPTIONS[argument]()
    if name == "recurse":
        return recurse()
    if name == "hang":
        time.sleep(3600)
    elif name == "busy":
        end = time.monotonic() + 120  # burns a core; bounded so a leak cannot burn it forever
        while time.monotonic() < end:
            pass
    elif name == "none":
        return None
    elif name == "wrong":
        return {
            "dict": {"health": "READY"},
            "str": "READY",
            "health": Health.READY,
            "resource": Resource(name="r", health=Health.READY),
            "list": [ready()],
        }[argument]
    elif name == "coroutine":
        import asyncio

        return asyncio.sleep(0)
    elif name == "invalid":
        field, _, literal = argument.partition("=")
        return invalid(field, literal)
    elif name == "invalid_resource":
        field, _, literal = argument.partition("=")
        return invalid_resource(field, literal)
    elif name == "huge":
        count = int(argument)
        return StatusReport(
            resources=[Resource(name=f"r{i}", health=Health.READY) for i in range(count)]
        )
    elif name == "repeated":
        # One resource listed N times: a huge report that costs the plugin next to nothing.
        return StatusReport(resources=[Resource(name="r", health=Health.READY)] * int(argument))
    elif name == "long_message":
        text = "m" * int(argument)
        resource = Resource(name="r", health=Health.READY, health_message=text)
        return StatusReport(resources=[resource], health=Health.READY, health_message=text)
    elif name == "state_json":
        resource = Resource(
            name="r", health=Health.READY, state_json='"' + "s" * int(argument) + '"'
        )
        return StatusReport(resources=[resource], health=Health.READY)
    elif name == "print":
        print("PRINTED on stdout {")
        print("PRINTED on stderr", file=sys.stderr)
        sys.stdout.write("PRINTED without a newline [")
        return ready()
    elif name == "fdwrite":
        os.write(1, b"FDWRITE on fd 1 {\n")
        os.write(2, b"FDWRITE on fd 2\n")
        return ready()
    elif name == "echo":
        subprocess.run(["echo", "ECHOED by a child {"], check=True)
        return ready()
    elif name == "closefd1":
        os.close(1)
        return ready()
    elif name == "exit":
        os._exit(int(argument or 3))
    elif name == "segv":
        ctypes.string_at(0)
    elif name == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif name == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        return StatusReport(health=Health.DOWN, health_message="after SIGINT")
    elif name == "late":
        # Times out, then writes long after the launcher stopped waiting for it.
        time.sleep(float(argument or 1.5))
        print("LATE print")
        os.write(1, b"LATE fd write\n")
        time.sleep(3600)
    else:
        raise AssertionError(f"unknown mode {mode!r}")
    time.sleep(3600)  # a crash mode that did not crash: hang, so that the test notices
    return None
