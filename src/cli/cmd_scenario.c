/* SPDX-License-Identifier: MIT */
/*
 * cmd_scenario.c - the commands that run scenario files: run, replay,
 * shrink, explore, compare, merge, list.  Reports and JSON output are
 * written with jansson.  Bad command lines print one line on stderr and
 * exit 2; a run that misses its [expect] exits 1.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "cli_opts.h"
#include "scenario.h"

int cli_usage_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tdxsim %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (try 'tdxsim help %s')\n", cmd);
	va_end(ap);
	return 2;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- shared option handling ---- */


/* "--name value" or "--name=value": the value, advancing *i; NULL if this is not @name. */
static const char *optval(int argc, char **argv, int *i, const char *name, bool *bad)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n])
		return NULL;
	if (*i + 1 >= argc) {
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

static int parse_sched(struct opts *o, const char *v)
{
	if (!strncmp(v, "pct:", 4)) {
		char *end;
		long d = strtol(v + 4, &end, 10);
		if (*end || end == v + 4 || d < 1 || d > 64)
			return -1;
		o->sched = SCHED_PCT;
		o->pct_depth = (int)d;
		return 0;
	}
	if (!strcmp(v, "pct")) {
		o->sched = SCHED_PCT;
		o->pct_depth = 2;
		return 0;
	}
	if (sched_parse(v, &o->sched) || o->sched == SCHED_REPLAY || o->sched == SCHED_DFS)
		return -1;
	return 0;
}

static int parse_u(const char *v, uint64_t *out, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno || end == v || *end || v[0] == '-' || x > max)
		return -1;
	*out = x;
	return 0;
}

/* See cli_opts.h. */
/* A SEAMCALL leaf's number from its name ("TDH.MEM.PAGE.AUG"), for cost files; -1 if none. */
static int leaf_by_name(const char *name)
{
	for (unsigned l = 0; l < TDH_NR_LEAVES; l++)
		if (tdx_leaf_name(l) && !strcmp(tdx_leaf_name(l), name))
			return (int)l;
	return -1;
}

int cli_parse_opts(struct opts *o, const char *cmd, int argc, char **argv, const char *allowed,
		   int npos)
{
	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->sched = SCHED_RANDOM;
	o->seed = 1;
	o->runs = 100;
	o->jobs = 1;
	o->preemptions = 2;
	int pos = 0;
	for (int i = 1; i < argc; i++) {
		bool bad = false;
		const char *v;
		char *a = argv[i];
		if (a[0] != '-' || !a[1]) {
			if (pos == 0)
				o->file = a;
			else if (pos == 1 && npos > 1)
				o->arg2 = a;
			else
				return cli_usage_err(cmd, "unexpected argument '%s'", a);
			pos++;
			continue;
		}
#define OPT(ch, name) (strchr(allowed, (ch)) && ((v = optval(argc, argv, &i, (name), &bad)) || bad))
		if (OPT('s', "--set")) {
			if (bad)
				return cli_usage_err(cmd, "--set needs SECTION.KEY=VALUE");
			if (o->nsets == MAX_SETS)
				return cli_usage_err(cmd, "too many --set (at most %d)", MAX_SETS);
			o->sets[o->nsets++] = v;
		} else if (OPT('i', "--inject")) {
			/* an alias of --set inject=NAME; several add up */
			size_t l = strlen(o->inject);
			if (bad || !*v || l + strlen(v) + 2 > sizeof(o->inject))
				return cli_usage_err(cmd, "--inject needs a NAME (tdxsim list policies)");
			snprintf(o->inject + l, sizeof(o->inject) - l, "%s%s", l ? "," : "inject=", v);
		} else if (OPT('S', "--sched")) {
			if (bad || parse_sched(o, v))
				return cli_usage_err(cmd, "--sched takes rr, random, pct:D (D 1..64) or timed");
			o->sched_given = true;
		} else if (OPT('e', "--seed")) {
			if (bad || parse_u(v, &o->seed, UINT64_MAX >> 1))
				return cli_usage_err(cmd, "--seed takes a number");
			o->seed_given = true;
		} else if (strchr(allowed, 'j') && !strcmp(a, "--json")) {
			o->json = true;
		} else if (strchr(allowed, 'l') && !strcmp(a, "--lenient")) {
			o->lenient = true;
		} else if (strchr(allowed, 'c') && (!strcmp(a, "--check") || !strncmp(a, "--check=", 8))) {
			o->check_every = 1;
			if (a[7] == '=' && (parse_u(a + 8, &o->check_every, UINT64_MAX) || !o->check_every))
				return cli_usage_err(cmd, "--check=N takes a number of steps (1 or more)");
			o->check_given = true;
		} else if (strchr(allowed, 'c') && !strcmp(a, "--no-check")) {
			o->check_every = 0;
			o->check_given = true;
		} else if (OPT('k', "--costs")) {
			char err[512];
			if (bad)
				return cli_usage_err(cmd, "--costs needs a cost file ([costs] name = ns)");
			if (!o->costs_given)
				cost_table_default(&o->costs);
			if (cost_table_load(&o->costs, v, leaf_by_name, err, sizeof(err))) {
				fprintf(stderr, "tdxsim %s: %s\n", cmd, err);
				return 2;
			}
			o->costs_given = true;
		} else if (OPT('t', "--trace")) {
			if (bad)
				return cli_usage_err(cmd, "--trace needs a file name");
			o->trace = v;
		} else if (OPT('g', "--svg")) {
			if (bad || !*v)
				return cli_usage_err(cmd, "--svg needs a file name");
			o->svg = v;
		} else if (OPT('a', "--at")) {
			if (bad || parse_u(v, &o->at, UINT64_MAX) || !o->at)
				return cli_usage_err(cmd, "--at takes a number of engine steps (1 or more)");
		} else if (OPT('R', "--report")) {
			if (bad)
				return cli_usage_err(cmd, "--report needs a file name");
			o->report = v;
		} else if (OPT('r', "--runs")) {
			if (bad || parse_u(v, &o->runs, 100000000) || !o->runs)
				return cli_usage_err(cmd, "--runs takes a number from 1 to 10^8");
			o->runs_given = true;
		} else if (OPT('T', "--time")) {
			uint64_t ns;
			if (bad || sc_parse_time(v, &ns) || !ns)
				return cli_usage_err(cmd, "--time takes a duration (e.g. 30s, 500ms)");
			o->time_s = (double)ns / 1e9;
		} else if (OPT('h', "--shard")) {
			unsigned a1, b1;
			char c;
			if (bad || sscanf(v, "%u/%u%c", &a1, &b1, &c) != 2 || b1 < 1 || a1 >= b1 ||
			    b1 > 100000)
				return cli_usage_err(cmd, "--shard takes I/N with 0 <= I < N");
			o->shard = a1;
			o->nshards = b1;
		} else if (OPT('J', "--jobs")) {
			uint64_t j;
			if (bad || parse_u(v, &j, 64) || !j)
				return cli_usage_err(cmd, "--jobs takes a number from 1 to 64");
			o->jobs = (unsigned)j;
			o->jobs_given = true;
		} else if (strchr(allowed, 'x') && !strcmp(a, "--exhaustive")) {
			o->exhaustive = true;
		} else if (OPT('P', "--preemptions")) {
			uint64_t k;
			if (bad || parse_u(v, &k, ENGINE_DFS_MAX_BOUND))
				return cli_usage_err(cmd, "--preemptions takes a number from 0 to %d",
						     ENGINE_DFS_MAX_BOUND);
			o->preemptions = (int)k;
			o->preemptions_given = true;
		} else if (OPT('v', "--vary")) {
			if (bad || !strchr(v, '=') || o->nvaries == 8)
				return cli_usage_err(cmd, "--vary takes KEY=V1,V2,... (at most 8 of them)");
			o->varies[o->nvaries++] = v;
		} else {
			return cli_usage_err(cmd, "unknown option '%s'", a);
		}
#undef OPT
	}
	if (pos < npos)
		return cli_usage_err(cmd, npos > 1 ? "FILE and SCHEDULE expected" : "a scenario FILE expected");
	if (o->inject[0]) {
		if (o->nsets == MAX_SETS)
			return cli_usage_err(cmd, "too many --set (at most %d)", MAX_SETS);
		o->sets[o->nsets++] = o->inject;	/* after every --set: it wins */
	}
	return 0;
}

