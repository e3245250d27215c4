/* SPDX-License-Identifier: MIT */
/*
 * seam.h - the one seam between simulated "hardware/firmware logic" and the
 * machinery that runs it.
 *
 * Module (src/module) and host (src/host) code take locks, do atomic updates,
 * read the clock and yield ONLY through the functions below.  Nothing in the
 * logic has an #ifdef for the driver behind the seam.
 *
 * Two drivers sit behind it:
 *   - the direct driver (this file plus seam.c): plain atomics on one thread,
 *     a settable virtual clock, no scheduling.  Costs one predictable branch
 *     per operation (the hook test).
 *   - the engine (a later layer) installs a struct seam_hooks; every seam
 *     operation then becomes a scheduling point, lock acquisitions are
 *     checked against docs/locking.md, and the clock is virtual time.
 *
 * Every operation first announces itself to the hook (if any), THEN performs
 * the access.  That ordering is what lets a scheduler interleave another task
 * between "decided to touch X" and "touched X".
 */
#ifndef TDXSIM_SEAM_H
#define TDXSIM_SEAM_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Lock classes: one per kind of lock in docs/locking.md.  The engine's lock
 * checker orders acquisitions by class; the direct driver ignores them.
 */
enum seam_lock_class {
	SEAM_LOCK_WBT = 0,	/* per-package cache write-back mutex */
	SEAM_LOCK_PAMT_TDVPR,	/* PAMT lock of a TDVPR page (the vCPU lock) */
	SEAM_LOCK_PAMT_TDR,	/* PAMT lock of a TDR page (the "TDR lock") */
	SEAM_LOCK_KOT,		/* key ownership table */
	SEAM_LOCK_OP_STATE,	/* TDCS op-state lock */
	SEAM_LOCK_EPOCH,	/* TDCS TLB epoch lock */
	SEAM_LOCK_SEPT_TREE,	/* TDCS S-EPT tree lock */
	SEAM_LOCK_SEPT_ENTRY,	/* per-entry lock bit inside an S-EPT entry */
	SEAM_LOCK_PAMT_PAGE,	/* PAMT lock of an operand/target page */
	SEAM_LOCK_NR_CLASSES
};

enum seam_lock_mode {
	SEAM_SHARED = 0,
	SEAM_EXCLUSIVE = 1,
};

/*
 * A shared/exclusive try-lock word, the model of the TDX module's sharex
 * lock.  Bit 31: held exclusive.  Bits 30:0: number of shared holders.
 * Never blocks: a failed try returns false and the caller returns BUSY.
 */
typedef struct seam_sharex {
	uint32_t v;
} seam_sharex_t;

#define SEAM_SHAREX_EXCL 0x80000000u

/*
 * What the engine installs.  Each pointer may be NULL.
 *   point:  a scheduling point before an access to @addr (may switch task).
 *   lock:   a sharex lock of @cls was taken (@taken) or released.
 *   now_ns: the current task's clock.
 */
struct seam_hooks {
	void (*point)(void *ctx, const void *addr);
	void (*lock)(void *ctx, enum seam_lock_class cls, const void *lock,
		     enum seam_lock_mode mode, bool acquire);
	uint64_t (*now_ns)(void *ctx);
	void *ctx;
};

/* The installed hooks, NULL for the direct driver. */
extern const struct seam_hooks *seam_active;

void seam_install(const struct seam_hooks *h);

/* Direct-driver clock: tests advance it by hand. */
extern uint64_t seam_direct_clock_ns;

static inline void seam__point(const void *addr)
{
	if (__builtin_expect(seam_active != 0, 0) && seam_active->point)
		seam_active->point(seam_active->ctx, addr);
}

static inline void seam__lock_event(enum seam_lock_class cls, const void *l,
				    enum seam_lock_mode mode, bool acquire)
{
	if (__builtin_expect(seam_active != 0, 0) && seam_active->lock)
		seam_active->lock(seam_active->ctx, cls, l, mode, acquire);
}

