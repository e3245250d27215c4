/* SPDX-License-Identifier: MIT */
/*
 * sched.c - the schedulers behind one small interface (start an execution,
 * pick the next task among the runnable ones), and the schedule string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* splitmix64 */
uint64_t engine_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void start_nothing(struct engine *e)
{
	(void)e;
}

/* Round robin: the first runnable task after the current one, by id. */
static int pick_rr(struct engine *e, struct etask **r, int n)
{
	int cur = e->cur ? e->cur->id : -1;
	for (int i = 0; i < n; i++)
		if (r[i]->id > cur)
			return i;
	return 0;
}

static int pick_random(struct engine *e, struct etask **r, int n)
{
	(void)r;
	return (int)(engine_rng_next(&e->sched_rng) % (uint64_t)n);
}

/*
 * PCT (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010): tasks get
 * distinct random priorities above d; d-1 change points are drawn in
 * [1, k]; the highest-priority runnable task runs, and when the run reaches
 * a change point the running task's priority drops below every other
 * task's (the paper's d-i for the i-th change point; here the later change
 * ranks lower, which for d = 2 is the same).  A bug of depth d is found with
 * probability at least 1/(n k^(d-1)).
 *
 * Spinning: a task at a seam_yield() is in a retry loop, waiting for another
 * task to do something (a frozen SPTE restored, a BUSY lock released).  Left
 * at its priority it would run forever and starve the very task it waits
 * for, so that the step bound trips where every fair scheduler finishes.
 * As PCT implementations do for spin loops, a yielding task drops below
 * every other task (to pct_floor, which keeps falling: of two tasks lowered,
 * at a change point or a yield, the one lowered last ranks lowest).  Its priority stays there: it is
 * still the highest-priority task while the others are blocked or done.
 */
static void start_pct(struct engine *e)
{
	int d = e->cfg.pct_depth < 1 ? 1 : e->cfg.pct_depth;
	uint64_t k = e->cfg.pct_steps ? e->cfg.pct_steps : 1000;
	if (d - 1 > 64)
		d = 65;
	e->pct_nchange = d - 1;
	e->pct_floor = 0;
	for (int i = 0; i < e->pct_nchange; i++)
		e->pct_change[i] = 1 + engine_rng_next(&e->sched_rng) % k;
}

/* Every step: priorities for new tasks, the change points, a spinner's drop. */
static void step_pct(struct engine *e, struct etask **r, int n)
{
	/* tasks spawned since the last step get a fresh random priority */
	for (int i = 0; i < n; i++)
		if (!r[i]->prio_set) {
			r[i]->prio_set = true;
			r[i]->prio = 1000000 + (int64_t)(engine_rng_next(&e->sched_rng) % 1000000000);
		}
	for (int i = 0; i < e->pct_nchange; i++) {
		if (e->pct_change[i] == e->steps && e->cur) {
			/* a change point: below every other task, as for a spinner */
			e->cur->prio = --e->pct_floor;
		}
	}
	if (e->at_yield && e->cur)
		e->cur->prio = --e->pct_floor;	/* below every other task */
}

static int pick_pct(struct engine *e, struct etask **r, int n)
{
	(void)e;
	int best = 0;
	for (int i = 1; i < n; i++)
		if (r[i]->prio > r[best]->prio)
			best = i;
	return best;
}

/* Timed: the earliest virtual clock; ties go to the lowest id. */
static int pick_timed(struct engine *e, struct etask **r, int n)
{
	(void)e;
	int best = 0;
	for (int i = 1; i < n; i++)
		if (r[i]->clock < r[best]->clock)
			best = i;
	return best;
}

/*
 * A lenient replay's choice where the schedule gives none that fits: the
 * running task if it can go on (for at most 256 decisions in a row), else
 * the next runnable one in round-robin order.  Deterministic, so the
 * recorded schedule replays strictly.
 */
static int pick_fallback(struct engine *e, struct etask **r, int n)
{
	/* a task spinning on something another one must do is not let
	 * starve it: after FALLBACK_RUN decisions in a row, round robin */
	enum { FALLBACK_RUN = 256 };
	for (int i = 0; i < n; i++)
		if (r[i] == e->cur && ++e->fallback_run < FALLBACK_RUN)
			return i;
	e->fallback_run = 0;
	return pick_rr(e, r, n);
}

