/* SPDX-License-Identifier: MIT */
/*
 * The tdxsim command and its scenario files: every scenario in scenarios/
 * meets its [expect]; parse errors name FILE:LINE and what was expected;
 * replay reproduces a run exactly; explore finds a planted interleaving
 * bug, shrinks it and the shrunk schedule replays to the same failure;
 * sharded explores merge into the unsharded report (also under GNU
 * parallel); compare tables; bad command lines exit 2; --trace writes a
 * trace-event JSON file that a replay reproduces byte for byte.
 *
 * The command itself is run as a process (build/.../tdxsim, next to this
 * test's directory), the scenario API is called directly.
 */
#include <dirent.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "testlib.h"
#include "../src/cli/scenario.h"
#include "../src/engine/simheap.h"

static char tdxsim[512];	/* the binary */
static char tmpdir[256];

/* Write @text to a scenario file in the temporary directory; its path. */
static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Run the command line @args (after the binary); its exit status; stdout+stderr in @out. */
static int run_cmd(const char *args, char *out, size_t len)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cd %s && %s %s 2>&1", tmpdir, tdxsim, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = out ? fread(out, 1, len - 1, p) : 0;
	if (out)
		out[n] = 0;
	char sink[4096];
	while (fread(sink, 1, sizeof(sink), p) > 0)
		;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The working directory (a static buffer: getcwd(NULL, 0) would leak under SAN=1). */
static const char *cwd(void)
{
	static char buf[1024];
	return getcwd(buf, sizeof(buf)) ? buf : ".";
}

static const char *scenario_dir(void)
{
	const char *d = getenv("TDXSIM_SCENARIOS");
	return d ? d : "scenarios";
}

/* ---- every shipped scenario ---- */

static void test_scenarios_meet_expect(void **state)
{
	(void)state;
	BANNER("every scenario in scenarios/ parses and its default run meets its [expect]");
	DIR *d = opendir(scenario_dir());
	assert_non_null(d);
	struct dirent *de;
	int n = 0, bad = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".ini"))
			continue;
		char path[1024], err[512], why[256];
		snprintf(path, sizeof(path), "%s/%s", scenario_dir(), de->d_name);
		static struct scenario sc;
		n++;
		if (scenario_load(path, &sc, err, sizeof(err))) {
			print_error("%s\n", err);
			bad++;
			continue;
		}
		struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 1 };
		struct sc_result r;
		if (scenario_run(&sc, &o, &r)) {
			print_error("%s: %s\n", path, r.message);
			bad++;
		} else if (!scenario_expected(&sc, &r, why, sizeof(why))) {
			print_error("%s: %s (%s%s%s)\n", path, why, sc_outcome_name(r.outcome),
				    r.message[0] ? ": " : "", r.message);
			bad++;
		} else {
			print_message("  %-40s %s\n", de->d_name, sc_outcome_name(r.outcome));
		}
		sc_result_free(&r);
		scenario_free(&sc);
	}
	closedir(d);
	assert_true(n >= 10);
	assert_int_equal(bad, 0);
}

/*
 * PCT used to starve the task a spinner waits for (a vCPU retrying on a
 * frozen SPTE or BUSY, the VMM waiting for its trigger): these scenarios
 * ran into the step bound under PCT where random finished.  With a yielding
 * task lowered below the others, every run finishes and meets [expect].
 */
static void test_pct_finishes_retry_loops(void **state)
{
	(void)state;
	BANNER("PCT (d = 2, 3) finishes the scenarios whose tasks spin in retry loops");
	static const char *const files[] = { "seed001-accept-race.ini",
					     "seed002-accept-vs-host.ini", "hole-punch.ini",
					     "seed002-track-vs-enter.ini", "conversion.ini" };
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		char path[1024], err[512], why[256];
		snprintf(path, sizeof(path), "%s/%s", scenario_dir(), files[f]);
		static struct scenario sc;
		assert_int_equal(scenario_load(path, &sc, err, sizeof(err)), 0);
		int runs = 0;
		for (int depth = 2; depth <= 3; depth++)
			for (uint64_t seed = 1; seed <= 6; seed++, runs++) {
				struct sc_run_opts o = { .sched = SCHED_PCT, .seed = seed,
							 .pct_depth = depth };
				struct sc_result r;
				assert_int_equal(scenario_run(&sc, &o, &r), 0);
				bool ok = scenario_expected(&sc, &r, why, sizeof(why));
				if (!ok)
					print_error("%s pct:%d seed %" PRIu64 ": %s (%s)\n", files[f],
						    depth, seed, why, r.message);
				assert_true(ok);
				sc_result_free(&r);
			}
		print_message("  %-32s pct:2 and pct:3, %d runs: all met [expect]\n", files[f], runs);
		scenario_free(&sc);
	}
}

/* The livelock watch's K: [vm] livelock_exits (or --set), 0 turns it off. */
static void test_livelock_exits_settable(void **state)
{
	(void)state;
	BANNER("livelock_exits = K: K exits without progress end the run as a livelock naming "
	       "vCPU, GPA, RIP and what the host did; 0 leaves it to the step bound");
	char path[1024], err[512];
	snprintf(path, sizeof(path), "%s/seed001-rare-case-huge-rfc1.ini", scenario_dir());
	static struct scenario sc;
	uint64_t steps[3];
	static const char *const ks[] = { "livelock_exits=50", "livelock_exits=500",
					  "livelock_exits=0" };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(scenario_load(path, &sc, err, sizeof(err)), 0);
		assert_int_equal(scenario_set(&sc, ks[i], err, sizeof(err)), 0);
		if (i == 2)
			assert_int_equal(scenario_set(&sc, "step_bound=200000", err, sizeof(err)), 0);
		struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 1 };
		struct sc_result r;
		assert_int_equal(scenario_run(&sc, &o, &r), 0);
		assert_int_equal(r.outcome, SC_LIVELOCK);
		print_message("  %-18s %8" PRIu64 " steps: %.90s\n", ks[i], r.counters[C_STEPS],
			      r.message);
		if (i < 2) {
			char want[64];
			snprintf(want, sizeof(want), "%s EPT-violation exits in a row at GPA 0x400000",
				 ks[i] + strlen("livelock_exits="));
			assert_non_null(strstr(r.message, want));
			assert_non_null(strstr(r.message, "vcpu0 makes no progress"));
			assert_non_null(strstr(r.message, "RIP"));
			assert_non_null(strstr(r.message, "ignored the split of the 2M leaf"));
		} else {
			assert_non_null(strstr(r.message, "step bound exceeded"));
		}
		steps[i] = r.counters[C_STEPS];
		sc_result_free(&r);
		scenario_free(&sc);
	}
	assert_true(steps[0] < steps[1] && steps[1] < steps[2]);
	assert_int_equal(scenario_load(path, &sc, err, sizeof(err)), 0);
	assert_int_not_equal(scenario_set(&sc, "livelock_exits=-3", err, sizeof(err)), 0);
	print_message("  livelock_exits=-3: %s\n", err);
	scenario_free(&sc);
}

/*
 * A run that starts from the saved TD (sc_run_opts.reuse) is the run that
 * builds its own: same outcome, message, counters, trace hash and schedule,
 * for every shipped scenario and several seeds, under both schedulers.
 */
static void test_reuse_is_exact(void **state)
{
	(void)state;
	BANNER("explore's reused TD: every run equals the same run on a freshly built TD");
	DIR *d = opendir(scenario_dir());
	assert_non_null(d);
	struct dirent *de;
	int files = 0;
	uint64_t runs = 0, reused = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".ini"))
			continue;
		char path[1024], err[512];
		snprintf(path, sizeof(path), "%s/%s", scenario_dir(), de->d_name);
		static struct scenario sc;
		assert_int_equal(scenario_load(path, &sc, err, sizeof(err)), 0);
		struct sc_reuse *u = sc_reuse_create();
		assert_non_null(u);
		for (int k = 0; k < 2; k++)
			for (uint64_t seed = 1; seed <= 3; seed++) {
				struct sc_run_opts o = { .sched = k ? SCHED_PCT : SCHED_RANDOM,
							 .seed = seed, .pct_depth = 2 };
				struct sc_result a, b;
				assert_int_equal(scenario_run(&sc, &o, &a), 0);
				o.reuse = u;
				assert_int_equal(scenario_run(&sc, &o, &b), 0);
				if (a.hash != b.hash || a.outcome != b.outcome)
					print_error("%s seed %" PRIu64 ": %s/%016" PRIx64 " vs reused %s/%016"
						    PRIx64 " (%s | %s)\n", de->d_name, seed,
						    sc_outcome_name(a.outcome), a.hash,
						    sc_outcome_name(b.outcome), b.hash, a.message, b.message);
				assert_int_equal(a.outcome, b.outcome);
				assert_int_equal(a.hash, b.hash);
				assert_string_equal(a.message, b.message);
				assert_string_equal(a.schedule, b.schedule);
				assert_memory_equal(a.counters, b.counters, sizeof(a.counters));
				assert_memory_equal(a.leaf_calls, b.leaf_calls, sizeof(a.leaf_calls));
				assert_int_equal(a.teardown_ns, b.teardown_ns);
				assert_memory_equal(a.teardown_calls, b.teardown_calls,
						    sizeof(a.teardown_calls));
				sc_result_free(&a);
				sc_result_free(&b);
				runs++;
			}
		reused += sc_reuse_count(u);
		sc_reuse_free(u);
		scenario_free(&sc);
		files++;
	}
	closedir(d);
	print_message("  %d scenarios, %" PRIu64 " run pairs equal; %" PRIu64 " runs reused a saved TD\n",
		      files, runs, reused);
	assert_true(files >= 10);
	/* sessions exist but under AddressSanitizer: then every run builds */
	bool sessions = simheap_begin();
	if (sessions)
		simheap_end();
	/* each scenario's first run builds; a TD that cannot be built never is saved */
	if (sessions)
		assert_true(reused >= runs - 2 * (uint64_t)files);
	else
		assert_int_equal(reused, 0);
}

