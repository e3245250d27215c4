/* SPDX-License-Identifier: MIT */
/*
 * Checking mode (docs/design.md "Checking mode", docs/engine.md "The check
 * hook"): the engine's hook and its outcome; each invariant caught when the
 * state is corrupted in exactly the way it guards against; every scenario
 * meeting its [expect] with checking on (no false alarms); and random
 * schedules of the racy scenarios finding nothing (soundness).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "../src/cli/scenario.h"
#include "../src/engine/engine.h"
#include "../src/guest/guest.h"
#include "../src/host/kvm_internal.h"
#include "../src/host/simple_host.h"
#include "../src/module/internal.h"

/* ---- the engine's hook ---- */

struct hook_ctx {
	int calls;
	uint64_t fail_at_call;	/* 0: never */
	bool fail_when_done;
	int done;
	uint64_t word;
};

static int hook_check(void *arg, char *msg, size_t len)
{
	struct hook_ctx *c = arg;
	c->calls++;
	/* seam operations inside the hook are plain accesses, never scheduling points */
	seam_store64(&c->word, seam_load64(&c->word) + 1);
	seam_yield();
	if (c->fail_at_call && (uint64_t)c->calls == c->fail_at_call) {
		snprintf(msg, len, "invariant 9 (test): call %d", c->calls);
		return 9;
	}
	if (c->fail_when_done && c->done == 2) {
		snprintf(msg, len, "invariant 9 (test): at the end");
		return 9;
	}
	return 0;
}

static void yielder(void *arg)
{
	struct hook_ctx *c = arg;
	for (int i = 0; i < 50; i++)
		seam_yield();
	c->done++;
}

static uint64_t hook_hash;	/* the trace hash of the last hook_run() */

static enum engine_outcome hook_run(struct hook_ctx *c, uint64_t every, uint64_t *steps,
				    char *report, size_t len)
{
	struct engine_config cfg = { .sched = SCHED_RANDOM, .seed = 7, .check = hook_check,
				     .check_arg = c, .check_every = every };
	struct engine *e = engine_create(&cfg);
	assert_non_null(e);
	engine_spawn(e, "a", yielder, c);
	engine_spawn(e, "b", yielder, c);
	enum engine_outcome o = engine_run(e);
	*steps = engine_steps(e);
	hook_hash = engine_trace_hash(e);
	snprintf(report, len, "%s", engine_report(e));
	engine_destroy(e);
	return o;
}

static void test_engine_check_hook(void **state)
{
	(void)state;
	BANNER("the check hook runs every N steps and at the end, never reschedules, and a violation "
	       "ends the run as 'invariant violation' naming the step");
	char rep[4096];
	uint64_t steps, steps_plain;
	/* without the hook: the reference run */
	struct engine_config cfg = { .sched = SCHED_RANDOM, .seed = 7 };
	struct engine *e = engine_create(&cfg);
	struct hook_ctx c0 = { 0 };
	engine_spawn(e, "a", yielder, &c0);
	engine_spawn(e, "b", yielder, &c0);
	assert_int_equal(engine_run(e), ENGINE_OK);
	steps_plain = engine_steps(e);
	uint64_t hash_plain = engine_trace_hash(e);
	engine_destroy(e);

	struct hook_ctx c = { 0 };
	assert_int_equal(hook_run(&c, 10, &steps, rep, sizeof(rep)), ENGINE_OK);
	assert_int_equal(steps, steps_plain);	/* the hook added no scheduling point */
	assert_int_equal((uint64_t)c.calls, steps_plain / 10 + 1);	/* ... and one at the end */
	assert_int_equal(c.word, (uint64_t)c.calls);
	assert_int_equal(hook_hash, hash_plain);	/* checking changes nothing in the run */

	struct hook_ctx f = { .fail_at_call = 3 };
	assert_int_equal(hook_run(&f, 5, &steps, rep, sizeof(rep)), ENGINE_INVARIANT);
	assert_string_equal(rep, "invariant violation at step 15: invariant 9 (test): call 3");
	assert_string_equal(engine_outcome_name(ENGINE_INVARIANT), "invariant violation");

	struct hook_ctx g = { .fail_when_done = true };
	assert_int_equal(hook_run(&g, 1000000, &steps, rep, sizeof(rep)), ENGINE_INVARIANT);
	assert_int_equal(g.calls, 1);	/* only the final check */
	assert_non_null(strstr(rep, "at the end"));
}

/* ---- a world to corrupt: one vCPU that accepts and writes a few pages ---- */

static const char *const world_text =
	"[vm]\nsept_ve_disable = off\n"
	"[memslot 0]\ngpa = 0x100000\nsize = 4M\n"
	"[vcpu 0]\nsteps = write 0x200000 0x11\n"
	"        write 0x201000 0x12\n"
	"        write 0x202008 0x13\n"
	"        accept 0x203000 4k\n"
	"        check 0x201000 0x12\n";

