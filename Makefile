# SPDX-License-Identifier: GPL-2.0
#
# rzs top-level Makefile. The two commands a user needs:
#   make run    install what is missing, build, boot the test kernel, demo swap on rzs
#   make test   every test: userspace cargo suites and the QEMU-booted suites
#   make check  the quick edit-test loop: cargo test, fmt, clippy, the module and I/O
#               suites in one guest (SUITES=... picks others)
#   make bench  rzs vs zram in one guest, and the codec against the kernel's; bench/results/
#   make bench-codec  lz4_flex as rzs.ko builds it vs the kernel's C lz4, natively on
#               this CPU with the kernel's objects and mem* routines (a few minutes)
#   make bench-codec-count  the same objects, instructions, data accesses and branches per page
#               counted by callgrind (load-independent); bench/results/codec-count.md
#   make bench-icount  make bench's guest run counting guest instructions (QEMU
#               -icount): layout-independent, sizes a per-page change; bench/results/icount/
#   make bench-tier  tiering under swap: rzs's automatic writeback vs zram with a
#               writeback script and zram without a backing device; bench/results/tier.md
#   make bench-tcg-count  guest instructions, memory accesses and translated blocks per
#               I/O and per swapped page, rzs vs zram, by function, under make bench's
#               TCG (a QEMU plugin; a few minutes); bench/results/tcg-count.md;
#               BENCH_ARCH=arm64: the same on arm64 (the arm64 guest of make stress;
#               builds its kernel the first time); bench/results/tcg-count-arm64.md
#   make stress the long runs: cargo fuzz, long stress suites, every suite on the
#               debug kernel (KASAN, lockdep, kmemleak), the PREEMPT_RT one and the
#               arm64 one (qemu-system-aarch64); about 3.7 h; it includes
#   make mutate rzs.ko built with each deliberate fault of tests/mutations/, every
#               guest suite on it: each fault must make a suite fail (~1 h)
#
#   make install      rzs.ko, rzsctl, its man page and completions, the uapi header and
#               the boot-time setup files, for your kernel: KDIR=/lib/modules/$(uname -r)/build
#               unless given; PREFIX (/usr/local) and DESTDIR as usual (scripts/install.sh)
#   make dkms-install the module's sources with lz4_flex, patched, in /usr/src/rzs-VERSION,
#               then dkms add + install: DKMS rebuilds rzs.ko for every new kernel;
#               make install-tools then installs the rest (all of install but rzs.ko)
#   make uninstall, make dkms-uninstall   undo them
#
# Other targets: deps, kernel, crates, module, rzsctl, clean. Variables:
#   KERNEL=std|debug|rt  which cached test kernel to build and boot (default std:
#               PREEMPT, DEBUG_ATOMIC_SLEEP; debug: + KASAN, lockdep...; rt: PREEMPT_RT)
#   KDIR=/path         build rzs.ko against another Rust-enabled kernel tree instead,
#               with the compilers that tree was built with (scripts/kdir-toolchain.sh;
#               LLVM=, RUSTC=... on the command line override them)
#   SUITES="tests/suites/10-io.sh ..."   run only these guest suites (make test)
#
# Kbuild (not this file) describes the module itself, so
#   scripts/crates.sh && make -C $KDIR M=$PWD LLVM=... RUSTC=...
# also works directly, against any Rust-enabled kernel tree.

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
KERNEL ?= std
SHELL := /bin/bash

# Installing is for the kernel this machine runs, unless KDIR says otherwise.
INSTALL_GOALS := install install-tools uninstall dkms-install dkms-uninstall
ifeq ($(origin KDIR),undefined)
ifneq ($(filter $(INSTALL_GOALS),$(MAKECMDGOALS)),)
KDIR := /lib/modules/$(shell uname -r)/build
endif
endif

ifeq ($(origin KDIR),undefined)
KDIR = $(shell $(ROOT)/scripts/kernel.sh --path $(KERNEL))
kernel_dep := kernel
# The project's test kernel: the toolchain scripts/lib.sh builds it with.
KMAKE_ALL := $(shell . $(ROOT)/scripts/lib.sh >/dev/null 2>&1; echo $$KMAKE_VARS)
else
kernel_dep :=
# Another tree: the toolchain that tree was built with (its auto.conf says which).
# Not asked for when only installing goals run and the tree is missing: the install
# script says so more clearly, and dkms-install DESTDIR=... does not need a tree.
KMAKE_ALL := $(if $(or $(wildcard $(KDIR)/include/config/auto.conf),$(filter-out $(INSTALL_GOALS),$(or $(MAKECMDGOALS),all))),\
	$(shell $(ROOT)/scripts/kdir-toolchain.sh $(KDIR)))