int cli_load(const struct opts *o, struct scenario *sc)
{
	char err[512];
	if (scenario_load(o->file, sc, err, sizeof(err))) {
		fprintf(stderr, "tdxsim %s: %s\n", o->cmd, err);
		return 1;
	}
	for (int i = 0; i < o->nsets; i++)
		if (scenario_set(sc, o->sets[i], err, sizeof(err))) {
			fprintf(stderr, "tdxsim %s: %s\n", o->cmd, err);
			scenario_free(sc);
			return 1;
		}
	return 0;
}

struct sc_run_opts cli_run_opts(const struct opts *o, uint64_t seed)
{
	return (struct sc_run_opts){ .sched = o->sched, .seed = seed, .pct_depth = o->pct_depth,
				     .check_every = o->check_every, .critical = o->json,
				     .costs = o->costs_given ? &o->costs : NULL };
}

/* ---- output ---- */

#define SCHED_SHOW 160	/* longer schedule strings are shown cut, and saved to a file */

/* Print @s whole if short, else its head and where the whole string went. */
static void print_schedule(FILE *f, const char *label, const char *s, const char *save_as)
{
	size_t n = strlen(s);
	if (n <= SCHED_SHOW || !save_as) {
		fprintf(f, "%s%s\n", label, s);
		return;
	}
	FILE *out = fopen(save_as, "w");
	if (out) {
		fprintf(out, "%s\n", s);
		fclose(out);
	}
	fprintf(f, "%s%.*s... (%zu characters%s%s)\n", label, SCHED_SHOW, s, n,
		out ? "; all of it in " : "", out ? save_as : "");
}

