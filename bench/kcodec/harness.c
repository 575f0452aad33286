// SPDX-License-Identifier: GPL-2.0
/*
 * rzs-kcodec-bench: lz4_flex exactly as rzs.ko builds it against the test kernel's
 * own lib/lz4, both running on the kernel's memcpy/memmove/memset as the kernel
 * resolves them on this CPU. scripts/bench-codec.sh builds it; see there.
 *
 * Everything timed here is kernel code, taken from the kernel build as it is:
 *   - rzs_core.o and lz4_flex.o: the very objects linked into rzs.ko, plus a small
 *     shim (shim.rs) compiled with rzs_core.o's own rustc command line, and the
 *     kernel's rust/core.o;
 *   - lib/lz4/lz4_compress.o and lz4_decompress.o from the test kernel tree
 *     (kbuild's command for them: -O3, the kernel's flags);
 *   - arch/x86/lib/mem{cpy,move,set}_64.o, their alternatives applied here the way
 *     the kernel applies them at boot (apply_alt() below), by this CPU's features.
 * The objects' memcpy/memmove/memset are renamed kb_* (objcopy), so this program's
 * own C library is never mixed with the kernel's.
 *
 * usage: rzs-kcodec-bench REPS MIN_SECONDS CLASS=PAGEFILE...
 * (REPS 0: only the round trips, no timing: make test's codec check)
 * KB_OP=N times operation N only (see the enum below: 0 C compress, 1 C decompress,
 * then four per variant): with REPS 1 and MIN_SECONDS 0, `pass` runs once, over
 * every page, for that operation alone, which is what `make bench-codec-count`
 * counts instructions and data accesses of (callgrind --toggle-collect=pass).
 * Prints JSON on stdout: per class, per operation, MB/s of each rep for each codec,
 * and the compressed sizes. Exits 1 if any page fails to round-trip through any
 * decoder on either codec's stream.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define CAP 4608 /* >= LZ4_compressBound(4096) = 4126 and lz4_flex's 4525 */

/* The kernel's lib/lz4 (include/linux/lz4.h); its symbols carry the prefix kc_. */
int kc_LZ4_compress_fast(const char *src, char *dst, int src_size, int dst_cap, int accel,
			 void *wrkmem);
int kc_LZ4_decompress_safe(const char *src, char *dst, int src_size, int dst_cap);
#define LZ4_compress_fast kc_LZ4_compress_fast
#define LZ4_decompress_safe kc_LZ4_decompress_safe
#define LZ4_MEM_COMPRESS (1 << 14) /* LZ4_STREAMSIZE: 16 KiB on 64-bit */
#define LZ4_ACCELERATION_DEFAULT 1 /* what zram's backend_lz4.c passes */

/* shim.rs: rzs_core::codec as rzs.ko calls it, once per lz4_flex variant (the
 * build as rzs.ko has it first; variants.c, generated, lists them). */
struct flex {
	const char *name;
	size_t (*ws_size)(void);
	void (*ws_init)(void *ws);
	long (*compress)(void *ws, const uint8_t *page, const uint8_t **out);
	int (*decompress)(const uint8_t *src, size_t len, uint8_t *page);
	/* The decoder of O_DIRECT reads (a page others may write: volatile accesses);
	 * -2 if this build has none (lz4_flex without rzs's patches). */
	int (*decompress_racy)(const uint8_t *src, size_t len, uint8_t *page);
	void *ws;
};
extern struct flex flex[];
extern const int nflex;

/* The kernel's Rust panic handler lives in the kernel crate; a panic here is a bug.
 * Each variant's copy of core calls it under its own prefix (variants.c). */
void kb_rust_panic(void *info)
{
	static const char m[] = "rzs-kcodec-bench: Rust panic in kernel code\n";
	(void)info;
	if (write(2, m, sizeof(m) - 1) < 0)
		_exit(3);
	_exit(3);
}

/* ---- alternatives, as arch/x86/kernel/alternative.c applies them ---- */

struct alt_instr {
	int32_t instr_offset;
	int32_t repl_offset;
	uint32_t ft_flags; /* cpuid: 16 (feature), flags: 16 */
	uint8_t instrlen;
	uint8_t replacementlen;
} __attribute__((packed));

