#!/usr/bin/env bash
# Builds the OCI image of one Derrick program with buildah, no Docker daemon:
#   hack/image.sh notifier|bot [tag]
# The static binary is built here (CGO_ENABLED=0 -trimpath -ldflags "-s -w")
# and copied with the CA bundle into a build context; <program>/Containerfile
# puts them on scratch. The notifier also gets a static busybox as /bin/sh
# (GitLab's runner needs a shell in a job image); the bot has no shell.
# Prints the image size.
set -euo pipefail
prog=${1:?usage: hack/image.sh notifier|bot [tag]}
tag=${2:-localhost/derrick/$prog:dev}
root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$root/$prog/Containerfile" ] || { echo "image.sh: no $prog/Containerfile" >&2; exit 2; }
# shellcheck source=containers/env.sh
. "$root/hack/containers/env.sh"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
version=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/$prog" "./$prog")
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
if [ "$prog" = notifier ]; then
  cp /bin/busybox "$ctx/sh" # busybox-static: the job shell GitLab's runner needs
fi
buildah build --quiet --format oci --layers=false \
  --label "org.opencontainers.image.version=$version" \
  -f "$root/$prog/Containerfile" -t "$tag" "$ctx" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image.sh: built $tag: image $size bytes, binary $(stat -c %s "$ctx/$prog") bytes"