/* A schedule argument: the string itself, or @FILE holding it. */
static char *schedule_arg(const char *cmd, const char *arg)
{
	if (arg[0] != '@')
		return strdup(arg);
	FILE *f = fopen(arg + 1, "r");
	if (!f) {
		fprintf(stderr, "tdxsim %s: %s: %s\n", cmd, arg + 1, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);
	int c;
	while (s && (c = fgetc(f)) != EOF) {
		if (c == '\n' || c == ' ' || c == '\t')
			continue;
		if (n + 2 > cap) {
			char *ns = realloc(s, cap *= 2);
			if (!ns) {
				free(s);
				s = NULL;
				break;
			}
			s = ns;
		}
		s[n++] = (char)c;
	}
	fclose(f);
	if (s)
		s[n] = 0;
	return s;
}

static json_t *result_json(const struct scenario *sc, const struct sc_result *r)
{
	char why[256];
	bool met = scenario_expected(sc, r, why, sizeof(why));
	json_t *c = json_object();
	for (int i = 0; i < C_NCOUNTERS; i++)
		json_object_set_new(c, sc_counter_names[i], json_integer((json_int_t)r->counters[i]));
	json_t *leaves = json_object();
	for (unsigned l = 0; l < 64; l++)
		if (r->leaf_calls[l])
			json_object_set_new(leaves, tdx_leaf_name(l),
					    json_integer((json_int_t)r->leaf_calls[l]));
	json_t *tcalls = json_object();	/* every cost kind: the calibration's linear model */
	for (int k = 0; k < SEAM_COST_NR; k++)
		if (r->teardown_charges[k])
			json_object_set_new(tcalls, k < SEAM_COST_TDCALL ? tdx_leaf_name((unsigned)k)
									  : cost_name((enum seam_cost)k),
					    json_integer((json_int_t)r->teardown_charges[k]));
	json_t *tleaves = json_object();
	for (unsigned l = 0; l < 64; l++)
		if (r->teardown_calls[l])
			json_object_set_new(tleaves, tdx_leaf_name(l),
					    json_integer((json_int_t)r->teardown_calls[l]));
	char hash[32];
	snprintf(hash, sizeof(hash), "%016" PRIx64, r->hash);
	/* the task that ends last and its charges by cost kind: what the
	 * calibration fits (scripts/calibrate) */
	json_t *ch = json_object();
	for (int k = 0; k < SEAM_COST_NR; k++)
		if (r->critical_charges[k])
			json_object_set_new(ch, k < SEAM_COST_TDCALL ? tdx_leaf_name((unsigned)k)
								      : cost_name((enum seam_cost)k),
					    json_integer((json_int_t)r->critical_charges[k]));
	json_t *crit = json_pack("{s:s, s:I, s:o}", "task", r->critical_task, "clock_ns",
				 (json_int_t)r->critical_clock, "charges", ch);
	json_t *res = json_pack("{s:s, s:s, s:s, s:b, s:s, s:o, s:o, s:s, s:s, s:f, s:f, s:s}", "scenario",
			 sc->path, "outcome", sc_outcome_name(r->outcome), "message", r->message,
			 "expected", met, "why", why, "counters", c, "seamcalls", leaves, "schedule",
			 r->schedule ? r->schedule : "", "trace_hash", hash, "predicted_s",
			 (double)(r->counters[C_VTIME_NS] + r->teardown_ns) / 1e9, "sim_wall_s",
			 r->sim_wall_s, "costs",
			 sc->costs_name);
	json_t *fc[2];
	for (int i = 0; i < 2; i++) {
		fc[i] = json_object();
		for (int k = 0; k < SEAM_COST_NR; k++)
			if (r->fault_charges[i][k] > 0)
				json_object_set_new(fc[i], k < SEAM_COST_TDCALL
						     ? tdx_leaf_name((unsigned)k)
						     : cost_name((enum seam_cost)k),
						    json_real(r->fault_charges[i][k]));
	}
	json_object_set_new(crit, "fault_first", fc[0]);
	json_object_set_new(crit, "fault_last", fc[1]);
	if (res) {
		json_object_set_new(res, "critical", crit);
		json_object_set_new(res, "teardown_policy",
				    json_string(kvm_policy_teardown_name(sc->pol.teardown)));
		json_object_set_new(res, "teardown_ns", json_integer((json_int_t)r->teardown_ns));
		json_object_set_new(res, "teardown_seamcalls", tleaves);
		json_object_set_new(res, "teardown_calls", tcalls);
	} else {
		json_decref(crit);
		json_decref(tleaves);
		json_decref(tcalls);
	}
	return res;
}

/* "1.234 s", "12.3 ms", "456 us" */
static void fmt_seconds(char *buf, size_t len, double s)
{
	if (s >= 1)
		snprintf(buf, len, "%.3f s", s);
	else if (s >= 1e-3)
		snprintf(buf, len, "%.3f ms", s * 1e3);
	else
		snprintf(buf, len, "%.1f us", s * 1e6);
}

static void print_result(FILE *f, const struct scenario *sc, const struct sc_result *r)
{
	char why[256];
	bool met = scenario_expected(sc, r, why, sizeof(why));
	fprintf(f, "scenario: %s%s%s%s\n", sc->path, sc->description[0] ? " (" : "",
		sc->description, sc->description[0] ? ")" : "");
	fprintf(f, "outcome:  %s%s%s\n", sc_outcome_name(r->outcome), r->message[0] ? ": " : "",
		r->message);
	fprintf(f, "expect:   %s%s\n", met ? "met" : "NOT MET: ", why);
	if (r->notice[0])
		fprintf(f, "notice:   %s\n", r->notice);
	fprintf(f, "virtual time: %.3f ms, %" PRIu64 " engine steps\n",
		(double)r->counters[C_VTIME_NS] / 1e6, r->counters[C_STEPS]);
	if (r->teardown_ns)
		fprintf(f, "teardown: %.3f ms virtual (%s), BLOCK %" PRIu64 " TRACK %" PRIu64
			" REMOVE %" PRIu64 " WBINVD %" PRIu64 " RECLAIM %" PRIu64 "\n",
			(double)r->teardown_ns / 1e6, kvm_policy_teardown_name(sc->pol.teardown),
			r->counters[C_TEARDOWN_BLOCKS], r->counters[C_TEARDOWN_TRACKS],
			r->counters[C_TEARDOWN_REMOVES], r->counters[C_TEARDOWN_WBINVDS],
			r->counters[C_TEARDOWN_RECLAIMS]);
	else
		fprintf(f, "teardown: none (the run was abandoned)\n");
	char pred[32], run[32], tear[32], sim[32];
	fmt_seconds(pred, sizeof(pred), (double)(r->counters[C_VTIME_NS] + r->teardown_ns) / 1e9);
	fmt_seconds(run, sizeof(run), (double)r->counters[C_VTIME_NS] / 1e9);
	fmt_seconds(tear, sizeof(tear), (double)r->teardown_ns / 1e9);
	fmt_seconds(sim, sizeof(sim), r->sim_wall_s);
	fprintf(f, "predicted: %s on the real system (run %s, teardown %s; costs: %s); the "
		"simulator took %s\n", pred, run, tear, sc->costs_name, sim);
	fprintf(f, "counters:");
	int col = 9;
	for (int i = 0; i < C_VTIME_NS; i++) {
		if (!r->counters[i])
			continue;
		char item[64];
		int n = snprintf(item, sizeof(item), " %s %" PRIu64, sc_counter_names[i],
				 r->counters[i]);
		if (col + n > 78) {
			fprintf(f, "\n         ");
			col = 9;
		}
		fputs(item, f);
		col += n;
	}
	fprintf(f, "\nseamcalls:");
	col = 10;
	for (unsigned l = 0; l < 64; l++) {
		if (!r->leaf_calls[l])
			continue;
		char item[64];
		int n = snprintf(item, sizeof(item), " %s %" PRIu64, tdx_leaf_name(l), r->leaf_calls[l]);
		if (col + n > 78) {
			fprintf(f, "\n          ");
			col = 10;
		}
		fputs(item, f);
		col += n;
	}
	fprintf(f, "\ntrace hash: %016" PRIx64 "\n", r->hash);
	print_schedule(f, "schedule: ", r->schedule, "tdxsim-run.sched");
}

static int finish(const struct opts *o, const struct scenario *sc, struct sc_result *r)
{
	char why[256];
	bool met = scenario_expected(sc, r, why, sizeof(why));
	if (o->json) {
		json_t *j = result_json(sc, r);
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		print_result(stdout, sc, r);
	}
	sc_result_free(r);
	return met ? 0 : 1;
}

/* ---- run, replay ---- */

/* --trace FILE: opened before the run, so a bad path costs no run.  NULL: none or failed. */
static FILE *trace_open(const struct opts *o, bool *failed)
{
	*failed = false;
	if (!o->trace)
		return NULL;
	FILE *f = fopen(o->trace, "w");
	if (!f) {
		fprintf(stderr, "tdxsim %s: %s: %s\n", o->cmd, o->trace, strerror(errno));
		*failed = true;
	}
	return f;
}

/* Close the trace; a write that failed makes the command fail (1). */
static int trace_close(const struct opts *o, FILE *f, bool write_failed, int ret)
{
	if (!f)
		return ret;
	if (fclose(f) || write_failed) {
		fprintf(stderr, "tdxsim %s: %s: the trace could not be written\n", o->cmd, o->trace);
		return 1;
	}
	return ret;
}

int cmd_run(int argc, char **argv)
{
	struct opts o;
	int e = cli_parse_opts(&o, "run", argc, argv, "sSejtick", 1);
	if (e)
		return e;
	static struct scenario sc;
	if (cli_load(&o, &sc))
		return 1;
	bool bad;
	FILE *tf = trace_open(&o, &bad);
	if (bad) {
		scenario_free(&sc);
		return 1;
	}
	struct sc_run_opts ro = cli_run_opts(&o, o.seed);
	ro.trace = tf;
	struct sc_result r;
	int ret = 1;
	bool trace_failed = false;
	if (scenario_run(&sc, &ro, &r)) {
		fprintf(stderr, "tdxsim run: %s: %s\n", o.file, r.message);
	} else {
		trace_failed = r.trace_failed;
		ret = finish(&o, &sc, &r);
	}
	scenario_free(&sc);
	return trace_close(&o, tf, trace_failed, ret);
}

int cmd_replay(int argc, char **argv)
{
	struct opts o;
	int e = cli_parse_opts(&o, "replay", argc, argv, "sjtlic", 2);
	if (e)
		return e;
	char *sched = schedule_arg("replay", o.arg2);
	if (!sched)
		return 1;
	if (strncmp(sched, "tdxsim1:", 8)) {
		free(sched);
		return cli_usage_err("replay", "a schedule string starts with 'tdxsim1:' (or @FILE)");
	}
	static struct scenario sc;
	if (cli_load(&o, &sc)) {
		free(sched);
		return 1;
	}
	bool bad;
	FILE *tf = trace_open(&o, &bad);
	if (bad) {
		scenario_free(&sc);
		free(sched);
		return 1;
	}
	struct sc_run_opts ro = { .sched = SCHED_REPLAY, .replay = sched, .lenient = o.lenient,
				  .trace = tf, .check_every = o.check_every };
	struct sc_result r;
	int ret = 1;
	bool trace_failed = false;
	if (scenario_run(&sc, &ro, &r)) {
		fprintf(stderr, "tdxsim replay: %s: %s\n", o.file, r.message);
	} else if (r.outcome == SC_REPLAY_ERROR) {
		fprintf(stderr, "tdxsim replay: %s\n", r.message);
		trace_failed = r.trace_failed;
		sc_result_free(&r);
	} else {
		trace_failed = r.trace_failed;
		ret = finish(&o, &sc, &r);
	}
	scenario_free(&sc);
	free(sched);
	ret = trace_close(&o, tf, trace_failed, ret);
	return ret;
}

/* ---- shrink ---- */

/*
 * The part of a failure's message that must not change: all of it, but for
 * an invariant violation without "invariant violation at step N: " (a
 * shorter schedule breaks it earlier).
 */
static const char *failure_text(const struct sc_result *r)
{
	static const char head[] = "invariant violation at step ";
	const char *m = r->message, *p;
	if (r->outcome == SC_INVARIANT && !strncmp(m, head, sizeof(head) - 1) &&
	    (p = strstr(m, ": ")))
		return p + 2;
	return m;
}

/* Same failure: outcome and message (an invariant's at any step). */
static bool same_failure(const struct sc_result *a, const struct sc_result *b)
{
	return a->outcome == b->outcome && !strcmp(failure_text(a), failure_text(b));
}

/* A schedule's choices as segments: runs of one task (the letter) and their length. */
struct seg {
	char id;
	unsigned long n;
};

/* Parse the choices of @s into *@out (malloc'ed); -1 for more than 52 tasks or no memory. */
static int segments_of(const char *s, struct seg **out, size_t *nseg)
{
	const char *p = strrchr(s, ':');
	p = p ? p + 1 : s;
	size_t cap = 64, n = 0;
	struct seg *v = malloc(cap * sizeof(*v));
	while (v && *p) {
		char id = *p++;
		if (id == '{') {	/* more than 52 tasks: not shrunk */
			free(v);
			return -1;
		}
		unsigned long cnt = 1;
		if (*p >= '0' && *p <= '9')
			cnt = strtoul(p, (char **)&p, 10);
		if (n && v[n - 1].id == id) {
			v[n - 1].n += cnt;
			continue;
		}
		if (n == cap) {
			struct seg *nv = realloc(v, (cap *= 2) * sizeof(*v));
			if (!nv) {
				free(v);
				return -1;
			}
			v = nv;
		}
		v[n++] = (struct seg){ id, cnt };
	}
	if (!v)
		return -1;
	*out = v;
	*nseg = n;
	return 0;
}

/* "tdxsim1:replay:SEED:" + @v[0..n) */
static char *schedule_of(uint64_t seed, const struct seg *v, size_t n)
{
	size_t cap = 64 + n * 24, len;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	len = (size_t)snprintf(s, cap, "tdxsim1:replay:%" PRIu64 ":", seed);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, v[i].n > 1 ? "%c%lu" : "%c", v[i].id,
					v[i].n);
	return s;
}

