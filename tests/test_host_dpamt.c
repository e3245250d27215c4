/* SPDX-License-Identifier: MIT */
/*
 * Dynamic PAMT on the host (src/host/dpamt.c, huge-pages.md section 7):
 * a TD's whole life with the refcounts coming back to 0, two TDs sharing
 * 2M ranges (one PAMT.ADD per range, REMOVE only with the last user), the
 * DEMOTE-versus-PAMT.ADD race of 2026-06 across two TDs (found by the
 * scheduler with DEMOTE outside pamt_lock, gone inside), the policy
 * refused without the module feature, and the module's PAMT memory.
 */
#include <inttypes.h>
#include <string.h>

#include "testlib.h"
#include "../src/engine/engine.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"
#include "../src/host/kvm_dpamt.h"
#include "../src/module/physmem.h"
#include "vjob.h"

#define SLOT_BASE 0x200000ull	/* [2 MiB, 66 MiB), 2M aligned for 2M mappings */
#define SLOT_SIZE (64ull << 20)
#define RANGE 0x400000ull	/* a 2M range the guest accepts at 2M */
#define RANGE_4K 0x800000ull	/* a 2M range the guest accepts page by page */
#define RANGE_SPLIT 0xc00000ull	/* a 2M range mapped 2M, then accepted at 4K (split) */

static struct kvm *host(bool dynamic_pamt)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	p.max_pa = 48;
	p.dynamic_pamt = dynamic_pamt;
	p.enhanced_demote = true;
	struct kvm *k = kvm_create(&p);
	assert_non_null(k);
	return k;
}

/* A finalized TD with one vCPU and SLOT_SIZE of private RAM at SLOT_BASE. */
static struct kvm_vm *td(struct kvm *k, enum kvm_map_level level, enum kvm_folio folio,
			 bool dpamt, bool locked)
{
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	pol.max_level = level;
	pol.folio = folio;
	pol.dpamt = dpamt;
	pol.dpamt_demote_locked = locked;
	struct kvm_vm *vm = kvm_create_vm(k, &pol);
	assert_non_null(vm);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	init.attributes = 0;	/* pending pages raise #VE: the handler accepts at 4K */
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
	assert_int_equal(kvm_vmm_add_private_ram(vm, 0, SLOT_BASE, SLOT_SIZE), 0);
	assert_int_equal(kvm_create_vcpu(vm), 0);
	assert_int_equal(kvm_tdx_init_vcpu(vm, 0), 0);
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	return vm;
}

/* Nothing left anywhere: host pages, PAMT entries, refcounts. */
static void host_empty(struct kvm *k)
{
	assert_int_equal(kvm_hostmem(k)->allocated, 0);
	assert_int_equal(test_pamt_in_use(kvm_module(k)), 0);
	assert_int_equal(kvm_dpamt_ranges_in_use(k), 0);
}

static void ve_accept_4k(struct gvcpu *g, const struct tdx_ve_info *ve)
{
	uint64_t st = guest_accept(g, ve->gpa & ~0xfffull, 0);
	if (tdx_status_code(st) != TDX_SUCCESS && tdx_status_code(st) != TDX_PAGE_ALREADY_ACCEPTED)
		gvcpu_kill(g, "guest panic: #VE accept at %#" PRIx64 ": %s", ve->gpa,
			   tdx_status_name(st));
}

/* 2M accepted at 2M, 64 pages accepted at 4K, and seed 001's rare case (a split). */
static void workload(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_set_ve_handler(g, ve_accept_4k);
	/* a 4K design maps 4K: the 2M ACCEPT is refused and the guest goes 4K */
	bool at_2m = guest_accept(g, RANGE, 1) == TDX_SUCCESS;
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K) {
		if (!at_2m)
			task_check_eq(guest_accept(g, a, 0), TDX_SUCCESS);
		guest_write64(g, a, a ^ 0xd9a);
	}
	for (uint64_t a = RANGE_4K; a < RANGE_4K + 64 * SZ_4K; a += SZ_4K) {
		task_check_eq(guest_accept(g, a, 0), TDX_SUCCESS);
		guest_write64(g, a, a ^ 0xd9a);
	}
	/* touched before accepting: mapped 2M, then the #VE handler accepts at 4K */
	for (uint64_t a = RANGE_SPLIT; a < RANGE_SPLIT + 16 * SZ_4K; a += SZ_4K)
		guest_write64(g, a, a ^ 0xd9a);
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += 64 * SZ_4K)
		task_check_eq(guest_read64(g, a), a ^ 0xd9a);
	for (uint64_t a = RANGE_SPLIT; a < RANGE_SPLIT + 16 * SZ_4K; a += SZ_4K)
		task_check_eq(guest_read64(g, a), a ^ 0xd9a);
}

