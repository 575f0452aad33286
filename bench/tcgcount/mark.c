// SPDX-License-Identifier: GPL-2.0
/* The marker of bench/tcgcount/tbcount.c: executing `xchg %bx,%bx` (x86) or
 * `orr x7, x7, x7` (arm64), each of which changes nothing, makes the plugin write out
 * its counts and start again from zero. The arm64 build has no C library (the arm64
 * guest's root has no headers or start files to link with): its own entry point and
 * exit system call. */
#if defined(__aarch64__)
void _start(void)
{
	__asm__ volatile("orr x7, x7, x7\n\t"
			 "mov x0, #0\n\t"
			 "mov x8, #93\n\t" /* exit */
			 "svc #0" ::: "x0", "x8", "memory");
	__builtin_unreachable();
}
#else
int main(void)
{
	__asm__ volatile("xchg %bx, %bx");
	return 0;
}
#endif