struct shrinker {
	const struct scenario *sc;
	const struct sc_result *target;	/* the failure to keep */
	uint64_t seed;
	struct seg *cur;		/* the best schedule's segments */
	size_t n;
	char *best;			/* ... and its string */
	unsigned runs, budget;
	struct sc_reuse *reuse;		/* the TD built once for every candidate */
	uint64_t check_every;		/* checking mode of the candidates (0: off) */
};

/* Replay candidate @cand (@cn segments) leniently; keep it if it is better. */
static bool shrink_try(struct shrinker *k, const struct seg *cand, size_t cn)
{
	char *cs = schedule_of(k->seed, cand, cn);
	if (!cs)
		return false;
	struct sc_run_opts ro = { .sched = SCHED_REPLAY, .replay = cs, .lenient = true,
				  .reuse = k->reuse, .check_every = k->check_every };
	struct sc_result r;
	bool kept = false;
	k->runs++;
	int e = scenario_run(k->sc, &ro, &r);
	free(cs);
	struct seg *rv;
	size_t rn;
	if (!e && same_failure(&r, k->target) && !segments_of(r.schedule, &rv, &rn)) {
		if (rn < k->n || (rn == k->n && strlen(r.schedule) < strlen(k->best))) {
			free(k->cur);
			k->cur = rv;
			k->n = rn;
			free(k->best);
			k->best = strdup(r.schedule);
			kept = true;
		} else {
			free(rv);
		}
	}
	sc_result_free(&r);
	return kept;
}

/* First pass: segment j runs the task of segment j-1 instead (same length). */
static void shrink_merge(struct shrinker *k, struct seg *cand)
{
	for (size_t j = 1; j < k->n && k->runs < k->budget;) {
		memcpy(cand, k->cur, k->n * sizeof(*cand));
		cand[j].id = cand[j - 1].id;
		if (!shrink_try(k, cand, k->n))
			j++;
	}
}

/* Second pass: delta debugging, dropping chunks of segments, halving the chunk. */
static void shrink_drop(struct shrinker *k, struct seg *cand)
{
	size_t chunk = k->n / 2 ? k->n / 2 : 1;
	while (k->runs < k->budget) {
		bool reduced = false;
		for (size_t start = 0; start < k->n && k->runs < k->budget && !reduced;
		     start += chunk) {
			size_t end = start + chunk < k->n ? start + chunk : k->n;
			memcpy(cand, k->cur, start * sizeof(*cand));
			memcpy(cand + start, k->cur + end, (k->n - end) * sizeof(*cand));
			reduced = shrink_try(k, cand, k->n - (end - start));
		}
		if (!reduced) {
			if (chunk == 1)
				break;
			chunk /= 2;
		} else if (chunk > k->n) {
			chunk = k->n ? k->n : 1;
		}
	}
}

/*
 * The built TD the runs of one search share (sc_run_opts.reuse); NULL, so
 * every run builds its own, with TDXSIM_NO_REUSE set (for debugging).
 */
static struct sc_reuse *runs_reuse(void)
{
	return getenv("TDXSIM_NO_REUSE") ? NULL : sc_reuse_create();
}

/*
 * Shorten a failing schedule.  A schedule is a list of segments (one task
 * running for a while); a simpler failure has fewer segments, i.e. fewer
 * context switches.  Each candidate is replayed leniently (past the end,
 * the running task goes on) and kept if its run fails the same way
 * (outcome and message) and its own recorded schedule has fewer segments,
 * or as many and a shorter string.  Both passes run again while either
 * makes progress; at most @budget runs.
 */
static char *shrink(const struct scenario *sc, const char *schedule, const struct sc_result *target,
		    unsigned budget, uint64_t check_every, unsigned *runs_out)
{
	const char *p = strchr(schedule + 8, ':');
	struct shrinker k = { .sc = sc, .target = target, .seed = p ? strtoull(p + 1, NULL, 10) : 0,
			      .best = strdup(schedule), .budget = budget,
			      .reuse = runs_reuse(),
			      .check_every = check_every };
	struct seg *cand = NULL;
	/* the segment count only goes down: one candidate buffer does */
	if (k.best && !segments_of(schedule, &k.cur, &k.n) &&
	    (cand = malloc((k.n + 1) * sizeof(*cand)))) {
		for (size_t before = k.n + 1; k.n < before && k.runs < budget;) {
			before = k.n;
			shrink_merge(&k, cand);
			shrink_drop(&k, cand);
		}
	}
	free(cand);
	free(k.cur);
	sc_reuse_free(k.reuse);
	*runs_out = k.runs;
	return k.best;
}

char *cli_shrink(const struct scenario *sc, const char *schedule, const struct sc_result *target,
		 unsigned budget, unsigned *runs)
{
	return shrink(sc, schedule, target, budget, 0, runs);
}

int cmd_shrink(int argc, char **argv)
{
	struct opts o;
	int e = cli_parse_opts(&o, "shrink", argc, argv, "sric", 2);
	if (e)
		return e;
	char *sched = schedule_arg("shrink", o.arg2);
	if (!sched)
		return 1;
	if (strncmp(sched, "tdxsim1:", 8)) {
		free(sched);
		return cli_usage_err("shrink", "a schedule string starts with 'tdxsim1:' (or @FILE)");
	}
	static struct scenario sc;
	if (cli_load(&o, &sc)) {
		free(sched);
		return 1;
	}
	struct sc_run_opts ro = { .sched = SCHED_REPLAY, .replay = sched,
				  .check_every = o.check_every };
	struct sc_result r;
	if (scenario_run(&sc, &ro, &r)) {
		fprintf(stderr, "tdxsim shrink: %s: %s\n", o.file, r.message);
		free(sched);
		return 1;
	}
	char why[256];
	if (r.outcome == SC_REPLAY_ERROR || scenario_expected(&sc, &r, why, sizeof(why))) {
		fprintf(stderr, "tdxsim shrink: the schedule does not fail (%s%s%s)\n",
			sc_outcome_name(r.outcome), r.message[0] ? ": " : "", r.message);
		sc_result_free(&r);
		free(sched);
		return 1;
	}
	unsigned runs = 0;
	char *best = shrink(&sc, sched, &r, o.runs_given ? (unsigned)o.runs : 2000, o.check_every,
			    &runs);
	printf("failure: %s%s%s\n", sc_outcome_name(r.outcome), r.message[0] ? ": " : "",
	       r.message);
	printf("shrunk in %u runs: %zu -> %zu characters\n", runs, strlen(sched), strlen(best));
	print_schedule(stdout, "", best, "tdxsim-shrunk.sched");
	free(best);
	free(sched);
	sc_result_free(&r);
	scenario_free(&sc);
	return 0;
}

