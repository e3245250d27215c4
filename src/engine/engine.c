/* SPDX-License-Identifier: MIT */
/*
 * engine.c - runs tasks as coroutines under a scheduler, behind the seam.
 *
 * Control flow: the main context (engine_run) resumes the chosen task; a
 * task runs until a scheduling point picks another task, it blocks, it
 * finishes, or the run ends; then it switches back to main, which resumes
 * the next one.  A scheduling point that picks the running task again costs
 * no switch.
 *
 * Lock checking ("lockdep"): every task records the locks it holds.
 * Blocking (host) locks must be taken in increasing class order
 * (docs/locking.md), never twice, and never while a module try-lock is held;
 * releasing a lock that is not held is a failure for every kind.  Module
 * try-locks may nest out of order and may be taken shared twice by one
 * task: a failed try returns BUSY, so they cannot deadlock.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

char *schedule_format(const char *sched, uint64_t seed, const uint16_t *c, size_t n);

static struct engine *current_engine;

static const char *const lock_class_names[SEAM_LOCK_NR_CLASSES] = {
	[SEAM_LOCK_VM] = "vm_lock",
	[SEAM_LOCK_SLOTS] = "slots_lock",
	[SEAM_LOCK_SRCU] = "kvm_srcu",
	[SEAM_LOCK_GMEM] = "gmem_invalidate_lock",
	[SEAM_LOCK_MMU] = "mmu_lock",
	[SEAM_LOCK_HOST_MISC] = "host_spinlock",
	[SEAM_LOCK_WBT] = "wbt",
	[SEAM_LOCK_PAMT_TDVPR] = "pamt_tdvpr",
	[SEAM_LOCK_PAMT_TDR] = "pamt_tdr",
	[SEAM_LOCK_KOT] = "kot",
	[SEAM_LOCK_OP_STATE] = "op_state",
	[SEAM_LOCK_EPOCH] = "td_epoch",
	[SEAM_LOCK_SEPT_TREE] = "sept_tree",
	[SEAM_LOCK_SEPT_ENTRY] = "sept_entry",
	[SEAM_LOCK_PAMT_PAGE] = "pamt_page",
};

static bool is_blocking_class(enum seam_lock_class c)
{
	return c < SEAM_LOCK_WBT;
}

const char *engine_outcome_name(enum engine_outcome o)
{
	static const char *const n[] = { "ok", "failure", "deadlock",
					 "step bound exceeded: possible livelock",
					 "replay error", "livelock", "invariant violation" };
	return o <= ENGINE_INVARIANT ? n[o] : "?";
}

/*
 * The trace hash: FNV-1a's step taken a 64-bit word at a time (xor, multiply
 * by the FNV prime), then the high half folded down so every bit of @v
 * reaches the low bits the next multiply spreads.  It runs at every step and
 * lock event: a byte at a time was 8 multiplies, a fifth of an explored run.
 */
static inline void hash_mix(struct engine *e, uint64_t v)
{
	uint64_t h = (e->hash ^ v) * 0x100000001b3ull;
	e->hash = h ^ (h >> 32);
}

void engine_end(struct engine *e, enum engine_outcome o, const char *fmt, ...)
{
	if (e->stop)
		return;		/* the first reason wins */
	e->stop = true;
	e->outcome = o;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->report, sizeof(e->report), fmt, ap);
	va_end(ap);
}

/* Leave the current task for the main context; returns if resumed. */
static void to_main(struct engine *e)
{
	struct etask *t = e->cur;
	coro_switch(&t->co, &e->main);
	e->cur = t;
}

/*
 * Choose the next task among the runnable ones; NULL when none is.  Records
 * the choice when there was one to make, and accounts the step to the task.
 */
static bool grow_choices(struct engine *e)
{
	size_t nc = e->cap ? e->cap * 2 : 1024;
	uint16_t *c = realloc(e->choices, nc * sizeof(*c));
	if (!c) {
		engine_end(e, ENGINE_FAIL, "out of memory recording the schedule");
		return false;
	}
	e->choices = c;
	e->cap = nc;
	return true;
}

/* Timed order: the earlier clock, then the lower id (pick_timed's). */
static bool timed_before(const struct etask *a, const struct etask *b)
{
	return a->clock < b->clock || (a->clock == b->clock && a->id < b->id);
}

