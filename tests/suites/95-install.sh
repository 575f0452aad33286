#!/usr/bin/env bash
# make install, make uninstall and DKMS against the booted test kernel, from the
# read-only tree make test built (nothing is rebuilt: no cargo on the guest's PATH).
# A DESTDIR install: every file with its mode, rzsctl runs, the man page renders, the
# completions load, the header compiles, the module's modinfo, /etc/rzs.conf left alone;
# uninstall removes it all. A real install (writes land in the guest's tmpfs; a
# writable copy of /lib/modules/RELEASE): depmod makes `modprobe rzs` load it and
# /dev/rzs0 appear. DKMS: the source tree make dkms-install writes has lz4_flex
# vendored and nothing built; dkms add + install build rzs.ko in the guest with make
# and the kernel's compilers only (no cargo, no network), modprobe loads that build,
# AUTOINSTALL puts it back after an uninstall, dkms-uninstall removes it all.
# cost: 330 s (under TCG, std kernel; the DKMS build in the guest is 175-180 s of it)
# mutate: skip (it installs and builds the tree's own sources: a mutant rzs.ko never reaches it)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
T=$(mktemp -d)
rel=$(uname -r)
mods=/lib/modules/$rel
kdir=$mods/build
ver=$(sed -nE '/^\[workspace\.package\]/,/^\[/ s/^version *= *"([^"]+)".*/\1/p' "$RZS_ROOT/Cargo.toml")
mk() { make -s -C "$RZS_ROOT" "$@"; }
# is DESC GOT WANT: passes if GOT is WANT.
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi; }
# modes ROOT FILE...: "MODE FILE" of each (missing: "- FILE"), relative to ROOT.
modes() {
	local r=$1 f
	shift
	for f in "$@"; do if [ -e "$r$f" ]; then stat -c "%a $f" "$r$f"; else echo "- $f"; fi; done
}
wait_node() {
	local i
	for i in $(seq 50); do [ -b /dev/rzs0 ] && return 0; sleep 0.1; done
	return 1
}
# modprobe_rzs: load rzs by name, as a system does, and see /dev/rzs0 appear.
modprobe_rzs() { modprobe rzs && wait_node && [ "$(cat /sys/block/rzs0/initstate)" = 0 ]; }

# /lib/modules/RELEASE is virtme's symlink into the read-only host tree: swap in a
# writable copy (tmpfs) for the real install and DKMS, and put the symlink back after.
mods_link=$(readlink "$mods" || true)
restore() {
	cleanup_rzs
	if command -v dkms >/dev/null && [ -n "$(dkms status -m rzs -v "$ver" 2>/dev/null)" ]; then
		dkms remove "rzs/$ver" --all >/dev/null 2>&1
	fi
	rm -rf "/usr/src/rzs-$ver"
	if [ -n "$mods_link" ] && [ ! -L "$mods" ]; then rm -rf "$mods" && ln -s "$mods_link" "$mods"; fi
	rm -rf "$T"
}
trap restore EXIT

plan 51
# The arm64 guest boots a Debian arm64 root with no build tools (make, a C compiler,
# dkms) and no kernel tree: nothing here can run there. The install path is the
# same scripts on every architecture; it is tested on the x86 kernels.
if [ -z "${RZS_KDIR:-}" ] || ! command -v make >/dev/null; then
	for _ in $(seq 51); do skip "make install and DKMS" "no build tools or kernel tree in this guest ($(uname -m))"; done
	tap_exit
fi
t_start=$(date +%s)
# phase NAME: how long the suite has run (where its time goes under TCG).
phase() { diag "== $* [+$(($(date +%s) - t_start)) s]"; }
diag "kernel $rel, tree $RZS_KDIR, rzs $ver; network interfaces: $(ls /sys/class/net | tr '\n' ' ')"
check "[ \"\$(realpath $kdir)\" = \"\$(realpath $RZS_KDIR)\" ]" "/lib/modules/$rel/build is the test kernel's tree"
check "! command -v cargo >/dev/null" "no cargo on the guest's PATH (install and DKMS must not need it)"

# rzs.ko in the tree must be make test's build for this kernel's tree for make install
# to reuse it (the read-only tree cannot build another). It is under make test; not
# under make stress's debug and rt kernels, whose rzs.ko is built elsewhere: there the
# module's part of make install is skipped, install-tools and DKMS still run.
mod_ok=yes
[ "$(cat "$RZS_ROOT/.rzs-kdir" 2>/dev/null)" = "$(realpath "$RZS_KDIR")" ] || mod_ok=no
no_mod="rzs.ko in $RZS_ROOT was built against $(cat "$RZS_ROOT/.rzs-kdir" 2>/dev/null || echo nothing), not this kernel's tree"
# skipn N REASON DESC...: skip N tests.
skipn() {
	local n=$1 why=$2 i
	for i in $(seq "$n"); do skip "make install, the module's part ($i)" "$why"; done
}