/*
 * Replay: the recorded choice; running out or a task that is not runnable
 * is an error, or with cfg.replay_lenient (the shrinker's candidates) a
 * fallback choice.
 */
static int pick_replay(struct engine *e, struct etask **r, int n)
{
	if (e->replay_pos >= e->nreplay && e->cfg.replay_lenient)
		return pick_fallback(e, r, n);
	if (e->replay_pos >= e->nreplay) {
		engine_end(e, ENGINE_REPLAY_ERROR,
			   "replay: the schedule ended after %zu choices but step %llu needs another",
			   e->nreplay, (unsigned long long)e->steps);
		return -1;
	}
	unsigned want = e->replay[e->replay_pos++];
	for (int i = 0; i < n; i++)
		if ((unsigned)r[i]->id == want)
			return i;
	if (e->cfg.replay_lenient)
		return pick_fallback(e, r, n);
	char list[512] = "";
	size_t len = 0;
	for (int i = 0; i < n && len < sizeof(list) - 16; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d", i ? "," : "", r[i]->id);
	engine_end(e, ENGINE_REPLAY_ERROR,
		   "replay: choice %zu names task %u, which is not runnable at step %llu (runnable: %s)",
		   e->replay_pos - 1, want, (unsigned long long)e->steps, list);
	return -1;
}

/*
 * Bounded-exhaustive search (engine.h, struct engine_dfs).  The run replays
 * the search's forced prefix of decisions, then goes on without preempting;
 * every decision it makes is appended to the search's path with what could
 * have been picked there and which pick would have been free.
 *
 * Costs per decision: a mask over the runnable tasks and one 24-byte entry
 * (the 2-vCPU scenarios make ~40k decisions a run).  Tasks are at most 64
 * (a bit each).
 */
static void start_dfs(struct engine *e)
{
	struct engine_dfs *x = e->cfg.dfs;
	x->pos = 0;
	x->ndec = x->nprefix;	/* the rest of the old path is re-made by this run */
}

/* choose() clears at_yield before it picks: keep it for pick_dfs() */
static void step_dfs(struct engine *e, struct etask **r, int n)
{
	(void)r;
	(void)n;
	e->dfs_yield = e->at_yield;
}

/* Append a decision to the path; false (the run ended) without memory. */
static bool dfs_push(struct engine *e, struct engine_dfs *x, const struct engine_dfs_dec *d)
{
	if (x->ndec == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 4096;
		struct engine_dfs_dec *v = realloc(x->dec, nc * sizeof(*v));
		if (!v) {
			engine_end(e, ENGINE_FAIL, "dfs: out of memory for the search path");
			return false;
		}
		x->dec = v;
		x->cap = nc;
	}
	x->dec[x->ndec++] = *d;
	if (x->ndec > x->max_depth)
		x->max_depth = x->ndec;
	return true;
}

static int pick_dfs(struct engine *e, struct etask **r, int n)
{
	struct engine_dfs *x = e->cfg.dfs;
	struct etask *cur = e->cur;
	uint64_t opts = 0;
	if (r[n - 1]->id >= 64) {
		engine_end(e, ENGINE_REPLAY_ERROR, "dfs: task %d: the search handles 64 tasks",
			   r[n - 1]->id);
		return -1;
	}
	for (int i = 0; i < n; i++)
		opts |= 1ull << r[i]->id;
	bool goes_on = cur && cur->state == T_RUNNABLE;
	if (goes_on && e->dfs_yield) {
		/* fairness: a spinner waits for the others (n > 1: there are some) */
		opts &= ~(1ull << cur->id);
		goes_on = false;
	}
	unsigned c;
	if (!(opts & (opts - 1))) {
		c = (unsigned)__builtin_ctzll(opts);	/* one option: no decision */
	} else {
		struct engine_dfs_dec d = { .options = opts,
					    .free = goes_on ? (uint16_t)cur->id : ENGINE_DFS_ANY };
		if (x->pos < x->nprefix) {
			struct engine_dfs_dec *p = &x->dec[x->pos];
			if (p->options != d.options || p->free != d.free) {
				engine_end(e, ENGINE_REPLAY_ERROR,
					   "dfs: decision %zu at step %llu differs from the one an "
					   "earlier run made there: the program is not deterministic",
					   x->pos, (unsigned long long)e->steps);
				return -1;
			}
			c = p->chosen;
		} else {
			/* the default: go on, else round robin after the current task */
			if (goes_on) {
				c = (unsigned)cur->id;
			} else {
				uint64_t after = opts;
				if (cur && cur->id < 63)
					after &= ~((2ull << cur->id) - 1);
				else if (cur)
					after = 0;
				c = (unsigned)__builtin_ctzll(after ? after : opts);
			}
			d.chosen = (uint16_t)c;
			d.tried = 1ull << c;
			d.npre = x->ndec ? x->dec[x->ndec - 1].npre : 0;
			if (!dfs_push(e, x, &d))
				return -1;
		}
		x->pos++;
	}
	for (int i = 0; i < n; i++)
		if ((unsigned)r[i]->id == c)
			return i;
	return -1;	/* not reached: c is among the options */
}

void engine_dfs_init(struct engine_dfs *x, int bound)
{
	memset(x, 0, sizeof(*x));
	x->bound = bound < 0 ? 0 : bound > ENGINE_DFS_MAX_BOUND ? ENGINE_DFS_MAX_BOUND : bound;
}

void engine_dfs_free(struct engine_dfs *x)
{
	free(x->dec);
	x->dec = NULL;
	x->ndec = x->cap = x->nprefix = 0;
}

/*
 * Backtrack: the deepest decision of the last run's path with an option
 * not tried yet whose pick keeps the path's preemptions within the bound
 * (a pick at a free decision costs nothing, any pick but the running task
 * at another costs one).  The path up to it becomes the next run's forced
 * prefix.  Options are tried in id order, so the search is deterministic.
 */
bool engine_dfs_next(struct engine_dfs *x)
{
	if (!x->started) {
		x->started = true;
		x->ndec = x->nprefix = 0;
		x->runs++;
		return true;
	}
	if (x->covered)
		return false;
	/* the last run's own decisions: a preemption each would be one too many? */
	unsigned spent = x->nprefix ? x->dec[x->nprefix - 1].npre : 0;
	if (spent == (unsigned)x->bound)
		for (size_t i = x->nprefix; i < x->ndec; i++)
			if (x->dec[i].free != ENGINE_DFS_ANY)
				x->beyond += (uint64_t)__builtin_popcountll(x->dec[i].options) - 1;
	for (size_t i = x->ndec; i-- > 0;) {
		struct engine_dfs_dec *d = &x->dec[i];
		unsigned base = i ? x->dec[i - 1].npre : 0;
		uint64_t left = d->options & ~d->tried;
		bool costs = d->free != ENGINE_DFS_ANY;
		if (costs && base >= (unsigned)x->bound)
			left &= 1ull << d->free;	/* no preemption left to spend */
		if (!left)
			continue;
		unsigned c = (unsigned)__builtin_ctzll(left);
		d->tried |= 1ull << c;
		d->chosen = (uint16_t)c;
		d->npre = (uint16_t)(base + (costs && c != d->free));
		x->ndec = x->nprefix = i + 1;
		x->runs++;
		return true;
	}
	x->covered = true;
	x->ndec = x->nprefix = 0;
	return false;
}

static const struct sched_ops ops_rr = { "rr", start_nothing, NULL, pick_rr };
static const struct sched_ops ops_random = { "random", start_nothing, NULL, pick_random };
static const struct sched_ops ops_pct = { "pct", start_pct, step_pct, pick_pct };
static const struct sched_ops ops_replay = { "replay", start_nothing, NULL, pick_replay };
static const struct sched_ops ops_timed = { "timed", start_nothing, NULL, pick_timed };
static const struct sched_ops ops_dfs = { "dfs", start_dfs, step_dfs, pick_dfs };

const struct sched_ops *const sched_ops_table[SCHED_NR] = {
	[SCHED_RR] = &ops_rr,
	[SCHED_RANDOM] = &ops_random,
	[SCHED_PCT] = &ops_pct,
	[SCHED_REPLAY] = &ops_replay,
	[SCHED_TIMED] = &ops_timed,
	[SCHED_DFS] = &ops_dfs,
};

const char *sched_name(enum sched_kind k)
{
	return k < SCHED_NR ? sched_ops_table[k]->name : "?";
}

int sched_parse(const char *name, enum sched_kind *k)
{
	for (int i = 0; i < SCHED_NR; i++)
		if (!strcmp(name, sched_ops_table[i]->name)) {
			*k = (enum sched_kind)i;
			return 0;
		}
	return -1;
}

/*
 * Schedule strings: "tdxsim1:<sched>:<seed>:<choices>".  Each choice is a
 * task id as a letter (a-z = 0-25, A-Z = 26-51, or {N} for any id),
 * followed by a decimal repeat count when it repeats: "a12b3c" is task 0
 * twelve times, task 1 three times, task 2 once.
 */
char *schedule_format(const char *sched, uint64_t seed, const uint16_t *c, size_t n);
char *schedule_format(const char *sched, uint64_t seed, const uint16_t *c, size_t n)
{
	char head[96];
	int hl = snprintf(head, sizeof(head), "tdxsim1:%s:%llu:", sched, (unsigned long long)seed);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return NULL;
	/* one pass for the size, one to write: every run formats its schedule,
	 * and a 2-vCPU run makes ~50k choices (snprintf per choice was half of it) */
	size_t len = (size_t)hl;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && c[j] == c[i])
			j++;
		len += c[i] < 52 ? 1 : 7;		/* "{255}" at most, and slack */
		if (j - i > 1)
			for (size_t k = j - i; k; k /= 10)
				len++;			/* the count's digits */
		i = j;
	}
	char *buf = malloc(len + 1), *p = buf;
	if (!buf)
		return NULL;
	memcpy(p, head, (size_t)hl);
	p += hl;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && c[j] == c[i])
			j++;
		unsigned id = c[i];
		if (id < 26) {
			*p++ = (char)('a' + id);
		} else if (id < 52) {
			*p++ = (char)('A' + (id - 26));
		} else {
			*p++ = '{';
			char d[8];
			int nd = 0;
			do
				d[nd++] = (char)('0' + id % 10);
			while ((id /= 10));
			while (nd)
				*p++ = d[--nd];
			*p++ = '}';
		}
		if (j - i > 1) {
			char d[24];
			int nd = 0;
			for (size_t k = j - i; k; k /= 10)
				d[nd++] = (char)('0' + k % 10);
			while (nd)
				*p++ = d[--nd];
		}
		i = j;
	}
	*p = 0;
	return buf;
}