extern struct alt_instr __start_kb_altinstr[], __stop_kb_altinstr[];

#define ALT_FLAG_NOT 1

/* The features the mem* routines test, in the kernel's numbering (cpufeatures.h). */
static int has_feature(unsigned int f)
{
	unsigned int a, b, c, d;

	switch (f) {
	case 9 * 32 + 9: /* X86_FEATURE_ERMS: CPUID.7.0:EBX[9] */
		__cpuid_count(7, 0, a, b, c, d);
		return (b >> 9) & 1;
	case 18 * 32 + 4: /* X86_FEATURE_FSRM: CPUID.7.0:EDX[4] */
		__cpuid_count(7, 0, a, b, c, d);
		return (d >> 4) & 1;
	case 12 * 32 + 11: /* X86_FEATURE_FSRS: CPUID.7.1:EAX[11] */
		__cpuid_count(7, 1, a, b, c, d);
		return (a >> 11) & 1;
	case 12 * 32 + 10: /* X86_FEATURE_FZRM: CPUID.7.1:EAX[10] */
		__cpuid_count(7, 1, a, b, c, d);
		return (a >> 10) & 1;
	}
	fprintf(stderr, "rzs-kcodec-bench: alternative on unknown feature %u*32+%u\n", f / 32,
		f % 32);
	exit(2);
}

/* The length of one instruction of the few forms the mem* replacements use, and
 * where its rel32 displacement is (-1: none). Anything else is refused. */
static int insn_len(const uint8_t *p, int *rel32_at)
{
	*rel32_at = -1;
	if (p[0] == 0x48 && p[1] == 0x83 && p[2] == 0xfa)
		return 4; /* cmp $imm8, %rdx */
	if (p[0] == 0x48 && p[1] == 0x89 && p[2] == 0xd1)
		return 3; /* mov %rdx, %rcx */
	if (p[0] == 0xf3 && (p[1] == 0xa4 || p[1] == 0xaa))
		return 2; /* rep movsb / rep stosb */
	if (p[0] == 0xc3 || p[0] == 0xcc || p[0] == 0x90)
		return 1; /* ret, int3, nop */
	if (p[0] == 0x0f && (p[1] & 0xf0) == 0x80) {
		*rel32_at = 2;
		return 6; /* jcc rel32 */
	}
	if (p[0] == 0xe9) {
		*rel32_at = 1;
		return 5; /* jmp rel32 */
	}
	return 0;
}

