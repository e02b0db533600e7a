#!/usr/bin/env bash
# Makes an offline stand-in for an Alpine base image, so that an unchanged
# Containerfile that starts `FROM docker.io/library/alpine:<v>` and runs
# `apk add python3` builds on a machine that cannot pull images:
#   hack/pipeline/base-image.sh [image reference]   (default docker.io/library/alpine:3.22)
# The stand-in is Debian bookworm minbase with python3 (debootstrap, about
# 80 s) plus a stub /sbin/apk that accepts `apk add [flags] python3` and
# refuses anything else. It is built once into the Derrick containers storage
# (hack/containers/env.sh) and reused: a run that finds it exits at once.
# Needs root, debootstrap and buildah; reaches only the Debian mirror.
set -euo pipefail
ref=${1:-docker.io/library/alpine:3.22}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../containers/env.sh
. "$root/hack/containers/env.sh"
label=io.derrick.standin

if [ "$(podman image inspect --format "{{index .Labels \"$label\"}}" "$ref" 2>/dev/null)" = alpine-python3 ]; then
  echo "base-image.sh: $ref (stand-in) is ready"
  exit 0
fi
if podman image exists "$ref"; then
  echo "base-image.sh: $ref exists and is not Derrick's stand-in; leaving it alone" >&2
  exit 0
fi
for cmd in debootstrap buildah podman; do
  command -v "$cmd" >/dev/null || { echo "base-image.sh: $cmd is missing (run hack/install-deps.sh)" >&2; exit 2; }
done

work=$(mktemp -d)
ctr=
cleanup() {
  [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)
rootfs=$work/rootfs
debootstrap --variant=minbase --include=python3-minimal,libpython3.11-stdlib \
  bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
# What a runtime image does not need: package caches, docs, locales.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/info \
  "$rootfs"/usr/share/locale "$rootfs"/var/log/*.log
cat >"$rootfs/sbin/apk" <<'APK'
#!/bin/sh
# Stub apk of Derrick's offline Alpine stand-in: python3 is preinstalled.
[ "$1" = add ] || { echo "apk (stand-in): only 'apk add' is supported" >&2; exit 1; }
shift
for arg in "$@"; do
  case $arg in
    -*) ;;
    python3) ;;
    *) echo "apk (stand-in): package $arg is not in this offline base (only python3)" >&2; exit 1 ;;
  esac
done
exit 0
APK
chmod 0755 "$rootfs/sbin/apk"

ctr=$(buildah from --format oci scratch)
mnt=$(buildah mount "$ctr")
cp -a "$rootfs/." "$mnt/"
buildah umount "$ctr" >/dev/null
buildah config --label "$label=alpine-python3" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd /bin/sh "$ctr"
buildah commit --quiet --format oci --rm "$ctr" "$ref" >/dev/null
ctr=
echo "base-image.sh: built $ref (stand-in) in $(($(date +%s) - start)) s, $(podman image inspect --format '{{.Size}}' "$ref") bytes"
