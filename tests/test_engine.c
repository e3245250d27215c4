/* SPDX-License-Identifier: MIT */
/*
 * The engine: determinism, replay, PCT, deadlock and lock-order reports,
 * the step bound, virtual time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/engine/simheap.h"
#include "testlib.h"
#include "../src/engine/engine.h"

static struct engine *mk(enum sched_kind k, uint64_t seed)
{
	struct engine_config c = { .sched = k, .seed = seed, .stack_size = 64 * 1024 };
	struct engine *e = engine_create(&c);
	assert_non_null(e);
	return e;
}

/* ---- a small racy program: three tasks bump shared counters ---- */
static uint64_t shared[4];

static void bumper(void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	for (int i = 0; i < 20; i++) {
		uint64_t v = seam_load64(&shared[i % 4]);	/* a scheduling point */
		seam_store64(&shared[i % 4], v * 31 + me + 1);	/* another */
		engine_trace(v);
	}
}

static uint64_t run_bumpers(struct engine *e)
{
	memset(shared, 0, sizeof(shared));
	for (uintptr_t i = 0; i < 3; i++)
		assert_true(engine_spawn(e, "bumper", bumper, (void *)i) >= 0);
	assert_int_equal(engine_run(e), ENGINE_OK);
	return engine_trace_hash(e);
}

static void test_determinism(void **state)
{
	(void)state;
	BANNER("the same seed gives the same trace hash, over 1000 seeds");
	uint64_t base = test_seed();
	int distinct = 0;
	uint64_t prev = 0;
	for (uint64_t s = base; s < base + 1000; s++) {
		struct engine *a = mk(SCHED_RANDOM, s), *b = mk(SCHED_RANDOM, s);
		uint64_t ha = run_bumpers(a), hb = run_bumpers(b);
		assert_int_equal(ha, hb);
		assert_string_equal(engine_schedule(a), engine_schedule(b));
		distinct += ha != prev;
		prev = ha;
		engine_destroy(a);
		engine_destroy(b);
	}
	/* and different seeds do explore different interleavings */
	assert_true(distinct > 900);
}

static void test_replay_round_trip(void **state)
{
	(void)state;
	BANNER("a recorded schedule replays to the same trace hash; a bad one is refused");
	uint64_t seed = test_seed();
	struct engine *a = mk(SCHED_RANDOM, seed);
	uint64_t h = run_bumpers(a);
	char sched[8192];
	snprintf(sched, sizeof(sched), "%s", engine_schedule(a));
	print_message("  schedule: %.60s...\n", sched);
	assert_true(strncmp(sched, "tdxsim1:random:", 15) == 0);
	struct engine_config c = { .sched = SCHED_REPLAY, .replay = sched, .stack_size = 65536 };
	struct engine *r = engine_create(&c);
	assert_non_null(r);
	assert_int_equal(run_bumpers(r), h);
	assert_string_equal(engine_schedule(r) + strlen("tdxsim1:replay"),
			    sched + strlen("tdxsim1:random"));
	engine_destroy(r);
	/* a choice that names a task that does not exist / is not runnable */
	char bad[64];
	snprintf(bad, sizeof(bad), "tdxsim1:random:%" PRIu64 ":{9}", seed);
	c.replay = bad;
	r = engine_create(&c);
	memset(shared, 0, sizeof(shared));
	for (uintptr_t i = 0; i < 3; i++)
		engine_spawn(r, "bumper", bumper, (void *)i);
	assert_int_equal(engine_run(r), ENGINE_REPLAY_ERROR);
	assert_non_null(strstr(engine_report(r), "not runnable"));
	engine_destroy(r);
	/* a schedule that ends too early */
	snprintf(bad, sizeof(bad), "tdxsim1:random:%" PRIu64 ":ab", seed);
	c.replay = bad;
	r = engine_create(&c);
	for (uintptr_t i = 0; i < 3; i++)
		engine_spawn(r, "bumper", bumper, (void *)i);
	assert_int_equal(engine_run(r), ENGINE_REPLAY_ERROR);
	assert_non_null(strstr(engine_report(r), "ended"));
	engine_destroy(r);
	/* malformed strings are refused at creation */
	c.replay = "tdxsim1:random:x:ab";
	assert_null(engine_create(&c));
	c.replay = "hello";
	assert_null(engine_create(&c));
	c.replay = "tdxsim1:random:1:a!";
	assert_null(engine_create(&c));
	engine_destroy(a);
}

