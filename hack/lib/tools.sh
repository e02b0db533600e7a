# shellcheck shell=bash
# Shared by the scripts that build test tools from the Go module proxy into the
# Derrick cache (hack/k8s/build-tools.sh, hack/argocd/build.sh, hack/helm/build.sh).
#
# A script sets, then sources this file:
#   tool_log   prefix of its messages, e.g. build-tools
#   stack      its directory under the cache, e.g. k8s-v1.34.4
# and gets: cache_root, stack_dir, bin_dir; tools_begin (creates the bin
# directory, takes the build lock, sets the Go environment); build; tools_end
# (removes the dedicated build cache when something was built, prints the
# total time). version_of NAME prints the version a built binary reports;
# the default runs `NAME --version`; a script may define its own after
# sourcing this file.
#
# The build cache is a dedicated GOCACHE under stack_dir (several GB when
# cold), removed after a successful build; DERRICK_KEEP_GOCACHE=1 keeps it.

cache_root="${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}"
stack_dir="${cache_root}/${stack:?set stack before sourcing hack/lib/tools.sh}"
bin_dir="${stack_dir}/bin"
built_any=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

version_of() { "${bin_dir}/$1" --version 2>&1; }

# has_version NAME WANT: true when the binary exists and its version output contains WANT.
has_version() {
  local out
  [[ -x "${bin_dir}/$1" ]] || return 1
  out="$(version_of "$1")" || return 1
  [[ "${out}" == *"$2"* ]]
}

tools_begin() {
  mkdir -p "${bin_dir}"
  # One build at a time per cache dir: two test runs starting together must
  # not race on the same temporary output files.
  exec 9>"${stack_dir}/.build.lock"
  if ! flock -n 9; then
    echo "${tool_log}: waiting for another build in ${stack_dir}" >&2
    flock 9
  fi
  export GOCACHE="${stack_dir}/gocache"
  export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
  export CGO_ENABLED=0
  # The wrapper modules pin the toolchain through their go lines; never switch.
  export GOTOOLCHAIN=local
  total_start="$(now)"
}

# build NAME WANT_VERSION MODULE_DIR PACKAGE [go build flags...]: builds
# PACKAGE in the wrapper module MODULE_DIR unless the binary already reports
# WANT_VERSION, and checks that the new one does.
build() {
  local name="$1" want="$2" dir="$3" pkg="$4"
  shift 4
  if has_version "${name}" "${want}"; then
    echo "${tool_log}: ${name}: ${want} already in ${bin_dir}"
    return 0
  fi
  echo "${tool_log}: ${name}: building ${want} from ${pkg} ..."
  local start tmp
  start="$(now)"
  tmp="${bin_dir}/.${name}.tmp.$$"
  (cd "${dir}" && go build "$@" -o "${tmp}" "${pkg}")
  mv -f "${tmp}" "${bin_dir}/${name}"
  if ! has_version "${name}" "${want}"; then
    echo "${tool_log}: ${name}: built binary does not report ${want}:" >&2
    version_of "${name}" >&2 || true
    exit 1
  fi
  built_any=1
  echo "${tool_log}: ${name}: built in $(elapsed "${start}")"
}

tools_end() {
  if [[ "${built_any}" == 1 && "${DERRICK_KEEP_GOCACHE:-}" != 1 ]]; then
    echo "${tool_log}: removing build cache ${GOCACHE} ($(du -sh "${GOCACHE}" | cut -f1))"
    go clean -cache
    rm -rf "${GOCACHE}"
  fi
  echo "${tool_log}: all binaries in ${bin_dir} ($(elapsed "${total_start}"))"
}
