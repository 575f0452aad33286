# Shared by bench/guest.sh (make bench) and bench/tcgcount/guest.sh (make
# bench-tcg-count), sourced inside the guest: the two devices compared, set up and
# reset alike, and the fio options of make bench's compressible buffers.
# Needs $rzsctl.
path_of() { case $1 in rzs) echo /dev/rzs0 ;; zram) echo /dev/zram0 ;; esac; }
sys_of() { case $1 in rzs) echo /sys/block/rzs0 ;; zram) echo /sys/block/zram0 ;; esac; }
setup() { # DEV BYTES
	case $1 in
	rzs) "$rzsctl" /dev/rzs0 --size "$2" ;;
	zram)
		echo lz4 >/sys/block/zram0/comp_algorithm
		echo "$2" >/sys/block/zram0/disksize
		;;
	esac
}
reset() {
	case $1 in
	rzs) "$rzsctl" /dev/rzs0 --reset ;;
	zram) echo 1 >/sys/block/zram0/reset ;;
	esac
}
vm() { awk -v k="$1" '$1 == k {print $2}' /proc/vmstat; }
# fio's compressible buffers: every 4 KiB block half random, half zeros in 512 B
# chunks (lz4 ratio about 2), refilled on every write.
comp_opts=(--buffer_compress_percentage=50 --buffer_compress_chunk=512 --refill_buffers)
