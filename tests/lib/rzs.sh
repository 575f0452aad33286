# Helpers shared by the guest suites. Sourced after tap.sh.
# RZS_ROOT (the repo) and RZS_KO (the module) are set by tests/guest.sh.
: "${RZS_KO:=$RZS_ROOT/rzs.ko}"

# load_rzs [params...]: insmod, and wait for udev-less devtmpfs nodes.
load_rzs() {
	insmod "$RZS_KO" "$@" || return 1
	local i
	for i in $(seq 50); do [ -b /dev/rzs0 ] && return 0; sleep 0.1; done
	echo "no /dev/rzs0 after insmod" >&2
	return 1
}
unload_rzs() { rmmod rzs; }
is_loaded() { grep -q '^rzs ' /proc/modules; }
# Make sure a failed suite does not leave the module behind for the next one.
cleanup_rzs() {
	swapoff -a 2>/dev/null || true
	is_loaded && rmmod rzs 2>/dev/null
	true
}

# A memory cgroup makes a workload swap without shrinking the whole guest.
RZS_CG=/sys/fs/cgroup/rzs-test
# memcg_limit MB|max: create the cgroup if needed and set its memory limit.
memcg_limit() {
	mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
	mkdir -p $RZS_CG
	if [ "$1" = max ]; then echo max; else echo $(($1 * 1024 * 1024)); fi >$RZS_CG/memory.max
}
# in_memcg CMD...: run CMD inside that cgroup.
in_memcg() { (echo $BASHPID >$RZS_CG/cgroup.procs && exec "$@"); }
# run_limited MB CMD...: run CMD in the cgroup limited to MB.
run_limited() {
	local mb=$1
	shift
	memcg_limit "$mb" && in_memcg "$@"
}
# memcg_cleanup: kill what is left in the cgroup and remove it.
memcg_cleanup() {
	if [ -e $RZS_CG/cgroup.kill ]; then
		echo 1 >$RZS_CG/cgroup.kill
		sleep 0.5
	fi
	rmdir $RZS_CG 2>/dev/null
	true
}