/*
 * Every form of a schedule string: letters a-z and A-Z, {N} for ids past
 * 51, repeat counts of one and more digits; formatting and parsing agree
 * (the strict replay takes the same choices and prints the same string).
 */
static void spin_steps(void *arg)
{
	uintptr_t n = (uintptr_t)arg;
	for (uintptr_t i = 0; i < n; i++)
		(void)seam_load64(&shared[0]);
}

static void test_schedule_string_forms(void **state)
{
	(void)state;
	BANNER("schedule strings: a-z, A-Z, {N}, counts of 2 to 3 digits, all replay exactly");
	/* 60 tasks: ids 52..59 need {N}; task 0 runs alone first (a count of 100s) */
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct engine_config c = { .sched = SCHED_PCT, .seed = seed, .pct_depth = 3,
					   .pct_steps = 400, .stack_size = 65536 };
		struct engine *a = engine_create(&c);
		for (uintptr_t i = 0; i < 60; i++)
			engine_spawn(a, "t", spin_steps, (void *)(i == 0 ? 150 : 3 + i % 7));
		assert_int_equal(engine_run(a), ENGINE_OK);
		char sched[16384];
		snprintf(sched, sizeof(sched), "%s", engine_schedule(a));
		const char *body = strrchr(sched, ':') + 1;
		assert_non_null(strchr(body, '{'));
		bool upper = false, multi = false;
		for (const char *p = body; *p; p++) {
			upper |= *p >= 'A' && *p <= 'Z';
			multi |= p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9';
		}
		assert_true(upper);
		if (seed == 1)
			print_message("  %.100s...\n", sched);
		struct engine_config rc = { .sched = SCHED_REPLAY, .replay = sched,
					    .stack_size = 65536 };
		struct engine *r = engine_create(&rc);
		for (uintptr_t i = 0; i < 60; i++)
			engine_spawn(r, "t", spin_steps, (void *)(i == 0 ? 150 : 3 + i % 7));
		assert_int_equal(engine_run(r), ENGINE_OK);
		assert_int_equal(engine_trace_hash(r), engine_trace_hash(a));
		assert_string_equal(strrchr(engine_schedule(r), ':') + 1, body);
		engine_destroy(r);
		engine_destroy(a);
		if (multi)
			return;	/* a count of two digits or more was formatted and parsed */
	}
	fail_msg("no schedule had a repeat count of two digits");
}

/*
 * The world's heap: blocks of every class, aligned ones, realloc keeping
 * the contents, free lists reused; a save and a restore bring back every
 * byte and the allocator itself (a block freed after the save is live
 * again, a block made after it is gone).
 */
