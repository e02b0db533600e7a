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
cache_root="${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}"
stack_dir="${cache_root}/argocd-v${ARGOCD_VERSION}"
bin_dir="${stack_dir}/bin"
crd_dir="${stack_dir}/crds"

export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
export CGO_ENABLED=0
# The wrapper modules pin the toolchain through their go lines; never switch.
export GOTOOLCHAIN=local

case "${1:-}" in
  --print-bin) echo "${bin_dir}"; exit 0 ;;
  --print-crds) echo "${crd_dir}"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-bin | --print-crds]" >&2; exit 2 ;;
esac

mkdir -p "${bin_dir}"

# One build at a time per cache dir: two test runs starting together must not
# race on the same temporary output files.
exec 9>"${stack_dir}/.build.lock"
if ! flock -n 9; then
  echo "build-argocd: waiting for another build in ${stack_dir}" >&2
  flock 9
fi

export GOCACHE="${stack_dir}/gocache"

# version_of NAME: the version line the binary prints.
version_of() {
  case "$1" in
    argocd) ARGOCD_BINARY_NAME=argocd "${bin_dir}/argocd" version --client --short 2>&1 ;;
    kustomize) "${bin_dir}/kustomize" version 2>&1 ;;
  esac
}

# has_version NAME WANT: true when the binary exists and its version output contains WANT.
has_version() {
  local out
  [[ -x "${bin_dir}/$1" ]] || return 1
  out="$(version_of "$1")" || return 1
  [[ "${out}" == *"$2"* ]]
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

built_any=0

# build NAME WANT_VERSION MODULE_DIR PACKAGE [go build flags...]
build() {
  local name="$1" want="$2" dir="$3" pkg="$4"
  shift 4
  if has_version "${name}" "${want}"; then
    echo "build-argocd: ${name}: ${want} already in ${bin_dir}"
    return 0
  fi
  echo "build-argocd: ${name}: building ${want} from ${pkg} ..."
  local start tmp
  start="$(now)"
  tmp="${bin_dir}/.${name}.tmp.$$"
  (cd "${dir}" && go build "$@" -o "${tmp}" "${pkg}")
  mv -f "${tmp}" "${bin_dir}/${name}"
  if ! has_version "${name}" "${want}"; then
    echo "build-argocd: ${name}: built binary does not report ${want}:" >&2
    version_of "${name}" >&2 || true
    exit 1
  fi
  built_any=1
  echo "build-argocd: ${name}: built in $(elapsed "${start}")"
}

total_start="$(now)"

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

if [[ "${built_any}" == 1 && "${DERRICK_KEEP_GOCACHE:-}" != 1 ]]; then
  echo "build-argocd: removing build cache ${GOCACHE} ($(du -sh "${GOCACHE}" | cut -f1))"
  go clean -cache
  rm -rf "${GOCACHE}"
fi
echo "build-argocd: all binaries in ${bin_dir} ($(elapsed "${total_start}"))"