static struct etask *choose(struct engine *e)
{
	struct etask *r[ENGINE_MAX_TASKS];
	int n = 0;
	/*
	 * Timed, without a scan: a task that is not running keeps its clock
	 * until its state changes (a wakeup sets it), so the best of the
	 * others found at the last scan holds while e->gen has not moved.
	 * The choice is pick_timed()'s, recorded the same way.
	 */
	if (e->cfg.sched == SCHED_TIMED && e->nrunnable > 1 && e->cur &&
	    e->cur->state == T_RUNNABLE && e->tgen == e->gen && e->tother &&
	    e->tother->state == T_RUNNABLE) {
		struct etask *k = timed_before(e->cur, e->tother) ? e->cur : e->tother;
		if (k != e->cur)
			e->tgen = e->gen - 1;	/* the others change: scan next time */
		e->at_yield = false;
		if (e->nchoices == e->cap && !grow_choices(e))
			return NULL;
		e->choices[e->nchoices++] = (uint16_t)k->id;
		k->last_step = e->steps;
		k->nsteps++;
		hash_mix(e, (uint64_t)k->id);
		return k;
	}
	if (e->nrunnable == 1 && e->cur && e->cur->state == T_RUNNABLE) {
		r[n++] = e->cur;	/* the common case: nobody else can run */
	} else {
		for (int i = 0; i < e->n; i++)
			if (e->t[i]->state == T_RUNNABLE)
				r[n++] = e->t[i];
		if (n == 0)
			return NULL;
	}
	if (e->ops->step)
		e->ops->step(e, r, n);
	e->at_yield = false;
	int k = 0;
	if (n > 1) {
		k = e->ops->pick(e, r, n);
		if (k < 0)
			return NULL;	/* the scheduler ended the run */
		if (e->nchoices == e->cap && !grow_choices(e))
			return NULL;
		e->choices[e->nchoices++] = (uint16_t)r[k]->id;
		if (e->cfg.sched == SCHED_TIMED) {
			/* the best of the rest, for the steps that follow */
			struct etask *o = NULL;
			for (int i = 0; i < n; i++)
				if (i != k && (!o || timed_before(r[i], o)))
					o = r[i];
			e->tother = o;
			e->tgen = e->gen;
		}
	}
	r[k]->last_step = e->steps;
	r[k]->nsteps++;
	hash_mix(e, (uint64_t)r[k]->id);
	return r[k];
}

static void report_livelock(struct engine *e)
{
	char names[1024] = "";
	size_t len = 0;
	uint64_t window = e->steps > 1000 ? e->steps - 1000 : 0;
	for (int i = 0; i < e->n && len < sizeof(names) - 64; i++)
		if (e->t[i]->last_step >= window && e->t[i]->state != T_DONE)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%d '%s'",
						len ? ", " : "", e->t[i]->id, e->t[i]->name);
	engine_end(e, ENGINE_STEP_BOUND,
		   "step bound exceeded: possible livelock after %" PRIu64
		   " steps; tasks that kept running: %s", e->steps, names);
}

static void report_deadlock(struct engine *e)
{
	char *p = e->report;
	size_t left = sizeof(e->report);
	int w = snprintf(p, left, "deadlock: no runnable task");
	for (int i = 0; i < e->n && w > 0 && (size_t)w < left; i++) {
		struct etask *t = e->t[i];
		if (t->state != T_BLOCKED)
			continue;
		p += w;
		left -= (size_t)w;
		w = snprintf(p, left, "\n  task %d '%s' waits for %s", t->id, t->name,
			     t->wait_what ? t->wait_what : "?");
		/* who holds it */
		for (int j = 0; j < e->n && w > 0 && (size_t)w < left; j++)
			for (int h = 0; h < e->t[j]->nheld; h++)
				if (e->t[j]->held[h].lock == t->wait_obj) {
					p += w;
					left -= (size_t)w;
					w = snprintf(p, left, " held by task %d '%s'", e->t[j]->id,
						     e->t[j]->name);
					break;
				}
	}
	e->stop = true;
	e->outcome = ENGINE_DEADLOCK;
}

/*
 * Checking mode: run the check hook with the seam unhooked, so nothing it
 * does can be a scheduling point (or a lock event), and end the run on a
 * violation.  Returns true if the run ended.
 */
