/* SPDX-License-Identifier: MIT */
/*
 * The host's 2M private mappings under the designs the seeds argue about
 * (kvm-tdx.md section 3): seed 001's rare case under each design, two vCPUs
 * accepting one 2M range at 2M and at 4K, conversion and hole punch inside
 * a 2M mapping, fragmentation, teardown, and the denial of service of a
 * module without enhanced demote interruptibility.
 */
#include <inttypes.h>
#include <string.h>

#include "testlib.h"
#include "../src/engine/engine.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"
#include "vjob.h"

#define SLOT_BASE 0x200000ull	/* slot 0: [2 MiB, 66 MiB), 2M aligned for 2M folios */
#define SLOT_SIZE (64ull << 20)
#define RANGE 0x400000ull	/* the 2M range the guests use */

struct world {
	struct kvm *k;
	struct kvm_vm *vm;
	int nvcpus;
};

struct wopts {
	enum kvm_map_level level;
	bool promote;			/* policy "promote" */
	bool dpamt;			/* Dynamic PAMT, module and host */
	bool ve;			/* pending pages raise #VE (SEPT_VE_DISABLE clear) */
	bool enhanced;			/* the module's enhanced demote interruptibility */
	bool nbr;			/* the module's proposed non-blocking resize */
	bool explicit_attr;		/* the TD has SEPT_EXPLICIT_DEMOTION */
	double fragmentation;
	int nvcpus;
};

static void world_init(struct world *w, const struct wopts *o)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	p.enhanced_demote = o->enhanced;
	p.nonblocking_resize = o->nbr;
	p.explicit_demotion = true;
	p.fragmentation = o->fragmentation;
	if (o->dpamt) {
		p.dynamic_pamt = true;
		p.max_pa = 48;	/* Dynamic PAMT needs at most 48 bits */
	}
	w->k = kvm_create(&p);
	assert_non_null(w->k);
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	pol.max_level = o->level;
	pol.folio = FOLIO_2M;
	pol.promote = o->promote;
	pol.dpamt = o->dpamt;
	w->vm = kvm_create_vm(w->k, &pol);
	assert_non_null(w->vm);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	if (o->ve)
		init.attributes = 0;
	if (o->explicit_attr)
		init.attributes |= TD_ATTR_SEPT_EXPLICIT_DEMOTION;
	assert_int_equal(kvm_tdx_init_vm(w->vm, &init), 0);
	assert_int_equal(kvm_vmm_add_private_ram(w->vm, 0, SLOT_BASE, SLOT_SIZE), 0);
	w->nvcpus = o->nvcpus ? o->nvcpus : 1;
	for (int i = 0; i < w->nvcpus; i++) {
		assert_int_equal(kvm_create_vcpu(w->vm), i);
		assert_int_equal(kvm_tdx_init_vcpu(w->vm, i), 0);
	}
	assert_int_equal(kvm_tdx_finalize_vm(w->vm), 0);
}

/* Teardown leaves nothing: host allocator and PAMT both empty. */
static void world_fini(struct world *w)
{
	assert_int_equal(kvm_destroy_vm(w->vm), 0);
	assert_int_equal(kvm_hostmem(w->k)->allocated, 0);
	assert_int_equal(test_pamt_in_use(kvm_module(w->k)), 0);
	kvm_destroy(w->k);
}

static void world_init_promote(struct world *w, const struct wopts *o)
{
	struct wopts p = *o;
	p.promote = true;
	world_init(w, &p);
}

static const struct kvm_vm_stats *stats(struct world *w)
{
	return kvm_vm_stats(w->vm);
}

/* ---- seed 001's rare case ---- */

static void ve_accept_4k(struct gvcpu *g, const struct tdx_ve_info *ve)
{
	uint64_t st = guest_accept(g, ve->gpa & ~0xfffull, 0);
	if (tdx_status_code(st) != TDX_SUCCESS && tdx_status_code(st) != TDX_PAGE_ALREADY_ACCEPTED)
		gvcpu_kill(g, "guest panic: #VE accept at %#" PRIx64 ": %s", ve->gpa,
			   tdx_status_name(st));
}

/* A TD that takes #VE touches 2M before accepting; its handler accepts at 4K. */
static void rare_case(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_set_ve_handler(g, ve_accept_4k);
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K)
		guest_write64(g, a, a ^ 0x5eed);
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K)
		task_check_eq(guest_read64(g, a), a ^ 0x5eed);
}