endif
export LIBCLANG_PATH := /usr/lib/llvm-19/lib

# A variable the user sets (LLVM=1, RUSTC=...) on the command line or in the
# environment wins: it reaches the kernel's make by itself, so drop ours.
user_set = $(filter command line environment environment override,$(origin $(1)))
KMAKE_VARS := $(foreach v,$(KMAKE_ALL),$(if $(call user_set,$(firstword $(subst =, ,$(v)))),,$(v)))
# The kernel's `macros` proc-macro must come from the rustc that builds the module.
ifneq ($(call user_set,RUSTC),)
ifeq ($(call user_set,HOSTRUSTC),)
KMAKE_VARS := $(filter-out HOSTRUSTC=% RUSTDOC=%,$(KMAKE_VARS)) HOSTRUSTC=$(RUSTC)
endif
endif

.PHONY: all deps crates kernel module rzsctl run test check bench bench-codec bench-codec-count bench-icount bench-tier bench-tcg-count stress mutate clean help \
	install install-tools uninstall dkms-install dkms-uninstall

all: module

help:
	@sed -n '3,41p' $(ROOT)/Makefile | sed 's/^# \{0,1\}//'

deps:
	@$(ROOT)/scripts/deps.sh

kernel: deps
	@$(ROOT)/scripts/kernel.sh $(KERNEL) >/dev/null

# Kbuild reads where the crates are from rzs-crates.mk and runs no cargo itself.
crates: $(kernel_dep)
	@$(ROOT)/scripts/crates.sh

# .rzs-kdir records the tree rzs.ko was last built against, and when: `make install`
# reuses rzs.ko if no source of it changed since (scripts/install.sh).
module: $(kernel_dep) crates
	@$(MAKE) -s -C $(KDIR) M=$(ROOT) $(KMAKE_VARS) modules
	@realpath $(KDIR) >$(ROOT)/.rzs-kdir
	@echo "rzs: built $(ROOT)/rzs.ko against $(KDIR)"

# rzsctl, release build: what make install installs.
rzsctl:
	@cd $(ROOT) && cargo build --release --locked -q -p rzsctl

# Install and uninstall (scripts/install.sh): rzs.ko and rzsctl are built first only if
# they are missing or older than their sources, so a tree built as a user installs
# with sudo and no cargo on root's PATH.
PREFIX ?= /usr/local
install install-tools uninstall dkms-install dkms-uninstall:
	@KDIR='$(KDIR)' DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' RZS_KMAKE_VARS='$(KMAKE_VARS)' \
		$(ROOT)/scripts/install.sh $@

run: module
	@$(ROOT)/scripts/run.sh $(KDIR)

test: module
	@$(ROOT)/scripts/test.sh $(KDIR) $(SUITES)

# The edit-test loop: the module, cargo test, fmt, clippy, stack frames, and the
# module and I/O suites in one guest.
check: module
	@RZS_QUICK=1 RZS_LANES=1 $(ROOT)/scripts/test.sh $(KDIR) $(or $(SUITES),$(CHECK_SUITES))
CHECK_SUITES = $(ROOT)/tests/suites/00-module.sh $(ROOT)/tests/suites/10-io.sh

bench: module
	@$(ROOT)/scripts/bench.sh $(KDIR)

bench-codec: module
	@$(ROOT)/scripts/bench-codec.sh $(KDIR)

bench-codec-count: module
	@BENCH_CODEC_COUNT=1 $(ROOT)/scripts/bench-codec.sh $(KDIR)

bench-icount: module
	@BENCH_ICOUNT=1 $(ROOT)/scripts/bench.sh $(KDIR)

bench-tier: module
	@$(ROOT)/scripts/bench-tier.sh $(KDIR)

bench-tcg-count: module
	@$(ROOT)/scripts/bench-tcg-count.sh $(KDIR)

stress: module
	@$(ROOT)/scripts/stress.sh $(KDIR)

mutate: module
	@$(ROOT)/scripts/mutate.sh $(KDIR)

clean:
	@if [ -d "$(KDIR)" ]; then $(MAKE) -s -C $(KDIR) M=$(ROOT) $(KMAKE_VARS) clean; fi
	@rm -rf $(ROOT)/tests/out $(ROOT)/tests/out.* $(ROOT)/.rzs-kdir
	@cd $(ROOT) && cargo clean -q 2>/dev/null || true