int schedule_parse(const char *s, uint16_t **out, size_t *n, uint64_t *seed,
		   char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	if (strncmp(s, "tdxsim1:", 8)) {
		snprintf(err, errlen, "schedule string must start with 'tdxsim1:'");
		return -1;
	}
	const char *p = strchr(s + 8, ':');
	if (!p) {
		snprintf(err, errlen, "schedule string has no seed field");
		return -1;
	}
	char *end;
	*seed = strtoull(p + 1, &end, 10);
	if (end == p + 1 || *end != ':') {
		snprintf(err, errlen, "schedule string: bad seed");
		return -1;
	}
	p = end + 1;
	size_t cap = 0;
	uint16_t *v = NULL;
	while (*p) {
		unsigned id;
		if (*p >= 'a' && *p <= 'z') {
			id = (unsigned)(*p++ - 'a');
		} else if (*p >= 'A' && *p <= 'Z') {
			id = 26u + (unsigned)(*p++ - 'A');
		} else if (*p == '{') {
			unsigned long x = strtoul(p + 1, &end, 10);
			if (end == p + 1 || *end != '}' || x >= ENGINE_MAX_TASKS)
				goto bad;
			id = (unsigned)x;
			p = end + 1;
		} else {
			goto bad;
		}
		unsigned long count = 1;
		if (*p >= '0' && *p <= '9') {
			count = strtoul(p, &end, 10);
			if (count < 2 || count > 100000000ul)
				goto bad;
			p = end;
		}
		if (*n + count > cap) {
			size_t nc = cap ? cap * 2 : 256;
			while (nc < *n + count)
				nc *= 2;
			uint16_t *nv = realloc(v, nc * sizeof(*nv));
			if (!nv)
				goto bad;
			v = nv;
			cap = nc;
		}
		for (unsigned long i = 0; i < count; i++)
			v[(*n)++] = (uint16_t)id;
	}
	*out = v;
	return 0;
bad:
	snprintf(err, errlen, "schedule string: bad choice at '%.10s'", p);
	free(v);
	*n = 0;
	return -1;
}
