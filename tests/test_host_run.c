/* SPDX-License-Identifier: MIT */
/*
 * The KVM-style host under the engine: conversion round trips, hole punch
 * while vCPUs run, memslot deletion during faults, BUSY handling per
 * policy, and teardown after concurrent runs.
 */
#include <inttypes.h>
#include <string.h>

#include "testlib.h"
#include "../src/engine/engine.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"
#include "vjob.h"

#define SLOT_BASE 0x100000ull	/* slot 0: [1 MiB, 65 MiB) */
#define SLOT_SIZE (64ull << 20)

struct world {
	struct kvm *k;
	struct kvm_vm *vm;
	int nvcpus;
};

static void world_init(struct world *w, const struct kvm_policy *pol, int nvcpus, bool ve)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	w->k = kvm_create(&p);
	assert_non_null(w->k);
	w->vm = kvm_create_vm(w->k, pol);
	assert_non_null(w->vm);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	if (ve)
		init.attributes = 0;	/* SEPT_VE_DISABLE clear: pending pages raise #VE */
	assert_int_equal(kvm_tdx_init_vm(w->vm, &init), 0);
	assert_int_equal(kvm_vmm_add_private_ram(w->vm, 0, SLOT_BASE, SLOT_SIZE), 0);
	for (int i = 0; i < nvcpus; i++) {
		assert_int_equal(kvm_create_vcpu(w->vm), i);
		assert_int_equal(kvm_tdx_init_vcpu(w->vm, i), 0);
	}
	w->nvcpus = nvcpus;
	assert_int_equal(kvm_tdx_finalize_vm(w->vm), 0);
}

static void world_fini(struct world *w)
{
	assert_int_equal(kvm_destroy_vm(w->vm), 0);
	assert_int_equal(kvm_hostmem(w->k)->allocated, 0);
	assert_int_equal(test_pamt_in_use(kvm_module(w->k)), 0);
	kvm_destroy(w->k);
}

/* What the vCPUs and the VM did, for a failing run. */
static void print_world(struct world *w)
{
	for (int i = 0; i < w->nvcpus; i++) {
		struct gvcpu *g = kvm_vcpu_guest(w->vm, i);
		const struct tdx_regs *x = tdx_vcpu_exit_regs(g->v);
		print_error("vcpu%d: '%s' rip %" PRIu64 " exits %" PRIu64 " ept %" PRIu64
			    " accept_busy %" PRIu64 " enter_busy %" PRIu64 " zs %" PRIu64
			    " last exit %#" PRIx64 "/%#" PRIx64 "/%#" PRIx64 "/%#" PRIx64 "\n",
			    i, g->why, g->rip, g->st.exits, g->st.ept_exits, g->st.accept_busy,
			    g->st.enter_busy, g->st.zero_step_refusals, x->rax, x->rcx, x->rdx, x->r8);
	}
	const struct kvm_vm_stats *vs = kvm_vm_stats(w->vm);
	print_error("vm: faults %" PRIu64 " retries %" PRIu64 " local %" PRIu64 " busy %" PRIu64
		    " memfaults %" PRIu64 " zapped %" PRIu64 " kicks %" PRIu64 " conversions %" PRIu64
		    "\n", vs->faults, vs->retries, vs->local_retries, vs->busy, vs->memory_faults,
		    vs->zapped, vs->kicks, vs->conversions);
}

static void ve_accept(struct gvcpu *g, const struct tdx_ve_info *ve)
{
	uint64_t st = guest_accept(g, ve->gpa & ~0xfffull, 0);
	task_check(st == TDX_SUCCESS || tdx_status_code(st) == TDX_PAGE_ALREADY_ACCEPTED);
}

/* ---- conversion round trips ---- */

#define PAGES_PER_VCPU 8

static uint64_t vcpu_base(int id)
{
	return SLOT_BASE + (uint64_t)id * PAGES_PER_VCPU * SZ_4K;
}

static uint64_t handoff;	/* vCPU 0 -> vCPU 1 through shared memory */
static uint64_t handoff_ack;	/* vCPU 1 read it: vCPU 0 may convert back */