static bool __attribute__((noinline)) run_check(struct engine *e)
{
	char msg[sizeof(e->report) - 64];
	e->check_next = e->steps + e->cfg.check_every;
	seam_install(e->saved_hooks);
	int bad = e->cfg.check(e->cfg.check_arg, msg, sizeof(msg));
	seam_install(&e->hooks);
	if (!bad)
		return false;
	engine_end(e, ENGINE_INVARIANT, "invariant violation at step %" PRIu64 ": %s", e->steps,
		   msg);
	return true;
}

/*
 * The current task reached a point where another task may run.  Picks the
 * next task and, if it is not this one, switches.
 */
static void reschedule(struct engine *e)
{
	struct etask *t = e->cur;
	if (e->stop) {
		to_main(e);
		return;
	}
	e->steps++;
	if (e->cfg.step_bound && e->steps > e->cfg.step_bound) {
		report_livelock(e);
		to_main(e);
		return;
	}
	if (__builtin_expect(e->steps >= e->check_next, 0) && run_check(e)) {
		to_main(e);
		return;
	}
	if (e->nrunnable == 1 && t->state == T_RUNNABLE && !e->ops->step) {
		/* nobody else can run and the scheduler needs no step: choose()'s
		 * bookkeeping only (most steps of a one-vCPU run) */
		e->at_yield = false;
		t->last_step = e->steps;
		t->nsteps++;
		hash_mix(e, (uint64_t)t->id);
		return;
	}
	struct etask *n = choose(e);
	if (!n) {
		if (!e->stop)
			report_deadlock(e);
		to_main(e);
		return;
	}
	if (n != t) {
		e->next = n;
		to_main(e);
	}
}

/* ---- seam hooks ---- */

static void hook_point(void *ctx, const void *addr)
{
	struct engine *e = ctx;
	if (e->cur) {
		e->at_yield = addr == NULL;	/* seam_yield(): a retry loop */
		reschedule(e);
	}
}

static void hook_lock(void *ctx, enum seam_lock_class cls, const void *lock,
		      enum seam_lock_mode mode, bool acquire)
{
	struct engine *e = ctx;
	struct etask *t = e->cur;
	if (!t)
		return;
	hash_mix(e, ((uint64_t)cls << 8) | ((uint64_t)acquire << 1) | (uint64_t)mode);
#define NAME(c) ((c) < SEAM_LOCK_NR_CLASSES ? lock_class_names[c] : "?")
	if (acquire) {
		if (is_blocking_class(cls)) {
			for (int i = 0; i < t->nheld; i++) {
				struct held_lock *h = &t->held[i];
				if (h->lock == lock)
					engine_fail("lockdep: acquires %s twice", NAME(cls));
				if (h->cls >= cls)
					engine_fail("lockdep: acquires %s while holding %s "
						    "(order: %s before %s, docs/locking.md)",
						    NAME(cls), NAME(h->cls), NAME(cls), NAME(h->cls));
			}
		}
		if (t->nheld == MAX_HELD)
			engine_fail("lockdep: holds more than %d locks", MAX_HELD);
		t->held[t->nheld++] = (struct held_lock){ cls, lock, mode };
		return;
	}
	for (int i = t->nheld - 1; i >= 0; i--) {
		struct held_lock *h = &t->held[i];
		if (h->lock == lock && h->cls == cls && h->mode == mode) {
			int above = t->nheld - i - 1;	/* usually 0: locks nest */
			for (int j = 0; j < above; j++)
				h[j] = h[j + 1];
			t->nheld--;
			return;
		}
	}
	engine_fail("lockdep: releases %s, which it does not hold", NAME(cls));
#undef NAME
}

static uint64_t hook_now(void *ctx)
{
	struct engine *e = ctx;
	return e->cur ? e->cur->clock : 0;
}

static void hook_wait(void *ctx, const void *obj, const char *what)
{
	struct engine *e = ctx;
	struct etask *t = e->cur;
	for (int i = 0; i < t->nheld; i++)
		if (t->held[i].lock == obj)
			engine_fail("lockdep: waits for a %s it already holds "
				    "(acquired twice: self-deadlock)", what);
	t->state = T_BLOCKED;
	e->nrunnable--;
	e->gen++;
	t->wait_obj = obj;
	t->wait_what = what;
	reschedule(e);	/* resumed once a wake made us runnable again */
}

