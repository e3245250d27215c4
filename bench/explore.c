/* SPDX-License-Identifier: MIT */
/*
 * explore.c - the exploration figures of `make bench`, in a program of their
 * own (bench/bench.c runs it): explore_runs_per_s, explore_runs_per_s_small
 * and exhaustive_schedules_per_s.  Prints the three rates, each followed by
 * its count (runs that met [expect], schedules of the covered search).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../src/cli/scenario.h"

#define RUNS 5

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/*
 * Explored runs per second of one scenario, as `tdxsim explore` does them
 * (random scheduler, seeds 1..@runs, the built TD reused between runs); the
 * best of RUNS.  *@ok_out: the runs whose outcome met [expect] in the last.
 */
static double bench_explore(const char *path, uint64_t runs, uint64_t *ok_out)
{
	static struct scenario sc;
	char err[512];
	if (scenario_load(path, &sc, err, sizeof(err))) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	double best = 0;
	for (int k = 0; k < RUNS; k++) {
		struct sc_reuse *u = sc_reuse_create();
		uint64_t ok = 0, t0 = now_ns();
		for (uint64_t i = 1; i <= runs; i++) {
			struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = i, .reuse = u };
			struct sc_result r;
			char why[256];
			if (scenario_run(&sc, &o, &r))
				exit(1);
			ok += scenario_expected(&sc, &r, why, sizeof(why));
			sc_result_free(&r);
		}
		double rate = (double)runs / ((double)(now_ns() - t0) / 1e9);
		if (rate > best)
			best = rate;
		*ok_out = ok;
		sc_reuse_free(u);
	}
	scenario_free(&sc);
	return best;
}

/*
 * Bounded-exhaustive schedules per second: explore --exhaustive
 * --preemptions 1 over scenarios/accept-race-4k.ini (seed 001's race on
 * four pages: 790 schedules, the bound covered), as the command runs it
 * (reused TD); the best of RUNS.  *@n: schedules of the last search.
 */
static double bench_exhaustive(uint64_t *n)
{
	static struct scenario sc;
	char err[512];
	if (scenario_load("scenarios/accept-race-4k.ini", &sc, err, sizeof(err))) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	double best = 0;
	for (int k = 0; k < RUNS; k++) {
		struct engine_dfs x;
		engine_dfs_init(&x, 1);
		struct sc_reuse *u = sc_reuse_create();
		uint64_t runs = 0, t0 = now_ns();
		while (engine_dfs_next(&x)) {
			struct sc_run_opts o = { .sched = SCHED_DFS, .seed = 1, .dfs = &x, .reuse = u };
			struct sc_result r;
			char why[256];
			if (scenario_run(&sc, &o, &r) || !scenario_expected(&sc, &r, why, sizeof(why))) {
				fprintf(stderr, "bench: accept-race-4k schedule %" PRIu64 " failed: %s\n",
					runs + 1, r.message);
				exit(1);
			}
			sc_result_free(&r);
			runs++;
		}
		double rate = (double)runs / ((double)(now_ns() - t0) / 1e9);
		if (rate > best)
			best = rate;
		if (!x.covered)
			exit(1);
		*n = runs;
		engine_dfs_free(&x);
		sc_reuse_free(u);
	}
	scenario_free(&sc);
	return best;
}

int main(void)
{
	uint64_t n[3] = { 0, 0, 0 };
	double a = bench_explore("scenarios/seed001-rare-case.ini", 2000, &n[0]);
	double b = bench_explore("bench/explore-small.ini", 5000, &n[1]);
	double c = bench_exhaustive(&n[2]);
	printf("%.1f %" PRIu64 " %.1f %" PRIu64 " %.1f %" PRIu64 "\n", a, n[0], b, n[1], c, n[2]);
	return 0;
}