static void convert_prog(struct gvcpu *g, void *arg)
{
	(void)arg;
	uint64_t base = vcpu_base(g->index), len = PAGES_PER_VCPU * SZ_4K;
	for (uint64_t p = 0; p < PAGES_PER_VCPU; p++) {
		task_check_eq(guest_accept(g, base + p * SZ_4K, 0), TDX_SUCCESS);
		guest_write64(g, base + p * SZ_4K, 0x1000 + p);
	}
	/* private -> shared: private contents are gone, shared memory is separate */
	task_check_eq(guest_map_gpa(g, base, len, true), TDVMCALL_STATUS_SUCCESS);
	for (uint64_t p = 0; p < PAGES_PER_VCPU; p++)
		guest_write64(g, guest_shared(g, base + p * SZ_4K) + 8, 0x5000 + p + 100 * (uint64_t)g->index);
	for (uint64_t p = 0; p < PAGES_PER_VCPU; p++)
		task_check_eq(guest_read64(g, guest_shared(g, base + p * SZ_4K) + 8),
				 0x5000 + p + 100 * (uint64_t)g->index);
	/* vCPU 0 tells vCPU 1 where its shared data is; vCPU 1 reads it */
	if (g->index == 0) {
		seam_store64(&handoff, guest_shared(g, base) + 8);
		while (!seam_load64(&handoff_ack))
			guest_read64(g, guest_shared(g, base) + 8);	/* spin in the guest */
	} else {
		while (!seam_load64(&handoff))
			guest_read64(g, guest_shared(g, base) + 8);
		task_check_eq(guest_read64(g, seam_load64(&handoff)), 0x5000);
		seam_store64(&handoff_ack, 1);
	}
	/* shared -> private: accept again, the page reads zero, data survives writes */
	task_check_eq(guest_map_gpa(g, base, len, false), TDVMCALL_STATUS_SUCCESS);
	for (uint64_t p = 0; p < PAGES_PER_VCPU; p++) {
		task_check_eq(guest_accept(g, base + p * SZ_4K, 0), TDX_SUCCESS);
		task_check_eq(guest_read64(g, base + p * SZ_4K), 0);
		guest_write64(g, base + p * SZ_4K, 0x9000 + p);
	}
	for (uint64_t p = 0; p < PAGES_PER_VCPU; p++)
		task_check_eq(guest_read64(g, base + p * SZ_4K), 0x9000 + p);
}

/* The VMM reads vCPU 1's shared data just before MapGPA makes it private again. */
static uint64_t seen_shared;
static int mapgpa_calls;

static uint64_t record_map_gpa(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t npages,
			       bool private, void *ctx)
{
	(void)ctx;
	mapgpa_calls++;
	task_check(!(gpa & BIT64(47)));		/* the shared bit is stripped */
	task_check_eq(npages, PAGES_PER_VCPU);
	if (private && vcpu == 1)
		task_check_eq(kvm_vm_read_shared(vm, gpa + 8, &seen_shared, 8), 0);
	return (uint64_t)(int64_t)kvm_vmm_convert(vm, gpa, npages * SZ_4K, private);
}

static void test_conversion_round_trip(void **state)
{
	(void)state;
	BANNER("private -> shared -> private with data checks on 2 vCPUs, random interleavings");
	uint64_t base = test_seed();
	for (uint64_t s = base; s < base + 20; s++) {
		struct world w;
		world_init(&w, NULL, 2, false);
		struct kvm_vmm_ops ops = { .map_gpa_range = record_map_gpa };
		kvm_set_vmm_ops(w.vm, &ops);
		seen_shared = 0;
		mapgpa_calls = 0;
		handoff = handoff_ack = 0;
		struct engine *e = engine_seeded(s, 0);
		static struct vjob j[2];
		for (int i = 0; i < 2; i++) {
			j[i] = (struct vjob){ w.vm, i, convert_prog, NULL, 0 };
			engine_spawn(e, "vcpu", vjob_task, &j[i]);
		}
		enum engine_outcome o = engine_run(e);
		if (o != ENGINE_OK || j[0].rc || j[1].rc) {
			engine_print_report(e, stderr);
			print_world(&w);
			fail();
		}
		/* the VMM saw what the guest wrote to shared memory, which is
		 * discarded once private again (QEMU's ram_block_discard_range) */
		assert_int_equal(seen_shared, 0x5000 + 100);
		assert_int_equal(mapgpa_calls, 4);
		uint64_t v = 1;
		assert_int_equal(kvm_vm_read_shared(w.vm, vcpu_base(1) + 8, &v, 8), 0);
		assert_int_equal(v, 0);
		const struct kvm_vm_stats *st = kvm_vm_stats(w.vm);
		assert_true(st->zapped >= 2 * PAGES_PER_VCPU);	/* to shared removed them */
		assert_true(st->conversions >= 4);
		assert_int_equal(st->memory_faults, 0);	/* the guest converted explicitly */
		engine_destroy(e);
		world_fini(&w);
	}
}

/* ---- hole punch while vCPUs run ---- */

#define PUNCH_PAGES 16
static uint64_t punch_phase;	/* 0: touching, 1: punch now, 2: punched */

