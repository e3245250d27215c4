/* SPDX-License-Identifier: MIT */
/*
 * Known bugs, re-found (policy "inject", docs/known-bugs.md).  For every
 * injected host bug and the scenario that exposes it: 'tdxsim explore' with
 * the injection misses the scenario's [expect] within a bounded number of
 * runs; the failing schedule shrinks, and the shrunk schedule replays
 * strictly to the same failure (outcome and message); without the
 * injection the same runs all meet [expect].  The failures come from the
 * simulator's own checks (the module's answers, guest checks, the livelock
 * watches), so each row also names the message it must show.  And: the
 * names parse strictly, and describe() shows them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "../src/cli/cli_opts.h"
#include "../src/cli/scenario.h"

static const char *scenario_dir(void)
{
	const char *d = getenv("TDXSIM_SCENARIOS");
	return d ? d : "scenarios";
}

/*
 * The table: an injection, its scenario, the scheduler that finds it, the
 * runs explore is given (the bound asserted, about five times the most any
 * of 20 base seeds needed, at least 100: scripts/known-bugs), and a piece of
 * the failure's message (which check caught it).
 */
static const struct bug {
	const char *inject;
	const char *file;
	enum sched_kind sched;
	int depth;			/* PCT */
	uint64_t runs;
	const char *message;
} bugs[] = {
	{ "no-slot-break", "bug-no-slot-break.ini", SCHED_RANDOM, 0, 500,
	  "the host retried the fault" },
	{ "remove-no-track", "bug-remove-no-track.ini", SCHED_RANDOM, 0, 100,
	  "TDX_TLB_TRACKING_NOT_DONE" },
	{ "track-no-kick", "bug-track-no-kick.ini", SCHED_RANDOM, 0, 100,
	  "TDX_TLB_TRACKING_NOT_DONE" },
	{ "frozen-leak", "bug-frozen-leak.ini", SCHED_RANDOM, 0, 200,
	  "the host retried the fault" },
	{ "zap-whole-2m", "bug-zap-whole-2m.ini", SCHED_RANDOM, 0, 100, "check 0x" },
	{ "busy-give-up", "bug-busy-zap.ini", SCHED_RANDOM, 0, 100, "TDX_OPERAND_BUSY" },
	{ "stale-pfn", "bug-stale-pfn.ini", SCHED_PCT, 3, 1000, "TDX_PAGE_METADATA_INCORRECT" },
	{ "kick-no-stop", "bug-busy-zap.ini", SCHED_RANDOM, 0, 1500, "TDX_OPERAND_BUSY" },
	{ "ignored-split", "bug-ignored-split.ini", SCHED_RANDOM, 0, 100, "times ignored the split of the 2M leaf" },
};

static void load(struct scenario *sc, const char *file, const char *inject)
{
	char path[1024], err[512];
	snprintf(path, sizeof(path), "%s/%s", scenario_dir(), file);
	if (scenario_load(path, sc, err, sizeof(err)))
		fail_msg("%s", err);
	if (inject) {
		char set[128];
		snprintf(set, sizeof(set), "inject=%s", inject);
		if (scenario_set(sc, set, err, sizeof(err)))
			fail_msg("%s", err);
	}
}