static void hook_wake(void *ctx, const void *obj)
{
	struct engine *e = ctx;
	uint64_t now = e->cur ? e->cur->clock : 0;
	for (int i = 0; i < e->n; i++) {
		struct etask *t = e->t[i];
		if (t->state == T_BLOCKED && t->wait_obj == obj) {
			t->state = T_RUNNABLE;
			e->nrunnable++;
			e->gen++;
			t->wait_obj = NULL;
			/* it cannot go on before the waker released the object */
			uint64_t ready = now + e->costs.ns[SEAM_COST_LOCK_HANDOFF];
			if (t->clock < ready)
				t->clock = ready;
		}
	}
}

/* Keep one event for a trace; out of memory, stop keeping them (the run goes on). */
static void record(struct engine *e, int kind, uint64_t a, uint64_t b)
{
	if (!e->cur || e->ev_dropped)
		return;
	if (e->nev == e->evcap) {
		size_t nc = e->evcap ? e->evcap * 2 : 4096;
		struct engine_event *v = realloc(e->ev, nc * sizeof(*v));
		if (!v) {
			e->ev_dropped = true;
			return;
		}
		e->ev = v;
		e->evcap = nc;
	}
	e->ev[e->nev++] = (struct engine_event){ e->cur->clock, a, b, e->cur->id, kind };
}

static void hook_event(void *ctx, enum seam_event_kind kind, uint64_t a, uint64_t b)
{
	record(ctx, (int)kind, a, b);
}

/* Each task is a logical CPU of its own; outside a task, CPU 0. */
static int hook_cpu(void *ctx)
{
	struct engine *e = ctx;
	return e->cur ? e->cur->id : 0;
}

static void hook_charge(void *ctx, enum seam_cost kind, uint64_t n)
{
	struct engine *e = ctx;
	/* a SEAMCALL's or TDCALL's charge is its start: stamp it before the cost */
	if (__builtin_expect(e->cfg.record_events, 0) && kind <= SEAM_COST_TDCALL)
		record(e, ENGINE_EV_CALL, (uint64_t)kind, 0);
	if (kind < SEAM_COST_NR)
		e->charges[kind] += n;
	if (e->cur && kind < SEAM_COST_NR) {
		e->cur->clock += e->costs.ns[kind] * n;
		if (__builtin_expect(e->cur->charges != NULL, 0))
			e->cur->charges[kind] += n;
		/*
		 * The host's calibration charges (a kick's walk of every vCPU, the
		 * clear and KVM's work per 4K) move the clock without being a
		 * scheduling point: a kick's wait or the next SEAMCALL follows each
		 * at once, and so they change no schedule, whatever a cost file says.
		 */
		if (kind == SEAM_COST_KICK_VCPU || kind == SEAM_COST_KICK_VCPU2 ||
		    kind == SEAM_COST_CLEAR_4K || kind == SEAM_COST_ZAP_4K)
			return;
		/* time moved: a task that is now earlier may have to act first */
		reschedule(e);
	}
}

/* ---- timing work that runs alone (engine_time_solo) ---- */

uint64_t engine_time_solo(const struct cost_table *costs, void (*fn)(void *), void *arg,
			  uint64_t *charges)
{
	static struct cost_table def;
	static bool def_set;
	uint64_t own[SEAM_COST_NR];
	if (!costs) {
		if (!def_set)
			cost_table_default(&def);
		def_set = true;
		costs = &def;
	}
	if (!charges) {
		memset(own, 0, sizeof(own));
		charges = own;
	}
	/* the direct driver, counting: each charge adds to charges[kind] */
	const struct seam_hooks *saved = seam_active;
	uint64_t *saved_solo = seam_solo_charges;
	seam_install(NULL);
	seam_solo_charges = charges;
	fn(arg);
	seam_solo_charges = saved_solo;
	seam_install(saved);
	uint64_t ns = 0;
	for (int k = 0; k < SEAM_COST_NR; k++)
		ns += costs->ns[k] * charges[k];
	return ns;
}

/* ---- lifecycle ---- */

