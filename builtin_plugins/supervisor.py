"""``supervisor``: a program run by a real supervisord, checked through supervisord's XML-RPC.

Deploy writes the program's section into an include directory of that supervisord and has it
load and start the program; status asks supervisord (an external check); destroy undoes both.
The client is the builtins' own (``_http``), with the standard library's XML-RPC codec:
supervisor's ``SupervisorTransport`` opens sockets without a timeout, and every call here must
end by the hook's deadline. One module, over 400 lines, because a plugin is one entry point:
its config, hooks and XML-RPC calls ship together.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

import attrs

from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Health,
    Resource,
    StatusReport,
    hookimpl,
    redact_urls,
    terminal,
)
from waypoint_hooks.terminal import UI

from ._http import Client, Request

__all__ = ["Deployment", "PlatformConfig", "SupervisordError"]

# supervisor.xmlrpc.Faults, and the code its startProcessGroup reports for a started process.
_BAD_NAME: Final = 10
_SUCCESS: Final = 80

#: Seconds one call may wait when the hook has no deadline (the launcher gives deploy and
#: destroy none): a
#: supervisord silent for this long is stuck. Stopping waits up to supervisor's stopwaitsecs
#: (10s by default) before it answers, so this leaves room for that.
_NO_DEADLINE_TIMEOUT: Final = 60.0

_HEALTH: Final = {
    "RUNNING": Health.READY,
    "STARTING": Health.ALIVE,
    "BACKOFF": Health.ALIVE,
    "STOPPED": Health.DOWN,
    "STOPPING": Health.DOWN,
    "EXITED": Health.DOWN,
    "FATAL": Health.DOWN,
}

# A supervisor name that is also a safe file name: supervisor rejects " :/", and "%" would be
# read as one of its %(name)s expansions.
_PROGRAM: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# supervisor reads its config with inline comments: ";" or "#" after whitespace ends the value.
_INLINE_COMMENT: Final = re.compile(r"\s[;#]")
_AUTORESTART: Final = ("true", "false", "unexpected")


def _check_server_url(_: object, field: attrs.Attribute[str], value: str) -> None:
    if value.startswith("unix://") and os.path.isabs(value[len("unix://") :]):
        return
    host = value[len("http://") :]
    if value.startswith("http://") and host and "@" not in host and "/" not in host:
        return
    raise ValueError(
        f"expected unix:///absolute/path/supervisor.sock or http://HOST:PORT "
        f"(credentials go in username and password), got {redact_urls(value)!r}",
    )


def _check_program(_: object, field: attrs.Attribute[str], value: str) -> None:
    if not _PROGRAM.match(value):
        raise ValueError(f"expected letters, digits, '_', '.' or '-', got {value!r}")


def _check_command(_: object, field: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty")
    if "\n" in value or "\r" in value:
        raise ValueError("must be one line")
    if _INLINE_COMMENT.search(value):
        raise ValueError(
            "supervisor reads ';' or '#' after a space as a comment; "
            "remove the space or move the command into a script",
        )


def _check_autorestart(_: object, field: attrs.Attribute[str], value: str) -> None:
    if value not in _AUTORESTART:
        choices = ", ".join(repr(choice) for choice in _AUTORESTART)
        raise ValueError(f"expected one of {choices}, got {value!r}")


@attrs.define
class PlatformConfig:
    #: ``unix:///path/to/supervisor.sock`` or ``http://127.0.0.1:9001``.
    server_url: str = attrs.field(validator=_check_server_url)
    #: The program's name in supervisord, and of its section file ``NAME.conf``.
    program: str = attrs.field(validator=_check_program)
    #: As supervisor reads it: split like a shell would, %(...)s expansions apply.
    command: str = attrs.field(validator=_check_command)
    #: A directory that this supervisord includes (``[include] files = DIR/*.conf``).
    conf_dir: str
    numprocs: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    #: supervisor's default: a crash is restarted, a clean exit (status 0) stays down.
    autorestart: str = attrs.field(default="unexpected", validator=_check_autorestart)
    #: supervisor's default: seconds a process must stay up to count as started (READY).
    startsecs: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    #: supervisor's default: failed starts retried before the process is FATAL (DOWN).
    startretries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    #: For a server that requires them ([unix_http_server] or [inet_http_server] username).
    username: str = ""
    password: str = ""


@attrs.define
class Deployment:
    program: str
    server_url: str
    conf_file: str


class SupervisordError(Exception):
    """supervisord could not be reached, refused a request, or answered it with a fault."""

    def __init__(self, message: str, fault: int = 0) -> None:
        super().__init__(message)
        #: supervisor's XML-RPC fault code (10 is BAD_NAME, …), or 0 when there was no answer.
        self.fault = fault


@attrs.frozen
class _Supervisord:
    """supervisord's XML-RPC interface; every call must end by ``ctx``'s deadline."""

    url: str
    ctx: Context
    username: str = ""
    password: str = ""

    def call(self, method: str, *params: str | bool) -> Any:
        """``supervisor.METHOD(*params)``'s result.

        A :class:`SupervisordError` when supervisord cannot be reached, refuses the request or
        answers it with a fault.
        """
        import xmlrpc.client

        body = xmlrpc.client.dumps(params, f"supervisor.{method}").encode()
        unix_socket = self.url[len("unix://") :] if self.url.startswith("unix://") else None
        # Over a unix socket the host only fills the Host header, which supervisord ignores.
        url = "http://localhost/RPC2" if unix_socket is not None else f"{self.url}/RPC2"
        try:
            request = Request(
                "POST", url, self._headers(), body, read_body=True, unix_socket=unix_socket
            )
            answer = Client().fetch(request, timeout=self._timeout())
            if answer.status != 200:
                raise SupervisordError(
                    f"supervisord at {self.url} refused {method}: "
                    f"HTTP {answer.status} {answer.reason}"
                )
            ((result,), _) = xmlrpc.client.loads(answer.body)
        except xmlrpc.client.Fault as fault:
            raise SupervisordError(
                f"supervisord at {self.url} answered {method} with {fault.faultString}",
                fault.faultCode,
            ) from None
        except OSError as exc:
            raise SupervisordError(
                f"supervisord at {self.url} is unreachable: {str(exc) or type(exc).__name__}"
            ) from exc
        return result

    def _timeout(self) -> float:
        remaining = self.ctx.remaining()
        if remaining is None:
            return _NO_DEADLINE_TIMEOUT
        if remaining <= 0:
            raise TimeoutError("the check's deadline has passed")
        return remaining

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "text/xml"}
        if self.username:
            import base64

            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers


def _supervisord(url: str, config: PlatformConfig, ctx: Context) -> _Supervisord:
    return _Supervisord(url, ctx, config.username, config.password)


def _section(config: PlatformConfig) -> str:
    lines = [
        "; Written by waypoint-hooks (plugin 'supervisor'); `waypoint-hooks destroy` removes it.",
        f"[program:{config.program}]",
        f"command = {config.command}",
        f"numprocs = {config.numprocs}",
    ]
    if config.numprocs > 1:
        # supervisor requires distinct process names once there are several.
        lines.append("process_name = %(program_name)s_%(process_num)02d")
    lines += [
        # Started again whenever supervisord itself starts, like any program it runs.
        "autostart = true",
        f"autorestart = {config.autorestart}",
        f"startsecs = {config.startsecs}",
        f"startretries = {config.startretries}",
        # Signal the whole process group: a command that forks (a shell, a server with
        # workers) leaves nothing running once stopped.
        "stopasgroup = true",
        "killasgroup = true",
    ]
    return "\n".join(lines) + "\n"


def _write_atomically(path: str, text: str) -> None:
    # The staging name does not end in .conf: a reloadConfig meanwhile must never read a
    # half-written section through the include's *.conf pattern.
    staging = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(staging, "x", encoding="utf-8") as file:
            file.write(text)
        os.replace(staging, path)
    except BaseException:
        _remove(staging)
        raise


def _remove(path: str) -> bool:
    """Remove ``path``; False if it was already gone."""
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    return True


def _remove_group(supervisord: _Supervisord, program: str) -> bool:
    """Stop ``program``'s processes and drop its group; False if supervisord had no such group."""
    try:
        supervisord.call("stopProcessGroup", program, True)
        supervisord.call("removeProcessGroup", program)
    except SupervisordError as exc:
        if exc.fault != _BAD_NAME:
            raise
        return False
    return True