static void test_simheap(void **state)
{
	(void)state;
	BANNER("simheap: allocation classes, realloc, aligned blocks; save and restore are exact");
	if (!simheap_begin()) {
		print_message("  no sessions in this build (AddressSanitizer): libc's heap only\n");
		void *p = sim_calloc(3, 100);
		assert_non_null(p);
		assert_false(simheap_active());
		sim_free(p);
		return;
	}
	enum { N = 200 };
	static uint8_t *blk[N];
	static size_t len[N];
	for (int i = 0; i < N; i++) {
		len[i] = 1 + (size_t)i * 37 % 9000;
		blk[i] = i % 5 == 0 ? sim_aligned_alloc(64, len[i]) : sim_calloc(1, len[i]);
		assert_non_null(blk[i]);
		if (i % 5 == 0)
			assert_int_equal((uintptr_t)blk[i] % 64, 0);
		for (size_t b = 0; b < len[i]; b++) {
			if (i % 5)
				assert_int_equal(blk[i][b], 0);
			blk[i][b] = (uint8_t)(i + b);
		}
	}
	for (int i = 1; i < N; i += 3) {	/* grow, keeping the bytes */
		uint8_t *q = sim_realloc(blk[i], len[i] * 3);
		assert_non_null(q);
		for (size_t b = 0; b < len[i]; b++)
			assert_int_equal(q[b], (uint8_t)(i + b));
		memset(q + len[i], 0xAB, len[i] * 2);
		blk[i] = q;
		len[i] *= 3;
	}
	size_t used = simheap_used();
	struct simheap_snap snap = { 0 };
	assert_int_equal(simheap_save(&snap), 0);
	/* after the save: free half, make new ones, scribble */
	for (int i = 0; i < N; i += 2)
		sim_free(blk[i]);
	uint8_t *later = sim_malloc(5000);
	assert_non_null(later);
	for (int i = 1; i < N; i += 2)
		memset(blk[i], 0x5A, len[i]);
	/* a freed block of a class is reused */
	void *again = sim_malloc(len[2]);
	assert_ptr_equal(again, blk[2]);
	simheap_restore(&snap);
	assert_int_equal(simheap_used(), used);
	for (int i = 0; i < N; i++)
		for (size_t b = 0; b < len[i]; b++) {
			uint8_t want = (uint8_t)(i + b);
			if (i % 3 == 1 && b >= len[i] / 3)
				want = 0xAB;
			assert_int_equal(blk[i][b], want);
		}
	/* the allocator came back too: blk[2] is live, not on a free list */
	void *fresh = sim_malloc(len[2]);
	assert_true(fresh != blk[2]);
	for (int i = 0; i < N; i++)
		sim_free(blk[i]);
	sim_free(fresh);
	simheap_snap_free(&snap);
	simheap_end();
	assert_false(simheap_active());
	print_message("  %d blocks, %zu bytes of region saved and restored\n", N, used);
}

/* ---- PCT: a depth-2 ordering bug ---- */
static uint64_t window_flag, step_word;

/*
 * A step of work: a memory access, a scheduling point that is not a yield
 * (a yield means "waiting for another task": PCT lowers the yielder).
 */
static void work_step(void)
{
	(void)seam_load64(&step_word);
}

/* A opens a one-step window deep inside its run ... */
static void bug_a(void *arg)
{
	(void)arg;
	for (int i = 0; i < 40; i++)
		work_step();
	seam_store64(&window_flag, 1);
	seam_store64(&window_flag, 0);
	for (int i = 0; i < 40; i++)
		work_step();
}

/* ... and B fails only if its check lands inside it: a1 < b < a2. */
static void bug_b(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++)
		work_step();
	if (seam_load64(&window_flag))
		engine_fail("planted bug: B saw the window open");
	for (int i = 0; i < 10; i++)
		work_step();
}

static int find_bug(enum sched_kind k, int max_runs, char *sched_out, size_t len)
{
	for (int run = 1; run <= max_runs; run++) {
		struct engine_config c = { .sched = k, .seed = (uint64_t)run, .pct_depth = 2,
					   .pct_steps = 110, .stack_size = 65536 };
		struct engine *e = engine_create(&c);
		window_flag = 0;
		engine_spawn(e, "A", bug_a, NULL);
		engine_spawn(e, "B", bug_b, NULL);
		enum engine_outcome o = engine_run(e);
		if (o == ENGINE_FAIL) {
			snprintf(sched_out, len, "%s", engine_schedule(e));
			engine_destroy(e);
			return run;
		}
		assert_int_equal(o, ENGINE_OK);
		engine_destroy(e);
	}
	return 0;
}