static enum engine_outcome run1(struct world *w, void (*prog)(struct gvcpu *, void *),
				uint64_t seed, struct engine **ep)
{
	struct engine *e = engine_seeded(seed, 4000000);
	static struct vjob j;
	j = (struct vjob){ w->vm, 0, prog, NULL, 0 };
	engine_spawn(e, "vcpu0", vjob_task, &j);
	enum engine_outcome o = engine_run(e);
	*ep = e;
	return o;
}

static void test_rare_case_per_design(void **state)
{
	(void)state;
	BANNER("seed 001's rare case: huge-rfc1 livelocks (vCPU and GPA named), the others make progress");
	static const enum kvm_map_level designs[] = { MAP_LEVEL_4K, MAP_LEVEL_HUGE_RFC1,
						      MAP_LEVEL_HUGE_V5, MAP_LEVEL_HUGE_NBR,
						      MAP_LEVEL_EXPLICIT };
	for (size_t i = 0; i < sizeof(designs) / sizeof(designs[0]); i++) {
		struct wopts o = { .level = designs[i], .ve = true, .enhanced = true, .nbr = true };
		struct world w;
		world_init(&w, &o);
		struct engine *e;
		enum engine_outcome out = run1(&w, rare_case, 1, &e);
		const struct kvm_vm_stats *st = stats(&w);
		print_message("    %-17s %-9s 2M maps %" PRIu64 ", splits excl %" PRIu64 " shared %" PRIu64
			      " ignored %" PRIu64 ", exclusive mmu_lock %" PRIu64 ", inhibits %" PRIu64 "\n",
			      kvm_policy_level_name(designs[i]), engine_outcome_name(out), st->maps_2m,
			      st->splits_exclusive, st->splits_shared, st->splits_ignored,
			      st->mmu_write_locks, st->inhibits);
		if (designs[i] == MAP_LEVEL_HUGE_RFC1) {
			assert_int_equal(out, ENGINE_LIVELOCK);
			const char *rep = engine_report(e);
			assert_non_null(strstr(rep, "vcpu0"));
			assert_non_null(strstr(rep, "GPA 0x400000"));
			assert_non_null(strstr(rep, "ignored the split"));
			assert_int_equal(st->maps_2m, 1);
			engine_destroy(e);
			kvm_vm_free_abandoned(w.vm);	/* the vCPU never left */
			kvm_destroy(w.k);
			continue;
		}
		if (out != ENGINE_OK)
			engine_print_report(e, stderr);
		assert_int_equal(out, ENGINE_OK);
		switch (designs[i]) {
		case MAP_LEVEL_4K:
		case MAP_LEVEL_EXPLICIT:	/* no attribute: an exit without level info maps 4K */
			assert_int_equal(st->maps_2m, 0);
			assert_int_equal(st->private_maps, 512);
			break;
		case MAP_LEVEL_HUGE_V5:
			/* one 2M map, one exclusive split at the first 4K ACCEPT, one inhibit */
			assert_int_equal(st->maps_2m, 1);
			assert_int_equal(st->splits_exclusive, 1);
			assert_int_equal(st->inhibits, 1);
			break;
		case MAP_LEVEL_HUGE_NBR:
			/* the fault splits under the shared lock: no exclusive acquisition */
			assert_int_equal(st->maps_2m, 1);
			assert_int_equal(st->splits_shared, 1);
			assert_int_equal(st->splits_exclusive, 0);
			assert_int_equal(st->inhibits, 1);
			break;
		default:
			break;
		}
		engine_destroy(e);
		world_fini(&w);
	}
}

/* ---- two vCPUs accepting one 2M range at 2M and at 4K ---- */

static int done_accepting;
static unsigned accepted_by[512];	/* successful ACCEPTs covering each 4K page */

static void count_ok(uint64_t st, uint64_t gpa, int level)
{
	if (tdx_status_code(st) != TDX_SUCCESS)
		return;
	unsigned first = (unsigned)((gpa - RANGE) >> 12), n = level ? 512 : 1;
	for (unsigned i = first; i < first + n; i++)
		accepted_by[i]++;
}

static void accept_4k_all(struct gvcpu *g)
{
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K) {
		uint64_t st = guest_accept(g, a, 0);
		uint64_t c = tdx_status_code(st);
		task_check(c == TDX_SUCCESS || c == TDX_PAGE_ALREADY_ACCEPTED);
		count_ok(st, a, 0);
	}
}