static void test_each_bug_refound(void **state)
{
	(void)state;
	BANNER("each injected bug: explore finds it within its bound, the shrunk schedule replays "
	       "strictly to the same failure; without the injection the same runs all pass");
	for (size_t i = 0; i < sizeof(bugs) / sizeof(bugs[0]); i++) {
		const struct bug *b = &bugs[i];
		static struct scenario sc;
		load(&sc, b->file, b->inject);
		uint64_t seed = 0;
		struct sc_result fail;
		uint64_t n = cli_explore(&sc, b->sched, b->depth, 1, b->runs, &seed, &fail);
		if (!n)
			fail_msg("%s (%s): no failure in %" PRIu64 " runs", b->inject, b->file, b->runs);
		if (!strstr(fail.message, b->message))
			fail_msg("%s: the failure at seed %" PRIu64 " (%s: \"%s\") does not say \"%s\"",
				 b->inject, seed, sc_outcome_name(fail.outcome), fail.message, b->message);
		unsigned sruns = 0;
		char *shrunk = cli_shrink(&sc, fail.schedule, &fail, 2000, &sruns);
		assert_non_null(shrunk);
		struct sc_run_opts ro = { .sched = SCHED_REPLAY, .replay = shrunk };
		struct sc_result again;
		assert_int_equal(scenario_run(&sc, &ro, &again), 0);
		if (again.outcome != fail.outcome || strcmp(again.message, fail.message))
			fail_msg("%s: the shrunk schedule %s replays to %s: %s, not %s: %s", b->inject,
				 shrunk, sc_outcome_name(again.outcome), again.message,
				 sc_outcome_name(fail.outcome), fail.message);
		print_message("  %-16s %-26s %-7s found at run %4" PRIu64 " of %4" PRIu64
			      ", shrunk %zu -> %zu characters (%s)\n", b->inject, b->file,
			      b->sched == SCHED_PCT ? "pct" : "random", n, b->runs,
			      strlen(fail.schedule), strlen(shrunk), sc_outcome_name(fail.outcome));
		sc_result_free(&again);
		free(shrunk);
		sc_result_free(&fail);
		scenario_free(&sc);

		/* the same runs without the injection: all meet [expect] */
		load(&sc, b->file, NULL);
		n = cli_explore(&sc, b->sched, b->depth, 1, b->runs, &seed, &fail);
		if (n) {
			print_error("%s without the injection, seed %" PRIu64 ": %s: %s\n  %s\n",
				    b->file, seed, sc_outcome_name(fail.outcome), fail.message,
				    fail.schedule);
			sc_result_free(&fail);
			fail();
		}
		scenario_free(&sc);
	}
}

static void test_inject_names(void **state)
{
	(void)state;
	BANNER("inject takes none or a comma list of known names, strictly; describe shows the set");
	struct kvm_policy p;
	kvm_policy_default(&p);
	assert_int_equal(p.inject, 0);
	assert_int_equal(kvm_policy_set(&p, "inject", "frozen-leak,stale-pfn"), 0);
	assert_int_equal(p.inject, KVM_INJECT(INJECT_FROZEN_LEAK) | KVM_INJECT(INJECT_STALE_PFN));
	char buf[512];
	kvm_policy_describe(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, " inject=frozen-leak,stale-pfn"));
	static const char *const bad[] = { "", "bogus", "frozen-leak,", ",frozen-leak",
					   "frozen-leak,,stale-pfn", "frozen", "Frozen-leak" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kvm_policy_set(&p, "inject", bad[i]), -EINVAL);
		assert_int_equal(p.inject, KVM_INJECT(INJECT_FROZEN_LEAK) | KVM_INJECT(INJECT_STALE_PFN));
	}
	assert_int_equal(kvm_policy_set(&p, "inject", "none"), 0);
	assert_int_equal(p.inject, 0);
	kvm_policy_describe(&p, buf, sizeof(buf));
	assert_null(strstr(buf, "inject"));	/* a real host's description is unchanged */
	/* every name round-trips, and every table row names a real injection */
	for (int i = 0; i < INJECT_NR; i++) {
		assert_int_equal(kvm_policy_set(&p, "inject", kvm_inject_name((enum kvm_inject)i)), 0);
		assert_int_equal(p.inject, KVM_INJECT(i));
	}
	p.inject = KVM_INJECT(INJECT_NR);
	assert_int_equal(kvm_policy_check(&p), -EINVAL);
	for (int i = 0; i < INJECT_NR; i++) {
		bool covered = false;
		for (size_t j = 0; j < sizeof(bugs) / sizeof(bugs[0]); j++)
			covered |= !strcmp(bugs[j].inject, kvm_inject_name((enum kvm_inject)i));
		if (!covered)
			fail_msg("injection %s has no row in the table", kvm_inject_name((enum kvm_inject)i));
	}
	/* a scenario file: an unknown name is an error with the line */
	static struct scenario sc;
	char err[512];
	load(&sc, "bug-busy-zap.ini", NULL);
	assert_int_not_equal(scenario_set(&sc, "vm.inject=busy-give-up,nonsense", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "inject"));
	print_message("  %s\n", err);
	scenario_free(&sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inject_names),
		cmocka_unit_test(test_each_bug_refound),
	};
	return cmocka_run_group_tests_name("known bugs, re-found (inject)", tests, NULL, NULL);
}