static void run_one(struct kvm_vm *vm, void (*prog)(struct gvcpu *, void *), uint64_t seed)
{
	struct engine *e = engine_seeded(seed, 4000000);
	static struct vjob j;
	j = (struct vjob){ vm, 0, prog, NULL, 0 };
	engine_spawn(e, "vcpu0", vjob_task, &j);
	enum engine_outcome o = engine_run(e);
	if (o != ENGINE_OK)
		engine_print_report(e, stderr);
	assert_int_equal(o, ENGINE_OK);
	assert_int_equal(j.rc, 0);
	engine_destroy(e);
}

static void test_td_lifecycle(void **state)
{
	(void)state;
	BANNER("dpamt=on: 2M, 4K and split workloads run; teardown leaves no page, PAMT entry or refcount");
	static const enum kvm_map_level levels[] = { MAP_LEVEL_4K, MAP_LEVEL_HUGE_V5 };
	for (int locked = 0; locked < 2; locked++)
		for (size_t i = 0; i < 2; i++) {
			struct kvm *k = host(true);
			struct kvm_vm *vm = td(k, levels[i], FOLIO_2M, true, locked);
			run_one(vm, workload, 1);
			const struct kvm_vm_stats *st = kvm_vm_stats(vm);
			print_message("    level=%-8s locked=%d: 2M maps %" PRIu64 ", 4K maps %" PRIu64
				      ", splits %" PRIu64 ", PAMT.ADD %" PRIu64 ", ranges in use %" PRIu64
				      "\n", kvm_policy_level_name(levels[i]), locked, st->maps_2m,
				      st->private_maps, st->splits_exclusive, st->pamt_adds,
				      kvm_dpamt_ranges_in_use(k));
			assert_true(st->pamt_adds > 0);
			assert_true(kvm_dpamt_ranges_in_use(k) > 0);
			if (levels[i] == MAP_LEVEL_HUGE_V5) {
				assert_int_equal(st->splits_exclusive, 1);
				assert_true(st->maps_2m >= 2);
				/* the split range counts its 512 children */
				uint64_t hpa = kvm_vm_private_hpa(vm, RANGE_SPLIT);
				assert_int_equal(kvm_dpamt_refcount(k, hpa), 512);
				/* a 2M page holds no reference */
				hpa = kvm_vm_private_hpa(vm, RANGE);
				assert_int_equal(kvm_dpamt_refcount(k, hpa), 0);
			}
			uint64_t adds = st->pamt_adds, splits = st->splits_exclusive;
			assert_int_equal(kvm_destroy_vm(vm), 0);
			uint64_t a, rm;
			kvm_dpamt_counts(k, &a, &rm);
			/* every pair comes back: PAMT.ADD's, and the one each DEMOTE gave */
			assert_int_equal(a, adds);
			assert_int_equal(rm, adds + splits);
			host_empty(k);
			kvm_destroy(k);
		}
}