/* Both vCPUs accept, wait for each other, then write and read their own word. */
static void mixed_accept(struct gvcpu *g, void *arg)
{
	int id = (int)(uintptr_t)arg;
	if (id == 0) {
		uint64_t st = guest_accept(g, RANGE, 1);
		uint64_t c = tdx_status_code(st);
		count_ok(st, RANGE, 1);
		/* mapped 4K after all (split, or 4K tables first): accept what is left */
		if (c == TDX_PAGE_SIZE_MISMATCH)
			accept_4k_all(g);
		else
			task_check(c == TDX_SUCCESS || c == TDX_PAGE_ALREADY_ACCEPTED);
	} else {
		accept_4k_all(g);
	}
	done_accepting++;
	while (done_accepting < 2)
		guest_relax(g);
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K)
		guest_write64(g, a + 8 * (uint64_t)id, a ^ (uint64_t)id);
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K)
		task_check_eq(guest_read64(g, a + 8 * (uint64_t)id), a ^ (uint64_t)id);
}

static void test_mixed_level_accepts(void **state)
{
	(void)state;
	BANNER("two vCPUs accept one 2M range at 2M and at 4K, 200 seeds per design: each page accepted once, no data lost");
	static const enum kvm_map_level designs[] = { MAP_LEVEL_4K, MAP_LEVEL_HUGE_RFC1,
						      MAP_LEVEL_HUGE_V5, MAP_LEVEL_HUGE_NBR,
						      MAP_LEVEL_EXPLICIT };
	for (size_t d = 0; d < sizeof(designs) / sizeof(designs[0]); d++) {
		unsigned ok = 0, livelocks = 0;
		uint64_t maps2m = 0, splits = 0;
		for (uint64_t seed = 1; seed <= 200; seed++) {
			struct wopts o = { .level = designs[d], .enhanced = true, .nbr = true, .nvcpus = 2 };
			struct world w;
			world_init(&w, &o);
			done_accepting = 0;
			memset(accepted_by, 0, sizeof(accepted_by));
			struct engine *e = engine_seeded(seed, 4000000);
			static struct vjob j[2];
			for (int i = 0; i < 2; i++) {
				j[i] = (struct vjob){ w.vm, i, mixed_accept, (void *)(uintptr_t)i, 0 };
				engine_spawn(e, i ? "vcpu1" : "vcpu0", vjob_task, &j[i]);
			}
			enum engine_outcome out = engine_run(e);
			const struct kvm_vm_stats *st = stats(&w);
			maps2m += st->maps_2m;
			splits += st->splits_exclusive + st->splits_shared;
			if (out == ENGINE_LIVELOCK && designs[d] == MAP_LEVEL_HUGE_RFC1) {
				livelocks++;	/* the design's known outcome */
				engine_destroy(e);
				kvm_vm_free_abandoned(w.vm);
				kvm_destroy(w.k);
				continue;
			}
			if (out != ENGINE_OK || j[0].rc || j[1].rc) {
				engine_print_report(e, stderr);
				fail_msg("%s seed %" PRIu64 ": %s", kvm_policy_level_name(designs[d]), seed,
					 engine_outcome_name(out));
			}
			for (int i = 0; i < 512; i++)
				if (accepted_by[i] != 1)
					fail_msg("%s seed %" PRIu64 ": page %d accepted %u times",
						 kvm_policy_level_name(designs[d]), seed, i, accepted_by[i]);
			assert_false(kvm_vm_dead(w.vm, NULL));
			ok++;
			engine_destroy(e);
			world_fini(&w);
		}
		print_message("    %-17s ok %u, livelock %u; 2M maps %" PRIu64 ", splits %" PRIu64 "\n",
			      kvm_policy_level_name(designs[d]), ok, livelocks, maps2m, splits);
		assert_int_equal(ok + livelocks, 200);
		if (designs[d] != MAP_LEVEL_4K)
			assert_true(maps2m > 0);	/* the race between 2M and 4K really ran */
	}
}

/* ---- conversion and hole punch inside an accepted 2M mapping ---- */

#define K_PAGE 77	/* the page converted / punched */

