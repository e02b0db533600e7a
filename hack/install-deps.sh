#!/usr/bin/env bash
# Installs what Derrick's tests need on a fresh Debian 12 machine, and
# nothing that is already there. Safe to run again: a warm run takes seconds.
set -euo pipefail

# Debian packages, by the command that proves each is installed.
declare -A apt_pkgs=(
  [buildah]=buildah        # builds the OCI images (no Docker daemon)
  [podman]=podman          # runs them for probes
  [skopeo]=skopeo          # copies images to registries
  [runc]=runc              # the runtime that works on this host (crun does not)
  [docker-registry]=docker-registry  # a real OCI registry on 127.0.0.1
  [htpasswd]=apache2-utils # registry basic auth
  [busybox]=busybox-static # a tiny rootfs for test images
  [curl]=curl              # the notifier benchmark's baseline
)
missing=()
for cmd in "${!apt_pkgs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${apt_pkgs[$cmd]}")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: system packages ready"
go mod download
echo "install-deps: Go modules ready"
