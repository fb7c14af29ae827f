"""A throwaway Docker engine for the container checks' tests, as the throwaway mariadbd is for
the database: its own data root, exec root, socket and pid file under a temp folder, no bridge
and no iptables rules, stopped and removed afterwards with every container, image and volume.

Images are never pulled: a busybox-static root file system is imported (a few ms), or a Debian
bookworm one made by mmdebstrap (python3, MariaDB), cached under ~/.cache/deploycheck-tests/
with a wheelhouse of deploycheck's dependencies, so that images build with `--network none`.
The tests need Debian's docker.io, busybox-static, mmdebstrap and docker-compose; only the
cache's cold fill reaches beyond loopback (Debian's mirror and PyPI, by apt and pip).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

import docker

NO_DOCKER_ENV = "DEPLOYCHECK_NO_DOCKER"  # set: the container tests skip instead of failing
BUSYBOX_APPLETS = ("sh", "sleep", "dd", "touch", "test", "echo", "cat", "true", "false")
# A pull (an image name mistyped, a tag not built) goes to a closed loopback port, not out: the
# engine hands registry traffic to this proxy and resolves no registry name itself.
NO_PULLS = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
CACHE = Path(os.environ.get("DEPLOYCHECK_TEST_CACHE") or Path.home() / ".cache" / "deploycheck-tests")
# The Debian base: what the Dockerfile installs (so its apt-get finds it all there, offline),
# python3-venv for its virtual environments, and MariaDB for the test stack's server and dumps.
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3", "python3-venv", "mariadb-server-core", "mariadb-client", "openssh-client")
MMDEBSTRAP = (
    "--variant=minbase",
    f"--include={','.join(DEBIAN_PACKAGES)}",
    *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "info", "locale")),
    '--customize-hook=rm -f "$1"/etc/apt/sources.list',
    DEBIAN_SUITE,
)


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
                env={**os.environ, **NO_PULLS},
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

    def import_rootfs(self, client: docker.DockerClient, tar_path: Path, tag: str) -> str:
        """`docker import` of a root file system tarball, tagged `tag`."""
        repository, _, version = tag.partition(":")
        client.api.import_image_from_file(str(tar_path), repository=repository, tag=version)
        return client.images.get(tag).id

    def cli(self, *args: str, timeout_s: float = 300, **kwargs) -> subprocess.CompletedProcess[str]:
        """The docker CLI (or docker-compose, as args[0]) against this engine, output captured.
        The legacy builder: Debian's docker.io comes without buildx."""
        command = list(args) if args[0] == "docker-compose" else ["docker", *args]
        env = {**os.environ, "DOCKER_HOST": self.url, "DOCKER_BUILDKIT": "0", **kwargs.pop("env", {})}
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False, **kwargs
        )

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
        for folder in ("data", "exec"):  # images and volumes: a Debian image is hundreds of MB
            shutil.rmtree(self.root / folder, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted((p for p in points if p.startswith(f"{root}/")), reverse=True)


def require(*programs: str) -> None:
    """Raise RuntimeError naming the Debian package of each program that is missing."""
    packages = {"mmdebstrap": "mmdebstrap", "docker-compose": "docker-compose", "docker": "docker.io"}
    missing = [packages.get(p, p) for p in programs if shutil.which(p) is None]
    if missing:
        raise RuntimeError(f"not installed: apt-get install {' '.join(missing)} (.ci/run installs them)")


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def debian_rootfs() -> Path:
    """A Debian root file system tarball with DEBIAN_PACKAGES, made once by mmdebstrap (one to
    three minutes) and kept in CACHE under a key of its options, package list included. Its apt
    sources are removed: apt inside finds everything installed and fetches nothing."""
    require("mmdebstrap")
    path = CACHE / f"debian-{DEBIAN_SUITE}-{_key(MMDEBSTRAP)}.tar"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        partial = Path(work) / "rootfs.tar"
        made = subprocess.run(
            ["mmdebstrap", "--quiet", *MMDEBSTRAP, str(partial)],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed (exit {made.returncode}): {made.stderr[-3000:]}")
        partial.replace(path)
    return path


def wheelhouse(project: Path) -> Path:
    """Wheels of deploycheck's dependencies and its build backend, made once by pip on this
    host (same Debian, same Python as the base) and kept in CACHE under a key of the dependency
    list: with PIP_NO_INDEX and PIP_FIND_LINKS, the Dockerfile's pip steps need no network."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = [*meta["build-system"]["requires"], *meta["project"]["dependencies"]]
    path = CACHE / f"wheels-py{sys.version_info.major}{sys.version_info.minor}-{_key(requirements)}"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=CACHE, prefix=".wheels-"))
    try:
        made = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(partial), *requirements],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"pip wheel failed (exit {made.returncode}): {made.stderr[-3000:]}")
        partial.rename(path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return path