static void accept2m_write(struct gvcpu *g, void *arg)
{
	(void)arg;
	task_check_eq(guest_accept(g, RANGE, 1), TDX_SUCCESS);
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K)
		guest_write64(g, a + 16, a * 3);
}

static void reaccept_read(struct gvcpu *g, void *arg)
{
	(void)arg;
	uint64_t k = RANGE + K_PAGE * SZ_4K;
	task_check_eq(guest_accept(g, k, 0), TDX_SUCCESS);	/* private again: a new page */
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K)
		task_check_eq(guest_read64(g, a + 16), a == k ? 0 : a * 3);
}

static void run_ok(struct world *w, void (*prog)(struct gvcpu *, void *))
{
	struct engine *e;
	enum engine_outcome out = run1(w, prog, 1, &e);
	if (out != ENGINE_OK)
		engine_print_report(e, stderr);
	assert_int_equal(out, ENGINE_OK);
	engine_destroy(e);
}

static void test_convert_and_punch_inside_2m(void **state)
{
	(void)state;
	BANNER("one 4K page of an accepted 2M mapping converted to shared and back, or punched: the other 511 keep their data");
	static const enum kvm_map_level designs[] = { MAP_LEVEL_HUGE_V5, MAP_LEVEL_HUGE_NBR,
						      MAP_LEVEL_HUGE_RFC1, MAP_LEVEL_EXPLICIT };
	for (size_t d = 0; d < sizeof(designs) / sizeof(designs[0]); d++) {
		for (int punch = 0; punch < 2; punch++) {
			struct wopts o = { .level = designs[d], .enhanced = true, .nbr = true };
			struct world w;
			world_init(&w, &o);
			run_ok(&w, accept2m_write);
			assert_int_equal(stats(&w)->maps_2m, 1);
			uint64_t k = RANGE + K_PAGE * SZ_4K;
			if (punch) {
				/* the VMM punches the page out of the 2M folio */
				assert_int_equal(kvm_gmem_punch_hole(w.vm, 0, k - SLOT_BASE, SZ_4K), 0);
			} else {
				assert_int_equal(kvm_vmm_convert(w.vm, k, SZ_4K, false), 0);
				assert_false(kvm_vm_private_mapped(w.vm, k));
				assert_int_equal(kvm_vmm_convert(w.vm, k, SZ_4K, true), 0);
			}
			/* split, not zapped whole: the neighbours are still mapped */
			assert_int_equal(stats(&w)->splits_exclusive, 1);
			assert_true(kvm_vm_private_mapped(w.vm, k - SZ_4K));
			assert_true(kvm_vm_private_mapped(w.vm, k + SZ_4K));
			assert_false(kvm_vm_private_mapped(w.vm, k));
			if (punch) {
				uint64_t n2m, n4k;
				assert_int_equal(kvm_vm_gmem_folios(w.vm, 0, &n2m, &n4k), 0);
				assert_int_equal(n2m, 0);	/* the folio was split after the zap */
				assert_int_equal(n4k, 511);
			}
			run_ok(&w, reaccept_read);
			world_fini(&w);
		}
	}
}

/* ---- fragmentation, the module's features ---- */

/* One vCPU accepting at 2M, falling back to 4K, then using its pages. */
static void mixed_accept_solo(struct gvcpu *g, void *arg)
{
	(void)arg;
	done_accepting = 1;
	mixed_accept(g, (void *)(uintptr_t)0);
}

/* The VMM converts one page of the 2M mapping to shared (a split first). */
static void convert_one_task(void *arg)
{
	struct world *w = arg;
	kvm_vmm_convert(w->vm, RANGE + K_PAGE * SZ_4K, SZ_4K, false);
}

static void test_fragmented_falls_back(void **state)
{
	(void)state;
	BANNER("fragmented host memory (no whole 2M block): 4K folios, 4K mappings, the 2M ACCEPT still completes");
	struct wopts o = { .level = MAP_LEVEL_HUGE_V5, .enhanced = true, .fragmentation = 1.0 };
	struct world w;
	world_init(&w, &o);
	uint64_t n2m, n4k;
	run_ok(&w, mixed_accept_solo);
	assert_int_equal(stats(&w)->maps_2m, 0);
	assert_int_equal(stats(&w)->private_maps, 512);
	assert_int_equal(kvm_vm_gmem_folios(w.vm, 0, &n2m, &n4k), 0);
	assert_int_equal(n2m, 0);
	world_fini(&w);
}

