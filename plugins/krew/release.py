"""Build the krew archive (kubectl-incident.tar.gz: the launcher) and write its sha256, the
version and the download uri into incident.yaml:

    python plugins/krew/release.py v0.1.0 dist/

Upload dist/kubectl-incident.tar.gz as the release's asset under that uri."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "incident.yaml"
LAUNCHER = HERE / "kubectl-incident"
ARCHIVE = "kubectl-incident.tar.gz"
RELEASES = "https://github.com/tourniquet/tourniquet/releases/download"


def archive_bytes(launcher: Path = LAUNCHER) -> bytes:
    """The archive, with fixed times and owners so a rebuild gives the same tar."""
    data = launcher.read_bytes()
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(launcher.name)
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(tar_buffer.getvalue(), mtime=0)


def stamped(manifest: str, version: str, sha256: str) -> str:
    """The manifest with this release's version, uri and sha256 (comments kept)."""
    manifest = re.sub(r"(?m)^(  version: ).*$", rf"\g<1>{version}", manifest)
    manifest = re.sub(r"(?m)^(\s+uri: ).*$", rf"\g<1>{RELEASES}/{version}/{ARCHIVE}", manifest)
    return re.sub(r"(?m)^(\s+sha256: ).*$", rf'\g<1>"{sha256}"', manifest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("version", help="the release tag, e.g. v0.1.0")
    parser.add_argument("out", type=Path, help="where to write the archive")
    args = parser.parse_args()
    data = archive_bytes()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / ARCHIVE).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    MANIFEST.write_text(stamped(MANIFEST.read_text(), args.version, digest))
    print(f"{args.out / ARCHIVE}: sha256 {digest}")


if __name__ == "__main__":
    main()
