/* SPDX-License-Identifier: MIT */
/*
 * testlib.h - fixtures shared by the cmocka tests.
 *
 * Conventions: every test case starts with BANNER("what it checks");
 * randomised tests take their seed from test_seed(), which prints
 * "seed=N" and honours TDXSIM_SEED from the environment.
 */
#ifndef TDXSIM_TESTLIB_H
#define TDXSIM_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../src/host/bringup.h"
#include "../src/engine/engine.h"
#include "../src/module/internal.h"

#define BANNER(s) print_message("  > %s\n", (s))

struct fx {
	struct tdx_module *m;
	struct physmem *pm;
	struct bringup b;
	struct bringup_opts o;
	struct tdx_regs out;
};

/* A module with a TD through MNG.INIT and @o's vCPUs (default opts if NULL). */
void fx_init(struct fx *f, const struct bringup_opts *o);
/* fx_init() on a module configured by @c (default config if NULL). */
void fx_init_cfg(struct fx *f, const struct tdx_module_config *c, const struct bringup_opts *o);
/* ... and MR.FINALIZE: the TD is RUNNABLE. */
void fx_init_runnable(struct fx *f, const struct bringup_opts *o);
void fx_fini(struct fx *f);

/* SEPT.ADD the path to @level for @gpa. */
void fx_path(struct fx *f, uint64_t gpa, int level);
/* PAGE.AUG a fresh page at @gpa/@level (path included); returns the HPA. */
uint64_t fx_aug(struct fx *f, uint64_t gpa, int level);
/* PAGE.ADD a fresh page at @gpa (path included); returns the HPA. */
uint64_t fx_add(struct fx *f, uint64_t gpa);
/* A fresh 1G-aligned 1G page (512 consecutive 2M pages of the bump allocator). */
uint64_t fx_page_1g(struct fx *f);
/*
 * A 2M (@level 1) or 1G (@level 2) leaf at @gpa, built the only way the ABI
 * allows: 512 children one level down over one aligned block, then
 * PROMOTE (after BLOCK + TRACK when RUNNABLE).  @accepted: the children are
 * MAPPED (PAGE.ADD when INITIALIZED, which needs level 1; AUG + ACCEPT when
 * RUNNABLE), else PENDING.  Returns the leaf's HPA.
 */
uint64_t fx_huge_leaf(struct fx *f, uint64_t gpa, int level, bool accepted);
/* DEMOTE the leaf at @gpa/@level with a fresh S-EPT page (BLOCK + TRACK first when RUNNABLE). */
void fx_demote(struct fx *f, uint64_t gpa, int level);
/* VP.ENTER vCPU @i; asserts success. */
void fx_enter(struct fx *f, int i);
/* Make vCPU @i leave the TD (a TDVMCALL-like exit) if it is inside. */
void fx_leave(struct fx *f, int i);
/* Guest ACCEPT from vCPU @i (entered for the call, left afterwards if still in). */
uint64_t fx_accept(struct fx *f, int i, uint64_t gpa, int level, enum tdg_outcome *o);
/* RANGE.BLOCK / MEM.TRACK; assert success. */
void fx_block(struct fx *f, uint64_t gpa, int level);
void fx_track(struct fx *f);
/* SEPT.RD: public state at @gpa/@level (asserts the read succeeded). */
unsigned fx_pub_state(struct fx *f, uint64_t gpa, int level);
/* The raw S-EPT entry (white box). */
uint64_t *fx_entry(struct fx *f, uint64_t gpa, int level);

/*
 * Checks inside engine tasks (guest programs, host tasks): a failure ends
 * the run through engine_fail() instead of unwinding the coroutine with
 * cmocka's longjmp, and the test then sees ENGINE_FAIL with the message.
 */
#define task_check(cond)                                                          \
	do {                                                                      \
		if (!(cond))                                                      \
			engine_fail("check failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
	} while (0)
#define task_check_eq(a, b)                                                        \
	do {                                                                      \
		uint64_t a__ = (uint64_t)(a), b__ = (uint64_t)(b);                \
		if (a__ != b__)                                                   \
			engine_fail("check failed: %s == %s (%#llx != %#llx) (%s:%d)", #a, #b, \
				    (unsigned long long)a__, (unsigned long long)b__, __FILE__, __LINE__); \
	} while (0)

/* seed for randomised tests */
uint64_t test_seed(void);
uint64_t test_rand(uint64_t *state);
/* PAMT entries of any size that are not PT_NDA, over all of @m's memory. */
uint64_t test_pamt_in_use(struct tdx_module *m);

/* assert a status, printing names on mismatch */
#define assert_status(got, want) assert_status_impl((got), (want), __FILE__, __LINE__)
void assert_status_impl(uint64_t got, uint64_t want, const char *file, int line);

#endif
