"""The image's configuration from the Dockerfile's final stage, applied with `buildah config`.

    python hack/image_config.py Dockerfile CONTAINER [more buildah config flags...]

hack/build-image.sh builds the image without Docker; this keeps its user, environment,
ports, labels, working directory and entrypoint exactly the Dockerfile's, so the two
recipes cannot drift. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

#: What Docker sets when the base image has no PATH (ours is built FROM scratch).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONFIGURED = ("ENV", "USER", "EXPOSE", "LABEL", "WORKDIR", "ENTRYPOINT", "CMD")


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((keyword, rest.strip()))
    return stages[-1] if stages else []


def pairs(arguments: str) -> list[tuple[str, str]]:
    """KEY=VALUE pairs (shell-quoted values) as ENV and LABEL write them."""
    found = []
    for word in shlex.split(arguments):
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"not KEY=VALUE: {word!r} (the legacy `ENV KEY VALUE` is not read)")
        found.append((key, value))
    return found


def config_flags(dockerfile: str) -> list[str]:
    env = {"PATH": DEFAULT_PATH}
    flags: list[str] = []
    for keyword, arguments in instructions(dockerfile):
        if keyword == "ENV":
            for key, value in pairs(arguments):
                env[key] = value.replace("$PATH", env.get("PATH", "")).replace(
                    "${PATH}", env.get("PATH", "")
                )
        elif keyword == "LABEL":
            flags += [f"--label={key}={value}" for key, value in pairs(arguments)]
        elif keyword == "USER":
            flags.append(f"--user={arguments}")
        elif keyword == "EXPOSE":
            # Docker's default protocol, spelled out as the OCI configuration wants it.
            flags += [f"--port={p if '/' in p else p + '/tcp'}" for p in arguments.split()]
        elif keyword == "WORKDIR":
            flags.append(f"--workingdir={arguments}")
        elif keyword in ("ENTRYPOINT", "CMD"):
            json.loads(arguments)  # the exec form only: a shell form would need a shell
            flags.append(f"--{keyword.lower()}={arguments}")
    return [*(f"--env={key}={value}" for key, value in env.items()), *flags]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    dockerfile, container, *extra = argv
    flags = config_flags(Path(dockerfile).read_text())
    subprocess.run(["buildah", "config", *flags, *extra, container], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