static void test_demote_interruptibility(void **state)
{
	(void)state;
	BANNER("no enhanced demote interruptibility: huge-v5 maps 4K and says so; huge-rfc1 retrying INTERRUPTED_RESTARTABLE never finishes");
	struct wopts o = { .level = MAP_LEVEL_HUGE_V5, .ve = true, .enhanced = false };
	struct world w;
	world_init(&w, &o);
	assert_non_null(strstr(kvm_vm_notice(w.vm), "enhanced demote interruptibility"));
	tdx_module_set_host_interrupt(kvm_module(w.k), true);	/* host interrupts all the time */
	run_ok(&w, rare_case);
	assert_int_equal(stats(&w)->maps_2m, 0);
	assert_int_equal(stats(&w)->demote_interrupted, 0);
	world_fini(&w);

	/* huge-rfc1 maps 2M anyway; splitting for a conversion then never ends */
	o.level = MAP_LEVEL_HUGE_RFC1;
	world_init(&w, &o);
	assert_string_equal(kvm_vm_notice(w.vm), "");
	run_ok(&w, accept2m_write);
	assert_int_equal(stats(&w)->maps_2m, 1);
	tdx_module_set_host_interrupt(kvm_module(w.k), true);
	struct engine *e = engine_seeded(1, 200000);
	engine_spawn(e, "vmm", convert_one_task, &w);
	assert_int_equal(engine_run(e), ENGINE_STEP_BOUND);
	print_message("    huge-rfc1: %" PRIu64 " DEMOTEs interrupted before the step bound\n",
		      stats(&w)->demote_interrupted);
	assert_true(stats(&w)->demote_interrupted > 1000);
	engine_destroy(e);
	kvm_vm_free_abandoned(w.vm);
	kvm_destroy(w.k);
}

/* ---- explicit demotion (seed 000) ---- */

/* The host pre-faulted the range 2M PENDING; an aware guest asks to demote, then accepts 4K. */
static void aware_guest(struct gvcpu *g, void *arg)
{
	bool attr_wr = arg != NULL;
	struct tdx_regs r;
	task_check_eq(guest_vp_info(g, &r), TDX_SUCCESS);
	task_check(r.rdx & TD_ATTR_SEPT_EXPLICIT_DEMOTION);
	if (attr_wr)
		task_check_eq(guest_attr_wr(g, RANGE, 0), TDX_SUCCESS);	/* type-5 exit first */
	else
		task_check_eq(guest_request_demote(g, RANGE), TDVMCALL_STATUS_SUCCESS);
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K) {
		task_check_eq(guest_accept(g, a, 0), TDX_SUCCESS);
		guest_write64(g, a, a + 1);
	}
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K)
		task_check_eq(guest_read64(g, a), a + 1);
}

static void test_explicit_demotion(void **state)
{
	(void)state;
	BANNER("explicit-demotion: the attribute maps 2M without level info; demotion by TDVMCALL or ATTR.WR; an unaware (kexec'd) kernel livelocks");
	for (int c = 0; c < 3; c++) {
		struct wopts o = { .level = MAP_LEVEL_EXPLICIT, .ve = true, .enhanced = true,
				   .explicit_attr = true };
		struct world w;
		world_init(&w, &o);
		struct kvm_pre_fault_memory pf = { RANGE, SZ_2M, 0 };
		if (c < 2) {
			assert_int_equal(kvm_pre_fault_memory(w.vm, 0, &pf), 0);
			assert_int_equal(stats(&w)->maps_2m, 1);	/* no level info: 2M */
		}
		struct engine *e = engine_seeded(1, 4000000);
		static struct vjob j;
		j = (struct vjob){ w.vm, 0, c < 2 ? aware_guest : rare_case, c == 1 ? (void *)1 : NULL, 0 };
		engine_spawn(e, "vcpu0", vjob_task, &j);
		enum engine_outcome out = engine_run(e);
		if (c == 2) {
			/* seed 000's gap: the new kernel touches first, #VE accepts at 4K */
			assert_int_equal(out, ENGINE_LIVELOCK);
			assert_int_equal(stats(&w)->maps_2m, 1);
			engine_destroy(e);
			kvm_vm_free_abandoned(w.vm);
			kvm_destroy(w.k);
			continue;
		}
		if (out != ENGINE_OK)
			engine_print_report(e, stderr);
		assert_int_equal(out, ENGINE_OK);
		assert_int_equal(stats(&w)->demote_requests, 1);
		assert_int_equal(stats(&w)->splits_exclusive, 1);
		engine_destroy(e);
		world_fini(&w);
	}
	/* KVM refuses the attribute where the module does not offer it */
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	struct kvm *k = kvm_create(&p);
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	init.attributes |= TD_ATTR_SEPT_EXPLICIT_DEMOTION;
	assert_int_equal(kvm_tdx_init_vm(vm, &init), -EINVAL);
	kvm_destroy_vm(vm);
	kvm_destroy(k);
}

