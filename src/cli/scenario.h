/* SPDX-License-Identifier: MIT */
/*
 * scenario.h - scenario files: a whole tdxsim run described in INI.
 *
 *   [platform]  host memory, 5-level EPT, MAX_PA, fragmentation, HKIDs,
 *               the module's host-priority timeout and features (Dynamic
 *               PAMT, enhanced demote, the two huge-page proposals)
 *   [vm]        every design-variant key (kvm_policy_set), TD attributes,
 *               guest MAXPHYADDR, number of vCPUs, step bound
 *   [memslot N] RAM: gpa, size, guest_memfd, private
 *   [firmware]  initial memory added before FINALIZE (a synthetic image of
 *               N pages at a GPA, measured or not, or a TDVF file), and
 *               the TD HOB's page for the firmware program (hob)
 *   [vcpu N]    a built-in program with its parameters, or guest steps
 *   [vmm]       host-side actions, each after a trigger
 *   [expect]    the outcome and counters a run must show
 *
 * Parsing checks everything (unknown sections and keys, numbers, ranges,
 * GPAs outside every memslot, step syntax) and reports the first problem
 * as "FILE:LINE: message"; nothing runs from a scenario that failed to
 * parse.  A parsed scenario is immutable: runs take it as const.
 */
#ifndef TDXSIM_SCENARIO_H
#define TDXSIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/engine.h"
#include "../host/kvm.h"

#define SC_MAX_VCPUS	255	/* [vm] vcpus: the engine's tasks, less the VMM's */
#define SC_VCPU_SECTIONS 8	/* [vcpu 0] .. [vcpu 7]; [vcpus] serves the rest */
#define SC_VCPU_ALL	SC_VCPU_SECTIONS	/* vcpus[] index of [vcpus] */
#define SC_MAX_STEPS	256
#define SC_MAX_ACTIONS	64
#define SC_MAX_EXPECT	32
#define SC_MAX_PARAMS	16

/* ---- guest steps ---- */
enum sc_op {
	OP_ACCEPT,	/* accept GPA 4k|2m */
	OP_READ,	/* read GPA */
	OP_WRITE,	/* write GPA VALUE */
	OP_CHECK,	/* check GPA VALUE: a read that must return VALUE */
	OP_MAPGPA,	/* mapgpa shared|private GPA SIZE */
	OP_DEMOTE,	/* demote GPA: the proposed demotion TDVMCALL */
	OP_ATTR_WR,	/* attr-wr GPA LEVEL: TDG.MEM.PAGE.ATTR.WR, no attribute change */
	OP_WAIT_VMM,	/* wait-vmm: until the VMM finished every action whose trigger fired */
	OP_REPEAT,	/* repeat N {  ...  } */
	OP_END,		/* the } of a repeat */
};

struct sc_step {
	enum sc_op op;
	uint64_t gpa;		/* a GPA of a shared alias carries the shared bit */
	uint64_t val;		/* VALUE, SIZE or the repeat count */
	int level;		/* accept: 0 (4K) or 1 (2M) */
	bool shared;		/* mapgpa direction; read/write through the shared alias */
	int match;		/* repeat: index of its end; end: index of its repeat */
	int line;
};

/* ---- built-in guest programs ---- */
struct sc_param {
	const char *key;
	uint64_t val;
};

struct sc_vcpu {
	bool used;
	const struct sc_program *prog;	/* a built-in, or NULL for steps */
	struct sc_param params[SC_MAX_PARAMS];
	int nparams;
	struct sc_step steps[SC_MAX_STEPS];
	int nsteps;
	int line;
};

struct sc_program {
	const char *name;
	const char *help;
	const char *const *params;	/* the parameters it takes, NULL-terminated */
	bool needs_ve;			/* only for a TD with #VE (sept_ve_disable off) */
	void (*fn)(struct gvcpu *g, void *arg);	/* arg: struct sc_ctx */
};
extern const struct sc_program sc_programs[];

