/* SPDX-License-Identifier: MIT */
/*
 * cli_opts.h - the command line of the scenario commands (run, replay,
 * shrink, explore, compare, map): one parser, one loader, one error form.
 */
#ifndef TDXSIM_CLI_OPTS_H
#define TDXSIM_CLI_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "scenario.h"

#define MAX_SETS 32

struct opts {
	const char *cmd;
	const char *file;
	const char *arg2;		/* replay/shrink: the schedule */
	const char *sets[MAX_SETS];
	int nsets;
	enum sched_kind sched;
	int pct_depth;
	uint64_t seed;
	bool seed_given;
	bool json;
	const char *trace;
	const char *svg;		/* map: --svg */
	uint64_t at;			/* map: --at STEP (0: the end) */
	const char *report;
	uint64_t runs;
	double time_s;
	unsigned shard, nshards;
	unsigned jobs;
	const char *varies[8];
	int nvaries;
	bool runs_given;
	bool lenient;
	bool sched_given;		/* --sched (explore --exhaustive refuses it) */
	bool jobs_given;		/* --jobs, even 1 (refused with --exhaustive) */
	bool exhaustive;		/* explore --exhaustive */
	int preemptions;		/* --preemptions K (default 2) */
	bool preemptions_given;		/* (refused without --exhaustive) */
	char inject[256];		/* --inject NAME...: "inject=NAME[,NAME]" for the sets */
	uint64_t check_every;		/* --check[=N]: every N steps; 0: off (--no-check) */
	bool check_given;
	struct cost_table costs;	/* --costs FILE over the built-in defaults */
	bool costs_given;
};

/* explore's checking mode when neither --check nor --no-check is given */
#define CLI_CHECK_DEFAULT_EVERY 1000

/* "tdxsim CMD: message (try 'tdxsim help CMD')" on stderr; returns 2. */
int cli_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Parse @cmd's command line.  @allowed lists the options it takes:
 * s(et) S(ched) e(seed) j(son) l(enient) t(race) r(uns) T(ime) h(shard)
 * J(obs) v(ary) R(eport) g (--svg) a (--at) x (--exhaustive)
 * P (--preemptions) i(nject) c (--check[=N], --no-check) k (--costs FILE).  @npos positional arguments
 * (1 or 2).  0, or 2 after a one-line error.
 */
int cli_parse_opts(struct opts *o, const char *cmd, int argc, char **argv, const char *allowed,
		   int npos);
/* Load o->file and apply every --set.  0, or 1 (the message printed). */
int cli_load(const struct opts *o, struct scenario *sc);
/* The engine options of one run of @o with @seed. */
struct sc_run_opts cli_run_opts(const struct opts *o, uint64_t seed);

/*
 * What 'tdxsim explore' does, for tests: runs seeds @seed.. (@runs of them)
 * under @sched (SCHED_RANDOM or SCHED_PCT with @pct_depth) until one misses
 * @sc's [expect].  0 when none did; else the number of runs made (the
 * failing one included), *@fail_seed its seed and *@fail its result (free it
 * with sc_result_free).  A run the simulator cannot make exits(1).
 */
uint64_t cli_explore(const struct scenario *sc, enum sched_kind sched, int pct_depth, uint64_t seed,
		     uint64_t runs, uint64_t *fail_seed, struct sc_result *fail);
/*
 * 'tdxsim shrink': the shortest schedule found (malloc'ed) that fails as
 * @target did, in at most @budget lenient replays (*@runs: how many).
 */
char *cli_shrink(const struct scenario *sc, const char *schedule, const struct sc_result *target,
		 unsigned budget, unsigned *runs);

#endif