static void punch_toucher(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_set_ve_handler(g, ve_accept);
	uint64_t base = SLOT_BASE + SZ_2M;
	for (uint64_t p = 0; p < PUNCH_PAGES; p++)
		guest_write64(g, base + p * SZ_4K, 0xabc0 + p);	/* #VE accepts each */
	seam_store64(&punch_phase, 1);
	while (seam_load64(&punch_phase) != 2)	/* keep running inside the TD, */
		guest_read64(g, base + (PUNCH_PAGES - 1) * SZ_4K);	/* off the hole */
	/* the punched pages come back empty: fault, AUG, #VE, accept */
	for (uint64_t p = 0; p < PUNCH_PAGES; p++) {
		uint64_t v = guest_read64(g, base + p * SZ_4K);
		task_check_eq(v, p < PUNCH_PAGES / 2 ? 0 : 0xabc0 + p);
	}
}

static struct world *punch_world;

static void puncher(void *arg)
{
	(void)arg;
	while (!seam_load64(&punch_phase))
		seam_yield();
	uint64_t before = kvm_hostmem(punch_world->k)->allocated;
	/* the first half of the range, by guest_memfd offset */
	task_check_eq(kvm_gmem_punch_hole(punch_world->vm, 0, SZ_2M, PUNCH_PAGES / 2 * SZ_4K), 0);
	task_check(kvm_hostmem(punch_world->k)->allocated <= before - PUNCH_PAGES / 2);
	for (uint64_t p = 0; p < PUNCH_PAGES; p++)
		task_check_eq(kvm_vm_private_mapped(punch_world->vm, SLOT_BASE + SZ_2M + p * SZ_4K),
				 p >= PUNCH_PAGES / 2);
	seam_store64(&punch_phase, 2);
}

static void test_hole_punch_while_running(void **state)
{
	(void)state;
	BANNER("punching a hole zaps the private pages first (BLOCK, TRACK, kick, REMOVE), then frees");
	uint64_t base = test_seed();
	for (uint64_t s = base; s < base + 20; s++) {
		struct world w;
		world_init(&w, NULL, 1, true);
		punch_world = &w;
		punch_phase = 0;
		struct engine *e = engine_seeded(s, 0);
		static struct vjob j;
		j = (struct vjob){ w.vm, 0, punch_toucher, NULL, 0 };
		engine_spawn(e, "vcpu0", vjob_task, &j);
		engine_spawn(e, "vmm", puncher, NULL);
		enum engine_outcome o = engine_run(e);
		if (o != ENGINE_OK || j.rc) {
			engine_print_report(e, stderr);
			print_error("vcpu: %s\n", kvm_vcpu_guest(w.vm, 0)->why);
			fail();
		}
		assert_true(kvm_vm_stats(w.vm)->kicks >= 1);	/* the vCPU was inside */
		assert_true(kvm_vm_stats(w.vm)->zapped >= PUNCH_PAGES / 2);
		engine_destroy(e);
		world_fini(&w);
	}
}

/* ---- memslot deletion during faults ---- */

#define SLOT1_BASE (SZ_1G)
static struct world *del_world;

/* Both vCPUs fault on the same pages: the loser of each race retries. */
static void slot1_toucher(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t p = 0;; p++)
		guest_accept(g, SLOT1_BASE + (p % 1024) * SZ_4K, 0);
}

/* Delete slot 1 while a fault on it is being retried. */
static void slot_deleter(void *arg)
{
	(void)arg;
	while (!kvm_vm_stats(del_world->vm)->local_retries &&
	       kvm_vm_stats(del_world->vm)->faults < 64)
		seam_yield();
	struct kvm_userspace_memory_region2 del = { .slot = 1 };	/* size 0: delete */
	task_check_eq(kvm_set_user_memory_region2(del_world->vm, &del), 0);
}

static enum engine_outcome run_delete(uint64_t seed, const struct kvm_policy *pol, int nvcpus,
				      char *why, size_t len)
{
	struct world w;
	world_init(&w, pol, nvcpus, false);
	/* a second slot, deleted while the vCPUs fault on it */
	assert_int_equal(kvm_vmm_add_private_ram(w.vm, 1, SLOT1_BASE, 4 * SZ_2M), 1);
	del_world = &w;
	struct engine *e = engine_seeded(seed, 300000);
	static struct vjob j[2];
	for (int i = 0; i < nvcpus; i++) {
		j[i] = (struct vjob){ w.vm, i, slot1_toucher, NULL, 0 };
		engine_spawn(e, "vcpu", vjob_task, &j[i]);
	}
	engine_spawn(e, "vmm", slot_deleter, NULL);
	enum engine_outcome o = engine_run(e);
	snprintf(why, len, "%s", o == ENGINE_OK ? kvm_vcpu_guest(w.vm, 0)->why : engine_report(e));
	engine_destroy(e);
	if (o == ENGINE_OK)
		world_fini(&w);
	else {
		kvm_vm_free_abandoned(w.vm);	/* the stuck vCPUs never stopped */
		kvm_destroy(w.k);
	}
	return o;
}

