"""Stop signals that reach an isolated worker itself (issue 29 item 8): a service manager
signals every process of the service, the launcher's and its workers' alike. The worker is
held inside its import of the plugin (``WH_SERVED_IMPORT_GATE``), where Python's own SIGINT
handler used to end it with a traceback; the launcher decides when a worker ends."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from hostile.harness import GUARD, script_env, wait_until
from hostile.serving import Served

pytestmark = pytest.mark.usefixtures("hostile_plugins")

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _held_workers(served: Served) -> set[int]:
    """The pids of the workers of the app's two checks (its deployment's and its release's),
    once both are held in their import."""

    def held() -> set[int]:
        return {int(path.name.split(".")[1]) for path in served.gate.glob("import.*.waiting")}

    wait_until(lambda: len(held()) == 2, "two workers in their import")
    return held()


def _checked_by(served: Served) -> set[int]:
    """The pids of the processes the app's hooks ran to their end in."""
    return {pid for kind in ("deployment", "release") for _, _, pid in served.checks("iso", kind)}


def _signals(pid: int, field: str) -> set[signal.Signals]:
    """The signals of ``field`` (SigBlk, SigIgn, SigCgt) in /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            bits = int(value, 16)
            return {s for s in signal.Signals if bits >> (s - 1) & 1}
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_to_a_worker_in_its_import_ends_nothing_and_shows_no_traceback(
    served: Served, sent: signal.Signals
) -> None:
    served.configure({"iso": {"isolate": True}})
    served.up()
    service = served.serve(env={"WH_SERVED_IMPORT_GATE": str(served.gate)})
    workers = _held_workers(served)
    for worker in workers:
        # What the plugin's own processes inherit: the stop signals neither blocked nor ignored.
        assert not _signals(worker, "SigBlk") & STOP_SIGNALS
        assert not _signals(worker, "SigIgn") & STOP_SIGNALS
        os.kill(worker, sent)
    service.process.send_signal(signal.SIGTERM)
    service.wait_for(lambda: service.get("/healthz").status == 503, "the scheduler to stop")
    (served.gate / "open").touch()
    done = service.ended()
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert "Stopped by SIGTERM" in done.stderr
    # The hooks ran to their end in the workers the signal was sent to.
    assert _checked_by(served) == workers


def test_status_stopped_while_its_worker_imports_exits_143_without_a_traceback(
    served: Served,
) -> None:
    served.configure({"iso": {"isolate": True}})
    served.up()
    process = served.processes.start(
        served.project.args("status"),
        cwd=served.project.root,
        env=script_env(WH_SERVED_IMPORT_GATE=str(served.gate)),
    )
    workers = _held_workers(served)
    for worker in workers:
        os.kill(worker, signal.SIGINT)
    process.send_signal(signal.SIGTERM)
    (served.gate / "open").touch()
    _, err = process.communicate(timeout=GUARD)
    assert "Traceback" not in err
    assert process.returncode == 143, err
    assert _checked_by(served) == workers
