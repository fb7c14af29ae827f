"""A throwaway Docker engine for the container checks' tests, as the throwaway mariadbd is for
the database: its own data root, exec root, socket and pid file under a temp folder, no bridge
and no iptables rules, stopped and removed afterwards with every container it ran.

Images are never pulled: a busybox-static root file system is imported (a few ms), so the
tests need Debian's docker.io and busybox-static, and nothing beyond loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import docker

NO_DOCKER_ENV = "DEPLOYCHECK_NO_DOCKER"  # set: the container tests skip instead of failing
BUSYBOX_APPLETS = ("sh", "sleep", "dd", "touch", "test", "echo", "cat", "true", "false")


class DockerEngine:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.log = root / "dockerd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=30)

    def start(self, timeout_s: float = 90) -> None:
        """Start dockerd and wait until it answers; raise RuntimeError with its log's tail if not."""
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if not os.path.exists(dockerd):
            raise RuntimeError(f"dockerd not found: install docker.io (or set {NO_DOCKER_ENV}=1 to skip)")
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    dockerd,
                    f"--data-root={self.root / 'data'}",
                    f"--exec-root={self.root / 'exec'}",
                    f"--pidfile={self.root / 'docker.pid'}",
                    f"--host={self.url}",
                    "--bridge=none",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--ip-masq=false",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._proc.poll() is None:
            if self._answers():
                return
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"dockerd did not start (exit {self._proc.returncode}); its log ends:\n{tail}")

    def import_busybox(self, client: docker.DockerClient, tag: str, label: str) -> str:
        """An image of busybox-static alone, tagged `tag`; `label` makes its id its own."""
        busybox = shutil.which("busybox") or "/bin/busybox"
        tar_path = self.root / "busybox-rootfs.tar"
        if not tar_path.exists():
            with tarfile.open(tar_path, "w") as tar:
                tar.add(busybox, "bin/busybox")
                for applet in BUSYBOX_APPLETS:
                    link = tarfile.TarInfo(f"bin/{applet}")
                    link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                    tar.addfile(link)
                for folder in ("tmp", "dev/shm", "proc", "sys"):
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode = tarfile.DIRTYPE, 0o1777
                    tar.addfile(info)
        repository, _, version = tag.partition(":")
        client.api.import_image_from_file(
            str(tar_path), repository=repository, tag=version, changes=[f"LABEL release={label}"]
        )
        return client.images.get(tag).id

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.socket))
            except OSError:
                return False
        with contextlib.closing(self.client()) as client:
            return bool(client.ping())

    def stop(self) -> None:
        """Every container removed, dockerd (and its containerd) stopped, the folder left clean."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            with (
                contextlib.suppress(docker.errors.DockerException, OSError),
                contextlib.closing(self.client()) as client,
            ):
                for container in client.containers.list(all=True):
                    container.remove(force=True)
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        for mount in _mounts_under(self.root):  # a killed engine can leave its overlays mounted
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted((p for p in points if p.startswith(f"{root}/")), reverse=True)
