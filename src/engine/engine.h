/* SPDX-License-Identifier: MIT */
/*
 * engine.h - deterministic execution of simulated CPUs.
 *
 * Tasks (vCPUs and host threads) are coroutines on one OS thread.  Every
 * seam operation (src/engine/seam.h) is a scheduling point at which the
 * scheduler picks the next task among the runnable ones.  A run records its
 * schedule as a short printable string; replaying that string reproduces the
 * run exactly (same trace hash).  Each task has a virtual clock advanced by
 * the cost table.
 */
#ifndef TDXSIM_ENGINE_H
#define TDXSIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "seam.h"

enum engine_outcome {
	ENGINE_OK = 0,		/* every task finished */
	ENGINE_FAIL,		/* a task or the lock checker reported a failure */
	ENGINE_DEADLOCK,	/* no runnable task while some are blocked */
	ENGINE_STEP_BOUND,	/* step bound exceeded: possible livelock */
	ENGINE_REPLAY_ERROR,	/* the replayed schedule does not fit this run */
	ENGINE_LIVELOCK,	/* a task reported that it makes no progress (engine_livelock) */
	ENGINE_INVARIANT,	/* the check hook (engine_config.check) or a task
				 * (engine_invariant) found an invariant broken */
};

enum sched_kind {
	SCHED_RR = 0,		/* round robin: switch at every scheduling point */
	SCHED_RANDOM,		/* uniform among runnable tasks, seeded */
	SCHED_PCT,		/* probabilistic concurrency testing, depth d */
	SCHED_REPLAY,		/* strict replay of a schedule string */
	SCHED_TIMED,		/* the task with the earliest virtual clock */
	SCHED_DFS,		/* bounded-exhaustive search: a forced prefix, then
				 * no preemption (engine_dfs_next drives it) */
	SCHED_NR
};

/* Virtual-time costs in ns, indexed by enum seam_cost. */
struct cost_table {
	uint64_t ns[SEAM_COST_NR];
};

struct engine_config {
	enum sched_kind sched;
	uint64_t seed;		/* random, PCT, and program randomness */
	int pct_depth;		/* PCT bug depth d (>= 1) */
	uint64_t pct_steps;	/* PCT: expected steps per run (0: 1000) */
	const char *replay;	/* SCHED_REPLAY: the schedule string */
	bool replay_lenient;	/* SCHED_REPLAY: past the string's end, or where its
				 * choice is not runnable, pick deterministically
				 * (the running task for up to 256 decisions, else
				 * round robin) instead of failing: how the shrinker
				 * tries shorter schedules */
	uint64_t step_bound;	/* 0: 1,000,000 */
	size_t stack_size;	/* task stacks (0: 256 KiB) */
	const struct cost_table *costs; /* NULL: built-in defaults */
	bool record_events;	/* keep the events a trace shows (engine_events) */
	bool task_charges;	/* count charges per task (engine_task_charges) */
	struct engine_dfs *dfs;	/* SCHED_DFS: the search this run belongs to */
	/*
	 * Checking mode: @check(@check_arg, msg, len) runs at every
	 * @check_every-th scheduling point (0: 1) and once when the run ends
	 * with every task done.  It reads state directly and must not
	 * reschedule: while it runs the seam has no hooks, so a seam operation
	 * inside it is a plain access, never a scheduling point.  0: all
	 * invariants hold; nonzero: it wrote the violation into msg and the
	 * run ends as ENGINE_INVARIANT, the report "invariant violation at
	 * step N: msg".  NULL: no checking, and no work on the step path but
	 * one compare.
	 */
	int (*check)(void *arg, char *msg, size_t len);
	void *check_arg;
	uint64_t check_every;
};

#define ENGINE_MAX_TASKS 256

struct engine;

struct engine *engine_create(const struct engine_config *cfg);
void engine_destroy(struct engine *e);

/* Add a task that will run @fn(@arg).  Returns its id (0, 1, ...) or -1. */
int engine_spawn(struct engine *e, const char *name, void (*fn)(void *), void *arg);

