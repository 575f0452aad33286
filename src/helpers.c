// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for the rzs Rust driver: exported wrappers around kernel functions
 * that are static inline or macros in C and so have no binding in 6.12, in the
 * style of the kernel's rust/helpers/. Nothing here holds logic.
 */

#include <linux/preempt.h>
#include <linux/smp.h>

/* Called from Rust (src/cpu.rs) only. */
void rzs_preempt_disable(void);
void rzs_preempt_enable(void);
unsigned int rzs_smp_processor_id(void);
unsigned int rzs_nr_cpu_ids(void);

void rzs_preempt_disable(void)
{
	preempt_disable();
}

void rzs_preempt_enable(void)
{
	preempt_enable();
}

/* Only meaningful with preemption disabled. */
unsigned int rzs_smp_processor_id(void)
{
	return smp_processor_id();
}

unsigned int rzs_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}
