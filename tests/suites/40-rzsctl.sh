#!/usr/bin/env bash
# rzsctl and the rzs ioctls: every ioctl directly (success, and each error it
# documents: ENOTTY, EFAULT, EINVAL, EBUSY, EPERM as an unprivileged user), the same
# from a 32-bit x86 process (the driver's compat_ioctl; skipped on other machines), then
# rzsctl end to end: size -> mkswap/swapon -> a workload that swaps -> the stats show
# the traffic -> swapoff -> reset -> stats zeroed.
# cost: 80 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
rzsctl=$RZS_ROOT/target/release/rzsctl
memtest=$RZS_ROOT/target/release/rzs-memtest
dev=/dev/rzs0
T=$(mktemp -d)
chmod 755 "$T" # the unprivileged user runs the helper from here
wl=
# On the way out: kill what is left of the workload, then the usual cleanup.
end() {
	memcg_cleanup
	[ -n "$wl" ] && kill $wl 2>/dev/null
	swapoff $dev 2>/dev/null
	cleanup_rzs
	rm -rf "$T"
}
trap end EXIT

# The ioctls straight from Python (fcntl.ioctl and struct), independent of rzsctl.
#   ioctl.py DEV OP [ARG]: prints "ok [details]" or the errno name (EPERM, ...).
cat >"$T/ioctl.py" <<'EOF'
import errno, fcntl, os, struct, sys

MAGIC = 0xB9
NONE, WRITE, READ = 0, 1, 2
def ioc(d, nr, size):  # asm-generic _IOC
    return (d << 30) | (size << 16) | (MAGIC << 8) | nr
FMT = "<IIII18Q"  # struct rzs_stats as version 1 laid it out: an older tool, which the kernel still serves
SIZE = struct.calcsize(FMT)
GET_STATS = ioc(READ | WRITE, 0, SIZE)
GET_STATS_V2 = ioc(READ | WRITE, 0, 16 + 25 * 8)  # the current header's
SET_DISKSIZE = ioc(WRITE, 1, 8)
SET_MEM_LIMIT = ioc(WRITE, 2, 8)
RESET = ioc(NONE, 3, 0)
UNKNOWN = ioc(NONE, 0x7F, 0)
BAD_PTR = 8  # an int argument is passed as is: a pointer to nowhere

def get_stats(fd, room, total, cmd=GET_STATS):
    """GET_STATS with `room` in size, in a buffer of `total` bytes filled with 0xaa."""
    buf = bytearray(b"\xaa" * total)
    struct.pack_into("<I", buf, 0, room)
    fcntl.ioctl(fd, cmd, buf, True)
    return buf

def run(dev, op, args):
    fd = os.open(dev, os.O_RDONLY)
    if op == "stats":
        f = struct.unpack(FMT, get_stats(fd, SIZE, SIZE))
        return f"size={f[0]} version={f[1]} init={f[2] & 1} disksize={f[4]}"
    if op == "stats-all":  # every field, to compare with ioctl32's
        f = struct.unpack(FMT, get_stats(fd, SIZE, SIZE))
        return f"size={f[0]} version={f[1]} init={f[2] & 1} disksize={f[4]} " + " ".join(map(str, f[4:]))
    if op in ("stats-room", "stats-room-v1"):  # how much the kernel fills given room N, and nothing more
        room = int(args[0])
        buf = get_stats(fd, room, max(room, SIZE) + 64, GET_STATS_V2 if op == "stats-room" else GET_STATS)
        n = struct.unpack_from("<I", buf)[0]
        untouched = all(b == 0xAA for b in buf[n:])
        return f"size={n} rest-untouched={'yes' if untouched else 'no'}"
    if op == "stats-badptr":
        fcntl.ioctl(fd, GET_STATS, BAD_PTR)
    elif op == "disksize":
        fcntl.ioctl(fd, SET_DISKSIZE, struct.pack("<Q", int(args[0])))
    elif op == "disksize-badptr":
        fcntl.ioctl(fd, SET_DISKSIZE, BAD_PTR)
    elif op == "memlimit":
        fcntl.ioctl(fd, SET_MEM_LIMIT, struct.pack("<Q", int(args[0])))
    elif op == "reset":
        fcntl.ioctl(fd, RESET)
    elif op == "reset-while-open":  # a second opener makes the device busy
        fd2 = os.open(dev, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, RESET)
        finally:
            os.close(fd2)
    elif op == "unknown":
        fcntl.ioctl(fd, UNKNOWN)
    else:
        sys.exit(f"ioctl.py: unknown operation {op}")
    return ""