def _load(supervisord: _Supervisord, program: str, conf_file: str) -> None:
    """Have supervisord read the sections again and run ``program`` from its new one."""
    supervisord.call("reloadConfig")
    # Whether the section is new, changed or the same, a deploy replaces what runs: the same
    # command may now run new code. addProcessGroup starts from the section supervisord read.
    _remove_group(supervisord, program)
    try:
        supervisord.call("addProcessGroup", program)
    except SupervisordError as exc:
        if exc.fault != _BAD_NAME:
            raise
        raise SupervisordError(
            f"supervisord at {supervisord.url} did not read {conf_file}: "
            f"add its directory to supervisord's [include] files (DIR/*.conf)",
            exc.fault,
        ) from None


@hookimpl
def platform_deploy_func(ctx: Context, config: PlatformConfig, ui: UI) -> Deployment:
    conf_dir = os.path.abspath(config.conf_dir)
    if not os.path.isdir(conf_dir):
        raise NotADirectoryError(
            f"conf_dir {conf_dir} is not a directory; it must be one that supervisord "
            f"includes ([include] files = {conf_dir}/*.conf)"
        )
    conf_file = os.path.join(conf_dir, f"{config.program}.conf")
    deployment = Deployment(config.program, config.server_url, conf_file)
    # Before the section exists: however this deploy ends, destroy removes what it got to
    # (a group supervisord never had and a file never written are fine there).
    ctx.checkpoint(deployment)
    supervisord = _supervisord(config.server_url, config, ctx)
    sg = ui.step_group()
    s = sg.add("Writing %s...", conf_file)
    _write_atomically(conf_file, _section(config))
    s.update("Wrote %s", conf_file)
    s.done()
    s = sg.add("Loading %s into supervisord at %s...", config.program, config.server_url)
    try:
        _load(supervisord, config.program, conf_file)
    except BaseException:
        # At once, not at destroy: a section left behind would start the program again the
        # next time supervisord starts.
        _remove(conf_file)
        s.status(terminal.STATUS_ERROR)
        s.done()
        raise
    s.update("Loaded %s into supervisord at %s", config.program, config.server_url)
    s.done()
    _start(supervisord, config.program, ui)
    return deployment