/* ---- explore ---- */

struct explore_sum {
	uint64_t runs;
	uint64_t outcomes[SC_NOUTCOMES];
	bool failed;
	uint64_t fail_seed;
	struct sc_result fail;	/* schedule owned */
	/* --exhaustive */
	bool covered;		/* every schedule within the bound was run */
	double seconds;		/* the search's wall time */
	uint64_t max_depth;	/* most decisions a schedule made */
	uint64_t beyond;	/* schedules one more preemption would add (at least) */
};

/* Run seeds base + i for i in [0, runs) with i % stride == offset (shard and job). */
static void explore_range(const struct scenario *sc, const struct opts *o, uint64_t base,
			  uint64_t offset, uint64_t stride, double deadline, bool progress,
			  struct explore_sum *s)
{
	double t0 = now_s(), last = 0;
	struct sc_reuse *reuse = runs_reuse();
	for (uint64_t i = offset; i < o->runs; i += stride) {
		if (o->time_s && now_s() > deadline)
			break;
		struct sc_run_opts ro = cli_run_opts(o, base + i);
		ro.reuse = reuse;
		struct sc_result r;
		if (scenario_run(sc, &ro, &r)) {
			fprintf(stderr, "tdxsim explore: %s: %s\n", o->file, r.message);
			exit(1);
		}
		s->runs++;
		s->outcomes[r.outcome]++;
		char why[256];
		if (!scenario_expected(sc, &r, why, sizeof(why))) {
			s->failed = true;
			s->fail_seed = base + i;
			s->fail = r;
			break;
		}
		sc_result_free(&r);
		double t = now_s();
		if (progress && t - last > 0.25) {
			last = t;
			double rate = (double)s->runs / (t - t0);
			double left = o->time_s ? deadline - t
					       : (double)((o->runs - i) / stride) / (rate > 0 ? rate : 1);
			fprintf(stderr, "\r  runs %" PRIu64 ", %.0f runs/s, failures 0, %.0f s left   ",
				s->runs, rate, left > 0 ? left : 0);
		}
	}
	if (progress)
		fprintf(stderr, "\r%60s\r", "");
	sc_reuse_free(reuse);
}

/*
 * --exhaustive: every schedule with at most o->preemptions preemptions
 * (engine.h, struct engine_dfs), one scenario run each, until the space is
 * covered, a run misses [expect], or --runs / --time stop it (s->covered
 * false).  A failing run is kept in s->fail, its index in s->fail_seed.
 * 0, or 1 when a run could not be made or was not deterministic.
 */
static int explore_exhaustive(const struct scenario *sc, const struct opts *o, bool progress,
			      struct explore_sum *s)
{
	struct engine_dfs x;
	engine_dfs_init(&x, o->preemptions);
	double t0 = now_s(), last = 0;
	int ret = 0;
	struct sc_reuse *reuse = runs_reuse();
	while (engine_dfs_next(&x)) {
		double t = now_s();
		if ((o->runs_given && s->runs >= o->runs) || (o->time_s && t - t0 > o->time_s))
			break;
		if (progress && t - last > 0.25) {
			last = t;
			fprintf(stderr, "\r  schedules %" PRIu64 ", %.0f/s, %zu decisions deep   ",
				s->runs, (double)s->runs / (t - t0 > 0 ? t - t0 : 1), x.ndec);
		}
		struct sc_run_opts ro = { .sched = SCHED_DFS, .seed = o->seed, .dfs = &x,
					  .reuse = reuse };
		struct sc_result r;
		if (scenario_run(sc, &ro, &r)) {
			fprintf(stderr, "tdxsim explore: %s: %s\n", o->file, r.message);
			ret = 1;
			break;
		}
		if (r.outcome == SC_REPLAY_ERROR) {
			fprintf(stderr, "tdxsim explore: %s: %s\n", o->file, r.message);
			sc_result_free(&r);
			ret = 1;
			break;
		}
		s->runs++;
		s->outcomes[r.outcome]++;
		char why[256];
		if (!scenario_expected(sc, &r, why, sizeof(why))) {
			s->failed = true;
			s->fail_seed = s->runs;
			s->fail = r;
			break;
		}
		sc_result_free(&r);
	}
	if (progress)
		fprintf(stderr, "\r%60s\r", "");
	s->covered = x.covered;
	s->max_depth = x.max_depth;
	s->beyond = x.beyond;
	s->seconds = now_s() - t0;
	engine_dfs_free(&x);
	sc_reuse_free(reuse);
	return ret;
}

/* See cli_opts.h. */
uint64_t cli_explore(const struct scenario *sc, enum sched_kind sched, int pct_depth, uint64_t seed,
		     uint64_t runs, uint64_t *fail_seed, struct sc_result *fail)
{
	struct opts o = { .cmd = "explore", .file = sc->path, .sched = sched,
			  .pct_depth = pct_depth, .seed = seed, .runs = runs };
	struct explore_sum s = { 0 };
	explore_range(sc, &o, seed, 0, 1, 0, false, &s);
	if (!s.failed)
		return 0;
	*fail_seed = s.fail_seed;
	*fail = s.fail;
	return s.runs;
}

static json_t *explore_json(const struct scenario *sc, const struct opts *o,
			    const struct explore_sum *s, const char *shrunk)
{
	json_t *oc = json_object();
	for (int i = 0; i < SC_NOUTCOMES; i++)
		json_object_set_new(oc, sc_outcome_name((enum sc_outcome)i),
				    json_integer((json_int_t)s->outcomes[i]));
	json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "scenario", sc->path, "sched",
			      o->sched == SCHED_PCT ? "pct" : sched_name(o->sched), "pct_depth",
			      (json_int_t)o->pct_depth, "seed", (json_int_t)o->seed, "runs_requested",
			      (json_int_t)o->runs, "runs", (json_int_t)s->runs, "outcomes", oc);
	json_object_set_new(j, "shard", json_pack("[I, I]", (json_int_t)o->shard,
						  (json_int_t)(o->nshards ? o->nshards : 1)));
	if (o->exhaustive) {
		if (!o->runs_given)	/* the search is not limited to explore's 100 */
			json_object_set_new(j, "runs_requested", json_null());
		json_object_set_new(j, "exhaustive", json_pack("{s:I, s:I, s:b, s:f, s:f, s:I}",
			"preemptions", (json_int_t)o->preemptions, "schedules", (json_int_t)s->runs,
			"covered", s->covered, "seconds", s->seconds, "schedules_per_s",
			s->seconds > 0 ? (double)s->runs / s->seconds : 0.0, "max_decisions",
			(json_int_t)s->max_depth));
	}
	if (s->failed) {
		json_t *f = result_json(sc, &s->fail);
		/* exhaustive: the program's seed, and which schedule of the search failed */
		json_object_set_new(f, "seed", json_integer((json_int_t)(o->exhaustive ? o->seed :
									  s->fail_seed)));
		if (o->exhaustive)
			json_object_set_new(f, "schedule_index", json_integer((json_int_t)s->fail_seed));
		if (shrunk)
			json_object_set_new(f, "shrunk_schedule", json_string(shrunk));
		json_object_set_new(j, "failure", f);
	} else {
		json_object_set_new(j, "failure", json_null());
	}
	return j;
}