/* ---- VMM actions ---- */
enum sc_trigger { TR_START, TR_VCPU_STEP, TR_TIME };
enum sc_action {
	ACT_CONVERT,	/* convert shared|private GPA SIZE (QEMU's way) */
	ACT_ATTR,	/* attributes shared|private GPA SIZE (KVM only, no discard) */
	ACT_PUNCH,	/* punch GPA SIZE (the guest_memfd behind the GPA) */
	ACT_DELETE,	/* delete slot N */
	ACT_PREFAULT,	/* prefault GPA SIZE (through vCPU 0) */
	ACT_INTERRUPT,	/* interrupt vcpuN */
	ACT_CHURN,	/* churn GPA SIZE N: flip the attributes N times (invalidations) */
};

struct sc_vmm_action {
	enum sc_trigger trigger;
	int vcpu;		/* TR_VCPU_STEP */
	uint64_t when;		/* step count or virtual ns */
	enum sc_action act;
	uint64_t gpa, size;
	bool private;
	int slot;		/* delete; interrupt: the vCPU */
	int line;
};

/* ---- expectations ---- */
enum sc_outcome {
	SC_OK = 0,	/* every vCPU ran its program to the end */
	SC_KILLED,	/* the VM died (guest fault, host bug, memory) */
	SC_FAIL,	/* a check failed, or the engine's lock checker objected */
	SC_DEADLOCK,
	SC_LIVELOCK,	/* the step bound was reached */
	SC_REPLAY_ERROR,
	SC_SETUP_ERROR,	/* building the TD failed (an ioctl refused): the message says which */
	SC_INVARIANT,	/* checking mode found an invariant broken: the message names it */
	SC_NOUTCOMES
};
const char *sc_outcome_name(enum sc_outcome o);

enum sc_cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct sc_expect {
	int counter;		/* index into sc_counter_names */
	enum sc_cmp cmp;
	uint64_t val;
	int line;
};

/* Counters a run reports (VM stats, vCPU stats summed, the run itself). */
enum {
	C_FAULTS, C_PRIVATE_MAPS, C_PAGE_ADDS, C_SEPT_ADDS, C_SHARED_MAPS, C_ZAPPED, C_BUSY,
	C_KICKS, C_RETRIES, C_LOCAL_RETRIES, C_MEMORY_FAULTS, C_CONVERSIONS, C_MAP_GPA_EXITS,
	C_INTERNAL_ERRORS, C_EXITS, C_EPT_EXITS, C_ZERO_STEP, C_ENTER_BUSY, C_VES, C_ACCEPTS,
	C_ACCEPT_BUSY, C_VMCALLS, C_MMU_WRITE_LOCKS, C_EPT_LEVELS,
	/* huge pages (kvm_vm_stats) */
	C_MAPS_2M, C_SPLITS_EXCLUSIVE, C_SPLITS_SHARED, C_SPLITS_IGNORED, C_SPLITS_REFUSED,
	C_INHIBITS, C_PROMOTIONS, C_DEMOTE_INTERRUPTED, C_DEMOTE_REQUESTS, C_PAMT_ADDS,
	C_PAMT_REMOVES, C_ACCEPTS_4K_HUGE, C_ACCEPT_WRITE_LOCKS,
	/* the linux program: virtual time of its marks, per-fault cost, blocks */
	C_FW_DONE_US, C_INIT_US, C_LOGIN_US, C_FAULT_NS_FIRST, C_FAULT_NS_LAST, C_LX_BLOCKS,
	/* the run itself: kept last, print_result() stops before them */
	C_VTIME_NS, C_STEPS,
	/* the teardown after the run (its own engine run, sc_result.teardown_ns):
	 * virtual us, and the SEAMCALLs and kick walks that tell the two paths apart */
	C_TEARDOWN_US, C_TEARDOWN_BLOCKS, C_TEARDOWN_TRACKS, C_TEARDOWN_REMOVES,
	C_TEARDOWN_WBINVDS, C_TEARDOWN_RECLAIMS, C_TEARDOWN_KICK_VCPUS,
	C_NCOUNTERS
};
extern const char *const sc_counter_names[C_NCOUNTERS];