static void load(const char *text, struct scenario *sc)
{
	char path[] = "/tmp/tdxsim-check-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	char err[512];
	int r = scenario_load(path, sc, err, sizeof(err));
	if (r)
		print_error("%s\n", err);
	remove(path);
	assert_int_equal(r, 0);
}

static void test_expect_outcome(void **state)
{
	(void)state;
	BANNER("[expect] outcome = invariant-violation parses; the outcome's name");
	static struct scenario sc;
	load("[memslot 0]\ngpa = 0x100000\nsize = 4M\n[vcpu 0]\nprogram = firmware\n"
	     "[expect]\noutcome = invariant-violation\n", &sc);
	assert_true(sc.has_expect);
	assert_int_equal(sc.expect_outcome, SC_INVARIANT);
	assert_string_equal(sc_outcome_name(SC_INVARIANT), "invariant-violation");
	scenario_free(&sc);
}

/* The corruption a test makes in the snapshot, and the violation it wants. */
struct corrupt {
	void (*fn)(struct kvm_vm *vm, bool undo);	/* corrupt, or undo it for teardown */
	int want;		/* invariant number */
	const char *substr;	/* in the message */
	bool ran;
};

static uint64_t leaf_hpa(struct kvm_vm *vm, uint64_t gpa)
{
	struct tdx_sept_leaf l;
	assert_true(tdx_td_sept_lookup(vm->td, gpa, &l));
	return l.hpa + (gpa - l.gpa);
}

static void snapshot(void *arg, struct kvm_vm *vm, const struct sc_result *r)
{
	struct corrupt *c = arg;
	char msg[512] = "";
	assert_int_equal(r->outcome, SC_OK);
	int got = kvm_vm_check(vm, msg, sizeof(msg));
	if (got)
		print_error("%s\n", msg);
	assert_int_equal(got, 0);	/* sound: the world as the run left it is fine */
	c->fn(vm, false);
	got = kvm_vm_check(vm, msg, sizeof(msg));
	print_message("  %s\n", msg);
	assert_int_equal(got, c->want);
	assert_non_null(strstr(msg, c->substr));
	c->fn(vm, true);
	assert_int_equal(kvm_vm_check(vm, msg, sizeof(msg)), 0);
	c->ran = true;
}

static void corrupt_run(struct corrupt *c)
{
	static struct scenario sc;
	load(world_text, &sc);
	struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 1, .check_every = 1,
				 .snapshot = snapshot, .snapshot_arg = c };
	struct sc_result r;
	assert_int_equal(scenario_run(&sc, &o, &r), 0);
	assert_true(c->ran);
	sc_result_free(&r);
	scenario_free(&sc);
}

/* inv 1: the 2M PAMT entry over a TD's 4K page made a second TD's page */
static void two_owners(struct kvm_vm *vm, bool undo)
{
	uint64_t hpa = leaf_hpa(vm, 0x201000);
	struct pamt_entry *e2 = pamt_entry_of(vm->pm, hpa, PAMT_2M);
	assert_int_equal(e2->type, undo ? PT_REG : PT_NDA);
	pamt_set(e2, undo ? PT_NDA : PT_REG, undo ? 0 : vm->td->id);
}

static void child_count_off(struct kvm_vm *vm, bool undo)
{
	vm->td->child_count += undo ? (uint64_t)-1 : 1;
}

/* inv 1: a page the TD maps marked free in the host allocator */
static void host_freed(struct kvm_vm *vm, bool undo)
{
	uint64_t hpa = leaf_hpa(vm, 0x202000), b = (hpa - vm->hm->base) >> 21;
	unsigned p = (unsigned)((hpa >> 12) & 511);
	(void)undo;
	assert_non_null(vm->hm->bits[b]);
	vm->hm->bits[b][p / 64] ^= 1ull << (p % 64);
}

/* inv 2: a mirror leaf pointing elsewhere */
static void mirror_elsewhere(struct kvm_vm *vm, bool undo)
{
	uint64_t *sptep = mmu_leaf(&vm->mirror, 0x201000 >> 12);
	assert_non_null(sptep);
	*sptep += undo ? -SZ_4K : SZ_4K;
}

/* inv 3: a live TLB entry to a page the TD does not own */
static void tlb_stale(struct kvm_vm *vm, bool undo)
{
	struct gvcpu *g = &vm->vcpus[0]->g;
	g->v->epoch = vm->td->td_epoch;	/* no flush before it would be used */
	g->tlb[5].gfn = 5;
	g->tlb[5].hpa = vm->tdr + SZ_4K * 512 * 7;
	g->tlb[5].gen = undo ? 0 : tdx_vcpu_tlb_generation(g->v) + 1;
}

