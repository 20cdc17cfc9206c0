#!/bin/sh
# `make image`: the CPU serving image as an OCI archive, built without running a container.
#
#   deploy/image/build.sh OUT PYTHON
#
# 1. PYTHON builds convzoo's wheel from this checkout.
# 2. mmdebstrap makes a Debian bookworm root filesystem (minbase and python3, without docs, man
#    pages, locales, glibc's iconv modules or perl; its log: OUT/mmdebstrap.log); its hooks run
#    install.sh from outside (PYTHON's pip: the same cp311 ABI as bookworm's python3) and add
#    the user convzoo (uid 1000) and /mnt/models.
# 3. podman builds Containerfile (FROM scratch + ADD rootfs.tar /, no RUN step) and saves it
#    as OUT/convzoo-VERSION-cpu.oci.tar, tagged localhost/convzoo:VERSION.
# Needs root, mmdebstrap and podman (Debian packages).
set -eu
OUT=${1:?usage: build.sh OUT PYTHON}
PYTHON=${2:?usage: build.sh OUT PYTHON}
HERE=$(cd "$(dirname "$0")" && pwd)
case $PYTHON in */*) PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON") ;; esac  # hooks run elsewhere
for tool in mmdebstrap podman; do
  command -v $tool >/dev/null || { echo "build.sh: needs $tool (apt-get install $tool)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build.sh: needs root (mmdebstrap's chroot hooks)" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/convzoo-*.whl "$OUT/rootfs.tar" "$OUT"/convzoo-*-cpu.oci.tar
"$PYTHON" -m pip --disable-pip-version-check wheel --quiet --no-deps --wheel-dir "$OUT" "$HERE/../.."
WHEEL=$(ls "$OUT"/convzoo-*.whl)
VERSION=$(basename "$WHEEL" | cut -d- -f2)
TAG=localhost/convzoo:$VERSION
ARCHIVE=$OUT/convzoo-$VERSION-cpu.oci.tar

# merged-usr: /usr merged by the hook rather than by the usrmerge package, which pulls in perl (50 MB).
mmdebstrap --variant=minbase --include=python3 --quiet \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*.so' \
  --customize-hook="PYTHON='$PYTHON' '$HERE/install.sh' --root \"\$1\" onnxruntime '$WHEEL'" \
  --customize-hook='chroot "$1" useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin convzoo' \
  --customize-hook='mkdir -p "$1/mnt/models"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$OUT/rootfs.tar" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main" >"$OUT/mmdebstrap.log" 2>&1 ||
  { tail -n 30 "$OUT/mmdebstrap.log" >&2; echo "build.sh: mmdebstrap failed; its log: $OUT/mmdebstrap.log" >&2; exit 1; }

podman build --quiet --tag "$TAG" --file "$HERE/Containerfile" "$OUT" >/dev/null
rm -f "$ARCHIVE"
podman save --quiet --format oci-archive --output "$ARCHIVE" "$TAG"
SIZE=$(podman image inspect --format '{{.Size}}' "$TAG")
echo "image $TAG: $((SIZE / 1000000)) MB uncompressed; archive $ARCHIVE: $(($(stat -c %s "$ARCHIVE") / 1000000)) MB"