static void test_pct_finds_depth2(void **state)
{
	(void)state;
	BANNER("PCT(d=2) finds a planted depth-2 bug within n*k^(d-1) runs; the schedule replays it");
	char sched[4096];
	/*
	 * n = 2 tasks, k = 110 steps: PCT finds a depth-2 bug with probability
	 * at least 1/(n k) per run, so 220 runs are expected; allow 5 times that
	 * (the seeds are fixed, so the test is deterministic).
	 */
	int runs = find_bug(SCHED_PCT, 5 * 2 * 110, sched, sizeof(sched));
	print_message("  PCT found it in run %d; schedule %s\n", runs, sched);
	assert_true(runs > 0);
	struct engine_config c = { .sched = SCHED_REPLAY, .replay = sched, .stack_size = 65536 };
	struct engine *e = engine_create(&c);
	window_flag = 0;
	engine_spawn(e, "A", bug_a, NULL);
	engine_spawn(e, "B", bug_b, NULL);
	assert_int_equal(engine_run(e), ENGINE_FAIL);
	assert_non_null(strstr(engine_report(e), "planted bug"));
	engine_destroy(e);
}

/*
 * PCT and spinning: two tasks take turns ten times, each waiting for its
 * turn in a retry loop on seam_yield(), as the host does on a frozen SPTE
 * or a BUSY.  Without lowering a yielding task, the higher-priority one
 * spins until the step bound once the run is past its d-1 change points;
 * with it, every run finishes.
 */
static uint64_t turn;

static void pingpong(void *arg)
{
	uint64_t me = (uint64_t)(uintptr_t)arg;
	for (int round = 0; round < 10; round++) {
		while (seam_load64(&turn) % 2 != me)
			seam_yield();
		for (int i = 0; i < 5; i++)
			work_step();
		seam_store64(&turn, seam_load64(&turn) + 1);
	}
}

static void test_pct_spinner_yields(void **state)
{
	(void)state;
	BANNER("PCT: a task spinning on seam_yield() drops below the others: turn-taking finishes");
	for (int run = 1; run <= 200; run++) {
		struct engine_config c = { .sched = SCHED_PCT, .seed = (uint64_t)run, .pct_depth = 2,
					   .pct_steps = 100, .step_bound = 100000,
					   .stack_size = 65536 };
		struct engine *e = engine_create(&c);
		turn = 0;
		engine_spawn(e, "even", pingpong, (void *)(uintptr_t)0);
		engine_spawn(e, "odd", pingpong, (void *)(uintptr_t)1);
		enum engine_outcome o = engine_run(e);
		if (o != ENGINE_OK)
			print_message("  run %d: %s\n", run, engine_report(e));
		assert_int_equal(o, ENGINE_OK);
		assert_int_equal(turn, 20);
		/* each task waits at most for the other's turn: no long spin */
		assert_true(engine_steps(e) < 2000);
		engine_destroy(e);
	}
}

/* ---- deadlock and lock checking ---- */
static seam_mutex_t ma = SEAM_MUTEX_INIT("A", SEAM_LOCK_VM);
static seam_mutex_t mb = SEAM_MUTEX_INIT("B", SEAM_LOCK_VM);

static void ab(void *arg)
{
	(void)arg;
	seam_mutex_lock(&ma);
	seam_yield();
	seam_mutex_lock(&mb);
	seam_mutex_unlock(&mb);
	seam_mutex_unlock(&ma);
}

static void ba(void *arg)
{
	(void)arg;
	seam_mutex_lock(&mb);
	seam_yield();
	seam_mutex_lock(&ma);
	seam_mutex_unlock(&ma);
	seam_mutex_unlock(&mb);
}

static void test_deadlock_report(void **state)
{
	(void)state;
	BANNER("ABBA deadlock: every blocked task, what it waits for and who holds it");
	struct engine *e = mk(SCHED_RR, 1);
	engine_spawn(e, "ab", ab, NULL);
	engine_spawn(e, "ba", ba, NULL);
	assert_int_equal(engine_run(e), ENGINE_DEADLOCK);
	const char *r = engine_report(e);
	print_message("  %s\n", r);
	assert_non_null(strstr(r, "task 0 'ab' waits for mutex held by task 1 'ba'"));
	assert_non_null(strstr(r, "task 1 'ba' waits for mutex held by task 0 'ab'"));
	engine_destroy(e);
	ma.held = mb.held = 0;
}