/* ---- parse errors ---- */


/* Load scenarios/@name with --set @set (NULL: none), or fail. */
static void load_set(struct scenario *sc, const char *name, const char *set)
{
	char path[1024], err[512];
	snprintf(path, sizeof(path), "%s/%s", scenario_dir(), name);
	assert_int_equal(scenario_load(path, sc, err, sizeof(err)), 0);
	if (set)
		assert_int_equal(scenario_set(sc, set, err, sizeof(err)), 0);
}

static void test_teardown_timed(void **state)
{
	(void)state;
	BANNER("teardown is timed (teardown_ns, teardown_us): > 0 after a run, zap > terminate "
	       "with calibration costs from a cost file, 0 after an abandoned run; same with reuse");
	char path[1200], err[512];
	snprintf(path, sizeof(path), "%s/costs.ini", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[costs]\nkick_vcpu = 4000\nkick_vcpu2 = 500\nclear_4k = 300\nzap_4k = 900\n"
		"TDH.PHYMEM.PAGE.RECLAIM = 1200\n");
	fclose(f);
	struct cost_table c;
	cost_table_default(&c);
	assert_int_equal(cost_table_load(&c, path, NULL, err, sizeof(err)), -1);	/* leaf names */
	cost_table_default(&c);
	c.ns[SEAM_COST_KICK_VCPU] = 4000;
	c.ns[SEAM_COST_KICK_VCPU2] = 500;
	c.ns[SEAM_COST_CLEAR_4K] = 300;
	c.ns[SEAM_COST_ZAP_4K] = 900;
	uint64_t ns[2][2];	/* [policy][costs] */
	static const char *const pol[2] = { "teardown=zap", "teardown=terminate" };
	for (int p = 0; p < 2; p++)
		for (int k = 0; k < 2; k++) {
			static struct scenario sc;
			load_set(&sc, "seed001-accept-race.ini", pol[p]);
			struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 5,
						 .costs = k ? &c : NULL };
			struct sc_result r, r2;
			assert_int_equal(scenario_run(&sc, &o, &r), 0);
			assert_int_equal(r.outcome, SC_OK);
			assert_true(r.teardown_ns > 0);
			assert_int_equal(r.counters[C_TEARDOWN_US], r.teardown_ns / 1000);
			assert_int_equal(r.counters[C_TEARDOWN_REMOVES], p ? 0 : 512);
			ns[p][k] = r.teardown_ns;
			/* reused world: the same teardown */
			struct sc_reuse *u = sc_reuse_create();
			o.reuse = u;
			for (int i = 0; i < 2; i++) {
				assert_int_equal(scenario_run(&sc, &o, &r2), 0);
				assert_int_equal(r2.teardown_ns, r.teardown_ns);
				sc_result_free(&r2);
			}
			sc_reuse_free(u);
			sc_result_free(&r);
			scenario_free(&sc);
		}
	print_message("    zap %" PRIu64 " / %" PRIu64 " ns, terminate %" PRIu64 " / %" PRIu64
		      " ns (default / calibrated costs)\n", ns[0][0], ns[0][1], ns[1][0], ns[1][1]);
	assert_true(ns[0][1] > ns[1][1]);
	assert_true(ns[0][1] > ns[0][0]);	/* the kicks and per-4K work cost now */
	/* an abandoned run (a livelock): no teardown, nothing timed */
	static struct scenario sc;
	load_set(&sc, "seed001-rare-case-huge-rfc1.ini", NULL);
	struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 1 };
	struct sc_result r;
	assert_int_equal(scenario_run(&sc, &o, &r), 0);
	assert_int_equal(r.outcome, SC_LIVELOCK);
	assert_int_equal(r.teardown_ns, 0);
	assert_int_equal(r.counters[C_TEARDOWN_US], 0);
	sc_result_free(&r);
	scenario_free(&sc);
	/* the command: run --costs FILE prints the teardown; a bad cost file is an error */
	char out[16384], cmd[2600];
	snprintf(cmd, sizeof(cmd), "run %s/%s/seed001-accept-race.ini --set teardown=terminate "
		 "--costs %s", cwd(), scenario_dir(), path);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "teardown: "));
	assert_non_null(strstr(out, " ms virtual (terminate), BLOCK 0 TRACK 0 REMOVE 0"));
	snprintf(cmd, sizeof(cmd), "run %s/%s/seed001-rare-case.ini --json", cwd(), scenario_dir());
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\"teardown_ns\": "));
	assert_non_null(strstr(out, "\"teardown_policy\": \"zap\""));
	snprintf(cmd, sizeof(cmd), "run %s/%s/seed001-rare-case.ini --costs /nonexistent/c.ini",
		 cwd(), scenario_dir());
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 2);
}