struct engine *engine_create(const struct engine_config *cfg)
{
	if (cfg->sched >= SCHED_NR) {
		fprintf(stderr, "tdxsim: unknown scheduler %d\n", (int)cfg->sched);
		return NULL;
	}
	if (cfg->sched == SCHED_PCT && (cfg->pct_depth < 1 || cfg->pct_depth > 64)) {
		fprintf(stderr, "tdxsim: PCT depth %d out of range 1..64\n", cfg->pct_depth);
		return NULL;
	}
	if (cfg->sched == SCHED_DFS && !cfg->dfs) {
		fprintf(stderr, "tdxsim: the dfs scheduler needs a search (engine_dfs_next)\n");
		return NULL;
	}
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = *cfg;
	if (!e->cfg.step_bound)
		e->cfg.step_bound = 1000000;
	e->ops = sched_ops_table[cfg->sched];
	if (cfg->costs)
		e->costs = *cfg->costs;
	else
		cost_table_default(&e->costs);
	e->hash = 0xcbf29ce484222325ull;
	if (cfg->sched == SCHED_REPLAY) {
		char err[256];
		uint64_t seed;
		if (!cfg->replay ||
		    schedule_parse(cfg->replay, &e->replay, &e->nreplay, &seed, err, sizeof(err))) {
			fprintf(stderr, "tdxsim: %s\n", cfg->replay ? err : "replay needs a schedule");
			free(e);
			return NULL;
		}
		e->cfg.seed = seed;	/* program randomness replays too */
	}
	if (!e->cfg.check_every)
		e->cfg.check_every = 1;
	e->check_next = cfg->check ? e->cfg.check_every : UINT64_MAX;
	e->sched_rng = e->cfg.seed ^ 0x5eed5eed5eed5eedull;
	e->prog_rng = e->cfg.seed;
	e->hooks = (struct seam_hooks){
		.point = hook_point,
		.lock = hook_lock,
		.now_ns = hook_now,
		.wait = hook_wait,
		.wake = hook_wake,
		.charge = hook_charge,
		.event = cfg->record_events ? hook_event : NULL,
		.cpu = hook_cpu,
		.ctx = e,
	};
	return e;
}

void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->n; i++) {
		coro_destroy(&e->t[i]->co);
		free(e->t[i]->charges);
		free(e->t[i]);
	}
	free(e->choices);
	free(e->replay);
	free(e->schedule);
	free(e->ev);
	free(e);
}

static void task_main(void *p)
{
	struct etask *t = p;
	struct engine *e = current_engine;
	t->fn(t->arg);
	t->state = T_DONE;
	e->nrunnable--;
	e->gen++;
	/* pick the next task for main to resume (or end the run) */
	e->steps++;
	struct etask *n = choose(e);
	if (n) {
		e->next = n;
	} else if (!e->stop) {
		bool all_done = true;
		for (int i = 0; i < e->n; i++)
			all_done &= e->t[i]->state == T_DONE;
		if (!all_done)
			report_deadlock(e);
	}
	coro_exit(&t->co, &e->main);
}

int engine_spawn(struct engine *e, const char *name, void (*fn)(void *), void *arg)
{
	if (e->n == ENGINE_MAX_TASKS || (e->running && e->stop))
		return -1;
	struct etask *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->id = e->n;
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "task");
	t->fn = fn;
	t->arg = arg;
	if (e->cfg.task_charges && !(t->charges = calloc(SEAM_COST_NR, sizeof(uint64_t)))) {
		free(t);
		return -1;
	}
	if (coro_init(&t->co, e->cfg.stack_size, task_main, t)) {
		free(t->charges);
		free(t);
		return -1;
	}
	if (e->cur)	/* spawned by a running task: starts at its parent's time */
		t->clock = e->cur->clock;
	e->t[e->n++] = t;
	e->nrunnable++;
	e->gen++;
	return t->id;
}

enum engine_outcome engine_run(struct engine *e)
{
	if (current_engine) {
		fprintf(stderr, "tdxsim: engine_run is not reentrant\n");
		return ENGINE_FAIL;
	}
	current_engine = e;
	e->saved_hooks = seam_active;
	seam_install(&e->hooks);
	coro_init_main(&e->main);
	e->running = true;
	e->ops->start(e);
	e->next = choose(e);
	while (!e->stop && e->next) {
		struct etask *t = e->next;
		e->next = NULL;
		e->cur = t;
		coro_switch(&e->main, &t->co);
		e->cur = NULL;
	}
	/* the end of a run whose tasks all finished: one last check */
	if (!e->stop && e->cfg.check)
		run_check(e);
	e->running = false;
	seam_install(e->saved_hooks);
	current_engine = NULL;
	if (!e->stop)
		e->outcome = ENGINE_OK;
	return e->outcome;
}

/* ---- inside a task ---- */

struct engine *engine_current(void)
{
	return current_engine;
}

int engine_task_id(void)
{
	return current_engine && current_engine->cur ? current_engine->cur->id : -1;
}

