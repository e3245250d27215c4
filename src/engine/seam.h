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
 *
 * All simulated CPUs (vCPU and host tasks) run as coroutines on ONE OS
 * thread, so an operation between two scheduling points is indivisible by
 * construction: the atomics below are plain loads and stores, not locked
 * instructions.  Atomicity is a property of the seam, not of the hardware,
 * and it costs nothing on the hot path.
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
	/* host (KVM-side) blocking locks, always taken before any SEAMCALL */
	SEAM_LOCK_VM = 0,	/* kvm->lock: VM-wide ioctls (mutex) */
	SEAM_LOCK_SLOTS,	/* slots_lock: memslot changes (mutex) */
	SEAM_LOCK_SRCU,		/* kvm->srcu: readers use memslots, writers synchronize */
	SEAM_LOCK_GMEM,		/* guest_memfd invalidate lock (rwlock) */
	SEAM_LOCK_MMU,		/* mmu_lock (rwlock) */
	SEAM_LOCK_HOST_MISC,	/* leaf host locks (spinlocks), nothing nests inside */
	/* module try-locks */
	SEAM_LOCK_WBT,		/* per-package cache write-back mutex */
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
 * Virtual-time costs: every kind of operation the cost table prices.  The
 * first 128 are SEAMCALL leaves by leaf number.
 */
enum seam_cost {
	SEAM_COST_SEAMCALL = 0,		/* + leaf number, 0..127 */
	SEAM_COST_TDCALL = 128,		/* a TDCALL (guest -> module), e.g. ACCEPT */
	SEAM_COST_TD_ENTRY,		/* VP.ENTER's world switch into the guest */
	SEAM_COST_TD_EXIT,		/* the TD exit back to the host */
	SEAM_COST_EPT_VIOLATION,	/* host EPT-violation handling, excl. SEAMCALLs */
	SEAM_COST_ZERO_4K,		/* zeroing one 4K page */
	SEAM_COST_IPI,			/* sending an IPI */
	SEAM_COST_KICK,			/* kicking a vCPU out of the TD (exit + IPI wait) */
	SEAM_COST_LOCK_HANDOFF,		/* a blocked lock waiter taking over */
	SEAM_COST_GUEST_ACCESS,		/* one guest memory access that hits */
	SEAM_COST_VE,			/* delivering a #VE to the guest */
	/* the calibrated model (docs/calibration.md) */
	SEAM_COST_KICK_VCPU,		/* a kick walks one vCPU (in guest mode or not) */
	SEAM_COST_KICK_VCPU2,		/* a kick, per vCPU squared (pairwise contention) */
	SEAM_COST_EXIT_CONTENTION,	/* a TD exit, per other vCPU online in the TD */
	SEAM_COST_CLEAR_4K,		/* the host clearing a 4K page (MOVDIR64B) */
	SEAM_COST_ZAP_4K,		/* KVM's work per private leaf removed, excl. SEAMCALLs */
	SEAM_COST_FW_BOOT,		/* guest: the firmware's own work (once) */
	SEAM_COST_KERNEL_BOOT,		/* guest: the kernel's own work to init (once) */
	SEAM_COST_MEMMAP_4K,		/* guest: the kernel's work per 4K of RAM (struct page) */
	SEAM_COST_BUDDY_4K,		/* guest: freeing an accepted 4K page to the allocator */
	SEAM_COST_AP_BRINGUP,		/* guest: bringing up one AP (smp_init) */
	SEAM_COST_NR
};

/*
 * Events for a trace recorder.  A SEAMCALL or TDCALL begins at its
 * seam_charge(SEAM_COST_SEAMCALL + leaf or SEAM_COST_TDCALL) and ends at its
 * SEAM_EV_RETURN.
 */
enum seam_event_kind {
	SEAM_EV_RETURN = 0,	/* a = the call's enum seam_cost, b = its status
				 * (SEAM_EV_NO_STATUS: it ended in a TD exit) */
	SEAM_EV_TD_EXIT,	/* a = exit reason (VP.ENTER's RAX), b = GPA (R8) */
	SEAM_EV_KICK,		/* the host kicks vCPU a out of the TD */
	SEAM_EV_VE,		/* a #VE for GPA a instead of an EPT-violation exit */
	SEAM_EV_ZERO_STEP,	/* VP.ENTER refused to enter: GPA a would still fault */
	SEAM_EV_NR
};

#define SEAM_EV_NO_STATUS (~0ull)

/*
 * What the engine installs.  Each pointer may be NULL.
 *   point:  a scheduling point before an access to @addr (may switch task).
 *   lock:   a lock of @cls was taken (@acquire) or released.
 *   now_ns: the current task's clock.
 *   wait:   block the current task until someone wakes @obj (@what names it
 *           for deadlock reports); returns after a wake, the caller re-checks.
 *   wake:   make every task waiting on @obj runnable.
 *   charge: advance the current task's clock by the cost of @kind, @n times.
 *   event:  something a trace shows happened (enum seam_event_kind); NULL
 *           unless a recorder wants events.  Never a scheduling point and
 *           never part of the trace hash, so recording cannot change a run.
 *   cpu:    the logical CPU the current task runs on (its task id), for
 *           per-CPU platform state such as a pending host interrupt.
 */
