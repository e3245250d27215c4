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
	w->k = kvm_create(&p);
	assert_non_null(w->k);
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	pol.max_level = o->level;
	pol.folio = FOLIO_2M;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rare_case_per_design),
	};
	return cmocka_run_group_tests_name("host huge pages", tests, NULL, NULL);
}