/* Run until every task finished or the run ended otherwise. */
enum engine_outcome engine_run(struct engine *e);

const char *engine_outcome_name(enum engine_outcome o);
const char *engine_report(const struct engine *e);	/* why it ended, "" if OK */
/* The run's schedule: "tdxsim1:<sched>:<seed>:<choices>"; valid after run. */
const char *engine_schedule(struct engine *e);
uint64_t engine_trace_hash(const struct engine *e);
uint64_t engine_steps(const struct engine *e);
int engine_ntasks(const struct engine *e);
const char *engine_task_name(const struct engine *e, int id);
uint64_t engine_task_clock(const struct engine *e, int id);
uint64_t engine_elapsed_ns(const struct engine *e);	/* latest task clock */
/*
 * What task @id was charged, by kind (SEAM_COST_NR counts), with
 * engine_config.task_charges; NULL without.  Its clock is the sum of each
 * count times its cost plus the time it waited (lock hand-offs, wakeups).
 */
const uint64_t *engine_task_charges(const struct engine *e, int id);
/* Operations of @kind charged during the run (SEAM_COST_SEAMCALL + leaf: calls of a leaf). */
uint64_t engine_charges(const struct engine *e, enum seam_cost kind);

/*
 * Recorded events (engine_config.record_events): the seam's events
 * (enum seam_event_kind) and the start of every SEAMCALL and TDCALL
 * (ENGINE_EV_CALL, a = its enum seam_cost), in the order they happened,
 * each stamped with its task's virtual clock.  Recording changes nothing in
 * the run: same schedule, same trace hash.
 */
#define ENGINE_EV_CALL SEAM_EV_NR

struct engine_event {
	uint64_t ns;		/* the task's virtual clock */
	uint64_t a, b;		/* as enum seam_event_kind says */
	int task;
	int kind;		/* enum seam_event_kind or ENGINE_EV_CALL */
};

/*
 * The events of the last run and their number; *@complete (if not NULL)
 * is false when memory ran out and later events were dropped.
 */
size_t engine_events(const struct engine *e, const struct engine_event **ev, bool *complete);

/*
 * Print the run's report: outcome (and why), steps, trace hash, the
 * schedule string, and each task's virtual time and steps.
 */
void engine_print_report(struct engine *e, FILE *f);

/* ---- inside a task ---- */
struct engine *engine_current(void);
int engine_task_id(void);
/*
 * Record a failure and end the run now; never returns.  (Not declared
 * noreturn: AddressSanitizer's no-return hook misreads coroutine stacks.)
 */
void engine_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * End the run as a livelock that the caller detected (a vCPU making no
 * forward progress), with @fmt as the report; from a task only.
 */