static void test_parse_errors(void **state)
{
	(void)state;
	BANNER("scenario errors name FILE:LINE and what was expected; nothing runs");
	static const struct {
		const char *text;
		const char *want;	/* "LINE: substring" */
	} rows[] = {
		{ "[bogus]\nx = 1\n", "1: unknown section [bogus]" },
		{ "[vm]\nflavour = mint\n", "2: unknown key 'flavour' in [vm]" },
		{ "[vm]\nbusy = sometimes\n", "2: busy: 'sometimes' is not a value" },
		{ "[vm]\nvcpus = 999\n", "2: vcpus: 999 is out of range" },
		{ "[vcpu 8]\nprogram = firmware\n", "1: [vcpu 8]: the number is out of range" },
		{ "[vcpus]\nprogram = linux\naccept = sometimes\n",
		  "3: accept: 'sometimes' is not lazy or eager" },
		{ "[vcpus]\nprogram = linux\nwmark_accept = 2\n", "3: wmark_accept: '2' is not off or on" },
		{ "[platform]\ncosts = /nonexistent/costs.ini\n",
		  "2: costs: /nonexistent/costs.ini: cannot read" },
		{ "[vm]\nmaxphyaddr = 46\n", "2: maxphyaddr: 46" },
		{ "[platform]\nmemory = lots\n", "2: memory: 'lots' is not a number" },
		{ "[platform]\nfragmentation = 1.5\n", "2: fragmentation: '1.5' is not a fraction" },
		{ "[platform]\nhp_timeout = 3 fortnights\n", "2: hp_timeout" },
		/* the module features and the huge-page policy keys */
		{ "[platform]\ndynamic_pamt = maybe\n", "2: dynamic_pamt: 'maybe' is not on/off" },
		{ "[platform]\nenhanced_demote = 2\n", "2: enhanced_demote: '2' is not on/off" },
		{ "[platform]\nnonblocking_resize = y\n",
		  "2: nonblocking_resize: 'y' is not on/off" },
		{ "[platform]\nexplicit_demotion = perhaps\n",
		  "2: explicit_demotion: 'perhaps' is not on/off" },
		{ "[platform]\nhuge_pages = on\n",
		  "2: unknown key 'huge_pages' in [platform] (costs, memory, ept_5level, max_pa, "
		  "fragmentation, seed, hkids, hp_timeout, dynamic_pamt, enhanced_demote, "
		  "nonblocking_resize, explicit_demotion)" },
		{ "[vm]\nexplicit_demotion = sometimes\n",
		  "2: explicit_demotion: 'sometimes' is not on/off" },
		{ "[vm]\nteardown = fast\n", "2: teardown: 'fast' is not a value of this design "
		  "variant (zap or terminate" },
		{ "[expect]\nteardown_us = soon\n", "2: teardown_us" },
		{ "[vm]\nlevel = huge\n", "2: level: 'huge' is not a value of this design variant "
		  "(4k, huge-rfc1, huge-v5, huge-nbr or explicit-demotion" },
		{ "[vm]\nlevel = huge-v4\n", "2: level: 'huge-v4' is not a value" },
		{ "[vm]\nfolio = 1g\n", "2: folio: '1g' is not a value of this design variant "
		  "(4k or 2m" },
		{ "[vm]\npromote = always\n", "2: promote: 'always' is not a value of this design "
		  "variant (on or off" },
		{ "[vm]\ndpamt = lazy\n", "2: dpamt: 'lazy' is not a value" },
		{ "[vm]\ndpamt_demote_locked = later\n", "2: dpamt_demote_locked: 'later' is not a "
		  "value" },
		{ "[vm]\nretry_n = 0\n", "2: retry_n: '0' is not a value of this design variant "
		  "(1..1000000" },
		{ "[memslot 99]\ngpa = 0\n", "1: [memslot 99]: the number is out of range" },
		{ "[memslot 0]\ngpa = 0x100001\n", "2: gpa: 0x100001 is not 4K aligned" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = accept 0x900000 4k\n",
		  "5: GPA 0x900000 is outside every memslot" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = jump 0x100000\n",
		  "5: step: unknown step 'jump'" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = accept 0x100000 1g\n",
		  "5: step: a level (4k or 2m) expected" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = write 0x100000\n",
		  "5: step: a VALUE expected" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = repeat 3 {\n",
		  "5: step: repeat without its '}'" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = }\n",
		  "5: step: '}' without a repeat" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = attr-wr 0x101000 2m\n",
		  "5: step: attr-wr 0x101000 is not aligned to its level" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nprogram = doom\n",
		  "5: program: unknown program 'doom'" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nprogram = firmware\nrounds = 3\n",
		  "6: program firmware takes no parameter 'rounds'" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nprogram = ve-before-accept\n",
		  "4: [vcpu 0]: program ve-before-accept needs #VE" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 1]\nstep = read 0x100000\n",
		  "[vcpu 0] is missing" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = read 0x100000\n"
		  "[vmm]\naction = sometimes: punch 0x100000 4K\n",
		  "7: action: unknown trigger 'sometimes'" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = read 0x100000\n"
		  "[vmm]\naction = at start: explode\n", "7: action: unknown action 'explode'" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = read 0x100000\n"
		  "[vmm]\naction = after vcpu3 step 1: punch 0x100000 4K\n",
		  "7: action names a vCPU the TD lacks" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = read 0x100000\n"
		  "[expect]\noutcome = fine\n", "7: outcome: 'fine' is not" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = read 0x100000\n"
		  "[expect]\nlatency = 3\n", "7: unknown key 'latency' in [expect]" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = read 0x100000\n"
		  "[expect]\nfaults = ~3\n", "7: faults: '~3' is not [OP] NUMBER" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[memslot 1]\ngpa = 0x200000\nsize = 2M\n"
		  "[vcpu 0]\nstep = read 0x100000\n", "4: [memslot 1] overlaps [memslot 0]" },
		{ "[vcpu 0]\nstep = read 0x100000\n", "no [memslot N] section" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n", "no [vcpu N] section" },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[firmware]\nfile = nothere.fd\n",
		  "5: file: " },
		{ "[memslot 0]\ngpa = 0x100000\nsize = 2M\n[vcpu 0]\nstep = read 0x100000\nthis is "
		  "not ini\n", "6: syntax error" },
		{ "x = 1\n", "1: 'x' before any section" },
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *path = write_file("bad.ini", rows[i].text);
		char err[512], want[256];
		static struct scenario sc;
		const char *colon = strchr(rows[i].want, ':');
		bool has_line = colon && rows[i].want[0] >= '0' && rows[i].want[0] <= '9';
		snprintf(want, sizeof(want), "%s%s%s", path, has_line ? ":" : "", rows[i].want);
		if (!scenario_load(path, &sc, err, sizeof(err))) {
			print_error("row %zu parsed, want \"%s\"\n", i, want);
			scenario_free(&sc);
			bad++;
		} else if (has_line ? strncmp(err, want, strlen(want)) : !strstr(err, rows[i].want)) {
			print_error("row %zu: got \"%s\"\n        want \"%s\"\n", i, err, want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- the huge-page keys and programs ---- */

/* Load @text (as FILE @name) into @sc; fails the test if it does not parse. */
static void load_text(const char *name, const char *text, struct scenario *sc)
{
	char err[512];
	const char *path = write_file(name, text);
	int r = scenario_load(path, sc, err, sizeof(err));
	if (r)
		print_error("%s\n", err);
	assert_int_equal(r, 0);
}

static const char *const huge_keys =
	"[platform]\nmax_pa = 48\ndynamic_pamt = on\nenhanced_demote = yes\n"
	"nonblocking_resize = 1\nexplicit_demotion = true\n"
	"[vm]\nexplicit_demotion = on\nlevel = huge-v5\nfolio = 2m\npromote = on\ndpamt = on\n"
	"dpamt_demote_locked = off\n"
	"[memslot 0]\ngpa = 0x200000\nsize = 8M\n[vcpu 0]\nprogram = firmware\n";

static void test_huge_keys(void **state)
{
	(void)state;
	BANNER("the module-feature, TD-attribute and huge-page policy keys reach the platform, "
	       "the policy and the TD; --set takes them and names a bad value");
	static struct scenario sc;
	load_text("huge.ini", huge_keys, &sc);
	assert_true(sc.plat.dynamic_pamt && sc.plat.enhanced_demote && sc.plat.nonblocking_resize &&
		    sc.plat.explicit_demotion);
	assert_true(sc.explicit_demotion);
	assert_int_equal(sc.pol.max_level, MAP_LEVEL_HUGE_V5);
	assert_int_equal(sc.pol.folio, FOLIO_2M);
	assert_true(sc.pol.promote && sc.pol.dpamt && !sc.pol.dpamt_demote_locked);
	/* --set: the same keys, "section.key" or a bare [vm] key */
	char err[512];
	assert_int_equal(scenario_set(&sc, "platform.enhanced_demote=off", err, sizeof(err)), 0);
	assert_false(sc.plat.enhanced_demote);
	assert_int_equal(scenario_set(&sc, "level=huge-nbr", err, sizeof(err)), 0);
	assert_int_equal(sc.pol.max_level, MAP_LEVEL_HUGE_NBR);
	assert_int_equal(scenario_set(&sc, "vm.explicit_demotion=off", err, sizeof(err)), 0);
	assert_false(sc.explicit_demotion);
	static const struct { const char *set, *want; } bad[] = {
		{ "vm.level=huge", "--set: level: 'huge' is not a value of this design variant "
				   "(4k, huge-rfc1, huge-v5, huge-nbr or explicit-demotion" },
		{ "folio=2M", "--set: folio: '2M' is not a value" },
		{ "platform.nonblocking_resize=maybe",
		  "--set: nonblocking_resize: 'maybe' is not on/off" },
		{ "platform.explicit_demotions=on", "--set: unknown key 'explicit_demotions' in "
						    "[platform]" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(scenario_set(&sc, bad[i].set, err, sizeof(err)), -1);
		if (strncmp(err, bad[i].want, strlen(bad[i].want)))
			print_error("--set %s: got \"%s\"\n", bad[i].set, err);
		assert_memory_equal(err, bad[i].want, strlen(bad[i].want));
	}
	scenario_free(&sc);
	/* the command line: run --set and compare --vary say the same, exit 1 */
	static char out[1 << 14];
	assert_int_equal(run_cmd("run huge.ini --set vm.level=huge", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "tdxsim run: --set: level: 'huge' is not a value"));
	assert_int_equal(run_cmd("compare huge.ini --vary level=4k,huge-v6 --runs 1", out,
				 sizeof(out)), 1);
	assert_non_null(strstr(out, "tdxsim compare: --set: level: 'huge-v6' is not a value"));
}

/*
 * Configurations the host or the module refuse at setup, whose keys may
 * come in any order (or from --set): the outcome setup-error, and a
 * message that names the key to set.
 */
static void test_huge_setup_errors(void **state)
{
	(void)state;
	BANNER("a TD attribute, Dynamic PAMT or MAX_PA the platform does not allow: setup-error "
	       "naming the [platform] key");
	static const struct { const char *text, *want; } rows[] = {
		{ "[vm]\nexplicit_demotion = on\n",
		  "setup: KVM_TDX_INIT_VM: Invalid argument (the TD attribute SEPT_EXPLICIT_DEMOTION "
		  "needs [platform] explicit_demotion = on)" },
		{ "[vm]\ndpamt = on\n",
		  "setup: KVM_CREATE_VM: dpamt = on needs the module's [platform] dynamic_pamt = on" },
		{ "[platform]\ndynamic_pamt = on\n",
		  "setup: the host: Dynamic PAMT needs [platform] max_pa <= 48 (it is 52)" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "%s[memslot 0]\ngpa = 0x200000\nsize = 2M\n"
			 "[vcpu 0]\nprogram = firmware\n", rows[i].text);
		static struct scenario sc;
		load_text("setup.ini", text, &sc);
		struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 1 };
		struct sc_result r;
		assert_int_equal(scenario_run(&sc, &o, &r), 0);
		if (r.outcome != SC_SETUP_ERROR || strcmp(r.message, rows[i].want))
			print_error("row %zu: %s: %s\n", i, sc_outcome_name(r.outcome), r.message);
		assert_int_equal(r.outcome, SC_SETUP_ERROR);
		assert_string_equal(r.message, rows[i].want);
		sc_result_free(&r);
		scenario_free(&sc);
	}
}

/*
 * The new programs on the mainline host (4K mappings), where their outcome
 * does not depend on the huge-page designs: each ends ok, and the aware
 * guest asks for a demotion (one TDVMCALL, for its one partial 2M range)
 * exactly when TDG.VP.INFO shows it the attribute.
 */
static void test_huge_programs_on_4k(void **state)
{
	(void)state;
	BANNER("explicit-demotion-guest, kexec-unaware-guest and attr-wr-demote run to the end "
	       "on 4K mappings; the demotion TDVMCALL follows the TD attribute");
	static const struct { const char *vm, *vcpu; uint64_t vmcalls, accepts; } rows[] = {
		/* 2M at 2M (512 4K ACCEPTs after PAGE_SIZE_MISMATCH), 1M at 4K */
		{ "explicit_demotion = on\n", "program = explicit-demotion-guest\ngpa = 0x400000\n"
		  "size = 3M\n", 1, 1 + 768 },
		{ "explicit_demotion = off\n", "program = explicit-demotion-guest\ngpa = 0x400000\n"
		  "size = 3M\n", 0, 1 + 768 },
		{ "explicit_demotion = on\n", "program = explicit-demotion-guest\ngpa = 0x400000\n"
		  "size = 2M\nlevel = 4k\n", 1, 512 },
		{ "explicit_demotion = on\nsept_ve_disable = off\n", "program = kexec-unaware-guest\n"
		  "gpa = 0x400000\nsize = 64K\n", 0, 16 },
		{ "", "program = attr-wr-demote\ngpa = 0x400000\nsize = 64K\n", 0, 16 },
		/* the 2M ACCEPT falls back to 4K, then the 4K pass finds them accepted */
		{ "", "program = attr-wr-demote\ngpa = 0x400000\nsize = 2M\nlevel = 2m\n", 0,
		  1 + 512 + 512 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text), "[platform]\nexplicit_demotion = on\n[vm]\n%s"
			 "[memslot 0]\ngpa = 0x200000\nsize = 8M\n[vcpu 0]\n%s", rows[i].vm,
			 rows[i].vcpu);
		static struct scenario sc;
		load_text("prog.ini", text, &sc);
		struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 1 };
		struct sc_result r;
		assert_int_equal(scenario_run(&sc, &o, &r), 0);
		print_message("  row %zu: %s%s%s, vmcalls %" PRIu64 ", accepts %" PRIu64 "\n", i,
			      sc_outcome_name(r.outcome), r.message[0] ? ": " : "", r.message,
			      r.counters[C_VMCALLS], r.counters[C_ACCEPTS]);
		assert_int_equal(r.outcome, SC_OK);
		assert_int_equal(r.counters[C_VMCALLS], rows[i].vmcalls);
		assert_int_equal(r.counters[C_ACCEPTS], rows[i].accepts);
		assert_int_equal(r.counters[C_MAPS_2M], 0);
		sc_result_free(&r);
		scenario_free(&sc);
	}
}

/* ---- replay, explore, shrink ---- */

/*
 * A planted interleaving bug: both vCPUs write one word, vCPU 0 then checks
 * it still holds its own value.  It fails only when vCPU 1's write lands
 * between vCPU 0's write and its check.
 */
static const char *const racy =
	"[vm]\nvcpus = 2\n[memslot 0]\ngpa = 0x100000\nsize = 2M\n"
	"[firmware]\ngpa = 0x100000\npages = 2\n"	/* added at build: no ACCEPT needed */
	"[vcpu 0]\nsteps = write 0x100000 0xa\n"
	"        repeat 3 {\n          read 0x100008\n        }\n        check 0x100000 0xa\n"
	"[vcpu 1]\nsteps = repeat 20 {\n          read 0x101000\n"
	"        }\n        write 0x100000 0xb\n";

static void test_replay_is_exact(void **state)
{
	(void)state;
	BANNER("a run's schedule string replays to the same trace hash; a shorter one is "
	       "refused, a lenient replay completes it");
	const char *path = write_file("racy.ini", racy);
	static struct scenario sc;
	char err[512];
	assert_int_equal(scenario_load(path, &sc, err, sizeof(err)), 0);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = seed };
		struct sc_result a, b;
		assert_int_equal(scenario_run(&sc, &o, &a), 0);
		struct sc_run_opts ro = { .sched = SCHED_REPLAY, .replay = a.schedule };
		assert_int_equal(scenario_run(&sc, &ro, &b), 0);
		assert_int_equal(a.hash, b.hash);
		assert_int_equal(a.outcome, b.outcome);
		assert_string_equal(a.message, b.message);
		/* cut the schedule: strict replay runs out, lenient fills in */
		char *cut = strdup(a.schedule);
		size_t len = strlen(cut);
		if (a.nchoices > 4) {
			cut[len - 2] = 0;
			while (cut[strlen(cut) - 1] >= '0' && cut[strlen(cut) - 1] <= '9')
				cut[strlen(cut) - 1] = 0;
			struct sc_result c, d;
			struct sc_run_opts so = { .sched = SCHED_REPLAY, .replay = cut };
			assert_int_equal(scenario_run(&sc, &so, &c), 0);
			assert_int_equal(c.outcome, SC_REPLAY_ERROR);
			so.lenient = true;
			assert_int_equal(scenario_run(&sc, &so, &d), 0);
			assert_true(d.outcome != SC_REPLAY_ERROR);
			sc_result_free(&c);
			sc_result_free(&d);
		}
		free(cut);
		sc_result_free(&a);
		sc_result_free(&b);
	}
	scenario_free(&sc);
}

