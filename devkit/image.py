"""The built image (`make image`: dist/tourniquet-<version>.oci.tar) read and run without a
Docker engine: its OCI configuration and sizes read from the archive itself, and the
operator started from it with buildah (`--isolation chroot`), as the image's user, with a
read-only view of its root filesystem, a tmpfs /tmp (the pod's emptyDir) and a kubeconfig
bind-mounted read-only; on the host's network, so it reaches the API server on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.operator import OperatorProcess, RunAs
from devkit.paths import REPO

#: Where the operator inside the image finds its kubeconfig (/run: /var/run is a symlink).
KUBECONFIG_IN_IMAGE = "/run/tourniquet/kubeconfig"


def version() -> str:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return str(pyproject["project"]["version"])


def archive_path() -> Path:
    return REPO / "dist" / f"tourniquet-{version()}.oci.tar"


def buildah_binary() -> str | None:
    return os.environ.get("TOURNIQUET_BUILDAH_BINARY") or shutil.which("buildah")


@dataclass(frozen=True)
class OciArchive:
    """An OCI image layout in a tar (what `buildah push oci-archive:` writes): one image."""

    path: Path

    def _blob(self, tar: tarfile.TarFile, digest: str) -> Any:
        member = tar.extractfile(f"blobs/{digest.replace(':', '/')}")
        assert member is not None, f"{digest} missing from {self.path}"
        return json.loads(member.read())

    def _manifest(self, tar: tarfile.TarFile) -> Any:
        index_file = tar.extractfile("index.json")
        assert index_file is not None, f"{self.path} has no index.json"
        (entry,) = json.loads(index_file.read())["manifests"]
        return self._blob(tar, entry["digest"])

    def manifest(self) -> dict[str, Any]:
        with tarfile.open(self.path) as tar:
            return dict(self._manifest(tar))

    def config(self) -> dict[str, Any]:
        """The image configuration's `config`: User, Env, Entrypoint, ExposedPorts, ..."""
        with tarfile.open(self.path) as tar:
            manifest = self._manifest(tar)
            return dict(self._blob(tar, manifest["config"]["digest"])["config"])

    def ref_name(self) -> str:
        with tarfile.open(self.path) as tar:
            index_file = tar.extractfile("index.json")
            assert index_file is not None
            (entry,) = json.loads(index_file.read())["manifests"]
        return str(entry.get("annotations", {}).get("org.opencontainers.image.ref.name", ""))

    def compressed_size(self) -> int:
        """Bytes a registry stores and a node pulls: the layers as compressed."""
        return sum(int(layer["size"]) for layer in self.manifest()["layers"])

    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.config().get("Env") or [])


class Container:
    """A buildah working container from the archive, removed afterwards.

    read_only() remounts its root filesystem read-only (the pod's readOnlyRootFilesystem).
    buildah itself must write there once more after the command ends (it removes its
    /run/.containerenv mount target; 1.28 then crashes on the error), so writable() gives
    it back before the command is stopped."""

    def __init__(
        self, buildah: str, archive: Path, files: Sequence[str] = (KUBECONFIG_IN_IMAGE,)
    ) -> None:
        self.buildah = buildah
        self.name = self._buildah("from", "--quiet", f"oci-archive:{archive}").strip()
        self.mountpoint = Path(self._buildah("mount", self.name).strip())
        # Mount targets, made while the root is writable (a read-only one cannot get them):
        # buildah's own, and the files bind-mounted into it later (`files`).
        for target in ("/run/.containerenv", *files):
            self._make_file(target)

    def _make_file(self, target: str) -> None:
        """An empty file at `target` inside the root, never outside it: the image's
        symlinks are absolute (/var/run -> /run) and would lead to the host's."""
        path = self.mountpoint / target.lstrip("/")
        for parent in reversed(path.parents):
            if parent.is_symlink():
                raise ValueError(f"{target}: {parent} is a symlink; name a real directory")
            if self.mountpoint in parent.parents:
                parent.mkdir(exist_ok=True)
        path.touch()

    def _buildah(self, *args: str) -> str:
        return subprocess.run(
            [self.buildah, *args], check=True, capture_output=True, text=True, timeout=300
        ).stdout

    def _remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.mountpoint)], check=True)

    def read_only(self) -> None:
        self._remount("ro")

    def writable(self) -> None:
        self._remount("rw")

    def run_argv(
        self, argv: Sequence[str], *, user: str, env: dict[str, str], volumes: Sequence[str] = ()
    ) -> list[str]:
        """`buildah run` of argv in this container: as `user`, /tmp a tmpfs."""
        return [
            self.buildah,
            "run",
            "--isolation",
            "chroot",
            "--user",
            user,
            "--mount",
            "type=tmpfs,destination=/tmp",
            *(f"--volume={v}" for v in volumes),
            *(f"--env={k}={v}" for k, v in env.items()),
            self.name,
            "--",
            *argv,
        ]

    def run(self, argv: Sequence[str], *, user: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.run_argv(argv, user=user, env={}), capture_output=True, text=True, timeout=120
        )

    def remove(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.mountpoint)], check=False)
        subprocess.run([self.buildah, "rm", self.name], capture_output=True, check=False)


@contextmanager
def container(buildah: str, archive: Path) -> Iterator[Container]:
    c = Container(buildah, archive)
    try:
        yield c
    finally:
        c.remove()


class ImageOperator(OperatorProcess):
    """OperatorProcess whose command is the image's own entrypoint in `container`, as the
    image's user, with `run_as`'s kubeconfig mounted read-only; the same flags (namespace,
    metrics address on loopback, tuning) follow the entrypoint, as the chart passes args."""

    def __init__(
        self, container: Container, image: OciArchive, run_as: RunAs, namespace: str, log: Path
    ) -> None:
        super().__init__(run_as, namespace, log)
        self.container = container
        self.image_config = image.config()

    @property
    def user(self) -> str:
        return str(self.image_config["User"])

    @property
    def command(self) -> list[str]:
        flags = super().command[4:]  # what follows `python -m tourniquet run`
        return self.container.run_argv(
            [*self.image_config["Entrypoint"], *flags],
            user=self.user,
            env={"KUBECONFIG": KUBECONFIG_IN_IMAGE},
            volumes=[f"{self.kubeconfig}:{KUBECONFIG_IN_IMAGE}:ro"],
        )