static void nops(uint8_t *p, int n)
{
	static const uint8_t nop[9][9] = {
		{ 0 },
		{ 0x90 },
		{ 0x66, 0x90 },
		{ 0x0f, 0x1f, 0x00 },
		{ 0x0f, 0x1f, 0x40, 0x00 },
		{ 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	};

	while (n > 0) {
		int k = n > 8 ? 8 : n;

		memcpy(p, nop[k], k);
		p += k;
		n -= k;
	}
}

/* Applies every alternative whose feature this CPU has, in order (a later one for
 * the same site overrides an earlier one, as ALTERNATIVE_2 relies on). Returns how
 * many were applied. */
static int apply_alt(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	int applied = 0;

	for (struct alt_instr *a = __start_kb_altinstr; a < __stop_kb_altinstr; a++) {
		uint8_t *instr = (uint8_t *)&a->instr_offset + a->instr_offset;
		uint8_t *repl = (uint8_t *)&a->repl_offset + a->repl_offset;
		unsigned int feature = a->ft_flags & 0xffff, flags = a->ft_flags >> 16;
		uint8_t buf[256];
		int want = has_feature(feature);

		if (flags & ALT_FLAG_NOT)
			want = !want;
		if (!want)
			continue;
		if (a->replacementlen > a->instrlen || (flags & ~ALT_FLAG_NOT)) {
			fprintf(stderr, "rzs-kcodec-bench: unsupported alternative\n");
			exit(2);
		}
		memcpy(buf, repl, a->replacementlen);
		for (int i = 0; i < a->replacementlen;) {
			int at, n = insn_len(buf + i, &at);

			if (n == 0) {
				fprintf(stderr,
					"rzs-kcodec-bench: replacement instruction %02x %02x not known\n",
					buf[i], buf[i + 1]);
				exit(2);
			}
			if (at >= 0) { /* a branch out of the replacement: re-aim it */
				int32_t d;
				uint8_t *target;

				memcpy(&d, buf + i + at, 4);
				target = repl + i + n + d;
				if (target < repl || target >= repl + a->replacementlen) {
					d = (int32_t)(target - (instr + i + n));
					memcpy(buf + i + at, &d, 4);
				}
			}
			i += n;
		}
		nops(buf + a->replacementlen, a->instrlen - a->replacementlen);
		uint8_t *p0 = (uint8_t *)((uintptr_t)instr & ~(uintptr_t)(pg - 1));
		size_t len = (size_t)(instr + a->instrlen - p0);

		if (mprotect(p0, len, PROT_READ | PROT_WRITE | PROT_EXEC) ||
		    (memcpy(instr, buf, a->instrlen), mprotect(p0, len, PROT_READ | PROT_EXEC))) {
			perror("rzs-kcodec-bench: mprotect");
			exit(2);
		}
		applied++;
	}
	return applied;
}

/* ---- the benchmark ---- */

#define MAXV 8

struct class {
	const char *name;
	uint8_t *pages;
	size_t n;
	uint8_t *cs;		/* each page's C stream, CAP apart */
	uint8_t *fs[MAXV];	/* and each variant's */
	int *clen, *flen[MAXV];	/* their lengths; 0: did not compress below a page */
	uint8_t *ok;		/* every codec compressed the page: it is in decode runs */
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *wrkmem;
static uint8_t scratch[CAP] __attribute__((aligned(64)));
static uint8_t outp[PAGE] __attribute__((aligned(4096)));
static volatile long sink;

/* Operations: C compress, C decompress, then per variant v: compress, decompress its
 * own stream, decompress C's stream, decompress its own stream as an O_DIRECT read. */
enum { C_C, C_D, V_C, V_D, V_DC, V_DR };
#define VOPS 4
#define NOPS (2 + VOPS * nflex)

/* Whether variant v has the O_DIRECT decoder (set by prepare's first page). */
static int has_racy[MAXV];

/* Neither inlined nor cloned (GCC's pass.isra.0 and the like would be another name):
 * make bench-codec-count collects callgrind events inside `pass` only. */
static __attribute__((noinline, noclone)) size_t pass(struct class *c, int op)
{
	int v = op < 2 ? 0 : (op - 2) / VOPS, kind = op < 2 ? op : V_C + (op - 2) % VOPS;
	struct flex *f = &flex[v];
	size_t bytes = 0;
	long acc = 0;
	const uint8_t *o;

	for (size_t i = 0; i < c->n; i++) {
		const uint8_t *pg = c->pages + i * PAGE;

		if (kind == C_C) {
			acc += LZ4_compress_fast((const char *)pg, (char *)scratch, PAGE, CAP,
						 LZ4_ACCELERATION_DEFAULT, wrkmem);
		} else if (kind == V_C) {
			acc += f->compress(f->ws, pg, &o);
		} else if (!c->ok[i]) {
			continue;
		} else if (kind == C_D) {
			acc += LZ4_decompress_safe((const char *)c->cs + i * CAP, (char *)outp,
						   c->clen[i], PAGE);
		} else if (kind == V_D) {
			acc += f->decompress(c->fs[v] + i * CAP, c->flen[v][i], outp);
		} else if (kind == V_DR) {
			acc += f->decompress_racy(c->fs[v] + i * CAP, c->flen[v][i], outp);
		} else {
			acc += f->decompress(c->cs + i * CAP, c->clen[i], outp);
		}
		bytes += PAGE;
	}
	sink += acc;
	return bytes;
}

static double measure(struct class *c, int op, double min_time)
{
	size_t bytes = 0;
	double t0 = now(), t;

	do {
		bytes += pass(c, op);
		t = now() - t0;
	} while (t < min_time);
	return (double)bytes / t / 1e6;
}

static int load(struct class *c, const char *spec)
{
	const char *eq = strchr(spec, '=');
	struct stat st;
	int fd;

	if (!eq)
		return -1;
	c->name = strndup(spec, eq - spec);
	fd = open(eq + 1, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || st.st_size == 0 || st.st_size % PAGE) {
		fprintf(stderr, "rzs-kcodec-bench: %s: not a file of whole pages\n", eq + 1);
		return -1;
	}
	c->n = st.st_size / PAGE;
	c->pages = aligned_alloc(PAGE, st.st_size);
	if (!c->pages || pread(fd, c->pages, st.st_size, 0) != st.st_size)
		return -1;
	close(fd);
	c->cs = malloc(c->n * CAP);
	c->clen = calloc(c->n, sizeof(int));
	c->ok = calloc(c->n, 1);
	for (int v = 0; v < nflex; v++) {
		c->fs[v] = malloc(c->n * CAP);
		c->flen[v] = calloc(c->n, sizeof(int));
		if (!c->fs[v] || !c->flen[v])
			return -1;
	}
	return c->cs && c->clen && c->ok ? 0 : -1;
}

/* Does every decoder turn `src` back into `pg`? Counts and reports failures. */
static size_t check(struct class *c, size_t i, const char *whose, const uint8_t *src, int len)
{
	const uint8_t *pg = c->pages + i * PAGE;
	size_t bad = 0;

	/* Decoder d: C's (d == 2 * nflex), else variant d / 2's, the O_DIRECT one if d
	 * is odd. */
	for (int d = 0; d <= 2 * nflex; d++) {
		int v = d / 2, r;

		if (d < 2 * nflex && d % 2 && !has_racy[v])
			continue;
		memset(outp, 0xa5 ^ d, PAGE);
		if (d == 2 * nflex)
			r = LZ4_decompress_safe((const char *)src, (char *)outp, len, PAGE) == PAGE;
		else if (d % 2)
			r = flex[v].decompress_racy(src, len, outp) == 0;
		else
			r = flex[v].decompress(src, len, outp) == 0;
		if (!r || memcmp(outp, pg, PAGE)) {
			fprintf(stderr, "rzs-kcodec-bench: %s page %zu: %s's %sdecoder on %s's stream: %s\n",
				c->name, i, d < 2 * nflex ? flex[v].name : "C",
				d < 2 * nflex && d % 2 ? "O_DIRECT " : "", whose, r ? "wrong data" : "error");
			bad++;
		}
	}
	return bad;
}

/* Compresses every page with every codec, then decodes every stream with every
 * decoder and compares with the page. Sums each codec's stored size (a page that
 * does not compress below 4096 bytes is stored raw: 4096). Returns the failures. */
static size_t prepare(struct class *c, size_t *csum, size_t *fsum)
{
	size_t bad = 0;

	*csum = 0;
	for (int v = 0; v < nflex; v++)
		fsum[v] = 0;
	for (size_t i = 0; i < c->n; i++) {
		const uint8_t *pg = c->pages + i * PAGE, *o;
		int cl = LZ4_compress_fast((const char *)pg, (char *)c->cs + i * CAP, PAGE, CAP,
					   LZ4_ACCELERATION_DEFAULT, wrkmem);

		c->clen[i] = cl > 0 && cl < PAGE ? cl : 0;
		*csum += c->clen[i] ? (size_t)c->clen[i] : PAGE;
		c->ok[i] = c->clen[i] > 0;
		if (cl > 0)
			bad += check(c, i, "C", c->cs + i * CAP, cl);
		for (int v = 0; v < nflex; v++) {
			long fl = flex[v].compress(flex[v].ws, pg, &o);

			c->flen[v][i] = fl > 0 && fl < PAGE ? (int)fl : 0;
			fsum[v] += c->flen[v][i] ? (size_t)c->flen[v][i] : PAGE;
			c->ok[i] &= c->flen[v][i] > 0;
			if (fl > 0) {
				memcpy(c->fs[v] + i * CAP, o, fl);
				bad += check(c, i, flex[v].name, c->fs[v] + i * CAP, (int)fl);
			}
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	int reps, nc = argc - 3, applied, only = getenv("KB_OP") ? atoi(getenv("KB_OP")) : -1;
	double min_time;
	struct class *cls;
	size_t bad = 0;
	cpu_set_t one;

	if (argc < 4 || nflex > MAXV) {
		fprintf(stderr, "usage: %s REPS MIN_SECONDS CLASS=PAGEFILE...\n", argv[0]);
		return 2;
	}
	reps = atoi(argv[1]);
	min_time = atof(argv[2]);
	cls = calloc(nc, sizeof(*cls));
	for (int i = 0; i < nc; i++)
		if (load(&cls[i], argv[i + 3]))
			return 2;
	applied = apply_alt();
	/* One CPU: no migration between a codec's runs. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);

	wrkmem = aligned_alloc(64, LZ4_MEM_COMPRESS);
	if (!wrkmem)
		return 2;
	for (int v = 0; v < nflex; v++) {
		flex[v].ws = aligned_alloc(64, (flex[v].ws_size() + 63) & ~(size_t)63);
		if (!flex[v].ws)
			return 2;
		flex[v].ws_init(flex[v].ws);
		/* -2 on any input if the build has no such decoder; else 0 or -1. */
		has_racy[v] = flex[v].decompress_racy((const uint8_t *)"", 0, outp) != -2;
	}

	printf("{\n \"alternatives_applied\": %d,\n \"features\": {\"erms\": %d, \"fsrm\": %d, \"fsrs\": %d},\n",
	       applied, has_feature(9 * 32 + 9), has_feature(18 * 32 + 4), has_feature(12 * 32 + 11));
	printf(" \"reps\": %d, \"min_time\": %g,\n \"variants\": [", reps, min_time);
	for (int v = 0; v < nflex; v++)
		printf("%s\"%s\"", v ? ", " : "", flex[v].name);
	printf("],\n \"classes\": {\n");
	for (int k = 0; k < nc; k++) {
		struct class *c = &cls[k];
		size_t csum, fsum[MAXV], both = 0;
		double mbs[2 + VOPS * MAXV][reps > 0 ? reps : 1];

		bad += prepare(c, &csum, fsum);
		for (size_t i = 0; i < c->n; i++)
			both += c->ok[i];
		for (int r = 0; r < reps; r++) {
			/* Interleaved: every operation once per rep, the order alternating. */
			for (int j = 0; j < NOPS; j++) {
				int o = r % 2 ? NOPS - 1 - j : j;

				if (o >= 2 && (o - 2) % VOPS == V_DR - V_C && !has_racy[(o - 2) / VOPS])
					continue;
				if (only >= 0 && o != only) {
					mbs[o][r] = 0;
					continue;
				}
				mbs[o][r] = measure(c, o, min_time);
			}
		}
		printf("  \"%s\": {\"pages\": %zu, \"decoded_pages\": %zu,\n", c->name, c->n, both);
		printf("   \"C\": {\"bytes\": %zu, \"compress\": [", csum);
		for (int r = 0; r < reps; r++)
			printf("%s%.1f", r ? ", " : "", mbs[C_C][r]);
		printf("], \"decompress\": [");
		for (int r = 0; r < reps; r++)
			printf("%s%.1f", r ? ", " : "", mbs[C_D][r]);
		printf("]}");
		for (int v = 0; v < nflex; v++) {
			static const char *const what[VOPS] = { "compress", "decompress",
								"decompress_c_stream",
								"decompress_direct" };

			printf(",\n   \"%s\": {\"bytes\": %zu", flex[v].name, fsum[v]);
			for (int w = 0; w < VOPS; w++) {
				printf(", \"%s\": [", what[w]);
				for (int r = 0; r < reps && (w != V_DR - V_C || has_racy[v]); r++)
					printf("%s%.1f", r ? ", " : "", mbs[2 + VOPS * v + w][r]);
				printf("]");
			}
			printf("}");
		}
		printf("}%s\n", k + 1 < nc ? "," : "");
		fflush(stdout);
	}
	printf(" },\n \"roundtrip_failures\": %zu\n}\n", bad);
	return bad ? 1 : 0;
}