try:
    print(("ok " + run(sys.argv[1], sys.argv[2], sys.argv[3:])).strip())
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
chmod 644 "$T/ioctl.py"
io() { python3 "$T/ioctl.py" $dev "$@"; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
io_nobody() { nobody python3 "$T/ioctl.py" $dev "$@"; }

# is DESC GOT WANT: passes if GOT is WANT.
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi; }
# exits DESC CODE TEXT CMD...: CMD exits with CODE and prints one line on stderr,
# "rzsctl: ..." containing TEXT.
exits() {
	local desc=$1 want=$2 text=$3 err rc
	shift 3
	err=$("$@" 2>&1 >/dev/null) && rc=0 || rc=$?
	[ -n "$err" ] && diag "$err"
	if [ "$rc" = "$want" ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && [[ $err == rzsctl:*"$text"* ]]; then
		pass "$desc"
	else
		fail "$desc (exit $rc, want $want with one line containing '$text')"
	fi
}
# jf FIELD...: the FIELDs (space-separated "name=value") of the JSON object on stdin.
jf() {
	python3 -c 'import json,sys; o=json.load(sys.stdin); print(" ".join(f"{k}={o[k]}" for k in sys.argv[1:]))' "$@"
}
# st FIELD...: those fields of rzsctl stats --json for rzs0.
st() { "$rzsctl" stats $dev --json | jf "$@"; }
# The table rows of rzs0 with the given columns, raw.
row() { "$rzsctl" $dev --raw --noheadings --output "$1"; }
show() { "$@" 2>&1 | sed 's/^/  /' | while IFS= read -r l; do diag "$l"; done; }


plan $((58 + 17))

# --- 1. Loaded, unsized ------------------------------------------------------------
ok "insmod rzs.ko (no parameters)" load_rzs
show "$rzsctl"
is "rzsctl lists /dev/rzs0 with DISKSIZE 0B" "$(row NAME,DISKSIZE)" "/dev/rzs0 0B"
ok "rzsctl --json is valid JSON" bash -c "'$rzsctl' --json | python3 -c 'import json,sys; json.load(sys.stdin)'"
is "rzsctl --json: rzs0 unsized" \
	"$("$rzsctl" --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["devices"][0]; print(d["name"], d["disksize"], d["initialized"])')" \
	"rzs0 0 False"

# --- 2. The ioctls directly ----------------------------------------------------------
is "GET_STATS from a version-1 tool: size 160, version 2, not initialized, disksize 0" "$(io stats)" "ok size=160 version=2 init=0 disksize=0"
is "GET_STATS with room for 24 bytes fills exactly 24" "$(io stats-room 24)" "ok size=24 rest-untouched=yes"
is "GET_STATS with room for 224 bytes fills the kernel's 216" "$(io stats-room 224)" "ok size=216 rest-untouched=yes"
is "a version-1 tool's GET_STATS with room for 224 fills its 160 only" "$(io stats-room-v1 224)" "ok size=160 rest-untouched=yes"
is "GET_STATS with room for 4 bytes: EINVAL" "$(io stats-room 4)" "EINVAL"
is "GET_STATS with a bad pointer: EFAULT" "$(io stats-badptr)" "EFAULT"
is "unknown command _IO(0xB9, 0x7f): ENOTTY" "$(io unknown)" "ENOTTY"
is "SET_DISKSIZE with a bad pointer: EFAULT" "$(io disksize-badptr)" "EFAULT"
is "SET_DISKSIZE 0: EINVAL" "$(io disksize 0)" "EINVAL"
is "SET_DISKSIZE 2 TiB: EINVAL" "$(io disksize $((2 << 40)))" "EINVAL"
is "SET_DISKSIZE 1 TiB + 1 (rounds up past the maximum): EINVAL" "$(io disksize $(((1 << 40) + 1)))" "EINVAL"
is "RESET while another descriptor is open: EBUSY" "$(io reset-while-open)" "EBUSY"
is "RESET by the only opener: ok" "$(io reset)" "ok"
ok "chmod o+r $dev (for the unprivileged user)" chmod o+r $dev
is "unprivileged GET_STATS: ok" "$(io_nobody stats)" "ok size=160 version=2 init=0 disksize=0"
is "unprivileged SET_DISKSIZE: EPERM" "$(io_nobody disksize $((64 << 20)))" "EPERM"
is "unprivileged SET_MEM_LIMIT: EPERM" "$(io_nobody memlimit $((64 << 20)))" "EPERM"
is "unprivileged RESET: EPERM" "$(io_nobody reset)" "EPERM"
cp "$rzsctl" "$T/rzsctl" # the repository may sit where nobody cannot read it (/root)
ok "unprivileged rzsctl stats: allowed" nobody "$T/rzsctl" stats $dev
exits "unprivileged rzsctl --size: exit 5, permission denied" 5 "permission denied" nobody "$T/rzsctl" $dev --size 64M
is "still unsized after the refused calls" "$(io stats)" "ok size=160 version=2 init=0 disksize=0"

# --- 2b. The same ioctls from a 32-bit process: the driver's compat_ioctl -------------
# tests/lib/ioctl32.c is ioctl.py in C for i386, built here freestanding (no 32-bit
# libc) against include/uapi as the 32-bit compiler sees it. Without compat_ioctl
# every call is ENOTTY; a pointer or u64 mishandled on the way shows as a wrong value.
n32=17
if [ "$(uname -m)" != x86_64 ]; then
	for _ in $(seq $n32); do skip "32-bit ioctls" "no i386 processes on $(uname -m) here"; done
elif ! gcc -m32 -static -nostdlib -ffreestanding -fno-builtin -fno-pie -no-pie -O2 \
	-I "$RZS_ROOT/include/uapi" -idirafter /usr/include/x86_64-linux-gnu \
	-o "$T/ioctl32" "$RZS_ROOT/tests/lib/ioctl32.c" 2>"$T/cc.err"; then
	show cat "$T/cc.err"
	for _ in $(seq $n32); do fail "32-bit ioctls: tests/lib/ioctl32.c did not build"; done
else
	chmod 755 "$T/ioctl32"
	io32() { "$T/ioctl32" $dev "$@"; }
	is "ioctl32 is an i386 program" "$(od -An -tx1 -j4 -N1 "$T/ioctl32" | tr -d ' ')" "01"
	is "32-bit GET_STATS: size 216, version 2, not initialized" "$(io32 stats)" "ok size=216 version=2 init=0 disksize=0"
	is "32-bit GET_STATS with room for 24 fills exactly 24" "$(io32 stats-room 24)" "ok size=24 rest-untouched=yes"
	is "32-bit GET_STATS with room for 4: EINVAL" "$(io32 stats-room 4)" "EINVAL"
	is "32-bit GET_STATS with a bad pointer: EFAULT" "$(io32 stats-badptr)" "EFAULT"
	is "32-bit unknown command: ENOTTY" "$(io32 unknown)" "ENOTTY"
	is "32-bit SET_DISKSIZE with a bad pointer: EFAULT" "$(io32 disksize-badptr)" "EFAULT"
	is "32-bit SET_DISKSIZE 0: EINVAL" "$(io32 disksize 0)" "EINVAL"
	is "32-bit SET_DISKSIZE 2 TiB: EINVAL" "$(io32 disksize $((2 << 40)))" "EINVAL"
	is "32-bit unprivileged SET_DISKSIZE: EPERM" "$(nobody "$T/ioctl32" $dev disksize $((64 << 20)))" "EPERM"
	# 4 GiB + 4 KiB: a u64 cut to 32 bits anywhere on the way would leave 4 KiB
	is "32-bit SET_DISKSIZE 4 GiB + 4 KiB: ok" "$(io32 disksize $(((4 << 30) + 4096)))" "ok"
	is "... the 64-bit caller sees disksize 4 GiB + 4 KiB" "$(io stats)" "ok size=160 version=2 init=1 disksize=$(((4 << 30) + 4096))"
	# above the guest's RAM: EINVAL; cut to 32 bits it would be an accepted 32 MiB
	is "32-bit SET_MEM_LIMIT 4 GiB + 32 MiB (above RAM): EINVAL" "$(io32 memlimit $(((4 << 30) + (32 << 20))))" "EINVAL"
	is "32-bit SET_MEM_LIMIT 32 MiB: ok, mem_limit 32 MiB" "$(io32 memlimit $((32 << 20))) $(st mem_limit)" "ok mem_limit=$((32 << 20))"
	# (Every field the version-1 layout has: the 64-bit tool here is a version-1 one.)
	is "32-bit and 64-bit GET_STATS agree on every field" "$(io32 stats-all | cut -d' ' -f3-)" "$(io stats-all | cut -d' ' -f3-)"
	is "32-bit SET_DISKSIZE on a sized device: EBUSY" "$(io32 disksize $((64 << 20)))" "EBUSY"
	is "32-bit RESET: ok, and the device is unsized again" "$(io32 reset) $(io stats)" "ok ok size=160 version=2 init=0 disksize=0"
fi

# --- 3. rzsctl: size, limit and its errors ---------------------------------------------
exits "rzsctl --size 0: exit 7, invalid argument" 7 "invalid argument" "$rzsctl" $dev --size 0
exits "rzsctl --size 2T: exit 7, invalid argument" 7 "invalid argument" "$rzsctl" $dev --size 2T
ok "rzsctl $dev --size 256M --mem-limit 128M" "$rzsctl" $dev --size 256M --mem-limit 128M
is "stats: disksize 256 MiB, mem_limit 128 MiB, initialized" \
	"$(st disksize mem_limit initialized)" "disksize=268435456 mem_limit=134217728 initialized=True"
is "capacity 256 MiB in sysfs" "$(cat /sys/block/rzs0/size)" $((256 * 2048))
is "table: DISKSIZE 256M, LIMIT 128M" "$(row NAME,DISKSIZE,LIMIT)" "/dev/rzs0 256M 128M"
exits "a second --size: exit 6, busy" 6 "busy: already has a size" "$rzsctl" rzs0 --size 128M
is "SET_DISKSIZE on a sized device: EBUSY" "$(io disksize $((128 << 20)))" "EBUSY"
is "disksize unchanged by the refused calls" "$(st disksize)" "disksize=268435456"
exits "rzsctl nosuch: exit 3, no such device" 3 "no such device" "$rzsctl" nosuch
exits "rzsctl stats /dev/null: exit 3, not an rzs device" 3 "not an rzs device" "$rzsctl" stats /dev/null
ok "rzsctl --mem-limit 0 (no limit for the workload)" "$rzsctl" $dev --mem-limit 0
is "stats: mem_limit 0" "$(st mem_limit)" "mem_limit=0"

# --- 4. End to end: swap on rzs0 under a workload -------------------------------------
ok "mkswap $dev" mkswap $dev
ok "swapon $dev" swapon $dev
is "table: SWAP yes" "$(row NAME,SWAP)" "/dev/rzs0 yes"
# 160 MiB in a 64 MiB cgroup: about 100 MiB must go out to rzs0. Sample the stats
# while the workload still holds its memory (--hold), once enough pages are out.
run_limited 64 "$memtest" --size 160 --passes 1 --hold 15 &
wl=$!
for i in $(seq 240); do
	js=$("$rzsctl" stats $dev --json)
	n=$(jf pages_stored <<<"$js")
	[ "${n#pages_stored=}" -ge 5000 ] 2>/dev/null && break
	kill -0 $wl 2>/dev/null || break
	sleep 0.5
done
show "$rzsctl"
show "$rzsctl" stats $dev
eval "$(jf num_writes pages_stored orig_data_size compr_data_size mem_used_total <<<"$js")"
diag "while swapped out: num_writes=$num_writes pages_stored=$pages_stored orig=$orig_data_size compr=$compr_data_size mem=$mem_used_total"
check "[ ${num_writes:-0} -gt 0 ]" "stats show the traffic: num_writes > 0"
check "[ ${pages_stored:-0} -ge 5000 ]" "stats show the pages out: pages_stored >= 5000"
is "orig_data_size is pages_stored pages" "${orig_data_size:-}" $((${pages_stored:-0} * 4096))
check "[ ${compr_data_size:-0} -gt 0 ] && [ ${compr_data_size:-0} -lt ${orig_data_size:-0} ]" "the data compressed: 0 < compr_data_size < orig_data_size"
check "[ ${mem_used_total:-0} -gt 0 ]" "memory in use: mem_used_total > 0"
# Watch until it has redrawn 3 times (at most 60 s): a slow guest (the debug kernel
# under load) can take seconds just to start it, so no fixed window.
"$rzsctl" --watch=0.5 >"$T/watch" 2>&1 &
wpid=$!
for _ in $(seq 120); do
	[ "$(grep -o $'\e\[H' "$T/watch" | wc -l)" -ge 3 ] && break
	sleep 0.5
done
# TERM: a background job of a non-interactive shell has SIGINT ignored.
kill -TERM $wpid 2>/dev/null
wait $wpid 2>/dev/null
frames=$(grep -o $'\e\[H' "$T/watch" | wc -l)
diag "rzsctl --watch=0.5: $frames redraws"
check "[ $frames -ge 3 ] && grep -q /dev/rzs0 $T/watch" "rzsctl --watch redraws in place"
exits "--reset while swapped on: exit 6, busy" 6 "busy: the device is in use" "$rzsctl" --reset $dev
# (wait in this shell: the workload is its child, not a child of ok's subshell)
wait $wl && wrc=0 || wrc=$?
wl=
is "the workload verified every page (rzs-memtest exit status)" $wrc 0
ok "swapoff $dev" swapoff $dev
is "table: SWAP no" "$(row NAME,SWAP)" "/dev/rzs0 no"
show "$rzsctl" stats $dev
ok "rzsctl --reset $dev" "$rzsctl" --reset $dev
is "stats zeroed" "$(st disksize initialized num_writes num_reads pages_stored orig_data_size compr_data_size mem_used_total)" \
	"disksize=0 initialized=False num_writes=0 num_reads=0 pages_stored=0 orig_data_size=0 compr_data_size=0 mem_used_total=0"
is "capacity 0 in sysfs" "$(cat /sys/block/rzs0/size)" 0
ok "a size can be set again after the reset" "$rzsctl" $dev --size 64M
ok "and reset again" "$rzsctl" $dev --reset
memcg_cleanup
ok "rmmod rzs" unload_rzs
exits "rzsctl without the module: exit 4" 4 "module not loaded" "$rzsctl"
tap_exit
