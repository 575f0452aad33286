// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin for `make bench-tcg-count`: how many times each translated block
 * (TB) of the guest runs, and with it how many guest instructions and memory accesses
 * it executes, written out and reset each time the guest executes the marker
 * instruction of the marker program mark.c: `xchg %bx,%bx` (66 87 db) on x86,
 * `orr x7, x7, x7` (e7 00 07 aa) on arm64. Both are looked for whatever the guest: no
 * x86 instruction is those four bytes, no arm64 one is three.
 *
 * Each dump is a file OUT.N (N = 0, 1, ... in marker order), one line per TB that ran:
 *   <guest address of the TB, hex> <instructions in the TB> <executions> <memory accesses>
 * bench/tcgcount/report.py maps the addresses to the guest's symbols.
 *
 * Under TCG a TB ends at every branch, so TB executions count the guest's branches
 * plus the blocks entered after calls and returns: with memory accesses (a software
 * TLB lookup each), the costs that instructions alone do not show.
 *
 * The counters are inline additions (the cheapest instrumentation), not atomic: two
 * vCPUs running the same TB at the very same moment can lose an increment. The
 * measured workloads run on one vCPU at a time, mostly; compare runs to see the noise.
 *
 * The plugin API is declared here rather than taken from qemu-plugin.h, which
 * Debian does not ship: the calls of QEMU_PLUGIN_VERSION 1 (QEMU 7.2, Debian 12's),
 * with their 7.2 signatures. QEMU refuses a plugin whose version it does not support.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_mem_rw rw,
					  enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One per translation of a TB (a TB translated again gets another). */
struct tb_count {
	uint64_t vaddr, insns, execs, mem;
};

static struct tb_count **tbs;
static size_t ntbs, cap;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *out = "tbcount";
static int dumps;

static void dump(unsigned int vcpu, void *udata)
{
	char path[4096];
	FILE *f;

	(void)vcpu;
	(void)udata;
	pthread_mutex_lock(&lock);
	snprintf(path, sizeof(path), "%s.%d", out, dumps++);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "tbcount: cannot write %s\n", path);
	for (size_t i = 0; i < ntbs; i++) {
		struct tb_count *t = tbs[i];

		if (t->execs && f)
			fprintf(f, "%llx %llu %llu %llu\n", (unsigned long long)t->vaddr,
				(unsigned long long)t->insns, (unsigned long long)t->execs,
				(unsigned long long)t->mem);
		t->execs = 0;
		t->mem = 0;
	}
	if (f)
		fclose(f);
	pthread_mutex_unlock(&lock);
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	struct tb_count *t = calloc(1, sizeof(*t));

	(void)id;
	if (!t)
		abort();
	t->vaddr = qemu_plugin_tb_vaddr(tb);
	t->insns = qemu_plugin_tb_n_insns(tb);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &t->execs, 1);
	for (size_t i = 0; i < t->insns; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		const uint8_t *b = qemu_plugin_insn_data(insn);

		qemu_plugin_register_vcpu_mem_inline(insn, QEMU_PLUGIN_MEM_RW, QEMU_PLUGIN_INLINE_ADD_U64,
						     &t->mem, 1);
		if ((qemu_plugin_insn_size(insn) == 3 && b[0] == 0x66 && b[1] == 0x87 && b[2] == 0xdb) ||
		    (qemu_plugin_insn_size(insn) == 4 && b[0] == 0xe7 && b[1] == 0x00 && b[2] == 0x07 &&
		     b[3] == 0xaa))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, dump, QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
	pthread_mutex_lock(&lock);
	if (ntbs == cap) {
		cap = cap ? 2 * cap : 65536;
		tbs = realloc(tbs, cap * sizeof(*tbs));
		if (!tbs)
			abort();
	}
	tbs[ntbs++] = t;
	pthread_mutex_unlock(&lock);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
							       int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			out = strdup(argv[i] + 4);
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	return 0;
}