/* inv 4: a page the guest wrote changed behind its back */
static void data_changed(struct kvm_vm *vm, bool undo)
{
	physmem_write64(vm->pm, leaf_hpa(vm, 0x202008), undo ? 0x13 : 0x99);
}

/* inv 5: an epoch refcount off by one */
static void refcount_off(struct kvm_vm *vm, bool undo)
{
	vm->td->refcount[vm->td->td_epoch & 1] += undo ? (uint64_t)-1 : 1;
}

static void test_inv1_pamt_two_owners(void **state)
{
	(void)state;
	BANNER("invariant 1: a page owned at 4K and, through its 2M entry, again is caught");
	struct corrupt c = { two_owners, 1, "is owned twice" };
	corrupt_run(&c);
}

static void test_inv1_child_count(void **state)
{
	(void)state;
	BANNER("invariant 1: a TDR child count off by one is caught");
	struct corrupt c = { child_count_off, 1, "child count is" };
	corrupt_run(&c);
}

static void test_inv1_host_free(void **state)
{
	(void)state;
	BANNER("invariant 1: a page the S-EPT maps but the host allocator has free is caught");
	struct corrupt c = { host_freed, 1, "the host allocator has it free" };
	corrupt_run(&c);
}

static void test_inv2_mirror(void **state)
{
	(void)state;
	BANNER("invariant 2: a mirror SPTE pointing at another page is caught, naming the GPA");
	struct corrupt c = { mirror_elsewhere, 2, "GPA 0x201000 level 0: the mirror has a leaf" };
	corrupt_run(&c);
}

static void test_inv3_tlb(void **state)
{
	(void)state;
	BANNER("invariant 3: a live TLB entry to a page the TD does not own is caught");
	struct corrupt c = { tlb_stale, 3, "to a page its TD no longer owns" };
	corrupt_run(&c);
}

static void test_inv4_guest_data(void **state)
{
	(void)state;
	BANNER("invariant 4: a word the guest wrote, changed behind its back, is caught");
	struct corrupt c = { data_changed, 4, "GPA 0x202008" };
	corrupt_run(&c);
}

static void test_inv5_epochs(void **state)
{
	(void)state;
	BANNER("invariant 5: an epoch refcount off by one is caught");
	struct corrupt c = { refcount_off, 5, "refcount[" };
	corrupt_run(&c);
}

/* ---- invariant 4 on the read path, during a run ---- */

#define READ_GPA 0x300000ull

struct read_job {
	struct gvcpu g;
	int rc;
	int phase;		/* 1: the guest wrote; 2: memory was changed */
	struct fx *f;
};

static void read_prog(struct gvcpu *g, void *arg)
{
	struct read_job *j = arg;
	assert_status(guest_accept(g, READ_GPA, 0), TDX_SUCCESS);
	guest_write64(g, READ_GPA + 16, 0x1234);
	assert_int_equal(guest_read64(g, READ_GPA + 16), 0x1234);
	j->phase = 1;
	while (j->phase != 2)
		guest_relax(g);
	guest_read64(g, READ_GPA + 16);	/* sees 0x4321: the run ends here */
	j->phase = 3;
}

static void read_vcpu(void *p)
{
	struct read_job *j = p;
	j->rc = gvcpu_run(&j->g, read_prog, j);
}

static void read_corrupter(void *p)
{
	struct read_job *j = p;
	while (j->phase != 1)
		seam_yield();
	struct tdx_sept_leaf l;
	assert_true(tdx_td_sept_lookup(j->g.td, READ_GPA, &l));
	physmem_write64(j->f->pm, l.hpa + 16, 0x4321);	/* a host bug, in effect */
	j->phase = 2;
}

static void test_inv4_read_path(void **state)
{
	(void)state;
	BANNER("invariant 4: a guest read that does not return what it wrote ends the run, "
	       "naming the vCPU, the GPA and the step");
	struct fx f;
	fx_init_runnable(&f, NULL);
	struct simple_host h;
	simple_host_init(&h, &f.b);
	static struct read_job j;
	memset(&j, 0, sizeof(j));
	j.f = &f;
	struct guest_shadow *s = guest_shadow_create();
	gvcpu_init(&j.g, f.m, f.b.tdvpr[0], 0, &h.ops);
	gvcpu_set_shadow(&j.g, s);
	struct engine_config c = { .sched = SCHED_RR, .seed = 1, .stack_size = 256 * 1024 };
	struct engine *e = engine_create(&c);
	engine_spawn(e, "vcpu0", read_vcpu, &j);
	engine_spawn(e, "corrupter", read_corrupter, &j);
	assert_int_equal(engine_run(e), ENGINE_INVARIANT);
	print_message("  %s\n", engine_report(e));
	assert_non_null(strstr(engine_report(e), "invariant violation at step "));
	assert_non_null(strstr(engine_report(e), "invariant 4 (guest data): vCPU 0 read 0x4321 at "
				"GPA 0x300010"));
	assert_non_null(strstr(engine_report(e), "last wrote 0x1234"));
	assert_int_equal(j.phase, 2);
	engine_destroy(e);
	guest_shadow_destroy(s);
	fx_fini(&f);
}