/* ---- atomics on 64-bit words ---- */

static inline uint64_t seam_load64(const uint64_t *p)
{
	seam__point(p);
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void seam_store64(uint64_t *p, uint64_t v)
{
	seam__point(p);
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Compare-and-swap; on failure *expected receives the current value. */
static inline bool seam_cas64(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	seam__point(p);
	return __atomic_compare_exchange_n(p, expected, desired, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static inline uint64_t seam_xchg64(uint64_t *p, uint64_t v)
{
	seam__point(p);
	return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL);
}

static inline uint64_t seam_fetch_add64(uint64_t *p, uint64_t d)
{
	seam__point(p);
	return __atomic_fetch_add(p, d, __ATOMIC_ACQ_REL);
}

static inline uint64_t seam_fetch_or64(uint64_t *p, uint64_t bits)
{
	seam__point(p);
	return __atomic_fetch_or(p, bits, __ATOMIC_ACQ_REL);
}

static inline uint64_t seam_fetch_and64(uint64_t *p, uint64_t mask)
{
	seam__point(p);
	return __atomic_fetch_and(p, mask, __ATOMIC_ACQ_REL);
}

/*
 * Bit try-lock inside a 64-bit word (the S-EPT entry lock).  Mirrors the
 * module's "lock bts": returns true if the bit was clear and is now set.
 */
static inline bool seam_bit_trylock(uint64_t *p, uint64_t bit,
				    enum seam_lock_class cls)
{
	seam__point(p);
	bool ok = !(__atomic_fetch_or(p, bit, __ATOMIC_ACQ_REL) & bit);
	if (ok)
		seam__lock_event(cls, p, SEAM_EXCLUSIVE, true);
	return ok;
}

static inline void seam_bit_unlock(uint64_t *p, uint64_t bit,
				   enum seam_lock_class cls)
{
	seam__lock_event(cls, p, SEAM_EXCLUSIVE, false);
	seam__point(p);
	__atomic_fetch_and(p, ~bit, __ATOMIC_RELEASE);
}

/* ---- sharex try-locks ---- */

static inline bool seam_sharex_try(seam_sharex_t *l, enum seam_lock_mode mode,
				   enum seam_lock_class cls)
{
	seam__point(l);
	uint32_t cur = __atomic_load_n(&l->v, __ATOMIC_ACQUIRE);
	bool ok;
	if (mode == SEAM_EXCLUSIVE) {
		cur = 0;
		ok = __atomic_compare_exchange_n(&l->v, &cur, SEAM_SHAREX_EXCL,
						 false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE);
	} else {
		ok = false;
		while (!(cur & SEAM_SHAREX_EXCL)) {
			if (__atomic_compare_exchange_n(&l->v, &cur, cur + 1,
							false, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				ok = true;
				break;
			}
		}
	}
	if (ok)
		seam__lock_event(cls, l, mode, true);
	return ok;
}

static inline void seam_sharex_release(seam_sharex_t *l, enum seam_lock_mode mode,
				       enum seam_lock_class cls)
{
	seam__lock_event(cls, l, mode, false);
	seam__point(l);
	if (mode == SEAM_EXCLUSIVE)
		__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
	else
		__atomic_fetch_sub(&l->v, 1, __ATOMIC_RELEASE);
}

/* Is the lock held at all (shared or exclusive)?  For assertions only. */
static inline bool seam_sharex_held(const seam_sharex_t *l)
{
	return __atomic_load_n(&l->v, __ATOMIC_ACQUIRE) != 0;
}

/* ---- time and yielding ---- */

static inline uint64_t seam_now_ns(void)
{
	if (seam_active && seam_active->now_ns)
		return seam_active->now_ns(seam_active->ctx);
	return seam_direct_clock_ns;
}

/* An explicit scheduling point with no memory access attached. */
static inline void seam_yield(void)
{
	seam__point(0);
}

#endif /* TDXSIM_SEAM_H */