static seam_rwlock_t mmu = SEAM_RWLOCK_INIT("mmu_lock", SEAM_LOCK_MMU);
static seam_mutex_t slots = SEAM_MUTEX_INIT("slots_lock", SEAM_LOCK_SLOTS);

static void wrong_order(void *arg)
{
	(void)arg;
	seam_write_lock(&mmu);
	seam_mutex_lock(&slots);	/* slots_lock must come before mmu_lock */
	seam_mutex_unlock(&slots);
	seam_write_unlock(&mmu);
}

static void twice(void *arg)
{
	(void)arg;
	seam_mutex_lock(&slots);
	seam_mutex_lock(&slots);
}

static void stray_unlock(void *arg)
{
	(void)arg;
	seam_read_unlock(&mmu);
}

static void host_lock_in_seamcall(void *arg)
{
	(void)arg;
	seam_sharex_t tree = { 0 };
	assert_true(seam_sharex_try(&tree, SEAM_SHARED, SEAM_LOCK_SEPT_TREE));
	seam_read_lock(&mmu);	/* a blocking lock inside a module lock */
}

static void expect_lockdep(void (*fn)(void *), const char *what)
{
	struct engine *e = mk(SCHED_RR, 1);
	engine_spawn(e, "t", fn, NULL);
	assert_int_equal(engine_run(e), ENGINE_FAIL);
	print_message("  %s\n", engine_report(e));
	assert_non_null(strstr(engine_report(e), what));
	engine_destroy(e);
	mmu.readers = mmu.writer = 0;
	slots.held = 0;
}

static void test_lock_checks(void **state)
{
	(void)state;
	BANNER("lock order, double acquisition, stray release, host lock inside a module lock");
	expect_lockdep(wrong_order, "acquires slots_lock while holding mmu_lock");
	expect_lockdep(twice, "acquired twice");
	expect_lockdep(stray_unlock, "releases mmu_lock, which it does not hold");
	expect_lockdep(host_lock_in_seamcall, "acquires mmu_lock while holding sept_tree");
}

static void spinner(void *arg)
{
	(void)arg;
	for (;;)
		seam_yield();
}

static void finisher(void *arg)
{
	(void)arg;
	seam_yield();
}

static void test_step_bound(void **state)
{
	(void)state;
	BANNER("a task that never finishes hits the step bound, a distinct outcome naming it");
	struct engine_config c = { .sched = SCHED_RANDOM, .seed = 3, .step_bound = 5000,
				   .stack_size = 65536 };
	struct engine *e = engine_create(&c);
	engine_spawn(e, "ok", finisher, NULL);
	engine_spawn(e, "spinner", spinner, NULL);
	assert_int_equal(engine_run(e), ENGINE_STEP_BOUND);
	assert_non_null(strstr(engine_report(e), "possible livelock"));
	assert_non_null(strstr(engine_report(e), "'spinner'"));
	assert_null(strstr(engine_report(e), "'ok'"));
	engine_destroy(e);
}

/* ---- virtual time ---- */
static seam_mutex_t vt_lock = SEAM_MUTEX_INIT("vt", SEAM_LOCK_HOST_MISC);

static void vt_holder(void *arg)
{
	(void)arg;
	seam_mutex_lock(&vt_lock);
	seam_charge(SEAM_COST_ZERO_4K, 4);	/* 4 x 250 = 1000 ns inside the lock */
	seam_mutex_unlock(&vt_lock);
	seam_charge(SEAM_COST_IPI, 1);		/* 2000 */
}

static void vt_waiter(void *arg)
{
	(void)arg;
	seam_charge(SEAM_COST_GUEST_ACCESS, 10);	/* 10 */
	seam_mutex_lock(&vt_lock);			/* waits until 1000 + handoff 100 */
	seam_charge(SEAM_COST_TDCALL, 1);		/* 500 */
	seam_mutex_unlock(&vt_lock);
}