/* Two TDs whose control pages share the host's 2M ranges. */
static void test_refcount_shared_ranges(void **state)
{
	(void)state;
	BANNER("two TDs sharing 2M ranges of host memory: one PAMT.ADD per range, REMOVE with the last user");
	struct kvm *k = host(true);
	struct kvm_vm *a = td(k, MAP_LEVEL_4K, FOLIO_4K, true, true);
	uint64_t adds_a = kvm_vm_stats(a)->pamt_adds;
	struct kvm_vm *b = td(k, MAP_LEVEL_4K, FOLIO_4K, true, true);
	uint64_t tdr_a = kvm_vm_tdr(a), tdr_b = kvm_vm_tdr(b);
	/* the host allocator packs 4K pages: both TDRs in one 2M range */
	assert_int_equal(tdr_a >> 21, tdr_b >> 21);
	/* TDR, 6 TDCS pages, TDVPR and 5 TDCX pages of each TD hold it */
	uint32_t rc = kvm_dpamt_refcount(k, tdr_a);
	print_message("    TD A: %" PRIu64 " PAMT.ADDs, TD B: %" PRIu64 ", refcount of the shared range %u\n",
		      adds_a, kvm_vm_stats(b)->pamt_adds, rc);
	assert_int_equal(adds_a, 1);
	assert_int_equal(kvm_vm_stats(b)->pamt_adds, 0);	/* the range had its pair */
	assert_int_equal(rc, 2 * (1 + TDX_TDCS_PAGES + TDX_TDVPS_PAGES));
	/* both run: the data pages share ranges too */
	run_one(a, workload, 2);
	run_one(b, workload, 3);
	uint64_t adds, removes;
	kvm_dpamt_counts(k, &adds, &removes);
	assert_int_equal(adds, kvm_vm_stats(a)->pamt_adds + kvm_vm_stats(b)->pamt_adds);
	assert_int_equal(adds, kvm_dpamt_ranges_in_use(k));
	assert_int_equal(removes, 0);
	/* A goes: B still uses the shared range, which keeps its pair */
	assert_int_equal(kvm_destroy_vm(a), 0);
	uint32_t rc_b = kvm_dpamt_refcount(k, tdr_b);
	assert_true(rc_b >= 1 + TDX_TDCS_PAGES + TDX_TDVPS_PAGES);
	assert_true(rc_b < rc + 600);
	kvm_dpamt_counts(k, &adds, &removes);
	assert_true(kvm_dpamt_ranges_in_use(k) > 0);
	assert_int_equal(adds - removes, kvm_dpamt_ranges_in_use(k));
	print_message("    after A's teardown: %" PRIu64 " ranges in use, %" PRIu64 " REMOVEs\n",
		      kvm_dpamt_ranges_in_use(k), removes);
	assert_int_equal(kvm_destroy_vm(b), 0);
	host_empty(k);
	kvm_destroy(k);
}

/* ---- the race of 2026-06 ---- */

/*
 * Host memory for the race: block X, which B's next 4K allocations come
 * from (the allocator's partial block on top), and whose first pages the
 * test holds and hands to A's per-VM cache as DEMOTE pairs; A's split
 * cache gets a page from a range that already has its pair, so that A
 * itself adds nothing in X.
 */
#define X_HELD 32
static struct {
	struct kvm *k;
	uint64_t x, sept;
	int next;		/* X + next * 4K is the next held page to hand out */
	bool sept_given;
} rx;

static uint64_t race_split_alloc(void *ctx, int sept)
{
	(void)ctx;
	if (sept) {
		if (rx.sept_given)
			return 0;
		rx.sept_given = true;
		return rx.sept;
	}
	return rx.next < X_HELD ? rx.x + (uint64_t)rx.next++ * SZ_4K : 0;
}

/* A: touch a 2M range before accepting it (2M AUG, then a 4K ACCEPT: the split). */
static void race_a(struct gvcpu *g, void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg;
	guest_set_ve_handler(g, ve_accept_4k);
	guest_write64(g, base, 1);
	task_check_eq(guest_read64(g, base), 1);
}

static uint64_t race_b_delay;

/* B: after a delay, fault fresh 4K pages in (the first one PAMT.ADDs X). */
static void race_b(struct gvcpu *g, void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg;
	guest_set_ve_handler(g, ve_accept_4k);
	for (uint64_t i = 0; i < race_b_delay; i++)
		(void)guest_read64(g, RANGE_4K);
	for (uint64_t a = base; a < base + 8 * SZ_4K; a += SZ_4K)
		guest_write64(g, a, a);
}

struct race_result {
	bool a_dead, b_dead;
	uint64_t a_busy;
	char why[160];
};