/* ---- the scenario ---- */
struct sc_memslot {
	bool used;
	uint64_t gpa, size;
	bool gmem;		/* backed by a guest_memfd (default yes) */
	bool private;		/* attributes private at start (default yes with gmem) */
	int line;
};

struct scenario {
	char path[256];
	char description[256];
	struct kvm_platform plat;
	/* [platform] costs: the virtual-time table (default: the built-in
	 * calibrated one, costs/calibrated.ini) and where it came from */
	struct cost_table costs;
	char costs_name[512];
	struct kvm_policy pol;
	bool sept_ve_disable;	/* TD attribute; off: pending pages raise #VE */
	bool explicit_demotion;	/* TD attribute SEPT_EXPLICIT_DEMOTION (seed 000) */
	unsigned maxphyaddr;	/* 48 or 52 */
	int nvcpus;
	uint64_t step_bound;	/* engine steps (0: 1,000,000) */
	struct sc_memslot slots[KVM_MAX_MEMSLOTS];
	/* [firmware]: synthetic initial memory */
	uint64_t fw_gpa, fw_pages;
	bool fw_measure;
	bool fw_prefault;	/* prefault flow: pre-fault the image first (default yes) */
	struct tdvf *fw_tdvf;	/* [firmware] file: a TDVF image (memslots 0..n-1) */
	int fw_flow;		/* enum tdvf_flow */
	uint64_t fw_prefault_extra;	/* ... and this many pages after it, never added */
	uint64_t fw_hob;	/* [firmware] hob: the TD HOB's page (0: scenario_hob_gpa's default) */
	struct sc_vcpu vcpus[SC_VCPU_SECTIONS + 1];	/* [vcpu N], then [vcpus] */
	struct sc_vmm_action actions[SC_MAX_ACTIONS];
	int nactions;
	/* [expect] */
	bool has_expect;
	enum sc_outcome expect_outcome;
	bool expect_any_outcome;
	char expect_message[128];	/* a substring of the run's message */
	struct sc_expect expects[SC_MAX_EXPECT];
	int nexpects;
};

/* The built-in calibrated cost table (costs/calibrated.ini, compiled in). */
void sc_costs_builtin(struct cost_table *t);
extern const char tdxsim_costs_builtin[];

/*
 * Parse @path into @sc.  0, or -1 with "FILE:LINE: message" (or "FILE:
 * message" for whole-file problems) in @err.
 */
int scenario_load(const char *path, struct scenario *sc, char *err, size_t errlen);
/* Free what scenario_load allocated (the firmware image). */
void scenario_free(struct scenario *sc);
/* Apply "section.key=value" (or "key=value" in [vm]), as --set does. */
int scenario_set(struct scenario *sc, const char *assignment, char *err, size_t errlen);
/* What vCPU @i runs: its [vcpu N] section, else [vcpus], else NULL. */
const struct sc_vcpu *sc_vcpu_of(const struct scenario *sc, int i);
/* Check the whole scenario (GPAs inside memslots, programs and the TD). */
int scenario_check(const struct scenario *sc, char *err, size_t errlen);
/*
 * Where the host writes the TD HOB of a TD without a TDVF image: [firmware]
 * hob; else, when some vCPU runs firmware over a HOB (no gpa, size or
 * pages), the lowest page of the first private guest_memfd memslot that
 * the [firmware] image does not take and that is not GPA 0 (a boot
 * parameter of 0 means no HOB); else 0 (no HOB).  A TDVF image has
 * its own TD_HOB section.
 */
uint64_t scenario_hob_gpa(const struct scenario *sc);

