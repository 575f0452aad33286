#!/usr/bin/env bash
# Stress with verification, bounded in time (short in make test; `make stress` sets
# RZS_STRESS_SECS and RZS_STRESS_STORM_SECS to minutes):
#  1. concurrent fio verify jobs on rzs0 (disjoint and overlapping regions, raw and
#     compressible data, trim-then-write) beside discard.py's verified discards and
#     write-zeroes on a region of its own;
#  2. a swap storm on rzs1: workers whose working sets add up to ~2.4x the memory
#     they may use (a memory cgroup), every page verified and rewritten, some killed
#     mid-run so slot frees race reads and writes, new ones started in their place;
#     at the same time an ext4 file system on rzs2 (mounted -o discard) is written,
#     checksummed and re-read in the same cgroup.
# Prints "# figure:" lines (GiB written and verified, pages swapped) for the README.
# cost: 100 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
SECS=${RZS_STRESS_SECS:-25}
STORM_SECS=${RZS_STRESS_STORM_SECS:-60}
CG_MB=${RZS_STRESS_CG_MB:-96}
rzsctl=$RZS_ROOT/target/release/rzsctl
memtest=$RZS_ROOT/target/release/rzs-memtest
stat() { python3 "$RZS_ROOT/tests/lib/rzsstat.py" "$@"; }
T=$(mktemp -d)
mnt=$T/mnt
end() {
	memcg_cleanup
	umount "$mnt" 2>/dev/null
	swapoff /dev/rzs1 2>/dev/null
	cleanup_rzs
	rm -rf "$T"
}
trap end EXIT

plan 17
ok "insmod num_devices=3" load_rzs num_devices=3
ok "sizes: rzs0 320M (fio), rzs1 1G (swap), rzs2 256M (ext4)" \
	bash -c "'$rzsctl' /dev/rzs0 --size 320M && '$rzsctl' /dev/rzs1 --size 1G && '$rzsctl' /dev/rzs2 --size 256M"

# --- 1. fio + discards
diag "fio and discard.py for $SECS s"
DEV=/dev/rzs0 SECS=$SECS Q=64M H=32M Q2=128M Q3=192M \
	timeout -k 10 $((SECS + 120)) fio --output-format=json "$RZS_ROOT/tests/lib/stress.fio" >"$T/fio.out" 2>"$T/fio.err" &
fio_pid=$!
timeout -k 10 $((SECS + 120)) python3 "$RZS_ROOT/tests/lib/discard.py" /dev/rzs0 $((256 << 20)) $((64 << 20)) "$SECS" 7 >"$T/discard.out" 2>&1 &
dis_pid=$!
wait $fio_pid
fio_rc=$?
wait $dis_pid
dis_rc=$?
sed 's/^/# /' "$T/fio.err" | grep -v 'multiple writers may overwrite' | head -n 20
# fio prints warnings before its JSON on stdout: parse from the first '{'.
fio_sum=$(python3 - "$T/fio.out" <<'EOF'
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index("{"):])
w = sum(j["write"]["io_bytes"] for j in d["jobs"])
r = sum(j["read"]["io_bytes"] for j in d["jobs"])
errs = sum(1 for j in d["jobs"] if j["error"])
print(len(d["jobs"]), errs, w, r)
EOF
) || fio_sum="0 1 0 0"
read -r fio_jobs fio_errs fio_w fio_r <<<"$fio_sum"
diag "fio: $fio_jobs jobs, $fio_errs with errors, wrote $((fio_w >> 20)) MiB, read and verified $((fio_r >> 20)) MiB"
check "[ $fio_rc = 0 ] && [ $fio_jobs = 8 ] && [ $fio_errs = 0 ] && [ $fio_w -gt 0 ]" \
	"fio: 8 concurrent verify jobs (disjoint, overlapping, trimwrite), no verify error"
sed 's/^/# /' "$T/discard.out"
check "[ $dis_rc = 0 ] && grep -q 'mismatches=0' $T/discard.out" \
	"discard.py: discarded and write-zeroed ranges read as zeros, the rest intact"
dis_w=$(sed -nE 's/.* written=([0-9]+).*/\1/p' "$T/discard.out")
dis_v=$(sed -nE 's/.* verified=([0-9]+).*/\1/p' "$T/discard.out")
read -r fr fw inv _ </sys/block/rzs0/io_stat
check "[ $fr = 0 ] && [ $fw = 0 ]" "rzs0: no failed reads or writes (io_stat: $fr $fw $inv)"
ok "discard the whole of rzs0" blkdiscard /dev/rzs0
check "[ \$(stat /dev/rzs0 pages_stored) = 0 ] && [ \$(stat /dev/rzs0 compr_data_size) = 0 ]" \
	"rzs0 holds nothing after the discard: no object leaked"

# --- 2. swap storm + file system under memory pressure
ok "mkswap + swapon /dev/rzs1" bash -c "mkswap /dev/rzs1 >/dev/null && swapon /dev/rzs1"
ok "mkfs.ext4 /dev/rzs2, mount -o discard" bash -c "mkfs.ext4 -q -F /dev/rzs2 && mkdir -p $mnt && mount -o discard /dev/rzs2 $mnt"
memcg_limit "$CG_MB"
out0=$(awk '/^pswpout/ {print $2}' /proc/vmstat)
in0=$(awk '/^pswpin/ {print $2}' /proc/vmstat)