static void test_memslot_deletion_during_faults(void **state)
{
	(void)state;
	BANNER("memslot deletion during faults: local retry breaks out; without the break it livelocks");
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	char why[512];
	uint64_t base = test_seed();
	for (uint64_t s = base; s < base + 10; s++) {
		/* with the 6.18 break: deletion completes, the vCPUs meet "no memslot" */
		enum engine_outcome o = run_delete(s, &pol, 2, why, sizeof(why));
		if (o != ENGINE_OK)
			print_error("seed %" PRIu64 ": %s\n", s, why);
		assert_int_equal(o, ENGINE_OK);
		if (!strstr(why, "no memslot"))
			print_error("seed %" PRIu64 ": vCPU 0 stopped with: %s\n", s, why);
		assert_non_null(strstr(why, "no memslot"));
	}
	/* without it, a fault retrying on the invalid slot holds SRCU forever */
	pol.local_retry_slot_break = false;
	int stuck = 0;
	for (uint64_t s = base; s < base + 10; s++) {
		enum engine_outcome o = run_delete(s, &pol, 2, why, sizeof(why));
		if (o == ENGINE_OK)
			continue;
		/* the host-local retry watch names it, long before the step bound */
		if (o != ENGINE_LIVELOCK || !strstr(why, "times in a row inside KVM"))
			print_error("seed %" PRIu64 ": %s\n", s, why);
		assert_int_equal(o, ENGINE_LIVELOCK);
		assert_non_null(strstr(why, "times in a row inside KVM"));
		stuck++;
	}
	print_message("  without the break: %d of 10 runs livelocked (%s)\n", stuck, why);
	assert_true(stuck > 0);
	/*
	 * No local retry at all: the vCPU goes back to the guest, leaving the
	 * SRCU read side, and deletion completes.  (One vCPU: with two, a
	 * BUSY AUG that is not retried leaves the other's ACCEPT spinning on
	 * host priority, see test_guest.c.)
	 */
	pol.local_retry = false;
	for (uint64_t s = base; s < base + 5; s++) {
		enum engine_outcome o = run_delete(s, &pol, 1, why, sizeof(why));
		if (o != ENGINE_OK)
			print_error("no local retry, seed %" PRIu64 ": %s\n", s, why);
		assert_int_equal(o, ENGINE_OK);
	}
}

/* ---- BUSY handling per policy ---- */

#define CONTENDED 8

static void contend_acceptor(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_set_ve_handler(g, ve_accept);
	for (int round = 0; round < 6; round++)
		for (uint64_t p = 0; p < CONTENDED; p++) {
			uint64_t st = guest_accept(g, SLOT_BASE + p * SZ_4K, 0);
			(void)st;	/* SUCCESS or ALREADY_ACCEPTED */
			guest_write64(g, SLOT_BASE + p * SZ_4K, (uint64_t)round);
		}
}

static void contend_converter(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (int round = 0; round < 6; round++) {
		guest_map_gpa(g, SLOT_BASE, CONTENDED * SZ_4K, true);
		guest_map_gpa(g, SLOT_BASE, CONTENDED * SZ_4K, false);
	}
}

struct busy_result {
	int dead;
	uint64_t busy;
};

static struct busy_result run_contention(const struct kvm_policy *pol, uint64_t seeds)
{
	struct busy_result r = { 0, 0 };
	for (uint64_t s = 1; s <= seeds; s++) {
		struct world w;
		world_init(&w, pol, 2, true);
		struct engine *e = engine_seeded(s, 0);
		static struct vjob j[2];
		j[0] = (struct vjob){ w.vm, 0, contend_acceptor, NULL, 0 };
		j[1] = (struct vjob){ w.vm, 1, contend_converter, NULL, 0 };
		engine_spawn(e, "acceptor", vjob_task, &j[0]);
		engine_spawn(e, "converter", vjob_task, &j[1]);
		enum engine_outcome o = engine_run(e);
		if (o != ENGINE_OK) {
			engine_print_report(e, stderr);
			print_world(&w);
			const char *why;
			if (kvm_vm_dead(w.vm, &why))
				print_error("seed %" PRIu64 ": VM dead: %s\n", s, why);
			fail();
		}
		r.dead += kvm_vm_dead(w.vm, NULL);
		r.busy += kvm_vm_stats(w.vm)->busy;
		engine_destroy(e);
		world_fini(&w);
	}
	return r;
}

