/* SPDX-License-Identifier: MIT */
/*
 * task.h - coroutines: a stack with a guard page and a saved context.
 * The switch is a few instructions of assembly on x86-64 (callee-saved
 * registers and the stack pointer) with a ucontext fallback elsewhere.
 */
#ifndef TDXSIM_TASK_H
#define TDXSIM_TASK_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && !defined(TDXSIM_UCONTEXT)
#define TDXSIM_ASM_SWITCH 1
struct coro_ctx {
	void *sp;		/* saved stack pointer; registers are on the stack */
};
#else
#include <ucontext.h>
struct coro_ctx {
	ucontext_t uc;
};
#endif

struct coro {
	struct coro_ctx ctx;
	void *map;		/* mmap'd region: guard page + stack */
	size_t map_size;
	void *stack_lo;		/* lowest usable stack byte (above the guard) */
	size_t stack_size;
	void (*fn)(void *);
	void *arg;
	void *asan_fake_stack;	/* AddressSanitizer fiber bookkeeping */
	const void *asan_stack_lo;
	size_t asan_stack_size;
};

#define CORO_DEFAULT_STACK (256 * 1024)

/*
 * Make @c ready to run @fn(@arg) on a new stack of @stack_size bytes (rounded
 * up to pages) with an inaccessible guard page below it.  0 or -1 (errno).
 * @fn must never return: it ends by switching away for the last time.
 */
int coro_init(struct coro *c, size_t stack_size, void (*fn)(void *), void *arg);
void coro_destroy(struct coro *c);
/* The context of the thread that runs the scheduler. */
void coro_init_main(struct coro *c);

/*
 * Save the current context into @from and resume @to.  Tasks switch only
 * to and from the scheduler's context (made by coro_init_main).
 */
void coro_switch(struct coro *from, struct coro *to);
/* The last switch of a finished coroutine; never returns (see engine_fail). */
void coro_exit(struct coro *from, struct coro *to);

#endif