# fs worker (in the cgroup): rounds of files written, synced, checksummed, the page
# cache dropped, read back and checked; the round before last deleted (discards).
fs_worker() {
	local end=$((SECONDS + STORM_SECS)) r=0 bytes=0 f
	while [ $SECONDS -lt $end ]; do
		r=$((r + 1))
		mkdir -p "$mnt/r$r"
		for f in $(seq 24); do
			if [ $((f % 3)) = 0 ]; then
				head -c $(((RANDOM % 512 + 1) * 1024)) /dev/urandom
			else
				seq -f "rzs fs round $r file $f line %g" 1 $((RANDOM % 20000 + 1))
			fi >"$mnt/r$r/f$f"
		done
		(cd "$mnt/r$r" && sha256sum f* >"$T/fs.r$r.sum")
		bytes=$((bytes + $(du -sb "$mnt/r$r" | cut -f1)))
		sync
		echo 1 >/proc/sys/vm/drop_caches
		(cd "$mnt/r$r" && sha256sum --quiet -c "$T/fs.r$r.sum") || { echo "fs: round $r checksum mismatch"; return 1; }
		[ $r -gt 2 ] && rm -rf "$mnt/r$((r - 2))"
	done
	echo "fs: rounds=$r bytes=$bytes"
}
in_memcg bash -c "$(declare -f fs_worker); mnt=$mnt T=$T STORM_SECS=$STORM_SECS; fs_worker" >"$T/fs.out" 2>&1 &
fs_pid=$!

# Storm: 4 worker slots, each restarted when its worker ends; now and then one is
# killed (SIGKILL) mid-run. Sizes 40-80% of the cgroup limit each: ~2.4x in total.
declare -a wpid wlog
started=0 killed=0
storm_end=$((SECONDS + STORM_SECS))
: >"$T/killed"
while [ $SECONDS -lt $storm_end ]; do
	for s in 0 1 2 3; do
		p=${wpid[$s]:-}
		if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then
			left=$((storm_end - SECONDS))
			[ $left -lt 15 ] && continue
			started=$((started + 1))
			size=$((CG_MB * (40 + RANDOM % 41) / 100))
			secs=$((5 + RANDOM % (left < 40 ? left - 10 : 30)))
			wlog[$s]=$T/w$started.log
			in_memcg "$memtest" --size $size --rewrite --seconds $secs --order both --seed $started >"${wlog[$s]}" 2>&1 &
			wpid[$s]=$!
		fi
	done
	sleep 4
	if [ $((RANDOM % 3)) = 0 ]; then
		s=$((RANDOM % 4))
		if [ -n "${wpid[$s]:-}" ] && kill -9 "${wpid[$s]}" 2>/dev/null; then
			killed=$((killed + 1))
			echo "${wlog[$s]}" >>"$T/killed"
		fi
	fi
done
wait "${wpid[@]}" 2>/dev/null
wait $fs_pid
fs_rc=$?
out=$(($(awk '/^pswpout/ {print $2}' /proc/vmstat) - out0))
in=$(($(awk '/^pswpin/ {print $2}' /proc/vmstat) - in0))
oom=$(awk '/^oom_kill / {print $2}' $RZS_CG/memory.events)

# Every worker that was not killed must have ended with a summary and no mismatch.
finished=0 checked=0 badw=0
for l in "$T"/w*.log; do
	grep -qxF "$l" "$T/killed" && continue
	if grep -q ' mismatches=0 ' "$l"; then
		finished=$((finished + 1))
		checked=$((checked + $(sed -nE 's/.*checked=([0-9]+).*/\1/p' "$l")))
	else
		badw=$((badw + 1))
		sed 's/^/# /' "$l" | tail -n 5
	fi
done
diag "storm: $started workers started, $killed killed mid-run, $finished finished, pages swapped out $out, in $in, pages verified $checked, OOM kills $oom"
check "[ $badw = 0 ] && [ $finished -ge 2 ]" "storm: every worker not killed verified all its pages ($finished finished, $killed killed)"
check "[ ${oom:-1} = 0 ]" "storm: no OOM kill in the cgroup"
check "[ $out -gt $((CG_MB * 256)) ] && [ $in -gt 0 ]" "storm: the workers swapped (out $out, in $in pages)"
sed 's/^/# /' "$T/fs.out" | tail -n 3
check "[ $fs_rc = 0 ] && grep -q '^fs: rounds=' $T/fs.out" "ext4 on rzs2 under memory pressure: every file's checksum matched after the page cache was dropped"
fs_b=$(sed -nE 's/^fs: rounds=[0-9]+ bytes=([0-9]+)/\1/p' "$T/fs.out")
memcg_cleanup
read -r fr fw _ </sys/block/rzs1/io_stat
left=$(stat /dev/rzs1 pages_stored)
diag "rzs1 after the storm: failed reads $fr, failed writes $fw, pages still stored $left"
check "[ $fr = 0 ] && [ $fw = 0 ]" "rzs1: no failed reads or writes"
ok "umount, fsck -f clean" bash -c "umount $mnt && fsck.ext4 -f -n /dev/rzs2"
ok "swapoff /dev/rzs1" swapoff /dev/rzs1
check "[ \$(stat /dev/rzs1 pages_stored) -le 1 ]" "rzs1 holds at most the swap header after swapoff"

gib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1073741824 }'; }
diag "figure: fio_written_gib=$(gib "$fio_w") fio_verified_gib=$(gib "$fio_r") discard_written_gib=$(gib "${dis_w:-0}") discard_verified_gib=$(gib "${dis_v:-0}")"
diag "figure: storm_seconds=$STORM_SECS storm_workers=$started storm_killed=$killed swap_out_pages=$out swap_in_pages=$in storm_verified_pages=$checked fs_written_gib=$(gib "${fs_b:-0}")"
tap_exit