static void test_explore_finds_and_shrinks(void **state)
{
	(void)state;
	BANNER("explore finds the planted race, shrinks its schedule, and the shrunk schedule "
	       "replays to the same failure");
	write_file("racy.ini", racy);
	static char out[1 << 16];
	int rc = run_cmd("explore racy.ini --runs 500 --report rep.json", out, sizeof(out));
	if (rc != 1)
		print_error("%s\n", out);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "FAILED at seed"));
	assert_non_null(strstr(out, "check 0x100000: read 0xb, want 0xa"));
	char *sh = strstr(out, "replay: tdxsim replay racy.ini '");
	assert_non_null(sh);
	char shrunk[512];
	assert_int_equal(sscanf(sh, "replay: tdxsim replay racy.ini '%511[^']'", shrunk), 1);
	/* the shrunk schedule is no longer than the original and fails the same way */
	char *orig = strstr(out, "schedule: ");
	assert_non_null(orig);
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "replay racy.ini '%s'", shrunk);
	static char out2[1 << 14];
	assert_int_equal(run_cmd(cmd, out2, sizeof(out2)), 1);	/* fails its [expect] */
	assert_non_null(strstr(out2, "outcome:  fail"));
	assert_non_null(strstr(out2, "check 0x100000: read 0xb, want 0xa"));
	/* shrink on its own agrees */
	snprintf(cmd, sizeof(cmd), "shrink racy.ini '%s'", shrunk);
	assert_int_equal(run_cmd(cmd, out2, sizeof(out2)), 0);
	assert_non_null(strstr(out2, "shrunk in"));
	/* the report says it too */
	FILE *f = fopen("rep.json", "r");
	char path[600];
	snprintf(path, sizeof(path), "%s/rep.json", tmpdir);
	f = fopen(path, "r");
	assert_non_null(f);
	static char rep[1 << 16];
	size_t n = fread(rep, 1, sizeof(rep) - 1, f);
	rep[n] = 0;
	fclose(f);
	assert_non_null(strstr(rep, "\"shrunk_schedule\""));
	assert_non_null(strstr(rep, "\"outcome\": \"fail\""));
	print_message("  shrunk schedule: %s\n", shrunk);
}

static void test_shards_merge(void **state)
{
	(void)state;
	BANNER("explore --shard I/4 over the same seeds, merged, equals one unsharded run; "
	       "--jobs 2 gives the same counts");
	const char *ok = "[vm]\nvcpus = 2\n[memslot 0]\ngpa = 0x100000\nsize = 2M\n"
			 "[vcpu 0]\nprogram = accept-race\nsize = 64K\nlevel = 4k\n"
			 "[vcpu 1]\nprogram = accept-race\nsize = 64K\nlevel = 4k\n";
	write_file("ok.ini", ok);
	static char out[1 << 14];
	assert_int_equal(run_cmd("explore ok.ini --runs 40 --report all.json", out, sizeof(out)),
			 0);
	for (int i = 0; i < 4; i++) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "explore ok.ini --runs 40 --shard %d/4 --report s%d.json", i,
			 i);
		assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	}
	assert_int_equal(run_cmd("merge s0.json s1.json s2.json s3.json > merged.json", NULL, 0), 0);
	assert_int_equal(run_cmd("explore ok.ini --runs 40 --jobs 2 --report jobs.json", out,
				 sizeof(out)), 0);
	/* the same runs and outcomes (jq-free: compare the lines that matter) */
	const char *cmp = "for f in merged.json jobs.json; do "
			  "grep -E '\"(runs|ok|fail|killed|livelock)\"' all.json > a.txt; "
			  "grep -E '\"(runs|ok|fail|killed|livelock)\"' $f > b.txt; "
			  "cmp -s a.txt b.txt || exit 1; done";
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cd %s && %s", tmpdir, cmp);
	assert_int_equal(system(cmd), 0);
	/* reports of another search (a different base seed) are refused, not added up */
	assert_int_equal(run_cmd("explore ok.ini --runs 4 --seed 100 --report other.json", out,
				 sizeof(out)), 0);
	assert_int_equal(run_cmd("merge s0.json other.json", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "another search"));
}