static void race_run(uint64_t seed, bool locked, bool pct, struct race_result *res)
{
	struct kvm *k = host(true);
	struct kvm_vm *a = td(k, MAP_LEVEL_HUGE_V5, FOLIO_2M, true, locked);
	struct kvm_vm *b = td(k, MAP_LEVEL_4K, FOLIO_4K, true, locked);
	/* warm-up: A's tables (and one split), B's tables and its first page */
	struct engine *e = engine_seeded(seed, 4000000);
	static struct vjob ja, jb;
	ja = (struct vjob){ a, 0, race_a, (void *)(uintptr_t)RANGE, 0 };
	jb = (struct vjob){ b, 0, race_b, (void *)(uintptr_t)RANGE_4K, 0 };
	race_b_delay = 0;
	engine_spawn(e, "A", vjob_task, &ja);
	engine_spawn(e, "B", vjob_task, &jb);
	assert_int_equal(engine_run(e), ENGINE_OK);
	assert_int_equal(ja.rc, 0);
	assert_int_equal(jb.rc, 0);
	engine_destroy(e);

	/* host memory: a page of a range with its pair for A's split cache, then X */
	struct hostmem *hm = kvm_hostmem(k);
	memset(&rx, 0, sizeof(rx));
	rx.k = k;
	rx.sept = hostmem_alloc_4k(hm);
	assert_true(kvm_dpamt_refcount(k, rx.sept) > 0);
	rx.x = hostmem_alloc_2m(hm);
	assert_true(rx.x != 0);
	hostmem_split_2m(hm, rx.x);
	for (uint64_t p = X_HELD; p < 512; p++)
		hostmem_free_4k(hm, rx.x + p * SZ_4K);	/* X is the partial block on top */
	kvm_dpamt_set_split_alloc(k, race_split_alloc, NULL);

	uint64_t busy0 = kvm_vm_stats(a)->busy;
	struct engine_config c = { .sched = pct ? SCHED_PCT : SCHED_RANDOM, .seed = seed,
				   .step_bound = 4000000, .stack_size = 256 * 1024,
				   .pct_depth = 2, .pct_steps = 400 };
	e = engine_create(&c);
	assert_non_null(e);
	ja = (struct vjob){ a, 0, race_a, (void *)(uintptr_t)(RANGE + SZ_2M), 0 };
	jb = (struct vjob){ b, 0, race_b, (void *)(uintptr_t)(RANGE_4K + 64 * SZ_4K), 0 };
	race_b_delay = seed;	/* where B's first fault falls against A's split */
	engine_spawn(e, "A", vjob_task, &ja);
	engine_spawn(e, "B", vjob_task, &jb);
	assert_int_equal(engine_run(e), ENGINE_OK);
	engine_destroy(e);

	const char *why = "";
	memset(res, 0, sizeof(*res));
	res->a_dead = kvm_vm_dead(a, &why);
	if (res->a_dead)
		snprintf(res->why, sizeof(res->why), "A: %s", why);
	res->b_dead = kvm_vm_dead(b, &why);
	if (res->b_dead)
		snprintf(res->why, sizeof(res->why), "B: %s", why);
	res->a_busy = kvm_vm_stats(a)->busy - busy0;
	/* whatever happened, teardown gives everything back */
	kvm_dpamt_set_split_alloc(k, NULL, NULL);
	assert_int_equal(kvm_destroy_vm(a), 0);
	assert_int_equal(kvm_destroy_vm(b), 0);
	for (int p = rx.next; p < X_HELD; p++)
		hostmem_free_4k(hm, rx.x + (uint64_t)p * SZ_4K);
	if (!rx.sept_given)
		hostmem_free_4k(hm, rx.sept);
	host_empty(k);
	kvm_destroy(k);
}

