/* SPDX-License-Identifier: MIT */
/* task.c - coroutine stacks and the context switch (see task.h). */
#include <errno.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "task.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif

#ifdef CORO_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
				     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

#ifdef TDXSIM_ASM_SWITCH
/*
 * tdxsim_coro_switch(void **save_sp, void *load_sp): push the callee-saved
 * registers, save rsp, load the other rsp, pop, return into the other task.
 * A new task's stack is laid out so that the first switch "returns" into
 * tdxsim_coro_start with r12 = fn and r13 = arg.
 */
void tdxsim_coro_switch(void **save_sp, void *load_sp);
void tdxsim_coro_start(void);
__asm__(
	".text\n"
	".globl tdxsim_coro_switch\n"
	".type tdxsim_coro_switch,@function\n"
	"tdxsim_coro_switch:\n"
	"	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	movq %rsp, (%rdi)\n"
	"	movq %rsi, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	".size tdxsim_coro_switch,.-tdxsim_coro_switch\n"
	".globl tdxsim_coro_start\n"
	".type tdxsim_coro_start,@function\n"
	"tdxsim_coro_start:\n"
	"	movq %r13, %rdi\n"
	"	callq *%r12\n"
	"	ud2\n"
	".size tdxsim_coro_start,.-tdxsim_coro_start\n");
#endif

#ifdef CORO_ASAN
/* The scheduler thread's stack, learned when a task first runs. */
static const void *asan_main_lo;
static size_t asan_main_size;
#endif

static void coro_entry(void *p)
{
	struct coro *c = p;
#ifdef CORO_ASAN
	__sanitizer_finish_switch_fiber(NULL, &asan_main_lo, &asan_main_size);
#endif
	c->fn(c->arg);
	abort();	/* fn must not return */
}

#ifndef TDXSIM_ASM_SWITCH
static void uc_entry(unsigned hi, unsigned lo)
{
	coro_entry((void *)(((uintptr_t)hi << 32) | lo));
}
#endif

/*
 * Stacks of finished coroutines, kept for the next ones: an explored run
 * makes two or three tasks and ends them, thousands of times a second, and
 * mmap + mprotect + munmap + the first touch of fresh pages were a tenth of
 * a small run.  A stack comes back with its guard page still PROT_NONE.
 * The simulator runs on one thread (explore's jobs are processes).
 */
#define STACK_CACHE 16
static struct {
	void *map;
	size_t size;
} stack_cache[STACK_CACHE];
static int stack_cached;

static void *stack_cache_take(size_t size)
{
	for (int i = stack_cached - 1; i >= 0; i--)
		if (stack_cache[i].size == size) {
			void *m = stack_cache[i].map;
			stack_cache[i] = stack_cache[--stack_cached];
			return m;
		}
	return NULL;
}

static bool stack_cache_put(void *map, size_t size)
{
	if (stack_cached == STACK_CACHE)
		return false;
	stack_cache[stack_cached].map = map;
	stack_cache[stack_cached++].size = size;
	return true;
}

int coro_init(struct coro *c, size_t stack_size, void (*fn)(void *), void *arg)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	memset(c, 0, sizeof(*c));
	if (stack_size == 0)
		stack_size = CORO_DEFAULT_STACK;
	stack_size = (stack_size + pg - 1) & ~(pg - 1);
	c->map_size = stack_size + pg;
	c->map = stack_cache_take(c->map_size);
	if (c->map)
		goto mapped;
	c->map = mmap(NULL, c->map_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		return -1;
	}
	if (mprotect(c->map, pg, PROT_NONE)) {	/* the guard page */
		int e = errno;
		munmap(c->map, c->map_size);
		c->map = NULL;
		errno = e;
		return -1;
	}
mapped:
	c->stack_lo = (char *)c->map + pg;
	c->stack_size = stack_size;
	c->asan_stack_lo = c->stack_lo;
	c->asan_stack_size = stack_size;
	c->fn = fn;
	c->arg = arg;
#ifdef TDXSIM_ASM_SWITCH
	uintptr_t top = ((uintptr_t)c->stack_lo + stack_size - 64) & ~(uintptr_t)15;
	void **sp = (void **)top;
	*--sp = (void *)tdxsim_coro_start;	/* "return" address; rsp%16 == 0 after ret */
	*--sp = NULL;				/* rbp */
	*--sp = NULL;				/* rbx */
	*--sp = (void *)coro_entry;		/* r12: fn */
	*--sp = c;				/* r13: arg */
	*--sp = NULL;				/* r14 */
	*--sp = NULL;				/* r15 */
	c->ctx.sp = sp;
#else
	if (getcontext(&c->ctx.uc))
		return -1;
	c->ctx.uc.uc_stack.ss_sp = c->stack_lo;
	c->ctx.uc.uc_stack.ss_size = stack_size;
	c->ctx.uc.uc_link = NULL;
	uintptr_t p = (uintptr_t)c;
	makecontext(&c->ctx.uc, (void (*)(void))uc_entry, 2, (unsigned)(p >> 32),
		    (unsigned)(p & 0xffffffffu));
#endif
	return 0;
}

void coro_init_main(struct coro *c)
{
	memset(c, 0, sizeof(*c));
}

void coro_destroy(struct coro *c)
{
#ifdef CORO_ASAN
	/*
	 * A task abandoned mid-run (the run ended) leaves poisoned frames on its
	 * stack; clear them so a later mapping at this address starts clean.
	 */
	if (c->map)
		__asan_unpoison_memory_region(c->stack_lo, c->stack_size);
#endif
	if (c->map && !stack_cache_put(c->map, c->map_size))
		munmap(c->map, c->map_size);
	c->map = NULL;
}

static void do_switch(struct coro *from, struct coro *to, bool final)
{
#ifdef CORO_ASAN
	const void *lo = to->map ? to->asan_stack_lo : asan_main_lo;
	size_t size = to->map ? to->asan_stack_size : asan_main_size;
	__sanitizer_start_switch_fiber(final ? NULL : &from->asan_fake_stack, lo, size);
#else
	(void)final;
#endif
#ifdef TDXSIM_ASM_SWITCH
	tdxsim_coro_switch(&from->ctx.sp, to->ctx.sp);
#else
	swapcontext(&from->ctx.uc, &to->ctx.uc);
#endif
#ifdef CORO_ASAN
	const void *old_lo;
	size_t old_size;
	__sanitizer_finish_switch_fiber(from->asan_fake_stack, &old_lo, &old_size);
	if (from->map) {	/* a task resumed by the scheduler thread */
		asan_main_lo = old_lo;
		asan_main_size = old_size;
	}
#endif
}

void coro_switch(struct coro *from, struct coro *to)
{
	do_switch(from, to, false);
}

void coro_exit(struct coro *from, struct coro *to)
{
	do_switch(from, to, true);
	abort();	/* a finished coroutine is never resumed */
}