static void test_parallel_shards(void **state)
{
	(void)state;
	BANNER("4 shards under GNU parallel, merged, equal one unsharded explore of the same seeds");
	if (system("command -v parallel >/dev/null 2>&1")) {
		print_message("  GNU parallel is not installed (Debian package parallel): skipped\n");
		skip();
	}
	const char *ok = "[vm]\nvcpus = 2\n[memslot 0]\ngpa = 0x100000\nsize = 2M\n"
			 "[vcpu 0]\nprogram = accept-race\nsize = 64K\nlevel = 2m\n"
			 "[vcpu 1]\nprogram = accept-race\nsize = 64K\nlevel = 4k\n";
	write_file("ok2.ini", ok);
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && %s explore ok2.ini --runs 48 --report whole.json >/dev/null && "
		 "parallel --will-cite -j 2 %s explore ok2.ini --runs 48 --shard {}/4 "
		 "--report p{}.json '>/dev/null' ::: 0 1 2 3 && "
		 "%s merge p0.json p1.json p2.json p3.json > pm.json && "
		 "grep -E '\"(runs|ok|fail)\"' whole.json > w.txt && "
		 "grep -E '\"(runs|ok|fail)\"' pm.json > m.txt && cmp -s w.txt m.txt",
		 tmpdir, tdxsim, tdxsim, tdxsim);
	assert_int_equal(system(cmd), 0);
}

/* ---- compare, bad command lines, list, help ---- */

static void test_compare_table(void **state)
{
	(void)state;
	BANNER("compare runs the same seeds under each variant: one row each, and local retry "
	       "off shows zero-step refusals where on has none");
	static char out[1 << 15];
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "compare %s/%s/seed002-zero-step.ini --vary local_retry=on,off "
		 "--runs 6 --json", cwd(), scenario_dir());
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	char *on = strstr(out, "\"variant\": \"local_retry=on\"");
	char *off = strstr(out, "\"variant\": \"local_retry=off\"");
	assert_non_null(on);
	assert_non_null(off);
	/* the variants appear in their --vary order; read each mean */
	double zs_on = -1, zs_off = -1;
	char *p = strstr(out, "\"zero_step_refusals\":");
	assert_non_null(p);
	sscanf(p, "\"zero_step_refusals\": %lf", &zs_on);
	p = strstr(p + 1, "\"zero_step_refusals\":");
	assert_non_null(p);
	sscanf(p, "\"zero_step_refusals\": %lf", &zs_off);
	print_message("  zero-step refusals per run: local_retry=on %.2f, off %.2f\n", zs_on, zs_off);
	assert_true(zs_on == 0.0);
	assert_true(zs_off > 0.0);
	/* the table: the huge-page columns, and no line wider than 100 columns */
	snprintf(cmd, sizeof(cmd), "compare %s/%s/seed002-zero-step.ini --vary local_retry=on,off "
		 "--vary busy=kick-retry,retry-n --runs 2", cwd(), scenario_dir());
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, " 2M maps splits x/s/i/r "));
	assert_non_null(strstr(out, "\n4   local_retry=off busy=retry-n"));
	assert_non_null(strstr(out, "0/0/0/0"));
	int width = 0;
	for (char *q = out, *nl; *q; q = nl + 1) {
		nl = strchr(q, '\n');
		if (!nl)
			break;
		if (nl - q > width && strncmp(q, "/", 1))	/* the title names the path */
			width = (int)(nl - q);
	}
	print_message("  widest table line: %d columns\n", width);
	assert_true(width <= 100);
}

/* The "explored N schedules" count of @out, and whether it says covered. */
static uint64_t exhaustive_count(const char *out, bool *covered)
{
	const char *p = strstr(out, "explored ");
	assert_non_null(p);
	uint64_t n = 0;
	assert_int_equal(sscanf(p, "explored %" SCNu64 " schedules", &n), 1);
	*covered = strstr(out, "\ncovered: every schedule within the bound ran") != NULL;
	return n;
}

/*
 * PAGE.AUG gives the page to the TD (PAMT) before its S-EPT entry is
 * visible: the exhaustive search of seed 001's race on four pages found the
 * other order at one preemption (schedule 55: a vCPU's ACCEPT and read of a
 * page it did not own yet, the guest layer's stale-TLB check).  Every
 * schedule with one preemption now passes; the bound is covered.
 */
static void test_aug_owns_before_mapping(void **state)
{
	(void)state;
	BANNER("module: PAGE.AUG's page belongs to the TD before the entry maps it (accept-race-4k, "
	       "every schedule within one preemption)");
	static char out[1 << 16];
	char cmd[1024];
	const char *d = scenario_dir();
	snprintf(cmd, sizeof(cmd), "explore %s%s%s/accept-race-4k.ini --exhaustive --preemptions 1",
		 d[0] == '/' ? "" : cwd(), d[0] == '/' ? "" : "/", d);
	int rc = run_cmd(cmd, out, sizeof(out));
	if (rc)
		print_error("%s\n", out);
	assert_int_equal(rc, 0);
	bool covered;
	uint64_t n = exhaustive_count(out, &covered);
	print_message("  %" PRIu64 " schedules, covered\n", n);
	assert_true(covered);
	assert_true(n >= 700);
}

