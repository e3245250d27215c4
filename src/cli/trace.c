/* SPDX-License-Identifier: MIT */
/*
 * trace.c - a run's recorded events as Chrome trace-event JSON, the format
 * that chrome://tracing and the Perfetto UI open: one process (the
 * scenario), one thread per engine task, a complete ("X") event per
 * SEAMCALL and TDCALL with its status, instants ("i") for TD exits, kicks,
 * BUSY answers, #VEs and zero-step refusals.  Times are the tasks' virtual
 * clocks in microseconds.  Built with jansson, never printed by hand.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scenario.h"

#define TRACE_PID 1
#define MAX_DEPTH 16	/* open calls per task: SEAMCALLs do not nest, so 1 or 2 */

struct open_call {
	uint64_t kind;		/* enum seam_cost */
	uint64_t ns;
};

struct task_stack {
	struct open_call c[MAX_DEPTH];
	int n;
};

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static json_t *hex(uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "0x%" PRIx64, v);
	return json_string(s);
}

static const char *call_name(uint64_t kind)
{
	if (kind == SEAM_COST_TDCALL)
		return "TDG.MEM.PAGE.ACCEPT";	/* the one TDCALL that charges */
	const char *n = kind < SEAM_COST_TDCALL ? tdx_leaf_name((unsigned)kind) : NULL;
	return n ? n : "SEAMCALL";
}

/* BUSY class (47:40 = 2) with the error bit: OPERAND_BUSY and its kin. */
static bool status_busy(uint64_t st)
{
	return st != SEAM_EV_NO_STATUS && (st & TDX_STATUS_ERROR) && ((st >> 40) & 0xff) == 2;
}

static const char *exit_reason_name(uint64_t rax)
{
	switch (rax) {
	case EXIT_REASON_EXTERNAL_INTERRUPT:
		return "EXTERNAL_INTERRUPT";
	case EXIT_REASON_EPT_VIOLATION:
		return "EPT_VIOLATION";
	case EXIT_REASON_TDCALL:
		return "TDCALL";
	case TDX_HOST_PRIORITY_BUSY_TIMEOUT:
		return "HOST_PRIORITY_BUSY_TIMEOUT";
	default:
		return "OTHER";
	}
}

/* "SUCCESS", "OPERAND_BUSY", ...: the catalog name without its TDX_ prefix. */
static const char *status_short(uint64_t kind, uint64_t st)
{
	if (st == SEAM_EV_NO_STATUS)
		return "TD_EXIT";
	/* VP.ENTER refusing to enter returns an exit reason, not a status */
	if (kind == SEAM_COST_SEAMCALL + TDH_VP_ENTER && st && st <= 0xffff)
		return exit_reason_name(st);
	const char *n = tdx_status_name(st);
	return strncmp(n, "TDX_", 4) ? n : n + 4;
}

static json_t *base_event(const char *name, const char *cat, const char *ph, uint64_t ns,
			  int task)
{
	return json_pack("{s:s, s:s, s:s, s:f, s:i, s:i}", "name", name, "cat", cat, "ph", ph,
			 "ts", us(ns), "pid", TRACE_PID, "tid", task);
}

static json_t *instant(const char *name, const char *cat, uint64_t ns, int task, json_t *args)
{
	json_t *j = base_event(name, cat, "i", ns, task);
	json_object_set_new(j, "s", json_string("t"));
	json_object_set_new(j, "args", args ? args : json_object());
	return j;
}

static json_t *span(uint64_t kind, uint64_t t0, uint64_t t1, int task, json_t *args)
{
	json_t *j = base_event(call_name(kind), kind == SEAM_COST_TDCALL ? "tdcall" : "seamcall",
			       "X", t0, task);
	json_object_set_new(j, "dur", json_real(us(t1 - t0)));
	json_object_set_new(j, "args", args);
	return j;
}

static json_t *metadata(const char *what, int task, const char *name)
{
	json_t *j = json_pack("{s:s, s:s, s:i, s:{s:s}}", "name", what, "ph", "M", "pid",
			      TRACE_PID, "args", "name", name);
	if (task >= 0)
		json_object_set_new(j, "tid", json_integer(task));
	return j;
}

/* The scenario's file name without directory and ".ini". */
static void scenario_title(const char *path, char *out, size_t len)
{
	const char *b = strrchr(path, '/');
	snprintf(out, len, "%s", b ? b + 1 : path);
	size_t n = strlen(out);
	if (n > 4 && !strcmp(out + n - 4, ".ini"))
		out[n - 4] = 0;
}

