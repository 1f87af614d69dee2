"""The built image (`make image`: dist/tourniquet-<version>.oci.tar), run as a pod runs it:
its own entrypoint, as its user 65532, with a read-only root filesystem and a writable
/tmp only, the operator's ServiceAccount kubeconfig mounted read-only. It serves /healthz
and gives an Incident its suspect on the local control plane. Also: what it contains
(no pip, no compiler, no package manager) and how big it is.

buildah (`--isolation chroot`) runs it: hack/install-image-tools.sh installs it (make image).
Without buildah the tests skip; with CI=true they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from devkit.cluster import unavailable
from devkit.image import (
    Container,
    ImageOperator,
    OciArchive,
    archive_path,
    buildah_binary,
    container,
    version,
)
from devkit.incidents import declare, delete_incidents, good_then_bad, status, wait_incident
from devkit.kubectl import Cluster
from devkit.operator import RunAs
from devkit.paths import REPO

#: The image's user (numeric: the kubelet checks runAsNonRoot against it).
IMAGE_UID = 65532
#: Compressed layers a node pulls; the image was 55 MB when this was written.
MAX_COMPRESSED_MB = 80


@pytest.fixture(scope="module")
def buildah() -> str:
    found = buildah_binary()
    if found is None:
        unavailable("buildah is not installed: run hack/install-image-tools.sh (make image)")
    if os.geteuid() != 0:
        unavailable("the image smoke test remounts the container's root read-only: run as root")
    return found


@pytest.fixture(scope="module")
def image(buildah: str) -> OciArchive:
    """The archive `make image` wrote; built now (progress on the terminal) when missing."""
    path = archive_path()
    if not path.exists():
        subprocess.run([str(REPO / "hack/build-image.sh")], check=True, cwd=REPO, timeout=1800)
    return OciArchive(path)


@pytest.fixture
def image_container(buildah: str, image: OciArchive) -> Iterator[Container]:
    with container(buildah, image.path) as c:
        yield c


def test_the_image_is_small_and_configured_like_the_dockerfile(image: OciArchive) -> None:
    config = image.config()
    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert config["Entrypoint"] == ["python", "-m", "tourniquet", "run"]
    env = image.env()
    assert env["PATH"].startswith("/opt/tourniquet/bin:")
    assert env["TOURNIQUET_METRICS_ADDR"] == "0.0.0.0:8080"
    assert env["HOME"] == "/tmp"
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Labels"]["org.opencontainers.image.version"] == version()
    assert image.ref_name() == f"ghcr.io/tourniquet/tourniquet:{version()}"
    layers = image.manifest()["layers"]
    assert len(layers) == 2, "the Debian base and the application"
    size_mb = image.compressed_size() / 1e6
    print(f"image: {image.path.name}: {size_mb:.1f} MB compressed in {len(layers)} layers")
    assert size_mb < MAX_COMPRESSED_MB


def test_the_image_has_no_pip_no_compiler_and_no_package_manager(
    image_container: Container,
) -> None:
    probe = image_container.run(
        [
            "sh",
            "-c",
            "for t in pip pip3 gcc cc c++ make apt apt-get; do command -v $t; done; "
            "python -c 'import pip' 2>/dev/null && echo import-pip; "
            "python -c 'import ensurepip' 2>/dev/null && echo import-ensurepip; "
            "python -c 'import sys; print(sys.version_info[:2])'",
        ],
        user=f"{IMAGE_UID}",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split("\n")[:-1] == ["(3, 11)"], probe.stdout


def image_user_kubeconfig(run_as: RunAs, tmp_path: Path) -> Path:
    """The operator's kubeconfig as a pod gets its token: readable by the image's user only."""
    copy = tmp_path / "image-kubeconfig"
    shutil.copyfile(
        os.fspath(run_as if not isinstance(run_as, Cluster) else run_as.kubeconfig), copy
    )
    os.chown(copy, IMAGE_UID, IMAGE_UID)
    copy.chmod(0o400)
    return copy


def descendants(pid: int) -> list[int]:
    """Processes under `pid` (Linux /proc): buildah's children, the operator among them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def uid_of_operator(buildah_pid: int) -> int | None:
    for pid in descendants(buildah_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            status_lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        # buildah execs the entrypoint by its path on the image's PATH
        if cmdline[0].endswith(b"/python") and cmdline[1:4] == [b"-m", b"tourniquet", b"run"]:
            uid_line = next(line for line in status_lines if line.startswith("Uid:"))
            return int(uid_line.split()[1])
    return None


def test_the_entrypoint_runs_read_only_as_65532_serves_healthz_and_finds_the_suspect(
    cluster: Cluster,
    namespace: str,
    operator_identity: RunAs,
    image: OciArchive,
    image_container: Container,
    tmp_path: Path,
) -> None:
    good_then_bad(cluster, namespace, "api", labels={"app": "api"})
    image_container.read_only()
    # Even root cannot write into it: the view is read-only, not merely not ours.
    root_write = image_container.run(["sh", "-c", "echo x > /opt/tourniquet/probe"], user="0")
    assert root_write.returncode != 0 and "Read-only file system" in root_write.stderr

    kubeconfig = image_user_kubeconfig(operator_identity, tmp_path)
    op = ImageOperator(image_container, image, kubeconfig, namespace, tmp_path / "operator.log")
    assert op.command[op.command.index("--user") + 1] == f"{IMAGE_UID}:{IMAGE_UID}"
    try:
        op.start(timeout=60)
        assert op.get("/healthz") == "ok\n"
        assert uid_of_operator(op.pid) == IMAGE_UID, "the entrypoint runs as the image's user"

        declare(cluster, namespace, selector={"matchLabels": {"app": "api"}})
        incident = wait_incident(
            cluster, namespace, lambda i: bool(status(i).get("suspect")), "the suspect"
        )
        suspect = status(incident)["suspect"]
        assert (suspect["kind"], suspect["name"], suspect["revision"]) == ("Deployment", "api", 2)
        assert op.metric("tourniquet_incidents_declared_total", severity="SEV1") == 1
        assert op.alive()
        delete_incidents(cluster, namespace)  # while it runs: it owns their finalizer
    except BaseException:
        print(op.log_tail(80))
        raise
    finally:
        # buildah writes into the root once more when the command ends (see Container).
        image_container.writable()
        op.stop()