static void test_busy_policies(void **state)
{
	(void)state;
	BANNER("BUSY from the module under contention: kick-retry and retry-n(64) cope, retry-n(1) kills");
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	struct busy_result kr = run_contention(&pol, 30);
	print_message("  kick-retry: %" PRIu64 " BUSY answers, %d VMs killed\n", kr.busy, kr.dead);
	assert_true(kr.busy > 0);
	assert_int_equal(kr.dead, 0);
	kvm_policy_set(&pol, "busy", "retry-n");
	kvm_policy_set(&pol, "retry_n", "64");
	struct busy_result r64 = run_contention(&pol, 30);
	print_message("  retry-n(64): %" PRIu64 " BUSY answers, %d VMs killed\n", r64.busy, r64.dead);
	assert_int_equal(r64.dead, 0);
	kvm_policy_set(&pol, "retry_n", "1");
	struct busy_result r1 = run_contention(&pol, 30);
	print_message("  retry-n(1): %" PRIu64 " BUSY answers, %d VMs killed\n", r1.busy, r1.dead);
	assert_true(r1.dead > 0);
}

/* ---- single-vCPU runs without the engine ---- */

static void touch_2m(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t p = 0; p < 512; p++) {
		task_check_eq(guest_accept(g, SLOT_BASE + SZ_2M + p * SZ_4K, 0), TDX_SUCCESS);
		guest_write64(g, SLOT_BASE + SZ_2M + p * SZ_4K, p);
	}
}

static void world_init_frag(struct world *w, double frag)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	p.fragmentation = frag;
	w->k = kvm_create(&p);
	assert_non_null(w->k);
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	pol.folio = FOLIO_2M;	/* the HugeTLB-backed guest_memfd */
	w->vm = kvm_create_vm(w->k, &pol);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(w->vm, &init), 0);
	assert_int_equal(kvm_vmm_add_private_ram(w->vm, 0, SLOT_BASE, SLOT_SIZE), 0);
	assert_int_equal(kvm_create_vcpu(w->vm), 0);
	assert_int_equal(kvm_tdx_init_vcpu(w->vm, 0), 0);
	assert_int_equal(kvm_tdx_finalize_vm(w->vm), 0);
	w->nvcpus = 1;
}

static void test_fragmentation(void **state)
{
	(void)state;
	BANNER("fragmentation decides whether guest_memfd gets 2M folios");
	struct world w;
	uint64_t n2m, n4k;
	world_init_frag(&w, 0.0);
	assert_int_equal(kvm_vcpu_run(w.vm, 0, touch_2m, NULL), 0);
	assert_int_equal(kvm_vm_gmem_folios(w.vm, 0, &n2m, &n4k), 0);
	assert_int_equal(n2m, 1);	/* one 2M folio backs the 2M the guest used */
	assert_int_equal(n4k, 0);
	world_fini(&w);
	world_init_frag(&w, 1.0);	/* every 2M block has a pinned page */
	assert_int_equal(hostmem_free_2m_blocks(kvm_hostmem(w.k)), 0);
	assert_int_equal(kvm_vcpu_run(w.vm, 0, touch_2m, NULL), 0);
	assert_int_equal(kvm_vm_gmem_folios(w.vm, 0, &n2m, &n4k), 0);
	assert_int_equal(n2m, 0);
	assert_int_equal(n4k, 512);
	world_fini(&w);
}

static void touch_unaccepted(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_write64(g, SLOT_BASE, 1);	/* no ACCEPT first */
}

static int converted;

static int count_and_convert(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t size,
			     bool private, void *ctx)
{
	(void)ctx;
	task_check_eq(vcpu, 0);
	task_check_eq(size, SZ_4K);
	converted++;
	return kvm_vmm_convert(vm, gpa, size, private);
}

static void shared_then_private(struct gvcpu *g, void *arg)
{
	(void)arg;
	/* a shared access to private memory: the VMM converts it (implicit conversion) */
	guest_write64(g, guest_shared(g, SLOT_BASE + 0x10000), 0x5eed);
	task_check_eq(guest_read64(g, guest_shared(g, SLOT_BASE + 0x10000)), 0x5eed);
	/* and back: a private ACCEPT of it converts it back to private */
	task_check_eq(guest_accept(g, SLOT_BASE + 0x10000, 0), TDX_SUCCESS);
	task_check_eq(guest_read64(g, SLOT_BASE + 0x10000), 0);
}

