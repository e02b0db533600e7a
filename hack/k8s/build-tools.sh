#!/usr/bin/env bash
# Builds the real Kubernetes control plane that internal/clustertest runs:
# kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok.
#
# Binaries go to ${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}/k8s-v1.34.4/bin,
# outside the repository. A binary that exists and reports the expected
# version is not rebuilt, so a second run takes seconds.
#
# Each tool is built from its own wrapper module (hack/k8s, hack/k8s/etcd,
# hack/k8s/kwok) whose committed go.sum pins every dependency; the build
# itself is hack/lib/tools.sh's (lock, dedicated GOCACHE removed afterwards;
# DERRICK_KEEP_GOCACHE=1 keeps it).
#
# Usage: hack/k8s/build-tools.sh            build what is missing
#        hack/k8s/build-tools.sh --print-bin print the bin directory and exit
set -euo pipefail

KUBE_VERSION=1.34.4
ETCD_VERSION=3.6.16
KWOK_VERSION=0.8.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tool_log=build-tools
stack="k8s-v${KUBE_VERSION}"
# shellcheck source=../lib/tools.sh
. "${here}/../lib/tools.sh"

if [[ "${1:-}" == "--print-bin" ]]; then
  echo "${bin_dir}"
  exit 0
fi
if [[ $# -gt 0 ]]; then
  echo "usage: $0 [--print-bin]" >&2
  exit 2
fi

tools_begin

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

tools_end
