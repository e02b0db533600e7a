#!/usr/bin/env bash
# Builds helm (v3, from the Go module proxy) for the chart tests in test/chart.
#
# The binary goes to ${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}/helm-v3.19.5/bin/helm,
# beside the Kubernetes binaries of hack/k8s/build-tools.sh and outside the
# repository. A binary that exists and reports the expected version is not
# rebuilt, so a second run takes well under a second.
#
# The wrapper module hack/helm (its own go.mod, hidden from the project's
# `go build ./...`) pins helm and every dependency in its committed go.sum.
# The build uses a dedicated GOCACHE under the cache dir (~1 GB when cold)
# and removes it after a successful build; DERRICK_KEEP_GOCACHE=1 keeps it.
#
# Usage: hack/helm/build.sh               build helm unless it is there
#        hack/helm/build.sh --print-bin   print the path of the helm binary and exit
set -euo pipefail

HELM_VERSION=3.19.5
# The Kubernetes version helm assumes for .Capabilities and for its
# deprecation lint when no cluster is asked (helm's Makefile derives it from
# client-go; v3.19 is built against client-go v0.34, the test cluster is 1.34).
KUBE_MINOR=34

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tool_log=build-helm
stack="helm-v${HELM_VERSION}"
# shellcheck source=../lib/tools.sh
. "${here}/../lib/tools.sh"
helm="${bin_dir}/helm"

case "${1:-}" in
  --print-bin) echo "${helm}"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-bin]" >&2; exit 2 ;;
esac

version_of() { "${bin_dir}/$1" version --template '{{.Version}}' 2>&1; }

tools_begin
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${KUBE_MINOR}"
done
build helm "v${HELM_VERSION}" "${here}" helm.sh/helm/v3/cmd/helm -ldflags "${ldflags}"
tools_end
