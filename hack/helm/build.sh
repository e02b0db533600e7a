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
cache_root="${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}"
stack_dir="${cache_root}/helm-v${HELM_VERSION}"
bin_dir="${stack_dir}/bin"
helm="${bin_dir}/helm"

case "${1:-}" in
  --print-bin) echo "${helm}"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-bin]" >&2; exit 2 ;;
esac

mkdir -p "${bin_dir}"
exec 9>"${stack_dir}/.build.lock"
if ! flock -n 9; then
  echo "build-helm: waiting for another build in ${stack_dir}" >&2
  flock 9
fi

want="v${HELM_VERSION}"
if [[ -x "${helm}" ]] && [[ "$("${helm}" version --template '{{.Version}}' 2>/dev/null)" == "${want}" ]]; then
  echo "build-helm: helm ${want} already in ${bin_dir}"
  exit 0
fi

export GOCACHE="${stack_dir}/gocache"
export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

start="$(date +%s)"
echo "build-helm: building helm ${want} from helm.sh/helm/v3/cmd/helm ..."
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${want}"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${KUBE_MINOR}"
done
tmp="${bin_dir}/.helm.tmp.$$"
(cd "${here}" && go build -ldflags "${ldflags}" -o "${tmp}" helm.sh/helm/v3/cmd/helm)
mv -f "${tmp}" "${helm}"
got="$("${helm}" version --template '{{.Version}}')"
if [[ "${got}" != "${want}" ]]; then
  echo "build-helm: built helm reports ${got}, want ${want}" >&2
  exit 1
fi
if [[ "${DERRICK_KEEP_GOCACHE:-}" != 1 ]]; then
  echo "build-helm: removing build cache ${GOCACHE} ($(du -sh "${GOCACHE}" | cut -f1))"
  go clean -cache
  rm -rf "${GOCACHE}"
fi
echo "build-helm: helm ${want} in ${bin_dir} ($(( $(date +%s) - start ))s)"
