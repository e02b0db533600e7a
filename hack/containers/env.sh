# Source this file to make buildah and podman work on a host like CI's:
# cgroups v1, no Docker daemon, root. vfs storage, runc, chroot isolation,
# host networking (see docs/DEVELOPMENT.md). Storage lives under the Derrick
# cache so images persist between runs and stay out of the repository.
derrick_cache=${DERRICK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/derrick}
containers_dir=$derrick_cache/containers
mkdir -p "$containers_dir"
cat >"$containers_dir/containers.conf" <<CONF
[containers]
netns = "host"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat >"$containers_dir/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$containers_dir/storage"
runroot = "$containers_dir/run"
CONF
export CONTAINERS_CONF=$containers_dir/containers.conf
export CONTAINERS_STORAGE_CONF=$containers_dir/storage.conf
export BUILDAH_ISOLATION=chroot