static void test_explore_exhaustive(void **state)
{
	(void)state;
	BANNER("explore --exhaustive: K = 0 covers the race-free schedules, K = 1 finds the "
	       "planted race and its schedule replays strictly; same counts twice; --runs stops "
	       "it uncovered; --report says so");
	write_file("racy.ini", racy);
	static char out[1 << 16], out2[1 << 16];
	bool covered;
	/* K = 0: vCPU 0 then vCPU 1, or the other way: neither fails */
	assert_int_equal(run_cmd("explore racy.ini --exhaustive --preemptions 0", out, sizeof(out)), 0);
	assert_int_equal(exhaustive_count(out, &covered), 2);
	assert_true(covered);
	assert_non_null(strstr(out, "--preemptions 1 would run at least "));
	/* K = 1: vCPU 1's write between vCPU 0's write and its check */
	int rc = run_cmd("explore racy.ini --exhaustive --preemptions 1 --report ex.json", out,
			 sizeof(out));
	if (rc != 1)
		print_error("%s\n", out);
	assert_int_equal(rc, 1);
	uint64_t n = exhaustive_count(out, &covered);
	assert_false(covered);
	assert_non_null(strstr(out, "not covered: stopped at the first failure"));
	assert_non_null(strstr(out, "FAILED at schedule "));
	assert_non_null(strstr(out, "check 0x100000: read 0xb, want 0xa"));
	char sched[512], cmd[1024];
	const char *p = strstr(out, "\nschedule: ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "\nschedule: %511s", sched), 1);
	assert_true(strncmp(sched, "tdxsim1:dfs:1:", 14) == 0);
	snprintf(cmd, sizeof(cmd), "replay racy.ini '%s'", sched);
	assert_int_equal(run_cmd(cmd, out2, sizeof(out2)), 1);
	assert_non_null(strstr(out2, "check 0x100000: read 0xb, want 0xa"));
	print_message("  K=1: failed at schedule %" PRIu64 ": %s\n", n, sched);
	/* the same search again: the same schedule fails, at the same count */
	assert_int_equal(run_cmd("explore racy.ini --exhaustive --preemptions 1", out2,
				 sizeof(out2)), 1);
	bool c2;
	assert_int_equal(exhaustive_count(out2, &c2), n);
	assert_non_null(strstr(out2, sched));
	/* the report */
	char path[600];
	snprintf(path, sizeof(path), "%s/ex.json", tmpdir);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	assert_non_null(j);
	json_t *x = json_object_get(j, "exhaustive");
	assert_true(json_is_object(x));
	assert_int_equal(json_integer_value(json_object_get(x, "schedules")), n);
	assert_int_equal(json_integer_value(json_object_get(x, "preemptions")), 1);
	assert_true(json_is_false(json_object_get(x, "covered")));
	assert_string_equal(json_string_value(json_object_get(j, "sched")), "dfs");
	json_t *f = json_object_get(j, "failure");
	assert_true(json_is_object(f));
	assert_int_equal(json_integer_value(json_object_get(f, "schedule_index")), n);
	assert_int_equal(json_integer_value(json_object_get(f, "seed")), 1);
	assert_string_equal(json_string_value(json_object_get(f, "schedule")), sched);
	json_decref(j);
	/* a race-free file (vCPU 1 writes elsewhere): covered at K = 2, the same count twice */
	static char calm[2048];
	snprintf(calm, sizeof(calm), "%s", racy);
	char *w = strstr(calm, "write 0x100000 0xb");
	assert_non_null(w);
	memcpy(w, "write 0x101000 0xb", 18);
	write_file("calm.ini", calm);
	assert_int_equal(run_cmd("explore calm.ini --exhaustive --report calm.json", out,
				 sizeof(out)), 0);
	uint64_t k2 = exhaustive_count(out, &covered);
	assert_true(covered);
	assert_int_equal(run_cmd("explore calm.ini --exhaustive --preemptions 2", out2,
				 sizeof(out2)), 0);
	assert_int_equal(exhaustive_count(out2, &c2), k2);
	assert_true(c2);
	print_message("  race-free file, K=2 (the default): %" PRIu64 " schedules, covered\n", k2);
	snprintf(path, sizeof(path), "%s/calm.json", tmpdir);
	j = json_load_file(path, 0, &je);
	assert_non_null(j);
	x = json_object_get(j, "exhaustive");
	assert_true(json_is_true(json_object_get(x, "covered")));
	assert_int_equal(json_integer_value(json_object_get(x, "schedules")), k2);
	assert_true(json_is_null(json_object_get(j, "runs_requested")));	/* no limit */
	json_decref(j);
	/* K = 1 has fewer; --runs below the count stops it uncovered */
	assert_int_equal(run_cmd("explore calm.ini --exhaustive --preemptions 1", out, sizeof(out)), 0);
	uint64_t k1 = exhaustive_count(out, &covered);
	assert_true(covered);
	assert_true(k1 > 2 && k1 < k2);
	snprintf(cmd, sizeof(cmd), "explore calm.ini --exhaustive --runs %" PRIu64, k2 - 1);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	assert_int_equal(exhaustive_count(out, &covered), k2 - 1);
	assert_false(covered);
	assert_non_null(strstr(out, "not covered: stopped by --runs or --time"));
	/* --runs equal to the count still covers it */
	snprintf(cmd, sizeof(cmd), "explore calm.ini --exhaustive --runs %" PRIu64, k2);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	assert_int_equal(exhaustive_count(out, &covered), k2);
	assert_true(covered);
}

static void test_bad_command_lines(void **state)
{
	(void)state;
	BANNER("bad command lines: one line on stderr, exit status 2");
	write_file("racy.ini", racy);
	static const char *const bad[] = {
		"", "frobnicate", "run", "run racy.ini --sched fastest", "run racy.ini --seed x",
		"run racy.ini extra", "run racy.ini --set", "run racy.ini --bogus",
		"run racy.ini --inject", "run racy.ini --inject=", "measure a.fd --inject x",
		"explore racy.ini --runs 0", "explore racy.ini --shard 4/4", "explore racy.ini --jobs 99",
		"explore racy.ini --sched rr", "explore racy.ini --time forever",
		"replay racy.ini", "replay racy.ini notaschedule", "shrink racy.ini",
		"compare racy.ini", "compare racy.ini --vary novalue", "list", "list everything",
		"help frobnicate", "merge", "measure", "measure a.fd --flow qemu7",
		"map", "map racy.ini --svg", "map racy.ini --at x", "map racy.ini --at",
		"map racy.ini --at 0", "map racy.ini --svg /nonexistent/dir/map.svg",
		"map racy.ini --bogus", "map racy.ini --sched fastest", "map racy.ini extra",
		"explore racy.ini --exhaustive --sched pct:2", "explore racy.ini --exhaustive --sched random",
		"explore racy.ini --exhaustive --shard 0/2", "explore racy.ini --exhaustive --jobs 2",
		"explore racy.ini --exhaustive --jobs 1", "explore racy.ini --preemptions 1",
		"explore racy.ini --exhaustive --preemptions", "explore racy.ini --exhaustive --preemptions x",
		"explore racy.ini --exhaustive --preemptions -1",
		"explore racy.ini --exhaustive --preemptions 1001", "run racy.ini --sched dfs",
		"explore racy.ini --sched dfs", "run racy.ini --exhaustive",
	};
	int failures = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[2048];
		int rc = run_cmd(bad[i], out, sizeof(out));
		int lines = 0;
		for (char *q = out; *q; q++)
			lines += *q == '\n';
		bool usage_page = !strcmp(bad[i], "");	/* bare 'tdxsim' prints the usage */
		if (rc != 2 || (!usage_page && lines != 1)) {
			print_error("'tdxsim %s': exit %d, %d lines: %s\n", bad[i], rc, lines, out);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	/* a scenario that does not parse: exit 1 with its FILE:LINE message */
	write_file("broken.ini", "[vm]\nbusy = maybe\n");
	char out[2048];
	assert_int_equal(run_cmd("run broken.ini", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "broken.ini:2: busy"));
	assert_int_equal(run_cmd("map broken.ini --svg broken.svg", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "broken.ini:2: busy"));
	char path[512];
	snprintf(path, sizeof(path), "%s/broken.svg", tmpdir);
	assert_int_not_equal(access(path, F_OK), 0);	/* no empty picture left behind */
}

static void test_inject_option(void **state)
{
	(void)state;
	BANNER("--inject NAME is --set inject=NAME on run, replay, explore, compare; an unknown "
	       "name is an error naming the key");
	static char out[1 << 15];
	char cmd[2048], file[1200];
	snprintf(file, sizeof(file), "%s/%s/bug-remove-no-track.ini", cwd(), scenario_dir());
	snprintf(cmd, sizeof(cmd), "run %s", file);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);		/* the correct host */
	snprintf(cmd, sizeof(cmd), "run %s --inject remove-no-track", file);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "TDX_TLB_TRACKING_NOT_DONE"));
	snprintf(cmd, sizeof(cmd), "run %s --set vm.inject=remove-no-track --json", file);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "TDX_TLB_TRACKING_NOT_DONE"));
	/* several add up; the last --inject set wins over a --set of the key */
	snprintf(cmd, sizeof(cmd), "run %s --set inject=none --inject stale-pfn --inject "
		 "remove-no-track", file);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
	snprintf(cmd, sizeof(cmd), "run %s --inject no-such-bug", file);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "inject: 'no-such-bug' is not a value"));
	snprintf(cmd, sizeof(cmd), "explore %s --inject track-no-kick --runs 20", file);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "FAILED at seed 1"));
	char *rep = strstr(out, "replay: tdxsim replay ");
	assert_non_null(rep);
	char *q = strchr(rep, '\'');
	assert_non_null(q);
	char sched[512];
	snprintf(sched, sizeof(sched), "%.*s", (int)strcspn(q + 1, "'"), q + 1);
	snprintf(cmd, sizeof(cmd), "replay %s '%s' --inject track-no-kick", file, sched);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "TDX_TLB_TRACKING_NOT_DONE"));
	/* without the bug the run takes other steps (the kick): leniently, it is ok */
	snprintf(cmd, sizeof(cmd), "replay %s '%s' --lenient", file, sched);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	snprintf(cmd, sizeof(cmd), "compare %s --vary inject=none,track-no-kick --runs 2", file);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "inject=track-no-kick  killed 2"));
	assert_int_equal(run_cmd("list policies", out, sizeof(out)), 0);
	for (int i = 0; i < INJECT_NR; i++)
		assert_non_null(strstr(out, kvm_inject_name((enum kvm_inject)i)));
}

static void test_list_and_help(void **state)
{
	(void)state;
	BANNER("list programs/policies/scenarios and help COMMAND describe what exists");
	static char out[1 << 15];
	assert_int_equal(run_cmd("list programs", out, sizeof(out)), 0);
	for (const struct sc_program *p = sc_programs; p->name; p++)
		assert_non_null(strstr(out, p->name));
	assert_int_equal(run_cmd("list policies", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "kick-retry"));
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "list scenarios");
	char dir[1200];
	snprintf(dir, sizeof(dir), "TDXSIM_SCENARIOS=%s/%s", cwd(), scenario_dir());
	snprintf(cmd, sizeof(cmd), "cd %s && %s %s list scenarios 2>&1", tmpdir, dir, tdxsim);
	FILE *p = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(out, "seed001-rare-case.ini"));
	assert_null(strstr(out, "does not parse"));
	/* every counter [expect] takes is in 'help run' */
	assert_int_equal(run_cmd("help run", out, sizeof(out)), 0);
	for (int i = 0; i < C_NCOUNTERS; i++)
		if (!strstr(out, sc_counter_names[i])) {
			print_error("'help run' does not list %s\n", sc_counter_names[i]);
			fail();
		}
	static const char *const cmds[] = { "run", "replay", "shrink", "explore", "compare",
					    "merge", "list", "measure", "map" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(cmd, sizeof(cmd), "help %s", cmds[i]);
		assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
		char want[64];
		snprintf(want, sizeof(want), "tdxsim %s", cmds[i]);
		assert_non_null(strstr(out, want));
	}
}

static void test_run_json(void **state)
{
	(void)state;
	BANNER("run --json is one JSON object with the outcome, counters, SEAMCALLs and schedule");
	write_file("racy.ini", racy);
	static char out[1 << 16];
	int rc = run_cmd("run racy.ini --json --sched rr", out, sizeof(out));
	assert_true(rc == 0 || rc == 1);
	assert_int_equal(out[0], '{');
	assert_non_null(strstr(out, "\"outcome\":"));
	assert_non_null(strstr(out, "\"counters\":"));
	assert_non_null(strstr(out, "\"maps_2m\": 0"));
	assert_non_null(strstr(out, "\"splits_ignored\": 0"));
	assert_non_null(strstr(out, "\"TDH.VP.ENTER\":"));
	assert_non_null(strstr(out, "\"schedule\": \"tdxsim1:rr:"));
}

/* ---- --trace ---- */

static const char *const accept_race =
	"[vm]\nvcpus = 2\n[memslot 0]\ngpa = 0x100000\nsize = 4M\n"
	"[vcpu 0]\nprogram = accept-race\ngpa = 0x200000\nsize = 2M\nlevel = 2m\n"
	"[vcpu 1]\nprogram = accept-race\ngpa = 0x200000\nsize = 2M\nlevel = 4k\n";