struct seam_hooks {
	void (*point)(void *ctx, const void *addr);
	void (*lock)(void *ctx, enum seam_lock_class cls, const void *lock,
		     enum seam_lock_mode mode, bool acquire);
	uint64_t (*now_ns)(void *ctx);
	void (*wait)(void *ctx, const void *obj, const char *what);
	void (*wake)(void *ctx, const void *obj);
	void (*charge)(void *ctx, enum seam_cost kind, uint64_t n);
	void (*event)(void *ctx, enum seam_event_kind kind, uint64_t a, uint64_t b);
	int (*cpu)(void *ctx);
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

/* ---- atomic operations on 64-bit words (indivisible between scheduling points) ---- */

static inline uint64_t seam_load64(const uint64_t *p)
{
	seam__point(p);
	return *p;
}

static inline void seam_store64(uint64_t *p, uint64_t v)
{
	seam__point(p);
	*p = v;
}

/* Compare-and-swap; on failure *expected receives the current value. */
static inline bool seam_cas64(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	seam__point(p);
	if (*p == *expected) {
		*p = desired;
		return true;
	}
	*expected = *p;
	return false;
}

static inline uint64_t seam_xchg64(uint64_t *p, uint64_t v)
{
	seam__point(p);
	uint64_t old = *p;
	*p = v;
	return old;
}

static inline uint64_t seam_fetch_add64(uint64_t *p, uint64_t d)
{
	seam__point(p);
	uint64_t old = *p;
	*p = old + d;
	return old;
}

static inline uint64_t seam_fetch_or64(uint64_t *p, uint64_t bits)
{
	seam__point(p);
	uint64_t old = *p;
	*p = old | bits;
	return old;
}

static inline uint64_t seam_fetch_and64(uint64_t *p, uint64_t mask)
{
	seam__point(p);
	uint64_t old = *p;
	*p = old & mask;
	return old;
}

/*
 * The lock operations test for hooks once: without them (the direct driver)
 * they are a load, a test and a store; with them the out-of-line versions in
 * seam.c announce the access, perform it and report the lock event.
 */
bool seam__bit_trylock_hooked(uint64_t *p, uint64_t bit, enum seam_lock_class cls);
void seam__bit_unlock_hooked(uint64_t *p, uint64_t bit, enum seam_lock_class cls);
bool seam__sharex_try_hooked(seam_sharex_t *l, enum seam_lock_mode mode,
			     enum seam_lock_class cls);
void seam__sharex_release_hooked(seam_sharex_t *l, enum seam_lock_mode mode,
				 enum seam_lock_class cls);

/* "lock bts": true if the bit was clear; it is set either way. */
static inline bool seam__bit_trylock_plain(uint64_t *p, uint64_t bit)
{
	bool ok = !(*p & bit);
	*p |= bit;
	return ok;
}

/*
 * Bit try-lock inside a 64-bit word (the S-EPT entry lock).  Mirrors the
 * module's "lock bts": returns true if the bit was clear and is now set.
 */
static inline bool seam_bit_trylock(uint64_t *p, uint64_t bit,
				    enum seam_lock_class cls)
{
	if (__builtin_expect(seam_active != 0, 0))
		return seam__bit_trylock_hooked(p, bit, cls);
	return seam__bit_trylock_plain(p, bit);
}

static inline void seam_bit_unlock(uint64_t *p, uint64_t bit,
				   enum seam_lock_class cls)
{
	if (__builtin_expect(seam_active != 0, 0)) {
		seam__bit_unlock_hooked(p, bit, cls);
		return;
	}
	*p &= ~bit;
}

/* ---- sharex try-locks ---- */

static inline bool seam__sharex_try_plain(seam_sharex_t *l, enum seam_lock_mode mode)
{
	if (mode == SEAM_EXCLUSIVE) {
		if (l->v)
			return false;
		l->v = SEAM_SHAREX_EXCL;
		return true;
	}
	if (l->v & SEAM_SHAREX_EXCL)
		return false;
	l->v++;
	return true;
}

static inline void seam__sharex_release_plain(seam_sharex_t *l, enum seam_lock_mode mode)
{
	if (mode == SEAM_EXCLUSIVE)
		l->v = 0;
	else
		l->v--;
}

static inline bool seam_sharex_try(seam_sharex_t *l, enum seam_lock_mode mode,
				   enum seam_lock_class cls)
{
	if (__builtin_expect(seam_active != 0, 0))
		return seam__sharex_try_hooked(l, mode, cls);
	return seam__sharex_try_plain(l, mode);
}

static inline void seam_sharex_release(seam_sharex_t *l, enum seam_lock_mode mode,
				       enum seam_lock_class cls)
{
	if (__builtin_expect(seam_active != 0, 0)) {
		seam__sharex_release_hooked(l, mode, cls);
		return;
	}
	seam__sharex_release_plain(l, mode);
}

/* Is the lock held at all (shared or exclusive)?  For assertions only. */
static inline bool seam_sharex_held(const seam_sharex_t *l)
{
	return l->v != 0;
}

/* ---- time and yielding ---- */

static inline uint64_t seam_now_ns(void)
{
	if (seam_active && seam_active->now_ns)
		return seam_active->now_ns(seam_active->ctx);
	return seam_direct_clock_ns;
}

/* The current logical CPU: the engine's task id, 0 under the direct driver. */
static inline int seam_cpu(void)
{
	if (seam_active && seam_active->cpu)
		return seam_active->cpu(seam_active->ctx);
	return 0;
}

/* An explicit scheduling point with no memory access attached. */
static inline void seam_yield(void)
{
	seam__point(0);
}

/*
 * Without hooks, engine_time_solo() counts charges here (NULL otherwise):
 * work that runs alone is timed at the direct driver's speed.
 */
extern uint64_t *seam_solo_charges;

/* Charge @n operations of @kind to the current task's virtual clock. */
static inline void seam_charge(enum seam_cost kind, uint64_t n)
{
	if (__builtin_expect(seam_active != 0, 0)) {
		if (seam_active->charge)
			seam_active->charge(seam_active->ctx, kind, n);
	} else if (__builtin_expect(seam_solo_charges != 0, 0)) {
		seam_solo_charges[kind] += n;
	}
}

/* Report an event to a recorder, if one listens (one test without). */
static inline void seam_event(enum seam_event_kind kind, uint64_t a, uint64_t b)
{
	if (__builtin_expect(seam_active != 0, 0) && seam_active->event)
		seam_active->event(seam_active->ctx, kind, a, b);
}

/*
 * The end of a SEAMCALL (@kind SEAM_COST_SEAMCALL + leaf) or TDCALL: every
 * return of a public handler is "return seam_ret(kind, status);".
 */
static inline uint64_t seam_ret(enum seam_cost kind, uint64_t st)
{
	seam_event(SEAM_EV_RETURN, (uint64_t)kind, st);
	return st;
}

/* ---- blocking locks for host code (seam.c) ----
 * Under the engine a contended lock blocks the task (a scheduling point);
 * under the direct driver (one task) contention is a deadlock and aborts.
 */
typedef struct seam_mutex {
	int held;		/* 0 or 1 */
	const char *name;	/* for reports */
	enum seam_lock_class cls;
} seam_mutex_t;

/*
 * Writer-preferring, like the kernel's queued rwlock: once a writer waits,
 * new readers wait behind it, so a stream of readers cannot starve it.
 */
typedef struct seam_rwlock {
	int readers;		/* shared holders */
	int writer;		/* 0 or 1 */
	const char *name;
	enum seam_lock_class cls;
	int writers_waiting;
} seam_rwlock_t;

typedef struct seam_completion {
	int done;
	const char *name;
} seam_completion_t;

#define SEAM_MUTEX_INIT(n, c) { 0, (n), (c) }
#define SEAM_RWLOCK_INIT(n, c) { 0, 0, (n), (c), 0 }

void seam_mutex_lock(seam_mutex_t *m);
void seam_mutex_unlock(seam_mutex_t *m);
void seam__read_lock_slow(seam_rwlock_t *l);
void seam__read_unlock_slow(seam_rwlock_t *l);

/*
 * Shared acquisition; the fault path takes two of these per fault (SRCU,
 * mmu_lock), so the uncontended direct-driver case is inline.
 */
static inline void seam_read_lock(seam_rwlock_t *l)
{
	if (__builtin_expect(!seam_active && !l->writer && !l->writers_waiting, 1)) {
		l->readers++;
		return;
	}
	seam__read_lock_slow(l);
}

/* Without hooks nobody can be waiting to be woken. */
static inline void seam_read_unlock(seam_rwlock_t *l)
{
	if (__builtin_expect(!seam_active, 1)) {
		l->readers--;
		return;
	}
	seam__read_unlock_slow(l);
}
void seam_write_lock(seam_rwlock_t *l);
void seam_write_unlock(seam_rwlock_t *l);
/* A spinlock is a mutex whose waiters spin (yield) instead of sleeping. */
typedef seam_mutex_t seam_spinlock_t;
void seam_spin_lock(seam_spinlock_t *s);
void seam_spin_unlock(seam_spinlock_t *s);
void seam_completion_wait(seam_completion_t *c);
void seam_complete(seam_completion_t *c);

#endif /* TDXSIM_SEAM_H */