int cmd_explore(int argc, char **argv)
{
	struct opts o;
	int e = cli_parse_opts(&o, "explore", argc, argv, "sSerThJRxPic", 1);
	if (e)
		return e;
	if (o.sched != SCHED_RANDOM && o.sched != SCHED_PCT)
		return cli_usage_err("explore", "--sched takes random or pct:D");
	if (o.preemptions_given && !o.exhaustive)
		return cli_usage_err("explore", "--preemptions needs --exhaustive");
	if (o.exhaustive && (o.sched_given || o.nshards || o.jobs_given))
		return cli_usage_err("explore", "--exhaustive runs one search in one process: "
				     "no --sched, --shard or --jobs");
	if (!o.check_given)
		o.check_every = CLI_CHECK_DEFAULT_EVERY;	/* checking is on by default here */
	static struct scenario sc;
	if (cli_load(&o, &sc))
		return 1;
	uint64_t stride = o.nshards ? o.nshards : 1, offset = o.nshards ? o.shard : 0;
	double deadline = now_s() + o.time_s;
	struct explore_sum s = { 0 };
	bool tty = isatty(2);
	if (o.exhaustive) {
		o.sched = SCHED_DFS;
		if (explore_exhaustive(&sc, &o, tty, &s)) {
			scenario_free(&sc);
			return 1;
		}
	} else if (o.jobs <= 1) {
		explore_range(&sc, &o, o.seed, offset, stride, deadline, tty, &s);
	} else {
		/* J processes, each its own stripe of the shard; the first failure by seed wins */
		int fds[64];
		pid_t pids[64];
		for (unsigned j = 0; j < o.jobs; j++) {
			int p[2];
			if (pipe(p))
				return cli_usage_err("explore", "pipe: %s", strerror(errno));
			pid_t pid = fork();
			if (pid == 0) {
				close(p[0]);
				struct explore_sum c = { 0 };
				explore_range(&sc, &o, o.seed, offset + stride * j, stride * o.jobs,
					      deadline, false, &c);
				FILE *w = fdopen(p[1], "w");
				fprintf(w, "%" PRIu64 " %d %" PRIu64, c.runs, c.failed, c.fail_seed);
				for (int k = 0; k < SC_NOUTCOMES; k++)
					fprintf(w, " %" PRIu64, c.outcomes[k]);
				fprintf(w, "\n");
				fclose(w);
				_exit(0);
			}
			close(p[1]);
			fds[j] = p[0];
			pids[j] = pid;
		}
		for (unsigned j = 0; j < o.jobs; j++) {
			FILE *rd = fdopen(fds[j], "r");
			uint64_t runs = 0, fseed = 0, oc[SC_NOUTCOMES] = { 0 };
			int failed = 0;
			if (rd && fscanf(rd, "%" SCNu64 " %d %" SCNu64, &runs, &failed, &fseed) == 3)
				for (int k = 0; k < SC_NOUTCOMES; k++)
					if (fscanf(rd, " %" SCNu64, &oc[k]) != 1)
						break;
			if (rd)
				fclose(rd);
			waitpid(pids[j], NULL, 0);
			s.runs += runs;
			for (int k = 0; k < SC_NOUTCOMES; k++)
				s.outcomes[k] += oc[k];
			if (failed && (!s.failed || fseed < s.fail_seed)) {
				s.failed = true;
				s.fail_seed = fseed;
			}
		}
		if (s.failed) {
			/* the failing run again, in this process, for its result */
			struct sc_run_opts ro = cli_run_opts(&o, s.fail_seed);
			if (scenario_run(&sc, &ro, &s.fail))
				return 1;
		}
	}
	char *shrunk = NULL;
	unsigned shrink_runs = 0;
	if (o.exhaustive)
		printf("explored %" PRIu64 " schedules of %s (exhaustive, at most %d preemption%s, "
		       "seed %" PRIu64 "):", s.runs, sc.path, o.preemptions,
		       o.preemptions == 1 ? "" : "s", o.seed);
	else
		printf("explored %" PRIu64 " runs of %s (%s%s, seeds from %" PRIu64 "%s):", s.runs,
		       sc.path, o.sched == SCHED_PCT ? "pct" : sched_name(o.sched), "", o.seed,
		       o.nshards ? ", sharded" : "");
	for (int k = 0; k < SC_NOUTCOMES; k++)
		if (s.outcomes[k])
			printf(" %s %" PRIu64, sc_outcome_name((enum sc_outcome)k), s.outcomes[k]);
	printf("\n");
	if (o.exhaustive)
		printf("%s in %.2f s, %.1f schedules/s, up to %" PRIu64 " decisions a schedule\n",
		       s.covered ? "covered: every schedule within the bound ran" :
		       s.failed ? "not covered: stopped at the first failure" :
		       "not covered: stopped by --runs or --time",
		       s.seconds, s.seconds > 0 ? (double)s.runs / s.seconds : 0.0, s.max_depth);
	if (o.exhaustive && s.covered)
		printf("--preemptions %d would run at least %" PRIu64 " more schedules\n",
		       o.preemptions + 1, s.beyond);
	if (s.failed) {
		char why[256];
		scenario_expected(&sc, &s.fail, why, sizeof(why));
		printf("FAILED at %s %" PRIu64 ": %s%s%s (%s)\n", o.exhaustive ? "schedule" : "seed",
		       s.fail_seed, sc_outcome_name(s.fail.outcome), s.fail.message[0] ? ": " : "",
		       s.fail.message, why);
		print_schedule(stdout, "schedule: ", s.fail.schedule, "tdxsim-failure.sched");
		shrunk = shrink(&sc, s.fail.schedule, &s.fail, 2000, o.check_every, &shrink_runs);
		printf("shrunk in %u runs: %zu -> %zu characters\n", shrink_runs,
		       strlen(s.fail.schedule), strlen(shrunk));
		print_schedule(stdout, "shrunk: ", shrunk, "tdxsim-shrunk.sched");
		/* an invariant violation replays only with checking on */
		char chk[40] = "";
		if (s.fail.outcome == SC_INVARIANT)
			snprintf(chk, sizeof(chk), " --check=%" PRIu64, o.check_every);
		if (strlen(shrunk) <= SCHED_SHOW)
			printf("replay: tdxsim replay %s '%s'%s\n", sc.path, shrunk, chk);
		else
			printf("replay: tdxsim replay %s @tdxsim-shrunk.sched%s\n", sc.path, chk);
	}
	if (o.report) {
		json_t *j = explore_json(&sc, &o, &s, shrunk);
		if (json_dump_file(j, o.report, JSON_INDENT(2) | JSON_SORT_KEYS)) {
			fprintf(stderr, "tdxsim explore: cannot write %s\n", o.report);
			json_decref(j);
			return 1;
		}
		json_decref(j);
	}
	int ret = s.failed ? 1 : 0;
	free(shrunk);
	if (s.failed)
		sc_result_free(&s.fail);
	scenario_free(&sc);
	return ret;
}

/* ---- merge ---- */