static void test_race_demote_pamt_add(void **state)
{
	(void)state;
	BANNER("two TDs: A's DEMOTE (pair in range X) vs B's PAMT.ADD(X): OPERAND_BUSY outside pamt_lock, never inside");
	const uint64_t nseeds = 100;
	for (int pct = 0; pct < 2; pct++) {
		int hits = 0, demote_kills = 0, add_kills = 0, busy_only = 0;
		for (uint64_t seed = 1; seed <= nseeds; seed++) {
			struct race_result r;
			race_run(seed, false, pct, &r);
			if (r.a_dead || r.b_dead) {
				assert_non_null(strstr(r.why, "TDX_OPERAND_BUSY"));
				if (strstr(r.why, "PAMT.ADD"))
					add_kills++;
				else
					demote_kills++;
				if (hits++ == 0)
					print_message("    first hit, seed %" PRIu64 ": %s\n", seed, r.why);
			} else if (r.a_busy) {
				busy_only++;	/* DEMOTE busy once; the kick-retry won */
				hits++;
			}
		}
		print_message("    %s, dpamt_demote_locked=off, %" PRIu64 " seeds: %d hits (%d VMs killed "
			      "by DEMOTE, %d by PAMT.ADD, %d DEMOTE busy then retried)\n",
			      pct ? "PCT depth 2" : "random", nseeds, hits, demote_kills, add_kills,
			      busy_only);
		assert_true(demote_kills + add_kills > 0);
		for (uint64_t seed = 1; seed <= nseeds; seed++) {
			struct race_result r;
			race_run(seed, true, pct, &r);
			if (r.a_dead || r.b_dead)
				print_message("    seed %" PRIu64 ": %s\n", seed, r.why);
			assert_false(r.a_dead || r.b_dead);
			assert_int_equal(r.a_busy, 0);
		}
		print_message("    %s, dpamt_demote_locked=on, %" PRIu64 " seeds: 0 hits\n",
			      pct ? "PCT depth 2" : "random", nseeds);
	}
}

static void test_refused_without_module_feature(void **state)
{
	(void)state;
	BANNER("dpamt=on on a host whose module runs without Dynamic PAMT: KVM_CREATE_VM fails");
	struct kvm *k = host(false);
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	assert_int_equal(kvm_policy_set(&pol, "dpamt", "on"), 0);
	assert_null(kvm_create_vm(k, &pol));
	assert_int_equal(kvm_dpamt_ranges_in_use(k), 0);
	kvm_destroy(k);
}

/* 48 MiB accepted and written at 2M. */
static void mem_workload(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t a = RANGE; a < RANGE + 24 * SZ_2M; a += SZ_2M) {
		task_check_eq(guest_accept(g, a, 1), TDX_SUCCESS);
		for (uint64_t p = a; p < a + SZ_2M; p += SZ_4K)
			guest_write64(g, p, p);
	}
}

static void test_pamt_memory(void **state)
{
	(void)state;
	BANNER("memory: a 2M-mapped TD costs the module's Dynamic PAMT far less than the static PAMT");
	uint64_t bytes[2];
	for (int dyn = 0; dyn < 2; dyn++) {
		struct kvm *k = host(dyn);
		struct kvm_vm *vm = td(k, MAP_LEVEL_HUGE_V5, FOLIO_2M, dyn, true);
		run_one(vm, mem_workload, 4);
		bytes[dyn] = physmem_pamt_bytes(tdx_module_physmem(kvm_module(k)));
		assert_int_equal(kvm_destroy_vm(vm), 0);
		if (dyn)
			host_empty(k);
		kvm_destroy(k);
	}
	/* the real static PAMT: 16 bytes for every 4K page of the TD's memory */
	uint64_t real = 24 * 512 * 16;
	print_message("    48 MiB of 2M pages: module PAMT bytes static %" PRIu64 ", dynamic %" PRIu64
		      " (%.1f%%); 16 B per 4K page would be %" PRIu64 "\n", bytes[0], bytes[1],
		      100.0 * (double)bytes[1] / (double)bytes[0], real);
	assert_true(bytes[1] * 10 < bytes[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_td_lifecycle),
		cmocka_unit_test(test_refcount_shared_ranges),
		cmocka_unit_test(test_race_demote_pamt_add),
		cmocka_unit_test(test_refused_without_module_feature),
		cmocka_unit_test(test_pamt_memory),
	};
	return cmocka_run_group_tests_name("host dynamic PAMT", tests, NULL, NULL);
}
