#!/usr/bin/env bash
# Installs what `make image` needs to build the operator image without a Docker engine or
# a registry (Debian's packages): mmdebstrap (the root filesystem from Debian's packages),
# buildah (the OCI image, `--isolation chroot`), skopeo (to push the archive it writes),
# and uidmap (newuidmap/newgidmap: mmdebstrap and buildah run rootless with them).
#
# Idempotent: does nothing when all are on PATH. Installs with apt-get as root, or through
# passwordless sudo; otherwise prints what to run and exits 1 (`make image` cannot go on).
set -euo pipefail

declare -A provides=([mmdebstrap]=mmdebstrap [buildah]=buildah [skopeo]=skopeo [newuidmap]=uidmap)
missing=()
for tool in mmdebstrap buildah skopeo newuidmap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${provides[$tool]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "image-tools: mmdebstrap, buildah, skopeo and uidmap are installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "image-tools: missing ${missing[*]} and no apt-get: install them from your" \
    "distribution (buildah >= 1.28, mmdebstrap >= 1.0)" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "image-tools: missing ${missing[*]}; as root run:" \
    "apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "image-tools: installing ${missing[*]} (Debian packages)"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# Recommends stay out, except what buildah needs to store images on this machine: fuse-
# overlayfs for rootless overlay, and the containers' default configuration files.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" \
  golang-github-containers-common fuse-overlayfs
echo "image-tools: $(buildah --version); mmdebstrap $(mmdebstrap --version | awk '{print $2}')"
