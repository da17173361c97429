"""A Docker daemon of the tests' own, and its images made without a registry (none is reachable):
the demo's ``build-image.sh`` imports a busybox root filesystem with ``docker import``.

The daemon keeps its data root, exec root, pidfile and socket in a directory of its own, without
iptables rules or a bridge network, so that it touches nothing of the machine's; containers share
the host's network, or have none.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

BUILD_IMAGE = Path(__file__).resolve().parent.parent / "examples" / "docker-demo" / "build-image.sh"
#: dockerd is in /usr/sbin, which a user's PATH may lack.
DOCKERD = shutil.which("dockerd", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
DOCKER = shutil.which("docker")
BUSYBOX = Path("/bin/busybox")
#: Guards against hanging the suite, never timing assertions: a loaded machine may be slow.
START_GUARD = 120.0
STOP_GUARD = 60.0


@attrs.frozen
class Daemon:
    #: Its address, as DOCKER_HOST names it.
    host: str
    client: DockerClient
    #: Its output, for a test that fails to show.
    log: Path

    def build_image(self, image: str) -> None:
        """Build ``image`` as the demo's README says."""
        env = {**os.environ, "DOCKER_HOST": self.host}
        subprocess.run([str(BUILD_IMAGE), image], env=env, check=True, capture_output=True)

    def unique_image(self, base: str, image: str) -> None:
        """``image``: ``base`` as another image (an id of its own), so that removing it leaves
        ``base``."""
        container = self.client.containers.create(base, ["true"], network_mode="none")
        try:
            repository, _, tag = image.rpartition(":")
            container.commit(repository, tag, changes=[f"LABEL copy-of={base}"])
        finally:
            container.remove()

    def containers(self, **labels: str) -> list[Container]:
        """Every container with these labels, in any state (one still being created, which
        the daemon lists before it can show it, is not yet)."""
        wanted = [f"{name}={value}" for name, value in labels.items()]
        return self.client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True)


@contextlib.contextmanager
def running_daemon(root: Path) -> Iterator[Daemon | str]:
    """A daemon whose every file is under ``root``, or why it did not start; stopped at the
    end, with every container it still runs."""
    path = root / "docker.sock"
    log = root / "dockerd.log"
    # Not the machine's /etc/docker/daemon.json, whatever it says.
    settings = root / "daemon.json"
    settings.write_text("{}")
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                str(DOCKERD),
                f"--config-file={settings}",
                f"--data-root={root / 'data'}",
                f"--exec-root={root / 'exec'}",
                f"--pidfile={root / 'dockerd.pid'}",
                f"--host=unix://{path}",
                "--iptables=false",
                "--bridge=none",
            ],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        client = _client(process, path)
        if client is None:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            state = "did not answer in time" if process.poll() is None else "exited"
            yield f"dockerd {state}; its last words: " + " / ".join(tail)
            return
        with contextlib.closing(client):
            try:
                yield Daemon(f"unix://{path}", client, log)
            finally:
                _remove_containers(client)
    finally:
        _stop(process)
        _unmount_under(root)


def _client(process: subprocess.Popen[bytes], path: Path) -> DockerClient | None:
    """A client of the daemon once it answers at ``path``; ``None`` if it exits first, or
    does not answer in time."""
    import docker

    deadline = time.monotonic() + START_GUARD
    while process.poll() is None and time.monotonic() < deadline:
        # Not the SDK's own connection: it does not close a socket that fails to connect
        # (docker/docker-py#3356), and the tests turn that ResourceWarning into an error.
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(path))
            return docker.DockerClient(base_url=f"unix://{path}", timeout=30)
        time.sleep(0.1)
    return None


def _remove_containers(client: DockerClient) -> None:
    for container in client.containers.list(all=True):
        container.remove(force=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_GUARD)
    except subprocess.TimeoutExpired:
        # Its containerd is in its process group.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _unmount_under(root: Path) -> None:
    """Unmount what the daemon left mounted under ``root`` (its default network namespace,
    exec/netns/default), deepest first, so that the directory can be deleted."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", point], check=True)
