#!/usr/bin/env bash
# Builds the real Argo CD that internal/argocdtest runs: the argocd multi-call
# binary (server, repo-server, application-controller and the CLI, chosen by
# ARGOCD_BINARY_NAME) and the kustomize its repo-server runs from PATH, and
# copies Argo CD's CRDs (manifests/crds of the same module) beside them.
#
# Binaries go to ${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}/argocd-v2.14.21/bin,
# the CRDs to .../argocd-v2.14.21/crds, beside the Kubernetes binaries of
# hack/k8s/build-tools.sh and outside the repository. A binary that exists and
# reports the expected version is not rebuilt, so a second run takes well
# under a second.
#
# Each tool is built from its own wrapper module (hack/argocd: require argo-cd
# plus a copy of argo-cd's own replace block; hack/argocd/kustomize), hidden
# from the project's `go build ./...` by its go.mod; the committed go.sum pins
# every dependency. The build uses a dedicated GOCACHE under the cache dir
# (~7.6 GB when cold) and removes it after a successful build;
# DERRICK_KEEP_GOCACHE=1 keeps it.
#
# Usage: hack/argocd/build.sh               build what is missing
#        hack/argocd/build.sh --print-bin   print the bin directory and exit
#        hack/argocd/build.sh --print-crds  print the directory of the CRD copies and exit
set -euo pipefail

ARGOCD_VERSION=2.14.21
KUSTOMIZE_VERSION=5.4.3

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tool_log=build-argocd
stack="argocd-v${ARGOCD_VERSION}"
# shellcheck source=../lib/tools.sh
. "${here}/../lib/tools.sh"
crd_dir="${stack_dir}/crds"

case "${1:-}" in
  --print-bin) echo "${bin_dir}"; exit 0 ;;
  --print-crds) echo "${crd_dir}"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-bin | --print-crds]" >&2; exit 2 ;;
esac

tools_begin

# version_of NAME: the version line the binary prints.
version_of() {
  case "$1" in
    argocd) ARGOCD_BINARY_NAME=argocd "${bin_dir}/argocd" version --client --short 2>&1 ;;
    kustomize) "${bin_dir}/kustomize" version 2>&1 ;;
  esac
}

# The same stamps argo-cd's Makefile sets, minus the git commit (the module
# zip has none, so the version reads v2.14.21+unknown). buildDate is the
# release's date from the module proxy, so rebuilds are reproducible.
argocd_pkg=github.com/argoproj/argo-cd/v2/common
release_date="$(cd "${here}" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' github.com/argoproj/argo-cd/v2)"
kubectl_version="$(cd "${here}" && go list -m -f '{{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}' k8s.io/client-go)"
argocd_ldflags="-s -w -X ${argocd_pkg}.version=${ARGOCD_VERSION}"
argocd_ldflags+=" -X ${argocd_pkg}.buildDate=${release_date}"
argocd_ldflags+=" -X ${argocd_pkg}.gitTag=v${ARGOCD_VERSION}"
argocd_ldflags+=" -X ${argocd_pkg}.gitTreeState=clean"
argocd_ldflags+=" -X ${argocd_pkg}.kubectlVersion=${kubectl_version}"

build kustomize "v${KUSTOMIZE_VERSION}" "${here}/kustomize" sigs.k8s.io/kustomize/kustomize/v5 \
  -ldflags "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=kustomize/v${KUSTOMIZE_VERSION}"
build argocd "v${ARGOCD_VERSION}" "${here}" github.com/argoproj/argo-cd/v2/cmd \
  -ldflags "${argocd_ldflags}"

# The CRDs of the release built, for internal/argocdtest to apply.
mkdir -p "${crd_dir}"
module_crds="$(cd "${here}" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v2)/manifests/crds"
for crd in application-crd.yaml appproject-crd.yaml applicationset-crd.yaml; do
  if ! cmp -s "${module_crds}/${crd}" "${crd_dir}/${crd}"; then
    install -m 0644 "${module_crds}/${crd}" "${crd_dir}/${crd}"
    echo "build-argocd: copied ${crd} to ${crd_dir}"
  fi
done

tools_end
