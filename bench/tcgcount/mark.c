// SPDX-License-Identifier: GPL-2.0
/* The marker of bench/tcgcount/tbcount.c: executing `xchg %bx,%bx` (which changes
 * nothing) makes the plugin write out its counts and start again from zero. */
int main(void)
{
	__asm__ volatile("xchg %bx, %bx");
	return 0;
}