static void test_exits(void **state)
{
	(void)state;
	BANNER("exits: access before ACCEPT kills the VM; attribute mismatches go to the VMM");
	struct world w;
	world_init(&w, NULL, 1, false);
	assert_int_equal(kvm_vcpu_run(w.vm, 0, touch_unaccepted, NULL), -EIO);
	const char *why;
	assert_true(kvm_vm_dead(w.vm, &why));
	assert_non_null(strstr(why, "guest access before accepting"));
	world_fini(&w);

	world_init(&w, NULL, 1, false);
	struct kvm_vmm_ops ops = { .memory_fault = count_and_convert };
	kvm_set_vmm_ops(w.vm, &ops);
	converted = 0;
	assert_int_equal(kvm_vcpu_run(w.vm, 0, shared_then_private, NULL), 0);
	assert_int_equal(converted, 2);
	assert_int_equal(kvm_vm_stats(w.vm)->memory_faults, 2);
	/* converting back to private discarded the shared page, as QEMU does */
	uint64_t v = 1;
	assert_int_equal(kvm_vm_read_shared(w.vm, SLOT_BASE + 0x10000, &v, 8), 0);
	assert_int_equal(v, 0);
	world_fini(&w);
}

/* ---- everything at once: random guest and VMM operations on a few pages ---- */

#define CHAOS_PAGES 48
#define CHAOS_OPS 200
static struct world *chaos_world;
static uint64_t chaos_done;	/* vCPUs finished */
static uint64_t chaos_seed;

/* What a private read may return at @gpa: zero, or a value some vCPU wrote there. */
static uint64_t chaos_tag(uint64_t gpa, int vcpu, uint64_t n)
{
	return (gpa << 16) | ((uint64_t)vcpu << 12) | (n & 0xfff) | 1;
}

static bool chaos_read_ok(uint64_t gpa, uint64_t v)
{
	return v == 0 || (v >> 16) == gpa;
}

/* ---- a guest access is one instruction ---- */

#define ATOMIC_A (SLOT_BASE + 0x10000)
#define ATOMIC_B (SLOT_BASE + 0x20000)
#define ATOMIC_OPS 60
static uint64_t atomic_done;

static void atomic_writer(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t n = 0; n < ATOMIC_OPS; n++)
		guest_write64(g, guest_shared(g, ATOMIC_A), chaos_tag(ATOMIC_A, 0, n));
}

static void atomic_reader(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t n = 0; n < ATOMIC_OPS; n++) {
		uint64_t v = guest_read64(g, guest_shared(g, ATOMIC_B));
		if (v && v >> 16 != ATOMIC_B)
			gvcpu_kill(g, "shared read at B returned %#" PRIx64 ", written at A", v);
	}
}

/* A vCPU task that counts itself done however its program ended (a kill too). */
static void atomic_task(void *p)
{
	vjob_task(p);
	seam_fetch_add64(&atomic_done, 1);
}

/* QEMU converts A and B to private and back: their shared pages are freed and reused. */
static void atomic_vmm(void *arg)
{
	struct world *w = arg;
	for (bool priv = true; seam_load64(&atomic_done) < 2; priv = !priv) {
		task_check_eq(kvm_vmm_convert(w->vm, ATOMIC_A, SZ_4K, priv), 0);
		task_check_eq(kvm_vmm_convert(w->vm, ATOMIC_B, SZ_4K, priv), 0);
	}
}

static void test_guest_access_is_atomic(void **state)
{
	(void)state;
	BANNER("a guest access translates and accesses in one step: the VMM cannot free a "
	       "shared page between the two (a late write would land in a page reused for "
	       "another GPA)");
	uint64_t base = test_seed();
	for (uint64_t s = base; s < base + 200; s++) {
		struct kvm_policy pol;
		kvm_policy_default(&pol);
		struct world w;
		world_init(&w, &pol, 2, true);
		atomic_done = 0;
		struct engine *e = engine_seeded(s, 1000000);
		static struct vjob j[2];
		j[0] = (struct vjob){ w.vm, 0, atomic_writer, NULL, 0 };
		j[1] = (struct vjob){ w.vm, 1, atomic_reader, NULL, 0 };
		engine_spawn(e, "writer", atomic_task, &j[0]);
		engine_spawn(e, "reader", atomic_task, &j[1]);
		engine_spawn(e, "vmm", atomic_vmm, &w);
		enum engine_outcome o = engine_run(e);
		if (o != ENGINE_OK || j[0].rc || j[1].rc || kvm_vm_dead(w.vm, NULL)) {
			engine_print_report(e, stderr);
			print_error("seed %" PRIu64 "\n", s);
			print_world(&w);
			fail();
		}
		engine_destroy(e);
		world_fini(&w);
	}
}

static void chaos_ve(struct gvcpu *g, const struct tdx_ve_info *ve)
{
	uint64_t st = guest_accept(g, ve->gpa & ~0xfffull, 0);
	task_check(st == TDX_SUCCESS || tdx_status_code(st) == TDX_PAGE_ALREADY_ACCEPTED);
}