static json_t *load_json(const char *name)
{
	char path[512];
	json_error_t je;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		print_error("%s: line %d: %s\n", path, je.line, je.text);
	assert_non_null(j);
	return j;
}

static char *hash_of(json_t *run)
{
	const char *h = json_string_value(json_object_get(run, "trace_hash"));
	assert_non_null(h);
	return strdup(h);
}

/* Whole-file equality of two files in the temporary directory. */
static bool same_file(const char *a, const char *b)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "cmp -s %s/%s %s/%s", tmpdir, a, tmpdir, b);
	return system(cmd) == 0;
}

struct xspan {
	long long t0, t1;	/* ns */
	long long tid;
};

static int xspan_cmp(const void *pa, const void *pb)
{
	const struct xspan *a = pa, *b = pb;
	if (a->tid != b->tid)
		return a->tid < b->tid ? -1 : 1;
	if (a->t0 != b->t0)
		return a->t0 < b->t0 ? -1 : 1;
	return a->t1 > b->t1 ? -1 : a->t1 < b->t1;	/* the outer span first */
}

static long long ns_of(json_t *v)
{
	return (long long)(json_number_value(v) * 1000.0 + 0.5);
}

static void test_trace_file(void **state)
{
	(void)state;
	BANNER("run --trace writes trace-event JSON: a track per task, SEAMCALL and TDCALL "
	       "spans that nest, one VP.ENTER span per VP.ENTER the run counted");
	write_file("race.ini", accept_race);
	assert_int_equal(run_cmd("run race.ini --trace t.json --json > run.json", NULL, 0), 0);
	json_t *run = load_json("run.json");
	json_t *t = load_json("t.json");
	assert_string_equal(json_string_value(json_object_get(t, "displayTimeUnit")), "ns");
	json_t *evs = json_object_get(t, "traceEvents");
	assert_true(json_is_array(evs));
	size_t n = json_array_size(evs);
	struct xspan *x = calloc(n, sizeof(*x));
	assert_non_null(x);
	size_t nx = 0, aug = 0, accept = 0, enter = 0;
	bool named[2] = { false, false }, process = false;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(evs, i);
		const char *ph = json_string_value(json_object_get(e, "ph"));
		const char *name = json_string_value(json_object_get(e, "name"));
		assert_non_null(ph);
		assert_non_null(name);
		assert_int_equal(json_integer_value(json_object_get(e, "pid")), 1);
		if (!strcmp(ph, "M")) {
			const char *v = json_string_value(json_object_get(json_object_get(e, "args"),
									  "name"));
			assert_non_null(v);
			if (!strcmp(name, "process_name")) {
				process = !strcmp(v, "race");
			} else {
				assert_string_equal(name, "thread_name");
				json_int_t tid = json_integer_value(json_object_get(e, "tid"));
				assert_true(tid >= 0 && tid < 2);
				char want[16];
				snprintf(want, sizeof(want), "vcpu%d", (int)tid);
				assert_string_equal(v, want);
				named[tid] = true;
			}
			continue;
		}
		assert_true(json_is_number(json_object_get(e, "ts")));
		if (!strcmp(ph, "i")) {
			assert_string_equal(json_string_value(json_object_get(e, "s")), "t");
			continue;
		}
		assert_string_equal(ph, "X");
		json_t *dur = json_object_get(e, "dur");
		assert_true(json_is_number(dur));
		assert_true(json_number_value(dur) >= 0.0);
		x[nx].t0 = ns_of(json_object_get(e, "ts"));
		x[nx].t1 = x[nx].t0 + ns_of(dur);
		x[nx].tid = json_integer_value(json_object_get(e, "tid"));
		nx++;
		aug += !strcmp(name, "TDH.MEM.PAGE.AUG");
		accept += !strcmp(name, "TDG.MEM.PAGE.ACCEPT");
		enter += !strcmp(name, "TDH.VP.ENTER");
		if (strcmp(name, "TDG.MEM.PAGE.ACCEPT")) {
			const char *st = json_string_value(json_object_get(json_object_get(e, "args"),
									   "status"));
			assert_non_null(st);
			assert_memory_equal(st, "0x", 2);
		}
	}
	assert_true(process);
	assert_true(named[0] && named[1]);
	assert_true(aug >= 1);
	assert_true(accept >= 1);
	json_int_t want_enter = json_integer_value(json_object_get(json_object_get(run, "seamcalls"),
								   "TDH.VP.ENTER"));
	print_message("  %zu events, %zu spans, %zu VP.ENTER (run counted %lld)\n", n, nx, enter,
		      (long long)want_enter);
	assert_true(want_enter > 0);
	assert_int_equal(enter, want_enter);
	/* per track: each span ends before the next starts, or contains it */
	qsort(x, nx, sizeof(*x), xspan_cmp);
	long long stack[32];
	int depth = 0, bad = 0;
	for (size_t i = 0; i < nx; i++) {
		if (i && x[i].tid != x[i - 1].tid)
			depth = 0;
		while (depth && stack[depth - 1] <= x[i].t0)
			depth--;
		if (depth && x[i].t1 > stack[depth - 1])
			bad++;
		if (depth < 32)
			stack[depth++] = x[i].t1;
	}
	assert_int_equal(bad, 0);
	free(x);
	json_decref(t);
	json_decref(run);
}

static void test_trace_replays_exactly(void **state)
{
	(void)state;
	BANNER("replay --trace of a run's schedule writes the same file; tracing leaves the "
	       "trace hash alone");
	write_file("race.ini", accept_race);
	assert_int_equal(run_cmd("run race.ini --seed 7 --json > plain.json", NULL, 0), 0);
	assert_int_equal(run_cmd("run race.ini --seed 7 --trace t1.json --json > traced.json",
				 NULL, 0), 0);
	json_t *plain = load_json("plain.json"), *traced = load_json("traced.json");
	char *h0 = hash_of(plain), *h1 = hash_of(traced);
	assert_string_equal(h0, h1);
	const char *sched = json_string_value(json_object_get(plain, "schedule"));
	assert_non_null(sched);
	assert_string_equal(sched, json_string_value(json_object_get(traced, "schedule")));
	/* the schedule into a file: replay takes @FILE */
	write_file("run.sched", sched);
	assert_int_equal(run_cmd("replay race.ini @run.sched --trace t2.json --json > re.json",
				 NULL, 0), 0);
	assert_int_equal(run_cmd("replay race.ini @run.sched --json > re-plain.json", NULL, 0), 0);
	json_t *re = load_json("re.json"), *re_plain = load_json("re-plain.json");
	char *h2 = hash_of(re), *h3 = hash_of(re_plain);
	assert_string_equal(h0, h2);
	assert_string_equal(h0, h3);
	assert_true(same_file("t1.json", "t2.json"));
	free(h0);
	free(h1);
	free(h2);
	free(h3);
	json_decref(plain);
	json_decref(traced);
	json_decref(re);
	json_decref(re_plain);
}

static void test_trace_counts(void **state)
{
	(void)state;
	BANNER("a traced run with a VMM: a vmm track, as many spans of each leaf as the run "
	       "counted SEAMCALLs, one kick instant per kick");
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "run %s/%s/seed002-track-vs-enter.ini --trace tv.json --json "
		 "> tv-run.json", cwd(), scenario_dir());
	assert_int_equal(run_cmd(cmd, NULL, 0), 0);
	json_t *run = load_json("tv-run.json"), *t = load_json("tv.json");
	json_t *evs = json_object_get(t, "traceEvents");
	json_t *spans = json_object();	/* leaf name -> count */
	json_int_t kicks = 0;
	bool vmm = false;
	size_t i;
	json_t *e;
	json_array_foreach(evs, i, e) {
		const char *ph = json_string_value(json_object_get(e, "ph"));
		const char *name = json_string_value(json_object_get(e, "name"));
		if (!strcmp(ph, "M"))
			vmm |= !strcmp(json_string_value(json_object_get(json_object_get(e, "args"),
									 "name")), "vmm");
		else if (!strcmp(ph, "i"))
			kicks += !strcmp(name, "kick");
		else if (!strcmp(ph, "X") && !strncmp(name, "TDH.", 4)) {
			json_int_t c = json_integer_value(json_object_get(spans, name));
			json_object_set_new(spans, name, json_integer(c + 1));
		}
	}
	assert_true(vmm);
	json_t *want = json_object_get(run, "seamcalls");
	assert_true(json_object_size(want) >= 5);
	if (!json_equal(spans, want)) {
		char *a = json_dumps(spans, JSON_SORT_KEYS), *b = json_dumps(want, JSON_SORT_KEYS);
		print_error("spans %s, SEAMCALLs %s\n", a, b);
		free(a);
		free(b);
		fail();
	}
	json_int_t want_kicks = json_integer_value(json_object_get(json_object_get(run, "counters"),
								   "kicks"));
	print_message("  %zu leaves, %lld kicks\n", json_object_size(want), (long long)kicks);
	assert_true(want_kicks > 0);
	assert_int_equal(kicks, want_kicks);
	json_decref(spans);
	json_decref(run);
	json_decref(t);
}