/* ---- no false alarms ---- */

static const char *scenario_dir(void)
{
	const char *d = getenv("TDXSIM_SCENARIOS");
	return d ? d : "scenarios";
}

/*
 * The long scenarios (280,000 steps; firmware-hob-mp's 4 vCPUs accepting
 * 4,096 pages) are checked every 50 steps, the teardown ones (1.2 million
 * steps, 16,384 leaves to check each time) every 20,000, the rest at every
 * step.
 */
static uint64_t check_every_of(const char *name)
{
	if (!strncmp(name, "teardown-", 9))
		return 20000;
	return !strcmp(name, "firmware-boot.ini") || !strcmp(name, "seed002-track-vs-enter.ini") ||
		       !strcmp(name, "firmware-hob-mp.ini")
		       ? 50 : 1;
}

static void test_scenarios_checked(void **state)
{
	(void)state;
	BANNER("every scenario in scenarios/ meets its [expect] with checking on (every step on "
	       "the small ones): no false alarms");
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
		struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 1,
					 .check_every = check_every_of(de->d_name) };
		struct sc_result r;
		if (scenario_run(&sc, &o, &r)) {
			print_error("%s: %s\n", path, r.message);
			bad++;
		} else if (!scenario_expected(&sc, &r, why, sizeof(why))) {
			print_error("%s: %s (%s%s%s)\n", path, why, sc_outcome_name(r.outcome),
				    r.message[0] ? ": " : "", r.message);
			bad++;
		} else {
			print_message("  %-40s %s (checked every %" PRIu64 ")\n", de->d_name,
				      sc_outcome_name(r.outcome), o.check_every);
		}
		sc_result_free(&r);
		scenario_free(&sc);
	}
	closedir(d);
	assert_true(n >= 10);
	assert_int_equal(bad, 0);
}

/* ---- soundness: random schedules of the racy scenarios ---- */

static void test_soundness_random(void **state)
{
	(void)state;
	BANNER("random-schedule runs of each racy scenario, checked every step (every 100 on the "
	       "long ones), find no invariant violation");
	static const struct {
		const char *name;
		int runs;
		uint64_t every;
	} racy[] = {
		{ "conversion.ini", 200, 1 }, { "hole-punch.ini", 200, 1 },
		{ "seed001-accept-race.ini", 200, 100 }, { "seed002-accept-vs-host.ini", 200, 100 },
		{ "seed002-zero-step.ini", 50, 100 }, { "seed002-track-vs-enter.ini", 20, 100 },
	};
	uint64_t base = test_seed();
	for (size_t i = 0; i < sizeof(racy) / sizeof(racy[0]); i++) {
		char path[1024], err[512];
		snprintf(path, sizeof(path), "%s/%s", scenario_dir(), racy[i].name);
		static struct scenario sc;
		assert_int_equal(scenario_load(path, &sc, err, sizeof(err)), 0);
		int inv = 0;
		for (int k = 0; k < racy[i].runs; k++) {
			struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = base + (uint64_t)k,
						 .check_every = racy[i].every };
			struct sc_result r;
			assert_int_equal(scenario_run(&sc, &o, &r), 0);
			if (r.outcome == SC_INVARIANT) {
				print_error("%s seed=%" PRIu64 ": %s\n  schedule %s\n", racy[i].name,
					    o.seed, r.message, r.schedule);
				inv++;
			}
			sc_result_free(&r);
		}
		print_message("  %-28s %3d runs from seed=%" PRIu64 ", every %3" PRIu64
			      " steps: %d violations\n", racy[i].name, racy[i].runs, base,
			      racy[i].every, inv);
		scenario_free(&sc);
		assert_int_equal(inv, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_check_hook),
		cmocka_unit_test(test_expect_outcome),
		cmocka_unit_test(test_inv1_pamt_two_owners),
		cmocka_unit_test(test_inv1_child_count),
		cmocka_unit_test(test_inv1_host_free),
		cmocka_unit_test(test_inv2_mirror),
		cmocka_unit_test(test_inv3_tlb),
		cmocka_unit_test(test_inv4_guest_data),
		cmocka_unit_test(test_inv4_read_path),
		cmocka_unit_test(test_inv5_epochs),
		cmocka_unit_test(test_scenarios_checked),
		cmocka_unit_test(test_soundness_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