static void chaos_guest(struct gvcpu *g, void *arg)
{
	(void)arg;
	uint64_t r = chaos_seed * 31 + (uint64_t)g->index + 1;
	guest_set_ve_handler(g, chaos_ve);
	for (uint64_t n = 0; n < CHAOS_OPS; n++) {
		uint64_t x = test_rand(&r);
		uint64_t gpa = SLOT_BASE + (x % CHAOS_PAGES) * SZ_4K;
		switch ((x >> 32) % 6) {
		case 0: {
			uint64_t st = guest_accept(g, gpa, 0);
			task_check(st == TDX_SUCCESS || tdx_status_code(st) == TDX_PAGE_ALREADY_ACCEPTED);
			break;
		}
		case 1:
			guest_write64(g, gpa, chaos_tag(gpa, g->index, n));
			break;
		case 2: {
			uint64_t v = guest_read64(g, gpa);
			if (!chaos_read_ok(gpa, v))
				gvcpu_kill(g, "private read at %#" PRIx64 " returned %#" PRIx64
					   ", written at another GPA", gpa, v);
			break;
		}
		case 3:
			task_check_eq(guest_map_gpa(g, gpa, SZ_4K, (x >> 40) & 1),
				      TDVMCALL_STATUS_SUCCESS);
			break;
		case 4:
			guest_write64(g, guest_shared(g, gpa) + 8, chaos_tag(gpa, g->index, n));
			break;
		default: {
			uint64_t v = guest_read64(g, guest_shared(g, gpa) + 8);
			if (!chaos_read_ok(gpa, v))
				gvcpu_kill(g, "shared read at %#" PRIx64 " returned %#" PRIx64, gpa, v);
			break;
		}
		}
	}
}

/* Counted however the program ended, so the VMM stops after a kill too. */
static void chaos_task(void *p)
{
	vjob_task(p);
	seam_fetch_add64(&chaos_done, 1);
}

static bool chaos_pressure;	/* this run exhausts host memory at some point */

/*
 * The VMM: hole punches, attribute changes and QEMU-style conversions of
 * its own until the vCPUs are done.  Under pressure it lets host memory
 * run out once, which may kill the VM from a vCPU fault; it then goes on
 * punching the dead VM's guest_memfd a few times (the TD's pages stay).
 */