/* ---- promotion ---- */

static void accept4k_write(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K) {
		task_check_eq(guest_accept(g, a, 0), TDX_SUCCESS);
		guest_write64(g, a + 24, ~a);
	}
}

static void read_back(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t a = RANGE; a < RANGE + SZ_2M; a += SZ_4K)
		task_check_eq(guest_read64(g, a + 24), ~a);
}

static void test_promotion(void **state)
{
	(void)state;
	BANNER("promote=on: 512 accepted 4K leaves of one 2M folio merge back into a 2M leaf, data kept; 4K folios do not");
	for (int frag = 0; frag < 3; frag++) {
		/* 0: one 2M folio; 1: fragmented, 4K folios; 2: one folio, Dynamic PAMT */
		struct wopts o = { .level = MAP_LEVEL_HUGE_V5, .enhanced = true,
				   .fragmentation = frag == 1 ? 1.0 : 0.0, .dpamt = frag == 2 };
		struct world w;
		world_init(&w, &o);
		assert_int_equal(kvm_vm_promote(w.vm), -EOPNOTSUPP);	/* policy off */
		world_fini(&w);
		world_init_promote(&w, &o);
		run_ok(&w, accept4k_write);
		assert_int_equal(stats(&w)->maps_2m, 0);	/* accepted at 4K: mapped 4K */
		int n = kvm_vm_promote(w.vm);
		if (frag == 1) {
			assert_int_equal(n, 0);			/* 512 4K folios: not one folio */
		} else {
			assert_int_equal(n, 1);
			assert_int_equal(stats(&w)->promotions, 1);
			assert_int_equal(kvm_vm_promote(w.vm), 0);	/* nothing left to merge */
		}
		run_ok(&w, read_back);
		world_fini(&w);
	}
}

/* ---- a split that cannot get its S-EPT page ---- */

static void test_split_needs_memory(void **state)
{
	(void)state;
	BANNER("a conversion inside a 2M mapping with no page for the split: -ENOMEM, nothing changed; with memory it succeeds");
	struct wopts o = { .level = MAP_LEVEL_HUGE_V5, .enhanced = true };
	struct world w;
	world_init(&w, &o);
	run_ok(&w, accept2m_write);
	uint64_t k = RANGE + K_PAGE * SZ_4K;
	struct hostmem *hm = kvm_hostmem(w.k);
	hostmem_set_limit(hm, hm->allocated);	/* not one page more */
	assert_int_equal(kvm_set_memory_attributes(w.vm, k, SZ_4K, 0), -ENOMEM);
	assert_true(kvm_vm_gpa_private(w.vm, k));		/* the attributes did not move */
	assert_true(kvm_vm_private_mapped(w.vm, k));	/* the 2M leaf is whole */
	assert_int_equal(stats(&w)->splits_exclusive, 0);
	assert_false(kvm_vm_dead(w.vm, NULL));
	hostmem_set_limit(hm, UINT64_MAX);
	assert_int_equal(kvm_set_memory_attributes(w.vm, k, SZ_4K, 0), 0);
	assert_int_equal(stats(&w)->splits_exclusive, 1);
	assert_false(kvm_vm_private_mapped(w.vm, k));
	assert_true(kvm_vm_private_mapped(w.vm, k + SZ_4K));
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rare_case_per_design),
		cmocka_unit_test(test_mixed_level_accepts),
		cmocka_unit_test(test_convert_and_punch_inside_2m),
		cmocka_unit_test(test_fragmented_falls_back),
		cmocka_unit_test(test_demote_interruptibility),
		cmocka_unit_test(test_explicit_demotion),
		cmocka_unit_test(test_promotion),
		cmocka_unit_test(test_split_needs_memory),
	};
	return cmocka_run_group_tests_name("host huge pages", tests, NULL, NULL);
}