/* Reports of one search: the same scenario, scheduler, PCT depth and base seed. */
static bool same_search(json_t *a, json_t *b)
{
	static const char *const keys[] = { "scenario", "sched", "pct_depth", "seed" };
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (!json_equal(json_object_get(a, keys[k]), json_object_get(b, keys[k])))
			return false;
	return true;
}

int cmd_merge(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_err("merge", "REPORT.json files expected");
	json_t *out = NULL, *oc = NULL, *fail = NULL;
	json_int_t runs = 0, fail_seed = 0;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			return cli_usage_err("merge", "unknown option '%s'", argv[i]);
		json_error_t je;
		json_t *j = json_load_file(argv[i], 0, &je);
		json_t *o = j ? json_object_get(j, "outcomes") : NULL;
		json_t *r = j ? json_object_get(j, "runs") : NULL;
		if (!j || !json_is_object(o) || !json_is_integer(r)) {
			fprintf(stderr, "tdxsim merge: %s: %s\n", argv[i],
				j ? "not an explore report" : je.text);
			json_decref(j);
			json_decref(out);
			return 1;
		}
		if (out && !same_search(out, j)) {
			fprintf(stderr,
				"tdxsim merge: %s: another search (scenario, scheduler or seed differ from %s)\n",
				argv[i], argv[1]);
			json_decref(j);
			json_decref(out);
			json_decref(fail);
			return 1;
		}
		if (!out) {
			out = json_deep_copy(j);
			oc = json_object_get(out, "outcomes");
			json_object_del(out, "shard");
		} else {
			const char *k;
			json_t *v;
			json_object_foreach(o, k, v) {
				json_t *cur = json_object_get(oc, k);
				json_object_set_new(oc, k, json_integer(json_integer_value(cur) +
									json_integer_value(v)));
			}
		}
		runs += json_integer_value(r);
		json_t *f = json_object_get(j, "failure");
		if (json_is_object(f)) {
			json_int_t fs = json_integer_value(json_object_get(f, "seed"));
			if (!fail || fs < fail_seed) {
				json_decref(fail);
				fail = json_deep_copy(f);
				fail_seed = fs;
			}
		}
		json_decref(j);
	}
	json_object_set_new(out, "runs", json_integer(runs));
	json_object_set_new(out, "failure", fail ? fail : json_null());
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(out);
	return 0;
}

/* ---- compare ---- */

#define MAX_VARIANTS 64

int cmd_compare(int argc, char **argv)
{
	struct opts o;
	int e = cli_parse_opts(&o, "compare", argc, argv, "sServjic", 1);
	if (e)
		return e;
	if (!o.nvaries)
		return cli_usage_err("compare", "at least one --vary KEY=V1,V2,... expected");
	if (!o.runs_given)
		o.runs = 20;
	static struct scenario base;
	if (cli_load(&o, &base))
		return 1;
	/* the cartesian product of the --vary lists */
	char keys[8][64], vals[8][16][64];
	int nvals[8];
	int nvar = 1;
	for (int i = 0; i < o.nvaries; i++) {
		const char *eq = strchr(o.varies[i], '=');
		snprintf(keys[i], sizeof(keys[i]), "%.*s", (int)(eq - o.varies[i]), o.varies[i]);
		nvals[i] = 0;
		for (const char *p = eq + 1; *p;) {
			const char *c = strchr(p, ',');
			size_t len = c ? (size_t)(c - p) : strlen(p);
			if (!len || nvals[i] == 16)
				return cli_usage_err("compare", "--vary %s: empty value or more than 16",
						 keys[i]);
			snprintf(vals[i][nvals[i]++], 64, "%.*s", (int)len, p);
			p += len + (c ? 1 : 0);
		}
		nvar *= nvals[i];
		if (nvar > MAX_VARIANTS)
			return cli_usage_err("compare", "more than %d variants", MAX_VARIANTS);
	}
	bool tty = isatty(2);
	static struct scenario sc[MAX_VARIANTS];
	static char label[MAX_VARIANTS][160];
	static double sums[MAX_VARIANTS][C_NCOUNTERS], leaves[MAX_VARIANTS][64];
	static uint64_t outcomes[MAX_VARIANTS][SC_NOUTCOMES];
	for (int v = 0; v < nvar; v++) {
		sc[v] = base;
		label[v][0] = 0;
		int rest = v;
		for (int i = 0; i < o.nvaries; i++) {
			const char *val = vals[i][rest % nvals[i]];
			rest /= nvals[i];
			char a[160], err[512];
			snprintf(a, sizeof(a), "%s=%s", keys[i], val);
			if (scenario_set(&sc[v], a, err, sizeof(err))) {
				fprintf(stderr, "tdxsim compare: %s\n", err);
				return 1;
			}
			size_t l = strlen(label[v]);
			snprintf(label[v] + l, sizeof(label[v]) - l, "%s%s=%s", l ? " " : "", keys[i], val);
		}
		for (uint64_t s = 0; s < o.runs; s++) {
			if (tty)
				fprintf(stderr, "\r  variant %d of %d, run %" PRIu64 " of %" PRIu64 "   ",
					v + 1, nvar, s + 1, o.runs);
			struct sc_run_opts ro = cli_run_opts(&o, o.seed + s);
			struct sc_result r;
			if (scenario_run(&sc[v], &ro, &r)) {
				fprintf(stderr, "tdxsim compare: %s (%s): %s\n", o.file, label[v], r.message);
				return 1;
			}
			outcomes[v][r.outcome]++;
			for (int c = 0; c < C_NCOUNTERS; c++)
				sums[v][c] += (double)r.counters[c];
			for (int l = 0; l < 64; l++)
				leaves[v][l] += (double)r.leaf_calls[l];
			sc_result_free(&r);
		}
	}
	if (tty)
		fprintf(stderr, "\r%60s\r", "");
	double n = (double)o.runs;
	if (o.json) {
		json_t *arr = json_array();
		for (int v = 0; v < nvar; v++) {
			json_t *oc = json_object(), *c = json_object(), *lf = json_object();
			for (int k = 0; k < SC_NOUTCOMES; k++)
				json_object_set_new(oc, sc_outcome_name((enum sc_outcome)k),
						    json_integer((json_int_t)outcomes[v][k]));
			for (int k = 0; k < C_NCOUNTERS; k++)
				json_object_set_new(c, sc_counter_names[k], json_real(sums[v][k] / n));
			for (int l = 0; l < 64; l++)
				if (leaves[v][l])
					json_object_set_new(lf, tdx_leaf_name((unsigned)l),
							    json_real(leaves[v][l] / n));
			json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:o}", "variant", label[v],
							     "outcomes", oc, "mean", c, "seamcalls_mean",
							     lf));
		}
		json_t *j = json_pack("{s:s, s:I, s:I, s:o}", "scenario", base.path, "runs",
				      (json_int_t)o.runs, "seed", (json_int_t)o.seed, "variants", arr);
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(j);
		scenario_free(&base);
		return 0;
	}
	printf("%s: %" PRIu64 " runs per variant (%s, seeds %" PRIu64 "..%" PRIu64 "), means per run\n\n",
	       base.path, o.runs, o.sched == SCHED_PCT ? "pct" : sched_name(o.sched), o.seed,
	       o.seed + o.runs - 1);
	/*
	 * Three blocks, so that no line needs more than 100 columns whatever the
	 * labels: the variants (numbered) with their outcomes, a table of means
	 * by number, and the SEAMCALLs by number.  A mean of 1000 or more has no
	 * decimal: it is not precise to a tenth anyway over a few runs.
	 */
	static const struct { const char *head; int c; } cols[] = {
		{ "exits", C_EXITS }, { "EPT viol", C_EPT_EXITS }, { "0-step", C_ZERO_STEP },
		{ "BUSY", C_BUSY }, { "ENT busy", C_ENTER_BUSY }, { "kicks", C_KICKS },
		{ "excl mmu", C_MMU_WRITE_LOCKS }, { "4K maps", C_PRIVATE_MAPS },
		{ "2M maps", C_MAPS_2M }, { "splits x/s/i/r", -1 }, { "vtime us", C_VTIME_NS },
	};
	/* the split paths: exclusive, shared, ignored, refused */
	static const int split_c[4] = { C_SPLITS_EXCLUSIVE, C_SPLITS_SHARED, C_SPLITS_IGNORED,
					C_SPLITS_REFUSED };
	int w = 7;
	for (int v = 0; v < nvar; v++)
		if ((int)strlen(label[v]) > w)
			w = (int)strlen(label[v]);
	printf("%-3s %-*s  %s\n", "#", w, "variant", "outcomes");
	for (int v = 0; v < nvar; v++) {
		char oc[64] = "";
		size_t l = 0;
		for (int k = 0; k < SC_NOUTCOMES; k++)
			if (outcomes[v][k])
				l += (size_t)snprintf(oc + l, sizeof(oc) - l, "%s%s %" PRIu64, l ? " " : "",
						      sc_outcome_name((enum sc_outcome)k), outcomes[v][k]);
		printf("%-3d %-*s  %s\n", v + 1, w, label[v], oc);
	}
	printf("\n%-3s", "#");
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
		printf(" %6s", cols[c].head);
	printf("\n");
	for (int v = 0; v < nvar; v++) {
		printf("%-3d", v + 1);
		for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
			int hw = (int)strlen(cols[c].head) > 6 ? (int)strlen(cols[c].head) : 6;
			char cell[64];
			if (cols[c].c < 0) {
				size_t l = 0;
				for (int k = 0; k < 4; k++)
					l += (size_t)snprintf(cell + l, sizeof(cell) - l, "%s%.0f",
							      k ? "/" : "", sums[v][split_c[k]] / n);
			} else {
				double x = sums[v][cols[c].c] / n;
				if (cols[c].c == C_VTIME_NS)
					x /= 1000.0;
				snprintf(cell, sizeof(cell), x >= 1000.0 ? "%.0f" : "%.1f", x);
			}
			printf(" %*s", hw, cell);
		}
		printf("\n");
	}
	printf("\nSEAMCALLs, means per run:\n");
	for (int v = 0; v < nvar; v++) {
		int col = printf("%-3d", v + 1);
		for (int lf = 0; lf < 64; lf++) {
			if (!leaves[v][lf])
				continue;
			const char *nm = tdx_leaf_name((unsigned)lf);
			char item[80];
			int len = snprintf(item, sizeof(item), " %s %.1f",
					   !strncmp(nm, "TDH.", 4) ? nm + 4 : nm, leaves[v][lf] / n);
			if (col + len > 100)
				col = printf("\n%3s", "");
			col += printf("%s", item);
		}
		printf("\n");
	}
	scenario_free(&base);
	return 0;
}