/* ---- running ---- */
struct sc_result;
struct sc_run_opts {
	enum sched_kind sched;
	uint64_t seed;
	int pct_depth;
	const char *replay;	/* SCHED_REPLAY: the schedule string */
	bool lenient;		/* replay leniently (shrinking) */
	struct engine_dfs *dfs;	/* SCHED_DFS: the bounded-exhaustive search */
	FILE *trace;		/* not NULL: write the run's trace-event JSON here */
	/* tdxsim map: stop after this many engine steps if the run gets that far (0: no) */
	uint64_t stop_at;
	/* called with the VM as the run left it, before teardown (NULL: none) */
	void (*snapshot)(void *arg, struct kvm_vm *vm, const struct sc_result *r);
	void *snapshot_arg;
	/* not NULL: reuse the TD built by an earlier run of the same scenario
	 * (sc_reuse_create); the runs are the same as without, only faster */
	struct sc_reuse *reuse;
	/* checking mode: kvm_vm_check() every this many engine steps and at the end (0: off) */
	uint64_t check_every;
	/* count the charges of the task that ends last (sc_result.critical) */
	bool critical;
	/* virtual-time costs of the run and its teardown (NULL: the built-in defaults) */
	const struct cost_table *costs;
};

/*
 * Built worlds kept between runs: the first run of a scenario with a reuse
 * builds its TD and saves it (the world's heap, src/engine/simheap.h); each
 * later run of the same scenario starts from that saved TD instead of
 * building one.  One reuse serves one scenario at a time (another scenario
 * replaces it).  sc_reuse_count() is the number of runs that reused it.
 */
struct sc_reuse *sc_reuse_create(void);
void sc_reuse_free(struct sc_reuse *u);
uint64_t sc_reuse_count(const struct sc_reuse *u);

struct sc_result {
	enum sc_outcome outcome;
	char message[256];	/* why it ended so ("" for OK) */
	char notice[160];	/* what the host's design decided at FINALIZE ("": nothing) */
	uint64_t counters[C_NCOUNTERS];
	uint64_t leaf_calls[64];	/* SEAMCALLs by leaf number (the run, not its teardown) */
	/*
	 * The teardown (kvm_destroy_vm) after a run that ended with every task
	 * done, timed in virtual time as an engine run of one task from 0:
	 * its ns (0: no teardown, the run was abandoned or never built) and
	 * its SEAMCALLs by leaf.
	 */
	uint64_t teardown_ns;
	uint64_t teardown_calls[64];
	uint64_t teardown_charges[SEAM_COST_NR];	/* all it was charged, by cost kind */
	uint64_t hash;		/* the engine's trace hash */
	char *schedule;		/* malloc'ed schedule string */
	size_t nchoices;	/* choices in the schedule */
	bool trace_failed;	/* sc_run_opts.trace could not be written */
	double sim_wall_s;	/* the simulator's own time for the whole run (build to teardown) */
	/* sc_run_opts.critical: the task whose clock is the run's virtual time,
	 * and what it was charged by cost kind (the rest of its clock is waiting) */
	char critical_task[32];
	uint64_t critical_clock;
	uint64_t critical_charges[SEAM_COST_NR];
	/* the linux program: one 4K ACCEPT's charges at the first and the last
	 * measured block (fault_ns_first, fault_ns_last) */
	double fault_charges[2][SEAM_COST_NR];
};

/*
 * Run @sc once.  0 with the result in @r (a TD that could not be built is
 * the outcome SC_SETUP_ERROR, the refused call in the message), or -1 when
 * the simulator itself could not run (no memory, a bad schedule string).
 */
int scenario_run(const struct scenario *sc, const struct sc_run_opts *o, struct sc_result *r);
void sc_result_free(struct sc_result *r);
/*
 * Write the events @e recorded (engine_config.record_events) for @sc to @f
 * as Chrome trace-event JSON (trace.c).  0, or -1 if it could not.
 */
int sc_trace_write(struct engine *e, const struct scenario *sc, FILE *f);
/* Does @r meet @sc's [expect]?  (No [expect]: the outcome must be OK.) */
bool scenario_expected(const struct scenario *sc, const struct sc_result *r, char *why,
		       size_t len);

/* Parse a number with an optional K/M/G/T suffix (binary) or a time with ns/us/ms/s. */
int sc_parse_size(const char *s, uint64_t *out);
int sc_parse_time(const char *s, uint64_t *out_ns);

#endif