static void add_event(json_t *arr, const struct engine_event *ev, struct task_stack *st)
{
	struct task_stack *s = &st[ev->task];
	switch (ev->kind) {
	case ENGINE_EV_CALL:
		if (s->n < MAX_DEPTH)
			s->c[s->n] = (struct open_call){ ev->a, ev->ns };
		s->n++;
		return;
	case SEAM_EV_RETURN: {
		if (s->n == 0)
			return;		/* a return without its start: nothing to draw */
		s->n--;
		if (s->n >= MAX_DEPTH)
			return;
		struct open_call c = s->c[s->n];
		json_t *args = ev->b == SEAM_EV_NO_STATUS ?
			       json_pack("{s:s}", "status_name", "TD_EXIT") :
			       json_pack("{s:o, s:s}", "status", hex(ev->b), "status_name",
					 status_short(c.kind, ev->b));
		json_array_append_new(arr, span(c.kind, c.ns, ev->ns, ev->task, args));
		if (status_busy(ev->b))
			json_array_append_new(arr, instant("BUSY", "busy", ev->ns, ev->task,
							   json_pack("{s:s, s:o, s:s}", "call",
								     call_name(c.kind), "status",
								     hex(ev->b), "status_name",
								     status_short(c.kind, ev->b))));
		return;
	}
	case SEAM_EV_TD_EXIT: {
		char name[64];
		snprintf(name, sizeof(name), "TD exit: %s", exit_reason_name(ev->a));
		json_t *args = json_pack("{s:o, s:s}", "exit_reason", hex(ev->a), "reason",
					 exit_reason_name(ev->a));
		if (ev->a == EXIT_REASON_EPT_VIOLATION)
			json_object_set_new(args, "gpa", hex(ev->b));
		json_array_append_new(arr, instant(name, "exit", ev->ns, ev->task, args));
		return;
	}
	case SEAM_EV_KICK:
		json_array_append_new(arr, instant("kick", "kick", ev->ns, ev->task,
						   json_pack("{s:I}", "vcpu", (json_int_t)ev->a)));
		return;
	case SEAM_EV_VE:
		json_array_append_new(arr, instant("#VE", "exit", ev->ns, ev->task,
						   json_pack("{s:o}", "gpa", hex(ev->a))));
		return;
	case SEAM_EV_ZERO_STEP:
		json_array_append_new(arr, instant("zero-step refusal", "exit", ev->ns, ev->task,
						   json_pack("{s:o}", "gpa", hex(ev->a))));
		return;
	default:
		return;
	}
}

int sc_trace_write(struct engine *e, const struct scenario *sc, FILE *f)
{
	const struct engine_event *ev;
	bool complete;
	size_t n = engine_events(e, &ev, &complete);
	int ntasks = engine_ntasks(e);
	struct task_stack *st = calloc((size_t)(ntasks > 0 ? ntasks : 1), sizeof(*st));
	json_t *arr = json_array();
	if (!st || !arr) {
		free(st);
		json_decref(arr);
		return -1;
	}
	char title[256];
	scenario_title(sc->path, title, sizeof(title));
	json_array_append_new(arr, metadata("process_name", -1, title));
	for (int t = 0; t < ntasks; t++)
		json_array_append_new(arr, metadata("thread_name", t, engine_task_name(e, t)));
	for (size_t i = 0; i < n; i++)
		if (ev[i].task >= 0 && ev[i].task < ntasks)
			add_event(arr, &ev[i], st);
	/* calls still open when the run ended (a failure, a deadlock) end with their task */
	for (int t = 0; t < ntasks; t++)
		for (int d = (st[t].n < MAX_DEPTH ? st[t].n : MAX_DEPTH) - 1; d >= 0; d--) {
			uint64_t end = engine_task_clock(e, t);
			if (end < st[t].c[d].ns)
				end = st[t].c[d].ns;
			json_array_append_new(arr, span(st[t].c[d].kind, st[t].c[d].ns, end, t,
							json_pack("{s:b}", "unfinished", 1)));
		}
	free(st);
	json_t *j = json_pack("{s:o, s:s, s:{s:b}}", "traceEvents", arr, "displayTimeUnit", "ns",
			      "otherData", "complete", complete);
	if (!j)
		return -1;
	int r = json_dumpf(j, f, JSON_COMPACT);
	json_decref(j);
	if (!r && fputc('\n', f) == EOF)
		r = -1;
	return r ? -1 : 0;
}