/* engine_fail() and engine_livelock(): stop the run with @outcome and a report. */
static void __attribute__((noreturn, format(printf, 2, 0)))
stop_run(enum engine_outcome outcome, const char *fmt, va_list ap)
{
	struct engine *e = current_engine;
	if (!e || !e->cur) {
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		abort();
	}
	if (!e->stop) {
		e->stop = true;
		e->outcome = outcome;
		int n = snprintf(e->report, sizeof(e->report), "task %d '%s': ", e->cur->id,
				 e->cur->name);
		vsnprintf(e->report + n, sizeof(e->report) - (size_t)n, fmt, ap);
	}
	for (;;)
		to_main(e);	/* main never resumes a task of a stopped run */
}

void engine_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	stop_run(ENGINE_FAIL, fmt, ap);
}

void engine_livelock(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	stop_run(ENGINE_LIVELOCK, fmt, ap);
}

void engine_invariant(const char *fmt, ...)
{
	struct engine *e = current_engine;
	char msg[sizeof(e->report) - 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!e || !e->cur) {
		fprintf(stderr, "tdxsim: invariant violation: %s\n", msg);
		abort();
	}
	engine_end(e, ENGINE_INVARIANT, "invariant violation at step %" PRIu64 ": %s", e->steps,
		   msg);
	for (;;)
		to_main(e);	/* main never resumes a task of a stopped run */
}

void engine_trace(uint64_t v)
{
	if (current_engine)
		hash_mix(current_engine, v ^ 0x7472616365ull);
}

uint64_t engine_rand(void)
{
	return current_engine ? engine_rng_next(&current_engine->prog_rng) : 0;
}

/* ---- results ---- */

const char *engine_report(const struct engine *e)
{
	return e->report;
}

const char *engine_schedule(struct engine *e)
{
	free(e->schedule);
	e->schedule = schedule_format(e->ops->name, e->cfg.seed, e->choices, e->nchoices);
	return e->schedule ? e->schedule : "";
}

uint64_t engine_trace_hash(const struct engine *e)
{
	return e->hash;
}

uint64_t engine_steps(const struct engine *e)
{
	return e->steps;
}

int engine_ntasks(const struct engine *e)
{
	return e->n;
}

const char *engine_task_name(const struct engine *e, int id)
{
	return id >= 0 && id < e->n ? e->t[id]->name : NULL;
}

uint64_t engine_task_clock(const struct engine *e, int id)
{
	return id >= 0 && id < e->n ? e->t[id]->clock : 0;
}

const uint64_t *engine_task_charges(const struct engine *e, int id)
{
	return id >= 0 && id < e->n ? e->t[id]->charges : NULL;
}

uint64_t engine_elapsed_ns(const struct engine *e)
{
	uint64_t m = 0;
	for (int i = 0; i < e->n; i++)
		if (e->t[i]->clock > m)
			m = e->t[i]->clock;
	return m;
}

void engine_print_report(struct engine *e, FILE *f)
{
	fprintf(f, "outcome: %s\n", engine_outcome_name(e->outcome));
	if (e->report[0])
		fprintf(f, "  %s\n", e->report);
	fprintf(f, "steps: %" PRIu64 ", trace hash %016" PRIx64 "\n", e->steps, e->hash);
	const char *sched = engine_schedule(e);
	size_t len = strlen(sched);
	if (len > 160)
		fprintf(f, "schedule: %.160s... (%zu characters; engine_schedule() has it all)\n",
			sched, len);
	else
		fprintf(f, "schedule: %s\n", sched);
	fprintf(f, "virtual time: %" PRIu64 " ns elapsed\n", engine_elapsed_ns(e));
	for (int i = 0; i < e->n; i++)
		fprintf(f, "  task %d %-16s %12" PRIu64 " ns  %10" PRIu64 " steps  %s\n", i,
			e->t[i]->name, e->t[i]->clock, e->t[i]->nsteps,
			e->t[i]->state == T_DONE ? "done" :
			e->t[i]->state == T_BLOCKED ? "blocked" : "runnable");
}

uint64_t engine_charges(const struct engine *e, enum seam_cost kind)
{
	return kind < SEAM_COST_NR ? e->charges[kind] : 0;
}

size_t engine_events(const struct engine *e, const struct engine_event **ev, bool *complete)
{
	if (complete)
		*complete = !e->ev_dropped;
	*ev = e->ev;
	return e->nev;
}
