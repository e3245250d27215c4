/* SPDX-License-Identifier: MIT */
/* engine_internal.h - the engine's structures, shared by engine.c and sched.c. */
#ifndef TDXSIM_ENGINE_INTERNAL_H
#define TDXSIM_ENGINE_INTERNAL_H

#include "engine.h"
#include "task.h"

enum etask_state { T_RUNNABLE = 0, T_BLOCKED, T_DONE };

struct held_lock {
	enum seam_lock_class cls;
	const void *lock;
	enum seam_lock_mode mode;
};

/* PROMOTE holds the 512 child entry locks of an S-EPT page, plus its others */
#define MAX_HELD 576

struct etask {
	int id;
	char name[32];
	uint64_t *charges;		/* engine_config.task_charges: by kind, else NULL */
	enum etask_state state;
	struct coro co;
	void (*fn)(void *);
	void *arg;
	const void *wait_obj;		/* what a blocked task waits on */
	const char *wait_what;
	uint64_t clock;			/* virtual time, ns */
	struct held_lock held[MAX_HELD];
	int nheld;
	int64_t prio;			/* PCT priority (higher runs first) */
	bool prio_set;			/* PCT: given its initial priority */
	uint64_t last_step;		/* last step it was chosen at */
	uint64_t nsteps;		/* steps it ran */
};

struct sched_ops {
	const char *name;
	/* a new execution begins (tasks are spawned) */
	void (*start)(struct engine *e);
	/* optional: every step, before any pick (even with one runnable task) */
	void (*step)(struct engine *e, struct etask **runnable, int n);
	/* pick among @n > 1 runnable tasks (in id order); returns an index */
	int (*pick)(struct engine *e, struct etask **runnable, int n);
};

struct engine {
	struct engine_config cfg;
	const struct sched_ops *ops;
	struct cost_table costs;
	uint64_t charges[SEAM_COST_NR];	/* operations charged, by kind (SEAMCALLs by leaf) */
	struct etask *t[ENGINE_MAX_TASKS];
	int n;
	int nrunnable;			/* tasks in T_RUNNABLE */
	struct etask *cur;		/* running task, NULL in the main context */
	struct etask *next;		/* chosen to run next */
	struct coro main;
	uint64_t steps;
	/* the timed scheduler's cache: tasks' states changed gen times; tother is
	 * the best runnable task but the current one as of tgen (choose()) */
	uint64_t gen, tgen;
	struct etask *tother;
	bool running;
	bool stop;
	enum engine_outcome outcome;
	char report[4096];
	uint64_t hash;
	uint64_t sched_rng;		/* the scheduler's randomness */
	uint64_t prog_rng;		/* the program's randomness */
	/* recorded choices (task ids at decisions with > 1 runnable task) */
	uint16_t *choices;
	size_t nchoices, cap;
	char *schedule;			/* printable form, built on demand */
	/* replay */
	uint16_t *replay;
	size_t nreplay, replay_pos;
	unsigned fallback_run;		/* lenient replay: fallback picks of one task in a row */
	/* PCT */
	uint64_t pct_change[64];	/* steps at which to lower the running task */
	int pct_nchange;
	int64_t pct_floor;		/* PCT: the priority the next spinner gets (falls) */
	/* the current scheduling point is a seam_yield(): the running task
	 * waits for another one (a retry loop), it does not make progress */
	bool at_yield;
	bool dfs_yield;			/* SCHED_DFS: at_yield as the step found it */
	/* events for a trace (cfg.record_events) */
	struct engine_event *ev;
	size_t nev, evcap;
	bool ev_dropped;
	struct seam_hooks hooks;
	const struct seam_hooks *saved_hooks;
	uint64_t check_next;		/* step of the next check (UINT64_MAX: none) */
};

extern const struct sched_ops *const sched_ops_table[SCHED_NR];
uint64_t engine_rng_next(uint64_t *state);
void engine_end(struct engine *e, enum engine_outcome o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int schedule_parse(const char *s, uint16_t **out, size_t *n, uint64_t *seed,
		   char *err, size_t errlen);

#endif
