#!/usr/bin/env bash
# `make image`: the operator image without a Docker engine or a registry.
#
#   1. base    a Debian bookworm root filesystem from Debian's packages (mmdebstrap,
#              variant essential: no apt, no pip, no compiler) with python3 (3.11, the
#              lock's Python), CA certificates, libstdc++ (google-re2's wheel needs it) and
#              the user 65532; committed as the image's first layer.
#   2. wheels  every wheel requirements.lock names, checked against its hashes, for
#              CPython 3.11 manylinux x86_64 (binary only: nothing is compiled); and the
#              operator's own wheel, built from pyproject.toml, README.md and operator/.
#   3. app     a virtualenv /opt/tourniquet on the base's python3, the wheels installed by
#              pip run from its wheel file (mounted, never installed), bytecode compiled
#              (the root filesystem is read-only at run time): the second layer.
#   4. config  user, environment, port, labels and entrypoint: read from the Dockerfile's
#              final stage (hack/image_config.py), so both recipes configure alike.
#
# Written as dist/tourniquet-<version>.oci.tar (an OCI archive, named
# ghcr.io/tourniquet/tourniquet:<version>): push it with
#   skopeo copy oci-archive:dist/tourniquet-<version>.oci.tar docker://REGISTRY/tourniquet:<version>
# or `podman load -i` it. It also stays in the local containers storage as
# localhost/tourniquet:<version> (the smoke test, tests/e2e/test_image.py, runs it).
#
# Cached outside the repository ($TOURNIQUET_CACHE, else ~/.cache/tourniquet, image/): the
# base root filesystem keyed by its recipe below, the wheels by requirements.lock's hash.
# TOURNIQUET_IMAGE_REFRESH=1 rebuilds the base (Debian's point and security updates).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
say() { printf 'image: [%3ss] %s\n' "$((SECONDS - started))" "$*"; }

PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
NAME=${TOURNIQUET_IMAGE_NAME:-ghcr.io/tourniquet/tourniquet}
LOCAL=localhost/tourniquet:$VERSION
ARCHIVE=dist/tourniquet-$VERSION.oci.tar
CACHE=${TOURNIQUET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tourniquet}/image
mkdir -p "$CACHE" dist

# Rootless: buildah mount and the chroot runs need the user namespace buildah sets up.
if [ "$(id -u)" -ne 0 ] && [ -z "${_TOURNIQUET_UNSHARED:-}" ]; then
  exec env _TOURNIQUET_UNSHARED=1 buildah unshare "$0" "$@"
fi

# --- 1. the base root filesystem --------------------------------------------------------
SUITE=bookworm
PACKAGES=usr-is-merged,python3,ca-certificates,libstdc++6
MMDEBSTRAP=(
  --variant=essential
  --include="$PACKAGES"
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  # Documentation, manuals and translations stay out (the copyright files stay in).
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  # The operator's user (numeric, so the kubelet checks runAsNonRoot without reading
  # /etc/passwd); empty hosts and resolv.conf for the runtime to bind over (never the
  # build machine's); no logs or caches of the build.
  --customize-hook='echo "tourniquet:x:65532:65532:tourniquet:/nonexistent:/usr/sbin/nologin" >> "$1/etc/passwd"'
  --customize-hook='echo "tourniquet:x:65532:" >> "$1/etc/group"'
  --customize-hook=': > "$1/etc/hosts"; : > "$1/etc/resolv.conf"; : > "$1/etc/hostname"'
  --customize-hook='mkdir -p "$1/opt/tourniquet"'
  --customize-hook='rm -rf "$1"/var/log/apt "$1"/var/cache/apt "$1"/var/lib/apt "$1"/var/cache/debconf/*-old'
)
base_key=$(printf '%s\n' "$SUITE" "${MMDEBSTRAP[@]}" | sha256sum | cut -c1-16)
ROOTFS=$CACHE/rootfs-$SUITE-$base_key.tar
BASE=localhost/tourniquet-base:$base_key
# Reproducible file times and image dates: the last commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

if [ "${TOURNIQUET_IMAGE_REFRESH:-0}" = 1 ]; then
  rm -f "$ROOTFS"
  buildah rmi "$BASE" >/dev/null 2>&1 || true
fi
if [ ! -s "$ROOTFS" ]; then
  say "base: mmdebstrap $SUITE ($PACKAGES) from Debian's mirror (about a minute)"
  # mmdebstrap writes a tarball because the name ends in .tar.
  partial=$CACHE/partial-$(basename "$ROOTFS")
  rm -rf "$partial"
  if ! mmdebstrap --quiet "${MMDEBSTRAP[@]}" "$SUITE" "$partial" >"$CACHE/mmdebstrap.log" 2>&1; then
    tail -40 "$CACHE/mmdebstrap.log" >&2
    exit 1
  fi
  mv "$partial" "$ROOTFS"