static void test_virtual_time(void **state)
{
	(void)state;
	BANNER("timed scheduler: clocks advance by the cost table, waiters pay the hand-off");
	struct engine *e = mk(SCHED_TIMED, 0);
	engine_spawn(e, "holder", vt_holder, NULL);
	engine_spawn(e, "waiter", vt_waiter, NULL);
	assert_int_equal(engine_run(e), ENGINE_OK);
	assert_int_equal(engine_task_clock(e, 0), 1000 + 2000);
	assert_int_equal(engine_task_clock(e, 1), 1000 + 100 + 500);
	assert_int_equal(engine_elapsed_ns(e), 3000);
	engine_destroy(e);
}

/* ---- recorded events ---- */

/* A pretend SEAMCALL of leaf 6: start charge, a scheduling point, a return. */
static void ev_caller(void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	for (int i = 0; i < 5; i++) {
		seam_charge(SEAM_COST_SEAMCALL + 6, 1);
		uint64_t v = seam_load64(&shared[0]);
		seam_store64(&shared[0], v + me + 1);
		seam_ret(SEAM_COST_SEAMCALL + 6, i == 3 ? 0x8000020000000000ull : 0);
		seam_event(SEAM_EV_KICK, me, 0);
	}
}

static uint64_t run_ev(struct engine *e)
{
	shared[0] = 0;
	engine_spawn(e, "a", ev_caller, (void *)0);
	engine_spawn(e, "b", ev_caller, (void *)1);
	assert_int_equal(engine_run(e), ENGINE_OK);
	return engine_trace_hash(e);
}

static void test_recorded_events(void **state)
{
	(void)state;
	BANNER("record_events keeps each call's start and return with the task's clock, "
	       "and changes neither the schedule nor the trace hash");
	for (uint64_t s = 1; s <= 50; s++) {
		struct engine_config c = { .sched = SCHED_RANDOM, .seed = s, .stack_size = 64 * 1024 };
		struct engine *plain = engine_create(&c);
		c.record_events = true;
		struct engine *rec = engine_create(&c);
		assert_int_equal(run_ev(plain), run_ev(rec));
		assert_string_equal(engine_schedule(plain), engine_schedule(rec));
		const struct engine_event *ev;
		bool complete = false;
		assert_int_equal(engine_events(plain, &ev, NULL), 0);
		size_t n = engine_events(rec, &ev, &complete);
		assert_true(complete);
		assert_int_equal(n, 2 * 5 * 3);	/* start, return, kick */
		int open[2] = { 0, 0 };
		uint64_t start[2] = { 0, 0 };
		for (size_t i = 0; i < n; i++) {
			int t = ev[i].task;
			assert_true(t == 0 || t == 1);
			if (ev[i].kind == ENGINE_EV_CALL) {
				assert_int_equal(open[t], 0);
				assert_int_equal(ev[i].a, SEAM_COST_SEAMCALL + 6);
				open[t] = 1;
				start[t] = ev[i].ns;
			} else if (ev[i].kind == SEAM_EV_RETURN) {
				assert_int_equal(open[t], 1);
				assert_int_equal(ev[i].a, SEAM_COST_SEAMCALL + 6);
				/* stamped before the charge: the call lasts its cost */
				assert_int_equal(ev[i].ns - start[t], 1500);
				open[t] = 0;
			} else {
				assert_int_equal(ev[i].kind, SEAM_EV_KICK);
				assert_int_equal(ev[i].a, (uint64_t)t);
			}
		}
		engine_destroy(plain);
		engine_destroy(rec);
	}
}