static void chaos_vmm(void *arg)
{
	(void)arg;
	uint64_t r = chaos_seed * 17 + 99;
	struct kvm_vm *vm = chaos_world->vm;
	struct hostmem *hm = kvm_hostmem(chaos_world->k);
	int after_death = 4;
	uint64_t squeeze_at = chaos_pressure ? 5 + chaos_seed % 40 : ~0ull;
	for (uint64_t n = 0; seam_load64(&chaos_done) < (uint64_t)chaos_world->nvcpus; n++) {
		bool dead = kvm_vm_dead(vm, NULL);
		if (dead && !after_death--)
			break;
		uint64_t x = test_rand(&r);
		uint64_t page = x % CHAOS_PAGES, len = (1 + (x >> 8) % 4) * SZ_4K;
		if (page * SZ_4K + len > CHAOS_PAGES * SZ_4K)
			len = CHAOS_PAGES * SZ_4K - page * SZ_4K;
		if (n == squeeze_at)
			hostmem_set_limit(hm, hm->allocated + (x >> 24) % 6);
		if (n == squeeze_at + 8)
			hostmem_set_limit(hm, UINT64_MAX);
		int rc;
		switch ((x >> 16) % 3) {
		case 0:
			rc = kvm_gmem_punch_hole(vm, 0, page * SZ_4K, len);
			break;
		case 1:
			rc = kvm_set_memory_attributes(vm, SLOT_BASE + page * SZ_4K, len,
						       (x >> 18) & 1 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
			break;
		default:
			rc = kvm_vmm_convert(vm, SLOT_BASE + page * SZ_4K, len, (x >> 18) & 1);
			break;
		}
		/* -EIO only once the VM died (maybe during this very call) */
		if (rc && !(rc == -EIO && kvm_vm_dead(vm, NULL)))
			engine_fail("VMM call %" PRIu64 " returned %d", n, rc);
		for (uint64_t y = (x >> 20) % 64; y; y--)
			seam_yield();
	}
	hostmem_set_limit(hm, UINT64_MAX);
}

/*
 * A vCPU the zero-step filter keeps out: its last exit is the synthesized
 * EPT violation (qualification 0x2) and it was refused over and over.  The
 * GPA it reports is PENDING (KVM AUGed it; only the guest could accept it)
 * or, when the VMM just zapped it, FREE until KVM maps it again.
 */
static bool zs_starved(struct world *w)
{
	for (int i = 0; i < w->nvcpus; i++) {
		struct gvcpu *g = kvm_vcpu_guest(w->vm, i);
		const struct tdx_regs *x = tdx_vcpu_exit_regs(g->v);
		if (!tdx_vcpu_in_td(g->v) && x->rax == EXIT_REASON_EPT_VIOLATION && x->rcx == 0x2 &&
		    g->st.zero_step_refusals >= 1000)
			return true;
	}
	return false;
}

static void test_everything_at_once(void **state)
{
	(void)state;
	BANNER("2 vCPUs accept, write, read, convert; the VMM punches, converts and sometimes "
	       "exhausts host memory: no kill but that, no stale data, nothing left");
	static const char *const variants[][2] = {
		{ "busy", "kick-retry" }, { "busy", "retry-n" }, { "local_retry", "on" },
		{ "slot_break", "on" },
	};
	uint64_t base = test_seed();
	unsigned killed = 0, starved = 0;
	for (uint64_t s = base; s < base + 48; s++) {
		struct kvm_policy pol;
		kvm_policy_default(&pol);
		const char *const *v = variants[s % 4];
		assert_int_equal(kvm_policy_set(&pol, v[0], v[1]), 0);
		struct world w;
		world_init(&w, &pol, 2, true);
		chaos_world = &w;
		chaos_done = 0;
		chaos_seed = s;
		chaos_pressure = s % 3 == 0;
		struct engine *e = engine_seeded(s, 4000000);
		static struct vjob j[2];
		for (int i = 0; i < 2; i++) {
			j[i] = (struct vjob){ w.vm, i, chaos_guest, NULL, 0 };
			engine_spawn(e, "vcpu", chaos_task, &j[i]);
		}
		engine_spawn(e, "vmm", chaos_vmm, NULL);
		enum engine_outcome o = engine_run(e);
		const char *why = "";
		bool dead = kvm_vm_dead(w.vm, &why);
		/* the only acceptable death: host memory ran out under a vCPU fault */
		bool ok_death = dead && chaos_pressure && strstr(why, "out of host memory") &&
				(j[0].rc == -EIO || j[1].rc == -EIO);
		/*
		 * The one acceptable livelock: the 1.5 module's zero-step filter
		 * counts a PENDING leaf as faulting (td_exit_stepping.c,
		 * is_epf_expected), so once a GPA this #VE-taking guest faulted on
		 * 7 times at one RIP is logged and KVM maps it by AUG, VP.ENTER
		 * refuses that vCPU for good (it can neither accept the page nor
		 * move on).  The run then ends at the step bound with the vCPU's
		 * last exit the synthesized one.  The simulator let such a vCPU in
		 * (and took the #VE) before it followed the module; about 40% of
		 * these runs starve now.
		 */
		if (o == ENGINE_STEP_BOUND && zs_starved(&w)) {
			starved++;
			engine_destroy(e);
			/* vCPUs are still inside the TD: it cannot be torn down */
			kvm_vm_free_abandoned(w.vm);
			kvm_destroy(w.k);
			continue;
		}
		if (o != ENGINE_OK || (dead && !ok_death) || (!dead && (j[0].rc || j[1].rc))) {
			engine_print_report(e, stderr);
			print_error("seed %" PRIu64 " (%s=%s)%s\n", s, v[0], v[1],
				    dead ? why : "");
			print_world(&w);
			fail();
		}
		killed += dead;
		const struct kvm_vm_stats *st = kvm_vm_stats(w.vm);
		/* a run the VM survived mapped, zapped and converted; one killed by
		 * exhaustion may have died before its first private map */
		if (!dead && !(st->private_maps > 0 && st->zapped > 0 && st->conversions > 0)) {
			print_error("seed %" PRIu64 " (%s=%s): the run did not exercise the host\n", s,
				    v[0], v[1]);
			print_world(&w);
			fail();
		}
		engine_destroy(e);
		world_fini(&w);
	}
	print_message("  %u of 48 runs ended with the VM killed by host memory exhaustion, "
		      "%u starved by the zero-step filter\n", killed, starved);
	assert_true(starved < 48);	/* most runs still get through */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversion_round_trip),
		cmocka_unit_test(test_hole_punch_while_running),
		cmocka_unit_test(test_memslot_deletion_during_faults),
		cmocka_unit_test(test_busy_policies),
		cmocka_unit_test(test_fragmentation),
		cmocka_unit_test(test_exits),
		cmocka_unit_test(test_guest_access_is_atomic),
		cmocka_unit_test(test_everything_at_once),
	};
	return cmocka_run_group_tests_name("host under the engine", tests, NULL, NULL);
}
