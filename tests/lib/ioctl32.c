// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl32: the rzs ioctls from a 32-bit x86 process, through the kernel's
 * compat path (the driver's compat_ioctl). The same operations and output as
 * tests/suites/40-rzsctl.sh's ioctl.py, so the suite compares the two.
 *
 *   ioctl32 DEV OP [ARG]   prints "ok [details]" or the errno's name
 *
 * Built freestanding, with the uapi header as the i386 compiler sees it (so
 * its command numbers and struct layout are the 32-bit ABI's), and system
 * calls through int $0x80: no 32-bit libc needed.
 *
 *   gcc -m32 -static -nostdlib -ffreestanding -fno-builtin -fno-pie -no-pie \
 *       -I include/uapi -o ioctl32 tests/lib/ioctl32.c
 */
#include <linux/rzs.h>

_Static_assert(sizeof(void *) == 4, "build with -m32");
_Static_assert(sizeof(struct rzs_stats) == 216, "struct rzs_stats differs on i386");

#define SYS_exit 1
#define SYS_write 4
#define SYS_open 5
#define SYS_ioctl 54

static long sys3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

static void *fill(void *d, int c, unsigned long n)
{
	volatile unsigned char *p = d; /* volatile: no call to memset */

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

static int eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static char out[512];
static unsigned long used;

static void put(const char *s)
{
	while (*s && used < sizeof(out) - 2)
		out[used++] = *s++;
}

/* Decimal without a 64-bit division (which would need libgcc's __udivdi3). */
static void put_u64(unsigned long long v)
{
	static const unsigned long long pow10[] = {
		10000000000000000000ULL, 1000000000000000000ULL, 100000000000000000ULL,
		10000000000000000ULL, 1000000000000000ULL, 100000000000000ULL,
		10000000000000ULL, 1000000000000ULL, 100000000000ULL, 10000000000ULL,
		1000000000ULL, 100000000ULL, 10000000ULL, 1000000ULL, 100000ULL,
		10000ULL, 1000ULL, 100ULL, 10ULL, 1ULL,
	};
	char buf[2] = { 0, 0 };
	int started = 0;

	for (unsigned int i = 0; i < sizeof(pow10) / sizeof(pow10[0]); i++) {
		char d = '0';

		while (v >= pow10[i]) {
			v -= pow10[i];
			d++;
		}
		if (d != '0' || started || pow10[i] == 1) {
			buf[0] = d;
			put(buf);
			started = 1;
		}
	}
}

static int parse_u64(const char *s, unsigned long long *v)
{
	unsigned long long n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		/* 2^64 - 1 = 1844674407370955161 * 10 + 5 */
		if (*s < '0' || *s > '9' || n > 1844674407370955161ULL ||
		    (n == 1844674407370955161ULL && d > 5))
			return -1;
		n = n * 10 + d;
	}
	*v = n;
	return 0;
}

static const char *errname(long e)
{
	switch (e) {
	case 1: return "EPERM";
	case 2: return "ENOENT";
	case 13: return "EACCES";
	case 14: return "EFAULT";
	case 16: return "EBUSY";
	case 19: return "ENODEV";
	case 22: return "EINVAL";
	case 25: return "ENOTTY";
	default: return "E?";
	}
}

static __attribute__((noreturn)) void finish(long ret)
{
	if (ret < 0) {
		used = 0;
		put(errname(-ret));
	}
	put("\n");
	sys3(SYS_write, 1, (long)out, (long)used);
	sys3(SYS_exit, 0, 0, 0);
	__builtin_unreachable();
}

static __attribute__((noreturn)) void usage(void)
{
	static const char msg[] = "usage: ioctl32 DEV OP [ARG]\n";

	sys3(SYS_write, 2, (long)msg, sizeof(msg) - 1);
	sys3(SYS_exit, 2, 0, 0);
	__builtin_unreachable();
}

#define BAD_PTR 8L /* a pointer to nowhere, as ioctl.py's */

static union {
	struct rzs_stats s;
	unsigned char b[sizeof(struct rzs_stats) + 64];
} buf;

static long run(long fd, const char *op, const char *arg)
{
	unsigned long long v = 0;
	long ret;

	put("ok");
	if (eq(op, "stats") || eq(op, "stats-all")) {
		fill(&buf, 0, sizeof(buf));
		buf.s.size = sizeof(buf.s);
		ret = sys3(SYS_ioctl, fd, RZS_IOC_GET_STATS, (long)&buf.s);
		if (ret < 0)
			return ret;
		put(" size="); put_u64(buf.s.size);
		put(" version="); put_u64(buf.s.version);
		put(" init="); put_u64(buf.s.flags & 1);
		put(" disksize="); put_u64(buf.s.disksize);
		if (eq(op, "stats-all")) {
			/* the 18 u64 fields, in order */
			const __u64 *f = &buf.s.disksize;

			for (int i = 0; i < 18; i++) {
				put(" ");
				put_u64(f[i]);
			}
		}
		return 0;
	}
	if (eq(op, "stats-room")) {
		unsigned long n, i;

		if (!arg || parse_u64(arg, &v) || v > sizeof(buf.s))
			usage();
		fill(&buf, 0xaa, sizeof(buf));
		buf.s.size = (__u32)v;
		ret = sys3(SYS_ioctl, fd, RZS_IOC_GET_STATS, (long)&buf.s);
		if (ret < 0)
			return ret;
		n = buf.s.size;
		for (i = n; i < sizeof(buf.b) && buf.b[i] == 0xaa; i++)
			;
		put(" size="); put_u64(n);
		put(i == sizeof(buf.b) ? " rest-untouched=yes" : " rest-untouched=no");
		return 0;
	}
	if (eq(op, "stats-badptr"))
		return sys3(SYS_ioctl, fd, RZS_IOC_GET_STATS, BAD_PTR);
	if (eq(op, "disksize") || eq(op, "memlimit")) {
		static __u64 val;

		if (!arg || parse_u64(arg, &v))
			usage();
		val = v;
		return sys3(SYS_ioctl, fd, eq(op, "disksize") ? RZS_IOC_SET_DISKSIZE : RZS_IOC_SET_MEM_LIMIT,
			    (long)&val);
	}
	if (eq(op, "disksize-badptr"))
		return sys3(SYS_ioctl, fd, RZS_IOC_SET_DISKSIZE, BAD_PTR);
	if (eq(op, "reset"))
		return sys3(SYS_ioctl, fd, RZS_IOC_RESET, 0);
	if (eq(op, "unknown"))
		return sys3(SYS_ioctl, fd, _IO(RZS_IOC_MAGIC, 0x7f), 0);
	usage();
}

/* The entry point: argc and argv on the stack, as the i386 ELF ABI puts them. */
__attribute__((used)) static void start_c(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	long fd;

	if (argc < 3)
		usage();
	fd = sys3(SYS_open, (long)argv[1], 0 /* O_RDONLY */, 0);
	if (fd < 0)
		finish(fd);
	finish(run(fd, argv[2], argc > 3 ? argv[3] : 0));
}

__asm__(".globl _start\n"
	"_start:\n"
	"	xorl %ebp, %ebp\n"
	"	movl %esp, %eax\n"
	"	andl $-16, %esp\n"
	"	subl $12, %esp\n"
	"	pushl %eax\n"
	"	call start_c\n"
	"	hlt\n");