static void test_cost_file(void **state)
{
	(void)state;
	BANNER("cost files: values override defaults; bad names, values and sections are errors");
	struct cost_table t;
	char err[256];
	cost_table_default(&t);
	const char *path = "/tmp/tdxsim-costs-test.ini";
	FILE *f = fopen(path, "w");
	fprintf(f, "; test\n[costs]\ntd_entry = 1234\nzero_4k=7\n");
	fclose(f);
	assert_int_equal(cost_table_load(&t, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(t.ns[SEAM_COST_TD_ENTRY], 1234);
	assert_int_equal(t.ns[SEAM_COST_ZERO_4K], 7);
	assert_int_equal(t.ns[SEAM_COST_TD_EXIT], 1500);
	const char *bad[] = { "[costs]\nwarp = 1\n", "[costs]\ntd_exit = -5\n",
			      "[costs]\ntd_exit = 12ns\n", "[other]\ntd_exit = 1\n",
			      "[costs]\nTDH.MEM.PAGE.AUG = 5\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(path, "w");
		fputs(bad[i], f);
		fclose(f);
		assert_int_equal(cost_table_load(&t, path, NULL, err, sizeof(err)), -1);
		print_message("  refused: %s\n", err);
	}
	assert_int_equal(cost_table_load(&t, "/nonexistent/x.ini", NULL, err, sizeof(err)), -1);
	remove(path);
}

/* ---- completions and rwlocks ---- */
static seam_completion_t ready = { 0, "ready" };
static seam_rwlock_t rw = SEAM_RWLOCK_INIT("rw", SEAM_LOCK_MMU);
static int readers_inside, max_readers_inside, writer_saw_readers;
static uint64_t produced;

static void producer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++)
		seam_yield();
	seam_store64(&produced, 99);
	seam_complete(&ready);
}

static void reader(void *arg)
{
	(void)arg;
	seam_completion_wait(&ready);
	assert_int_equal(seam_load64(&produced), 99);	/* ordered after complete */
	seam_read_lock(&rw);
	readers_inside++;
	if (readers_inside > max_readers_inside)
		max_readers_inside = readers_inside;
	for (int i = 0; i < 5; i++)
		seam_yield();
	readers_inside--;
	seam_read_unlock(&rw);
}

static void writer(void *arg)
{
	(void)arg;
	seam_completion_wait(&ready);
	seam_write_lock(&rw);
	writer_saw_readers += readers_inside;
	seam_yield();
	writer_saw_readers += readers_inside;
	seam_write_unlock(&rw);
}

static void test_completion_and_rwlock(void **state)
{
	(void)state;
	BANNER("completion orders waiters after the producer; rwlock: readers share, writers exclude");
	uint64_t base = test_seed();
	bool shared_seen = false;
	for (uint64_t s = base; s < base + 200; s++) {
		struct engine *e = mk(SCHED_RANDOM, s);
		ready.done = 0;
		produced = 0;
		readers_inside = max_readers_inside = writer_saw_readers = 0;
		engine_spawn(e, "reader", reader, NULL);
		engine_spawn(e, "reader", reader, NULL);
		engine_spawn(e, "writer", writer, NULL);
		engine_spawn(e, "producer", producer, NULL);
		assert_int_equal(engine_run(e), ENGINE_OK);
		assert_int_equal(writer_saw_readers, 0);
		shared_seen |= max_readers_inside == 2;
		engine_destroy(e);
	}
	assert_true(shared_seen);	/* two readers did hold it together */
}

/* ---- guard pages ---- */

static int recurse(int n)
{
	volatile char pad[1024];
	pad[0] = (char)n;
	return n ? recurse(n - 1) + pad[0] : 0;
}

static void overflow(void *arg)
{
	(void)arg;
	recurse(1 << 20);
}

static void test_guard_page(void **state)
{
	(void)state;
	BANNER("a task that overflows its stack hits the guard page (SIGSEGV), not other memory");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct engine_config c = { .sched = SCHED_RR, .stack_size = 64 * 1024 };
		struct engine *e = engine_create(&c);
		engine_spawn(e, "deep", overflow, NULL);
		engine_run(e);
		_exit(0);	/* not reached */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_replay_round_trip),
		cmocka_unit_test(test_schedule_string_forms),
		cmocka_unit_test(test_simheap),
		cmocka_unit_test(test_pct_finds_depth2),
		cmocka_unit_test(test_pct_spinner_yields),
		cmocka_unit_test(test_deadlock_report),
		cmocka_unit_test(test_lock_checks),
		cmocka_unit_test(test_step_bound),
		cmocka_unit_test(test_virtual_time),
		cmocka_unit_test(test_recorded_events),
		cmocka_unit_test(test_cost_file),
		cmocka_unit_test(test_guard_page),
		cmocka_unit_test(test_completion_and_rwlock),
	};
	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
