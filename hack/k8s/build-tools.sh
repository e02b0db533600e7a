#!/usr/bin/env bash
# Builds the real Kubernetes control plane that internal/clustertest runs:
# kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok.
#
# Binaries go to ${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}/k8s-v1.34.4/bin,
# outside the repository. A binary that exists and reports the expected
# version is not rebuilt, so a second run takes seconds.
#
# Each tool is built from its own wrapper module (hack/k8s, hack/k8s/etcd,
# hack/k8s/kwok) whose committed go.sum pins every dependency. The build uses
# a dedicated GOCACHE under the cache dir (several GB when cold) and removes
# it after a successful build; set DERRICK_KEEP_GOCACHE=1 to keep it.
#
# Usage: hack/k8s/build-tools.sh            build what is missing
#        hack/k8s/build-tools.sh --print-bin print the bin directory and exit
set -euo pipefail

KUBE_VERSION=1.34.4
ETCD_VERSION=3.6.16
KWOK_VERSION=0.8.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}"
stack_dir="${cache_root}/k8s-v${KUBE_VERSION}"
bin_dir="${stack_dir}/bin"

if [[ "${1:-}" == "--print-bin" ]]; then
  echo "${bin_dir}"
  exit 0
fi
if [[ $# -gt 0 ]]; then
  echo "usage: $0 [--print-bin]" >&2
  exit 2
fi

mkdir -p "${bin_dir}"

# One build at a time per cache dir: two test runs starting together must not
# race on the same temporary output files.
exec 9>"${stack_dir}/.build.lock"
if ! flock -n 9; then
  echo "build-tools: waiting for another build in ${stack_dir}" >&2
  flock 9
fi

export GOCACHE="${stack_dir}/gocache"
export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
export CGO_ENABLED=0
# The wrapper modules pin the toolchain through their go lines; never switch.
export GOTOOLCHAIN=local

# has_version BIN WANT: true when BIN exists and its --version output contains WANT.
has_version() {
  local bin="$1" want="$2" out
  [[ -x "${bin_dir}/${bin}" ]] || return 1
  out="$("${bin_dir}/${bin}" --version 2>&1)" || return 1
  [[ "${out}" == *"${want}"* ]]
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

built_any=0

# build NAME WANT_VERSION MODULE_DIR PACKAGE [go build flags...]
build() {
  local name="$1" want="$2" dir="$3" pkg="$4"
  shift 4
  if has_version "${name}" "${want}"; then
    echo "build-tools: ${name}: ${want} already in ${bin_dir}"
    return 0
  fi
  echo "build-tools: ${name}: building ${want} from ${pkg} ..."
  local start tmp
  start="$(now)"
  tmp="${bin_dir}/.${name}.tmp.$$"
  (cd "${dir}" && go build "$@" -o "${tmp}" "${pkg}")
  mv -f "${tmp}" "${bin_dir}/${name}"
  if ! has_version "${name}" "${want}"; then
    echo "build-tools: ${name}: built binary does not report ${want}:" >&2
    "${bin_dir}/${name}" --version >&2 || true
    exit 1
  fi
  built_any=1
  echo "build-tools: ${name}: built in $(elapsed "${start}")"
}

total_start="$(now)"

kube_ldflags="-X k8s.io/component-base/version.gitVersion=v${KUBE_VERSION}"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=${KUBE_VERSION%%.*}"
kube_minor="${KUBE_VERSION#*.}"
kube_ldflags+=" -X k8s.io/component-base/version.gitMinor=${kube_minor%%.*}"
kube_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

build etcd "etcd Version: ${ETCD_VERSION}" "${here}/etcd" go.etcd.io/etcd/server/v3
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  build "${cmd}" "Kubernetes v${KUBE_VERSION}" "${here}" "k8s.io/kubernetes/cmd/${cmd}" \
    -ldflags "${kube_ldflags}"
done
build kwok "kwok version v${KWOK_VERSION}" "${here}/kwok" sigs.k8s.io/kwok/cmd/kwok

# internal/clustertest embeds copies of kwok's stages; they must match the
# kwok that was built.
stages_dir="$(cd "${here}/../../internal/clustertest/kwokstages" && pwd)"
kwok_dir="$(cd "${here}/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
for pair in \
  node-initialize.yaml:node/fast/node-initialize.yaml \
  node-heartbeat-with-lease.yaml:node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod-ready.yaml:pod/fast/pod-ready.yaml \
  pod-complete.yaml:pod/fast/pod-complete.yaml \
  pod-delete.yaml:pod/fast/pod-delete.yaml; do
  copy="${stages_dir}/${pair%%:*}"
  upstream="${kwok_dir}/kustomize/stage/${pair#*:}"
  if ! cmp -s "${copy}" "${upstream}"; then
    echo "build-tools: ${copy} differs from ${upstream}; copy it again" >&2
    exit 1
  fi
done

if [[ "${built_any}" == 1 && "${DERRICK_KEEP_GOCACHE:-}" != 1 ]]; then
  echo "build-tools: removing build cache ${GOCACHE} ($(du -sh "${GOCACHE}" | cut -f1))"
  go clean -cache
  rm -rf "${GOCACHE}"
fi
echo "build-tools: all binaries in ${bin_dir} ($(elapsed "${total_start}"))"