/* ---- list ---- */

static const char *scenario_dir(void)
{
	const char *d = getenv("TDXSIM_SCENARIOS");
	if (d)
		return d;
	if (!access("scenarios", R_OK))
		return "scenarios";
	return TDXSIM_DATADIR "/scenarios";
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_list(int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_err("list", "one of scenarios, programs, policies expected");
	if (!strcmp(argv[1], "programs")) {
		for (const struct sc_program *p = sc_programs; p->name; p++) {
			printf("%-23s %s\n%-23s parameters:", p->name, p->help, "");
			for (const char *const *q = p->params; *q; q++)
				printf(" %s", *q);
			printf("\n");
		}
		return 0;
	}
	if (!strcmp(argv[1], "policies")) {
		printf("[vm] keys (each also works as --set vm.KEY=VALUE and --vary KEY=V1,V2):\n"
		       "  build        populate (mainline) | prefault (seed 004's proposal)\n"
		       "  busy         kick-retry (mainline) | retry-n (out of tree)\n"
		       "  retry_n      1..1000000 (retry-n's attempts)\n"
		       "  local_retry  on | off (retry private EPT violations inside KVM)\n"
		       "  slot_break   on | off (local retry gives up on a memslot being deleted, 6.18)\n"
		       "  level        4k (mainline) | huge-rfc1 (RFC v1: a fault needing a split is\n"
		       "               ignored) | huge-v5 (latest posting: a 4K ACCEPT splits under the\n"
		       "               exclusive lock and inhibits 2M there) | huge-nbr (huge-v5, and a\n"
		       "               fault splits under the shared lock with non-blocking resize) |\n"
		       "               explicit-demotion (seed 000: 2M without level info only for a TD\n"
		       "               with the attribute; the guest asks to demote)\n"
		       "  folio        4k (upstream guest_memfd) | 2m (2M folios: needed for 2M maps)\n"
		       "  promote      on | off (merge 512 accepted 4K leaves back into 2M; beyond)\n"
		       "  dpamt        on | off (Dynamic PAMT; needs [platform] dynamic_pamt = on)\n"
		       "  dpamt_demote_locked  on | off (DEMOTE inside pamt_lock, the 2026-06 fix)\n"
		       "  inhibit_check  on | off (huge-v5: a 4K ACCEPT reads the 2M range's\n"
		       "               permission without the lock first; off: every 4K ACCEPT exit\n"
		       "               takes mmu_lock exclusive, as the draft before the check did)\n"
		       "  livelock_exits  K (default 2000; 0: off): a vCPU exiting K times in a row\n"
		       "               for one GPA and RIP, or retried K times inside KVM, with nothing\n"
		       "               changed, ends the run as a livelock that says what the host did\n"
		       "  teardown     zap (mainline before KVM_TDX_TERMINATE_VM: every private leaf\n"
		       "               BLOCKed, TRACKed with a kick of every vCPU, REMOVEd, written\n"
		       "               back and cleared while the HKID is live) | terminate\n"
		       "               (KVM_TDX_TERMINATE_VM first: the HKID is freed, then every\n"
		       "               page only RECLAIMed and cleared)\n"
		       "  inject       none | NAME[,NAME...]: known host bugs re-introduced on purpose\n"
		       "               (also --inject NAME; docs/known-bugs.md):\n");
		for (int i = 0; i < INJECT_NR; i++)
			printf("    %-15s %s\n", kvm_inject_name((enum kvm_inject)i),
			       kvm_inject_help((enum kvm_inject)i));
		printf("[vm] TD attributes: sept_ve_disable, explicit_demotion (needs [platform]\n"
		       "  explicit_demotion = on).  [platform] module features: dynamic_pamt (max_pa\n"
		       "  <= 48), enhanced_demote, nonblocking_resize, explicit_demotion.\n");
		return 0;
	}
	if (strcmp(argv[1], "scenarios"))
		return cli_usage_err("list", "'%s' is not scenarios, programs or policies", argv[1]);
	const char *dir = scenario_dir();
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "tdxsim list: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	char *names[512];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 512) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".ini"))
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	for (int i = 0; i < n; i++) {
		char path[1024], err[512];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		static struct scenario sc;
		if (scenario_load(path, &sc, err, sizeof(err))) {
			printf("%-34s (does not parse: %s)\n", names[i], err);
		} else {
			printf("%-34s %s\n", names[i], sc.description);
			scenario_free(&sc);
		}
		free(names[i]);
	}
	return 0;
}
