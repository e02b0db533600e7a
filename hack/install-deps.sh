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
  [redis-server]=redis-server  # Argo CD's cache in internal/argocdtest
  [curl]=curl              # the notifier benchmark's baseline; the health probe
  [/usr/bin/pylint]=pylint # the pylint-errors component (Debian's, not a pyenv one)
  [rsync]=rsync            # gitlab-ci-local copies files with it
  [debootstrap]=debootstrap  # the offline stand-in of the example's Alpine base image
  [git]=git                # throwaway repositories for gitlab-ci-local
  [node]=nodejs            # runs gitlab-ci-local (the machine has Node.js 20)
  [npm]=npm                # installs it
  [chromium]=chromium      # the demo page's browser test (internal/demo)
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

# gitlab-ci-local runs the example app's pipeline in test/pipeline. Pinned, kept in
# the Derrick cache; hack/pipeline/gitlab-ci-local runs it with the polyfill Node 20
# needs.
glc_version=4.75.1
glc_dir=${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}/npm/gitlab-ci-local-$glc_version
if [ ! -x "$glc_dir/node_modules/.bin/gitlab-ci-local" ]; then
  echo "install-deps: npm install gitlab-ci-local@$glc_version"
  mkdir -p "$glc_dir"
  npm install --prefix "$glc_dir" --no-audit --no-fund --loglevel=error "gitlab-ci-local@$glc_version" >/dev/null
fi
echo "install-deps: gitlab-ci-local $glc_version ready"
go mod download
echo "install-deps: Go modules ready"