# --- make install DESTDIR=... (install-tools if rzs.ko is not this kernel's)
phase "make install DESTDIR=..."
D=$T/root
mkdir -p "$D/etc"
echo "# the admin's own" >"$D/etc/rzs.conf"
target=install
[ $mod_ok = yes ] || target=install-tools
out=$(mk $target KDIR="$kdir" DESTDIR="$D" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
is "make $target DESTDIR=... KDIR=/lib/modules/$rel/build" "$rc" 0
check "grep -q 'rzsctl is up to date' <<<\"\$out\" && { [ $mod_ok = no ] || grep -q 'rzs.ko is up to date' <<<\"\$out\"; }" \
	"it reuses the rzsctl$([ $mod_ok = yes ] && echo " and rzs.ko") make test built (no rebuild)"
p=/usr/local
files=($p/sbin/rzsctl $p/share/man/man8/rzsctl.8 $p/share/bash-completion/completions/rzsctl
	$p/share/zsh/site-functions/_rzsctl $p/share/fish/vendor_completions.d/rzsctl.fish $p/include/linux/rzs.h)
want=(755 644 644 644 644 644)
if [ $mod_ok = yes ]; then files+=("/lib/modules/$rel/updates/rzs.ko"); want+=(644); fi
extra=()
if [ -f "$RZS_ROOT/systemd/rzs-setup.service" ]; then files+=($p/lib/systemd/system/rzs-setup.service); want+=(644); extra+=(unit); fi
if [ -f "$RZS_ROOT/rzs.conf.example" ]; then files+=($p/share/doc/rzs/rzs.conf.example); want+=(644); extra+=(example); fi
expect=$(for i in "${!files[@]}"; do echo "${want[$i]} ${files[$i]}"; done)
is "every file installed, with its mode" "$(modes "$D" "${files[@]}")" "$expect"
is "nothing else installed (but the admin's /etc/rzs.conf)" \
	"$(cd "$D" && find . -type f | sed 's/^\.//' | sort)" "$(printf '%s\n' /etc/rzs.conf "${files[@]}" | sort)"
is "/etc/rzs.conf left as it was" "$(cat "$D/etc/rzs.conf")" "# the admin's own"
if [ $mod_ok = yes ]; then
	m=$D/lib/modules/$rel/updates/rzs.ko
	is "modinfo of the installed module: name, vermagic of this kernel" \
		"$(modinfo -F name "$m") $(modinfo -F vermagic "$m" | cut -d' ' -f1)" "rzs $rel"
	check "modinfo -F parm $m | grep -q '^num_devices:'" "the installed module has its parameters"
	check "cmp -s $m $RZS_ROOT/rzs.ko" "the installed module is the one make test built"
else
	skipn 3 "$no_mod"
fi
ok "the installed rzsctl runs (--version)" "$D$p/sbin/rzsctl" --version
man=$(MANWIDTH=80 man -P cat -l "$D$p/share/man/man8/rzsctl.8" 2>&1)
check "grep -q '^NAME' <<<\"\$man\" && grep -q 'rzsctl - ' <<<\"\$man\" && [ \$(wc -l <<<\"\$man\") -gt 40 ]" \
	"the man page renders (man -l: NAME, $(wc -l <<<"$man") lines)"
ok "the bash completion loads and completes rzsctl" bash -c ". $D$p/share/bash-completion/completions/rzsctl && complete -p rzsctl"
check "head -n1 $D$p/share/zsh/site-functions/_rzsctl | grep -qx '#compdef rzsctl' && grep -q '^complete -c rzsctl' $D$p/share/fish/vendor_completions.d/rzsctl.fish" \
	"zsh (#compdef rzsctl) and fish (complete -c rzsctl) completions"
printf '#include <linux/rzs.h>\nunsigned long x = RZS_IOC_GET_STATS;\n' >"$T/h.c"
ok "the installed <linux/rzs.h> compiles" cc -fsyntax-only -I "$D$p/include" "$T/h.c"
# execs UNIT: the program of each Exec line that runs rzsctl.
execs() { sed -nE 's/^Exec[A-Za-z]*=[-@:+!]*([^ ]*rzsctl)( .*)?$/\1/p' "$1" | sort -u | tr '\n' ' '; }
if [[ " ${extra[*]} " = *" unit "* ]]; then
	u=$D$p/lib/systemd/system/rzs-setup.service
	check "[ -n \"\$(execs $u)\" ] && [ -z \"\$(execs $u | tr ' ' '\n' | grep -vxE 'rzsctl|$p/sbin/rzsctl')\" ]" \
		"the unit runs rzsctl by a name systemd finds in $p/sbin ($(execs "$u"))"
	ok "make install-tools DESTDIR=... PREFIX=/opt/rzs" mk install-tools DESTDIR="$T/opt" PREFIX=/opt/rzs
	is "PREFIX=/opt/rzs: the unit runs /opt/rzs/sbin/rzsctl (not on systemd's search path)" \
		"$(execs "$T/opt/opt/rzs/lib/systemd/system/rzs-setup.service")" "/opt/rzs/sbin/rzsctl "
else
	skip "the unit runs rzsctl by a name systemd finds" "no systemd/rzs-setup.service in this tree"
	skip "make install-tools DESTDIR=... PREFIX=/opt/rzs" "no systemd/rzs-setup.service in this tree"
	skip "PREFIX=/opt/rzs: the unit runs /opt/rzs/sbin/rzsctl" "no systemd/rzs-setup.service in this tree"
fi
ok "make uninstall DESTDIR=..." mk uninstall KDIR="$kdir" DESTDIR="$D"
is "uninstall leaves no file but /etc/rzs.conf, unchanged" \
	"$(cd "$D" && find . -type f) $(cat "$D/etc/rzs.conf")" "./etc/rzs.conf # the admin's own"
phase "make install-tools DESTDIR=... PREFIX=/usr"
ok "make install-tools DESTDIR=... PREFIX=/usr (no KDIR: it needs none)" mk install-tools DESTDIR="$T/usr" PREFIX=/usr
usr_files=(/usr/sbin/rzsctl /usr/share/man/man8/rzsctl.8 /usr/include/linux/rzs.h)
usr_want="755 /usr/sbin/rzsctl 644 /usr/share/man/man8/rzsctl.8 644 /usr/include/linux/rzs.h"
if [[ " ${extra[*]} " = *" unit "* ]]; then
	usr_files+=(/lib/systemd/system/rzs-setup.service)
	usr_want+=" 644 /lib/systemd/system/rzs-setup.service"
fi
is "PREFIX=/usr: rzsctl in /usr/sbin, ... (a unit in /lib/systemd/system), no rzs.ko" \
	"$(modes "$T/usr" "${usr_files[@]}" | tr '\n' ' ')$(find "$T/usr" -name 'rzs.ko*' | wc -l)" "$usr_want 0"

# --- the real thing: make install into this (throwaway) system, modprobe
phase "make install, no DESTDIR"
if [ -n "$mods_link" ]; then
	real=$(realpath "$mods")
	rm "$mods" && mkdir "$mods" && cp -a "$real/." "$mods/"
	# Its symlinks (modules.builtin, build, kernel/...: relative, into the tree) made absolute.
	while IFS= read -r l; do ln -sfn "$(realpath "$real/${l#"$mods"/}")" "$l"; done < <(find "$mods" -type l)
fi
check "[ -w $mods ] && [ \"\$(realpath $kdir)\" = \"\$(realpath $RZS_KDIR)\" ]" "a writable /lib/modules/$rel (tmpfs), build still the test kernel's tree"
if [ $mod_ok = yes ]; then
	ok "make install (as root, no DESTDIR)" mk install KDIR="$kdir"
	is "rzsctl in /usr/local/sbin, rzs.ko in updates/" "$(modes "" /usr/local/sbin/rzsctl "$mods/updates/rzs.ko" | tr '\n' ' ')" \
		"755 /usr/local/sbin/rzsctl 644 $mods/updates/rzs.ko "
	is "depmod ran: modinfo rzs finds it by name" "$(modinfo -n rzs 2>&1)" "$mods/updates/rzs.ko"
	ok "modprobe rzs: /dev/rzs0 appears" modprobe_rzs
	ok "the installed rzsctl lists it" bash -c "/usr/local/sbin/rzsctl | grep -q rzs0"
	ok "rmmod rzs" rmmod rzs
	ok "make uninstall" mk uninstall KDIR="$kdir"
	check "[ ! -e /usr/local/sbin/rzsctl ] && [ ! -e $mods/updates/rzs.ko ] && [ ! -e /usr/local/share/man/man8/rzsctl.8 ]" "uninstall removed rzsctl, rzs.ko, the man page"
	fails "modprobe rzs fails after uninstall (depmod ran)" modprobe rzs
else
	skipn 9 "$no_mod"
fi

# --- DKMS
phase "DKMS"
S=$T/stage/usr/src/rzs-$ver
ok "make dkms-install DESTDIR=... writes the DKMS source tree" mk dkms-install DESTDIR="$T/stage"
is "its dkms.conf: PACKAGE_VERSION is the workspace's" "$(. "$S/dkms.conf" && echo "$PACKAGE_NAME $PACKAGE_VERSION $AUTOINSTALL")" "rzs $ver yes"
check "[ -f $S/vendor/lz4_flex/src/lib.rs ] && grep -qx 'LZ4_FLEX_SRC := \$(src)/vendor/lz4_flex' $S/rzs-crates.mk" \
	"lz4_flex vendored, and the record points at it"
# The patches stack (a later one may edit what an earlier one added), so
# reverse them newest first on a copy: each must come off cleanly.
applied=0
cp -r "$S/vendor/lz4_flex" "$T/unpatch"
for pt in $(printf '%s\n' "$RZS_ROOT"/scripts/patches/crates/lz4_flex-*/*.patch | sort -r); do
	patch -s -R -p1 -d "$T/unpatch" <"$pt" >/dev/null 2>&1 || { applied=1; diag "does not reverse: ${pt##*/}"; }
done
rm -rf "$T/unpatch"
is "the vendored lz4_flex has scripts/patches/crates/ applied (each reverses cleanly, newest first)" "$applied" 0
is "nothing built in it (*.o, *.ko, .*.cmd)" "$(find "$S" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \) | wc -l)" 0
# A tree without the crate fails at once, saying why (no Kbuild run needed).
cp -r "$S" "$T/broken" && rm -rf "$T/broken/vendor"
out=$(bash "$T/broken/scripts/dkms-make.sh" "$kdir" modules 2>&1)
rc=$?
check "[ $rc != 0 ] && grep -q \"lz4_flex's source is missing\" <<<\"\$out\"" "a DKMS tree without vendor/lz4_flex fails at once, saying why (exit $rc)"
phase "make dkms-install (dkms add, build, install)"
t0=$(date +%s)
out=$(mk dkms-install KDIR="$kdir" 2>&1)
rc=$?
printf '%s\n' "$out" | tail -n 20 | sed 's/^/# /'
[ $rc = 0 ] || tail -n 15 "/var/lib/dkms/rzs/$ver/build/make.log" 2>/dev/null | sed 's/^/# make.log: /'
is "make dkms-install: dkms add, build (in the guest), install for $rel ($(($(date +%s) - t0)) s)" "$rc" 0
mlog=$(ls /var/lib/dkms/rzs/"$ver"/"$rel"/*/log/make.log 2>/dev/null | head -n1)
[ -n "$mlog" ] && grep -E 'RUSTC|LD \[M\]|warning|error' "$mlog" | head -n 12 | sed 's/^/# make.log: /'
is "dkms status: installed" "$(dkms status -m rzs -v "$ver" -k "$rel" | sed -E 's/.*: //')" "installed"
check "[ -n \"$mlog\" ] && grep -q 'RUSTC \[M\].*lz4_flex.o' $mlog && ! grep -qi 'warning\\|error' $mlog" "the DKMS build compiled lz4_flex from the vendored copy, warning-free"
is "modinfo rzs: the DKMS build, for this kernel" "$(modinfo -n rzs) $(modinfo -F vermagic rzs | cut -d' ' -f1)" "$mods/updates/dkms/rzs.ko $rel"
ok "modprobe rzs (the DKMS build): /dev/rzs0 appears" modprobe_rzs
ok "it works: write, read back" bash -c "echo 64M >/sys/block/rzs0/disksize && head -c 4M /dev/urandom >$T/d && dd if=$T/d of=/dev/rzs0 bs=1M oflag=direct status=none && cmp <(head -c 4M /dev/rzs0) $T/d"
ok "rmmod rzs" rmmod rzs
ok "dkms uninstall (the build kept)" dkms uninstall "rzs/$ver" -k "$rel"
ok "AUTOINSTALL: dkms autoinstall puts it back" dkms autoinstall -k "$rel"
is "... installed again" "$(dkms status -m rzs -v "$ver" -k "$rel" | sed -E 's/.*: //') $(modinfo -n rzs)" "installed $mods/updates/dkms/rzs.ko"
phase "make dkms-uninstall"
ok "make dkms-uninstall" mk dkms-uninstall
check "[ -z \"\$(dkms status -m rzs)\" ] && [ ! -e /usr/src/rzs-$ver ] && [ ! -e $mods/updates/dkms/rzs.ko ]" \
	"dkms status empty, /usr/src/rzs-$ver and the module gone"
fails "modprobe rzs fails after dkms-uninstall" modprobe rzs
phase "done"
tap_exit