fi
if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  say "base: importing $(du -h "$ROOTFS" | cut -f1) root filesystem as $BASE"
  ctr=$(buildah from --quiet scratch)
  buildah add --quiet "$ctr" "$ROOTFS" / >/dev/null
  buildah commit --quiet --rm --timestamp "$SOURCE_DATE_EPOCH" "$ctr" "$BASE" >/dev/null
fi

# --- 2. the wheels -------------------------------------------------------------------------
# The pip that installs them: the development lock's pin, with its hashes.
pip_pin=$(awk '/^pip==/{p=1} p&&/^[a-z]/&&!/^pip==/{p=0} p' requirements-dev.lock)
wheels_key=$( (cat requirements.lock; echo "$pip_pin") | sha256sum | cut -c1-16)
WHEELS=$CACHE/wheels-$wheels_key
if [ ! -d "$WHEELS" ]; then
  say "wheels: downloading requirements.lock (hashes checked, binary only, cp311 manylinux)"
  platforms=()
  for minor in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
  platforms+=(--platform manylinux2014_x86_64)
  rm -rf "$WHEELS.partial"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
    "${platforms[@]}" -r requirements.lock -d "$WHEELS.partial"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r <(echo "$pip_pin") -d "$WHEELS.partial/pip"
  mv "$WHEELS.partial" "$WHEELS"
fi
PIP_WHEEL=$(ls "$WHEELS"/pip/pip-*.whl)

# The operator's wheel, built from a copy of what the Dockerfile's context holds
# (.dockerignore), so nothing is written into the working tree.
work=$(mktemp -d)
ctr=""
cleanup() {
  if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/src" "$work/app"
cp -r pyproject.toml README.md operator "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
say "wheels: building tourniquet-operator $VERSION"
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
  --wheel-dir "$work/app" "$work/src" >/dev/null
cp requirements.lock "$work/app/"

# --- 3. the application layer ---------------------------------------------------------------
say "app: virtualenv /opt/tourniquet on the base's python3, wheels installed from the lock"
ctr=$(buildah from --quiet "$BASE")
run() {
  # (the chroot isolation shares the host's network; nothing here uses it: --no-index)
  buildah run --isolation chroot \
    -v "$WHEELS:/wheels:ro" -v "$work/app:/app:ro" -v "$PIP_WHEEL:/pip.whl:ro" "$ctr" -- "$@"
}
pip=(/opt/tourniquet/bin/python /pip.whl/pip --disable-pip-version-check --no-cache-dir
  --no-input install --quiet --no-index --no-compile --only-binary=:all:)
run /usr/bin/python3 -m venv --without-pip /opt/tourniquet
run "${pip[@]}" --find-links /wheels --require-hashes -r /app/requirements.lock
run "${pip[@]}" --no-deps /app/tourniquet_operator-"$VERSION"-py3-none-any.whl
# kubernetes ships an asyncio twin of its whole client (kubernetes.aio: ~70 MB with its
# bytecode, a quarter of the image) that neither kopf nor the operator imports. The
# Dockerfile removes the same directory.
run rm -rf /opt/tourniquet/lib/python3.11/site-packages/kubernetes/aio
# Bytecode now: at run time the root filesystem is read-only. Then the proof that it starts.
run /opt/tourniquet/bin/python -m compileall -q -j 0 /opt/tourniquet
run /opt/tourniquet/bin/python -c "import tourniquet.cli.main, kopf, kubernetes, re2"
# Console scripts and activate scripts: the entrypoint is `python -m tourniquet`.
run sh -c 'cd /opt/tourniquet/bin && ls | grep -vx "python\|python3\|python3.11" | xargs rm -f'

# --- 4. the configuration, from the Dockerfile ----------------------------------------------
"$PY" hack/image_config.py Dockerfile "$ctr" --label "org.opencontainers.image.version=$VERSION"
previous=$(buildah images --quiet --no-trunc "$LOCAL" 2>/dev/null || true)
buildah commit --quiet --rm --timestamp "$SOURCE_DATE_EPOCH" "$ctr" "$LOCAL" >/dev/null
ctr=""
# The image this one replaces (and the name the smoke test loaded it under) goes: builds
# do not pile up in the containers storage.
if [ -n "$previous" ] && [ "$previous" != "$(buildah images --quiet --no-trunc "$LOCAL")" ]; then
  buildah rmi --force "$previous" >/dev/null 2>&1 || true
fi

say "archive: $ARCHIVE ($NAME:$VERSION)"
rm -f "$ARCHIVE"
buildah push --quiet "$LOCAL" "oci-archive:$ARCHIVE:$NAME:$VERSION"
say "done: $ARCHIVE: $(du -h "$ARCHIVE" | cut -f1) (compressed layers);" \
  "$(buildah images --format '{{.Size}}' "$LOCAL") unpacked"
