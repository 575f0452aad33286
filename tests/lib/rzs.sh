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