static void test_trace_unwritable(void **state)
{
	(void)state;
	BANNER("--trace to a path that cannot be written: one line on stderr, exit status 1");
	write_file("race.ini", accept_race);
	static const char *const cmds[] = {
		"run race.ini --trace /nonexistent/x.json",
		"replay race.ini tdxsim1:random:1:a --trace /nonexistent/x.json",
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char out[2048];
		assert_int_equal(run_cmd(cmds[i], out, sizeof(out)), 1);
		int lines = 0;
		for (char *q = out; *q; q++)
			lines += *q == '\n';
		assert_int_equal(lines, 1);
		assert_non_null(strstr(out, "/nonexistent/x.json"));
	}
}

/* ---- map ---- */

/*
 * One vCPU: a 2M accept (the host maps 4K, so the module answers
 * PAGE_SIZE_MISMATCH and leaves the one 4K page it faulted in PENDING),
 * then 4K accepts of three adjacent pages and one more apart.
 */
static const char *const mapped =
	"[vm]\ndescription = a 2M accept and four 4K accepts\n"
	"[memslot 0]\ngpa = 0x100000\nsize = 8M\n"
	"[vcpu 0]\nsteps = accept 0x200000 2m\n"
	"        accept 0x400000 4k\n        accept 0x401000 4k\n        accept 0x402000 4k\n"
	"        accept 0x404000 4k\n        write 0x400000 1\n";

/* The entries of @state in map's "by state" totals (0 when it has no line). */
static uint64_t map_entries(const char *out, const char *state)
{
	const char *by = strstr(out, "by state:\n");
	assert_non_null(by);
	const char *end = strstr(by, "by level:");
	char key[64];
	snprintf(key, sizeof(key), "\n  %s ", state);
	const char *l = strstr(by, key);
	if (!l || (end && l > end))
		return 0;
	return strtoull(l + strlen(key), NULL, 10);
}

static void test_map_text(void **state)
{
	(void)state;
	BANNER("map: one line per coalesced range with level, state and entries; totals by "
	       "state and level; --at an early step maps less");
	write_file("mapped.ini", mapped);
	static char out[1 << 16];
	assert_int_equal(run_cmd("map mapped.ini", out, sizeof(out)), 0);
	if (!strstr(out, "0x0000000000400000-0x0000000000402fff  4K  MAPPED  (3 entries)\n"))
		print_error("%s\n", out);
	assert_non_null(strstr(out, "0x0000000000400000-0x0000000000402fff  4K  MAPPED  (3 entries)\n"));
	assert_non_null(strstr(out, "0x0000000000404000-0x0000000000404fff  4K  MAPPED  (1 entry)\n"));
	assert_non_null(strstr(out, "0x0000000000200000-0x0000000000200fff  4K  PENDING  (1 entry)\n"));
	assert_non_null(strstr(out, "snapshot: at the end of the run (ok)"));
	assert_int_equal(map_entries(out, "MAPPED"), 4);
	assert_int_equal(map_entries(out, "PENDING"), 1);
	assert_non_null(strstr(out, "16 KiB"));	/* MAPPED: 4 pages */
	assert_non_null(strstr(out, "KVM mirror: 5 leaves (0 pre-faulted, 0 frozen); agrees with "
				    "the S-EPT\n"));
	/* the same seed maps the same: deterministic */
	static char again[1 << 16];
	assert_int_equal(run_cmd("map mapped.ini --seed 1 --sched random", again, sizeof(again)), 0);
	assert_string_equal(out, again);
	/* early: stopped there, fewer pages mapped */
	assert_int_equal(run_cmd("map mapped.ini --at 350", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "snapshot: at step 350 (the run was stopped there)"));
	uint64_t early = map_entries(out, "MAPPED");
	assert_true(early > 0 && early < 4);
	/* past the end: the end, and it says so */
	assert_int_equal(run_cmd("map mapped.ini --at 100000000", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "note: the run ended before step 100000000"));
	assert_int_equal(map_entries(out, "MAPPED"), 4);
	/* a TD whose build failed is mapped as far as it got: the pre-faulted page FINALIZE refused */
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "map %s/%s/seed004-prefault-extra.ini", cwd(), scenario_dir());
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "snapshot: where building the TD failed"));
	assert_non_null(strstr(out, "outcome: setup-error: setup: KVM_TDX_FINALIZE_VM"));
	assert_non_null(strstr(out, "(1 pre-faulted, 0 frozen)"));
}

/* Does @path parse as XML?  xmllint if installed, else python3's minidom. */
static bool xml_ok(const char *path)
{
	char cmd[1200];
	if (!system("command -v xmllint >/dev/null 2>&1"))
		snprintf(cmd, sizeof(cmd), "xmllint --noout '%s'", path);
	else
		snprintf(cmd, sizeof(cmd), "python3 -c 'import xml.dom.minidom,sys; "
			 "xml.dom.minidom.parse(sys.argv[1])' '%s'", path);
	return system(cmd) == 0;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_map_svg(void **state)
{
	(void)state;
	BANNER("map --svg: valid XML with a legend and a rect per state present; thousands of "
	       "ranges are merged into bounded bars");
	write_file("mapped.ini", mapped);
	static char out[1 << 16];
	char path[512];
	assert_int_equal(run_cmd("map mapped.ini --svg map.svg", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "svg: map.svg"));
	snprintf(path, sizeof(path), "%s/map.svg", tmpdir);
	assert_true(xml_ok(path));
	const char *svg = read_all(path);
	assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_non_null(strstr(svg, "class=\"legend\""));
	assert_non_null(strstr(svg, "<rect class=\"MAPPED\""));
	assert_non_null(strstr(svg, "<rect class=\"PENDING\""));
	assert_null(strstr(svg, "<rect class=\"BLOCKED\""));
	assert_non_null(strstr(svg, "tdxsim map: mapped.ini"));
	assert_non_null(strstr(svg, "0x100000"));	/* a tick label */
	/* 16 memslots and 512 alternating ranges in the first: merged, still XML */
	char text[1 << 15];
	size_t n = (size_t)snprintf(text, sizeof(text), "[vm]\ndescription = a <&> name, caf\xc3\xa9, \xff\n");
	for (int i = 0; i < 16; i++) {
		unsigned long long gpa = i ? 0x100000000ull + (unsigned long long)i * 0x200000
					   : 0x200000ull;
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[memslot %d]\ngpa = %#llx\nsize = %s\n", i, gpa,
				      i ? "2M" : "4M");
	}
	n += (size_t)snprintf(text + n, sizeof(text) - n, "[vcpu 0]\nsteps =");
	for (int p = 0; p < 256; p++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  accept %#x 4k\n",
				      0x200000 + 2 * p * 4096);
	snprintf(text + n, sizeof(text) - n, "[vmm]\naction = at start: prefault 0x200000 4M\n");
	write_file("many.ini", text);
	assert_int_equal(run_cmd("map many.ini --svg=many.svg", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "merged"));
	assert_int_equal(map_entries(out, "MAPPED"), 256);
	snprintf(path, sizeof(path), "%s/many.svg", tmpdir);
	assert_true(xml_ok(path));
	svg = read_all(path);
	assert_non_null(strstr(svg, "a &lt;&amp;&gt; name, caf\xc3\xa9, ?"));	/* not UTF-8: ? */
	assert_non_null(strstr(svg, "mixed"));
	int rects = 0;
	for (const char *q = svg; (q = strstr(q, "<rect")); q++)
		rects++;
	assert_true(rects < 5000);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tdxsim-cli-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) ? -1 : 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	/* build/<variant>/tests/test_cli -> build/<variant>/tdxsim */
	char self[1024];
	snprintf(self, sizeof(self), "%s", argv[0]);
	char *dir = dirname(self);
	if (realpath(dir, tdxsim))
		strncat(tdxsim, "/../tdxsim", sizeof(tdxsim) - strlen(tdxsim) - 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios_meet_expect),
		cmocka_unit_test(test_pct_finishes_retry_loops),
		cmocka_unit_test(test_livelock_exits_settable),
		cmocka_unit_test(test_reuse_is_exact),
		cmocka_unit_test(test_teardown_timed),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_huge_keys),
		cmocka_unit_test(test_huge_setup_errors),
		cmocka_unit_test(test_huge_programs_on_4k),
		cmocka_unit_test(test_replay_is_exact),
		cmocka_unit_test(test_explore_finds_and_shrinks),
		cmocka_unit_test(test_explore_exhaustive),
		cmocka_unit_test(test_aug_owns_before_mapping),
		cmocka_unit_test(test_shards_merge),
		cmocka_unit_test(test_parallel_shards),
		cmocka_unit_test(test_compare_table),
		cmocka_unit_test(test_bad_command_lines),
		cmocka_unit_test(test_inject_option),
		cmocka_unit_test(test_list_and_help),
		cmocka_unit_test(test_run_json),
		cmocka_unit_test(test_trace_file),
		cmocka_unit_test(test_trace_replays_exactly),
		cmocka_unit_test(test_trace_counts),
		cmocka_unit_test(test_trace_unwritable),
		cmocka_unit_test(test_map_text),
		cmocka_unit_test(test_map_svg),
	};
	return cmocka_run_group_tests_name("tdxsim command", tests, setup, teardown);
}