void engine_livelock(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * End the run as ENGINE_INVARIANT from a task (a guest's read that does not
 * return what it wrote): the report is "invariant violation at step N: "
 * and @fmt.  Never returns.
 */
void engine_invariant(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Mix @v into the trace hash (results that must replay identically). */
void engine_trace(uint64_t v);
/* Next number of the run's program PRNG (seeded by the config's seed). */
uint64_t engine_rand(void);

/*
 * Bounded-exhaustive search (SCHED_DFS, sched.c): every schedule with at
 * most @bound preemptions, one run each, depth first, by re-execution
 * (CHESS's iterative context bounding, Musuvathi and Qadeer, PLDI 2007).
 *
 * A preemption is a switch away from a task that could go on: it is
 * runnable and its scheduling point is not a seam_yield().  Picking
 * another task when the running one blocked, finished or yields (a retry
 * loop waiting for someone else) is free.  A yielding task is not picked
 * again while another one can run (fairness: spin loops end), so at a yield
 * the choice is among the others.  Without a forced choice a run keeps the
 * running task while it can go on, else takes the next runnable one in
 * round-robin order.
 *
 *	struct engine_dfs x;
 *	engine_dfs_init(&x, 2);
 *	while (engine_dfs_next(&x)) {
 *		struct engine_config c = { .sched = SCHED_DFS, .dfs = &x };
 *		... create, spawn, engine_run, look at the outcome, destroy ...
 *	}
 *	x.covered: the whole space was run; engine_dfs_free(&x);
 *
 * A run may stop the search early (a failure found, a time limit): the
 * driver just stops calling engine_dfs_next and covered stays false.
 */
#define ENGINE_DFS_ANY 0xffff	/* engine_dfs_dec.free: every pick is free */
#define ENGINE_DFS_MAX_BOUND 1000	/* the largest preemption bound */

/* One decision of the current path (more than one task it may pick). */
struct engine_dfs_dec {
	uint64_t options;	/* the tasks it may pick (bit i: task i) */
	uint64_t tried;		/* the options explored from here, or being explored */
	uint16_t chosen;	/* the task picked on the current path */
	uint16_t free;		/* the task whose pick is no preemption (it goes on),
				 * or ENGINE_DFS_ANY */
	uint16_t npre;		/* preemptions on the path up to and with this pick */
};

struct engine_dfs {
	int bound;			/* K: at most this many preemptions */
	struct engine_dfs_dec *dec;	/* the current path: forced prefix, then the
					 * decisions the last run made */
	size_t ndec, cap;
	size_t nprefix;			/* decisions the next run is forced to take */
	size_t pos;			/* the running run's next decision */
	uint64_t runs;			/* schedules handed out by engine_dfs_next */
	uint64_t max_depth;		/* most decisions a run made */
	uint64_t beyond;		/* picks the bound refused on the runs so far: a
					 * bound of one more would run at least this many
					 * more schedules (exactly, with two tasks) */
	bool covered;			/* engine_dfs_next found nothing left */
	bool started;
};

void engine_dfs_init(struct engine_dfs *x, int bound);
/*
 * Set up the next schedule: the first call the default one, then the
 * deepest decision of the last run with an option not yet tried that
 * keeps the preemptions <= bound.  false when none is left (covered).
 */
bool engine_dfs_next(struct engine_dfs *x);
void engine_dfs_free(struct engine_dfs *x);

/* ---- schedulers (sched.c) ---- */
const char *sched_name(enum sched_kind k);
int sched_parse(const char *name, enum sched_kind *k);

/*
 * Time @fn(@arg), a piece of work that runs alone (a teardown after every
 * task finished), in virtual time and cheaply: it runs on the calling
 * thread under the direct driver (not from inside a task), each
 * seam_charge() adding to @charges[kind] (SEAM_COST_NR entries, added to;
 * NULL: a count of its own).  Returns the virtual time from 0: the sum of
 * the charges times their cost in @costs (NULL: the built-in defaults).
 * An engine run of one task measures the same time (nothing can wait for
 * anything), but it costs a scheduling point and a lock check at every
 * seam operation: a small explored run took half as long again.  No lock
 * checking here, as for any direct-driver code.
 */
uint64_t engine_time_solo(const struct cost_table *costs, void (*fn)(void *), void *arg,
			  uint64_t *charges);

/* ---- costs (vtime.c) ---- */
void cost_table_default(struct cost_table *t);
/*
 * Load a cost file over the current values: an INI file whose [costs]
 * section has "name = ns" lines; names are those of cost_name(), or a
 * SEAMCALL leaf name ("TDH.MEM.PAGE.AUG") that @leaf_by_name resolves to
 * its number (NULL: leaf names are refused).  0, or -1 with a message in
 * @err.
 */
int cost_table_load(struct cost_table *t, const char *path,
		    int (*leaf_by_name)(const char *name), char *err, size_t errlen);
/* The same from a string (the built-in calibrated table of the tdxsim command). */
int cost_table_parse(struct cost_table *t, const char *text,
		     int (*leaf_by_name)(const char *name), char *err, size_t errlen);
const char *cost_name(enum seam_cost k);

#endif