def _start(supervisord: _Supervisord, program: str, ui: UI) -> None:
    """Start ``program`` now rather than on supervisord's next autostart pass; warn only.

    The group is loaded, so the deployment must be recorded (or nothing could destroy it),
    and with autostart supervisord starts it anyway. Not waiting for startsecs to pass: the
    status check that follows reports how it went.
    """
    try:
        results = supervisord.call("startProcessGroup", program, False)
    except SupervisordError as exc:
        ui.output("%s", exc, style=terminal.WARNING_STYLE)
        return
    # Failures found at once (a command that does not exist) come back here.
    for result in results:
        if result["status"] != _SUCCESS:
            ui.output(
                "%s:%s did not start: %s",
                result["group"],
                result["name"],
                result["description"],
                style=terminal.WARNING_STYLE,
            )


def _message(info: Mapping[str, Any]) -> str:
    state = str(info["statename"])
    if state == "EXITED":
        code = info["exitstatus"]
        # supervisord reports -1 for a process that a signal ended.
        state += f" with status {code}" if code >= 0 else " on a signal"
    description = info["description"]
    return f"{state}: {description}" if description else state


def _process(info: Mapping[str, Any]) -> Resource:
    name = f"{info['group']}:{info['name']}"
    return Resource(
        name,
        id=name,
        type="process",
        category_display_hint=CategoryDisplayHint.INSTANCE,
        health=_HEALTH.get(info["statename"], Health.UNKNOWN),
        health_message=_message(info),
        # 0 until the process first starts.
        created_time=datetime.fromtimestamp(info["start"], timezone.utc) if info["start"] else None,
        state_json=json.dumps(dict(info), sort_keys=True),
    )


@hookimpl
def platform_status_func(
    ctx: Context, config: PlatformConfig, deployment: Deployment, ui: UI
) -> StatusReport:
    program = deployment.program
    sg = ui.step_group()
    s = sg.add("Asking supervisord at %s about %s...", deployment.server_url, program)
    try:
        infos = _supervisord(deployment.server_url, config, ctx).call("getAllProcessInfo")
    except SupervisordError as exc:
        s.update("%s", exc)
        s.status(terminal.STATUS_ERROR)
        s.done()
        return StatusReport(health=Health.UNKNOWN, health_message=str(exc), external=True)
    mine = [info for info in infos if info["group"] == program]
    if not mine:
        message = f"supervisord at {deployment.server_url} has no program {program!r}"
        s.update("%s", message)
        s.status(terminal.STATUS_ERROR)
        s.done()
        group = Resource(
            program,
            id=program,
            type="process",
            category_display_hint=CategoryDisplayHint.INSTANCE,
            health=Health.MISSING,
            health_message=message,
        )
        return StatusReport(
            resources=[group], health=Health.MISSING, health_message=message, external=True
        )
    processes = [_process(info) for info in mine]
    counts = Counter(str(info["statename"]) for info in mine)
    s.update("%s: %s", program, ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    if any(process.health is not Health.READY for process in processes):
        s.status(terminal.STATUS_WARN)
    s.done()
    # The health is left to the app's status policy, over the processes.
    return StatusReport(resources=processes, external=True)


@hookimpl
def platform_destroy_func(
    ctx: Context, config: PlatformConfig, deployment: Deployment, ui: UI
) -> None:
    supervisord = _supervisord(deployment.server_url, config, ctx)
    if _remove_group(supervisord, deployment.program):
        ui.output("Stopped %s and removed it from supervisord", deployment.program)
    else:
        ui.output("supervisord had no program %s any more", deployment.program)
    if _remove(deployment.conf_file):
        ui.output("Removed %s", deployment.conf_file)
    # So that supervisord's view of its configuration no longer holds the section either.
    supervisord.call("reloadConfig")
