/* SPDX-License-Identifier: MIT */
/*
 * Teardown, both paths (policy "teardown"): zap, mainline before
 * KVM_TDX_TERMINATE_VM (every private leaf BLOCKed, TRACKed with a kick of
 * every vCPU, REMOVEd, written back and cleared while the HKID is live),
 * and terminate (KVM_TDX_TERMINATE_VM first: VP.FLUSH, VPFLUSHDONE,
 * CACHE.WB, KEY.FREEID, then each page only RECLAIMed and cleared).  The
 * SEAMCALLs and charges per leaf of each, 4K and 2M; nothing left behind
 * with Dynamic PAMT on and off; TERMINATE_VM's -EBUSY and -EIO; the
 * calibration charges that are time only; engine_time_solo().
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "testlib.h"
#include "../src/engine/engine.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"
#include "../src/host/kvm_dpamt.h"
#include "vjob.h"

#define SLOT_BASE 0x200000ull	/* [2 MiB, 66 MiB), 2M aligned for 2M mappings */
#define SLOT_SIZE (64ull << 20)
#define NPAGES 40		/* 4K pages the guest accepts */
#define N2M 3			/* 2M ranges the guest accepts at 2M */

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

/* A finalized TD with @nvcpus vCPUs and SLOT_SIZE of private RAM; 2M maps if @huge. */
static struct kvm_vm *td(struct kvm *k, enum kvm_teardown t, bool huge, bool dpamt, int nvcpus)
{
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	pol.teardown = t;
	pol.dpamt = dpamt;
	if (huge) {
		pol.max_level = MAP_LEVEL_HUGE_V5;
		pol.folio = FOLIO_2M;
	}
	struct kvm_vm *vm = kvm_create_vm(k, &pol);
	assert_non_null(vm);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
	assert_int_equal(kvm_vmm_add_private_ram(vm, 0, SLOT_BASE, SLOT_SIZE), 0);
	for (int i = 0; i < nvcpus; i++) {
		assert_int_equal(kvm_create_vcpu(vm), i);
		assert_int_equal(kvm_tdx_init_vcpu(vm, i), 0);
	}
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	return vm;
}

/* NPAGES pages accepted at 4K, or N2M ranges at 2M, each written. */
static void accept_prog(struct gvcpu *g, void *arg)
{
	bool huge = *(bool *)arg;
	if (huge) {
		for (uint64_t i = 0; i < N2M; i++) {
			uint64_t gpa = SLOT_BASE + SZ_2M * (2 + i);
			task_check_eq(guest_accept(g, gpa, 1), TDX_SUCCESS);
			guest_write64(g, gpa + SZ_4K, gpa);
		}
		return;
	}
	for (uint64_t i = 0; i < NPAGES; i++) {
		uint64_t gpa = SLOT_BASE + i * SZ_4K;
		task_check_eq(guest_accept(g, gpa, 0), TDX_SUCCESS);
		guest_write64(g, gpa, gpa ^ 0x7d);
	}
}

static void host_empty(struct kvm *k)
{
	assert_int_equal(kvm_hostmem(k)->allocated, 0);
	assert_int_equal(test_pamt_in_use(kvm_module(k)), 0);
	assert_int_equal(kvm_dpamt_ranges_in_use(k), 0);
}

struct destroy_job {
	struct kvm_vm *vm;
	int rc;
};

static void destroy_fn(void *arg)
{
	struct destroy_job *j = arg;
	j->rc = kvm_destroy_vm(j->vm);
}

/* Destroy @vm counting its charges (and time with @costs) into @ch. */
static uint64_t destroy_counted(struct kvm_vm *vm, const struct cost_table *costs, uint64_t *ch)
{
	memset(ch, 0, sizeof(uint64_t) * SEAM_COST_NR);
	struct destroy_job j = { vm, -1 };
	uint64_t ns = engine_time_solo(costs, destroy_fn, &j, ch);
	assert_int_equal(j.rc, 0);
	return ns;
}

#define CALLS(ch, leaf) ((ch)[SEAM_COST_SEAMCALL + (leaf)])

static void test_policy_parse(void **state)
{
	(void)state;
	BANNER("policy teardown: zap (default) | terminate; anything else is -EINVAL; "
	       "described only when not the default");
	struct kvm_policy p;
	kvm_policy_default(&p);
	assert_int_equal(p.teardown, TEARDOWN_ZAP);
	char buf[256];
	kvm_policy_describe(&p, buf, sizeof(buf));
	assert_null(strstr(buf, "teardown"));
	assert_int_equal(kvm_policy_set(&p, "teardown", "terminate"), 0);
	assert_int_equal(p.teardown, TEARDOWN_TERMINATE);
	kvm_policy_describe(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, " teardown=terminate"));
	assert_int_equal(kvm_policy_set(&p, "teardown", "zap"), 0);
	assert_int_equal(p.teardown, TEARDOWN_ZAP);
	assert_int_equal(kvm_policy_set(&p, "teardown", "fast"), -EINVAL);
	assert_int_equal(kvm_policy_set(&p, "teardown", ""), -EINVAL);
	assert_int_equal(kvm_policy_set(&p, "teardown", "Zap"), -EINVAL);
	assert_int_equal(p.teardown, TEARDOWN_ZAP);	/* a refused value changes nothing */
	p.teardown = TEARDOWN_NR;
	assert_int_equal(kvm_policy_check(&p), -EINVAL);
	struct kvm *k = host(false);
	assert_null(kvm_create_vm(k, &p));
	kvm_destroy(k);
	assert_string_equal(kvm_policy_teardown_name(TEARDOWN_TERMINATE), "terminate");
	assert_string_equal(kvm_policy_teardown_name(TEARDOWN_NR), "?");
}

/*
 * The SEAMCALLs and charges of one teardown of a TD with @nvcpus vCPUs and
 * NPAGES 4K leaves (or N2M 2M leaves), per path: what each leaf costs.
 */
static void check_sequence(enum kvm_teardown t, bool huge, int nvcpus)
{
	struct kvm *k = host(false);
	struct kvm_vm *vm = td(k, t, huge, false, nvcpus);
	assert_int_equal(kvm_vcpu_run(vm, 0, accept_prog, &huge), 0);
	uint64_t leaves = huge ? N2M : NPAGES, n4k = huge ? N2M * 512 : NPAGES;
	assert_int_equal(huge ? kvm_vm_stats(vm)->maps_2m : kvm_vm_stats(vm)->private_maps, leaves);
	uint64_t sept = kvm_vm_stats(vm)->sept_adds, ch[SEAM_COST_NR];
	destroy_counted(vm, NULL, ch);
	print_message("    %-9s %s %d vCPUs: BLOCK %" PRIu64 " TRACK %" PRIu64 " REMOVE %" PRIu64
		      " WBINVD %" PRIu64 " RECLAIM %" PRIu64 " kick_vcpu %" PRIu64 "\n",
		      kvm_policy_teardown_name(t), huge ? "2M" : "4K", nvcpus,
		      CALLS(ch, TDH_MEM_RANGE_BLOCK), CALLS(ch, TDH_MEM_TRACK),
		      CALLS(ch, TDH_MEM_PAGE_REMOVE), CALLS(ch, TDH_PHYMEM_PAGE_WBINVD),
		      CALLS(ch, TDH_PHYMEM_PAGE_RECLAIM), ch[SEAM_COST_KICK_VCPU]);
	/* both: the HKID released once, KVM's work and the clear for every 4K */
	assert_int_equal(CALLS(ch, TDH_VP_FLUSH), nvcpus);
	assert_int_equal(CALLS(ch, TDH_MNG_VPFLUSHDONE), 1);
	assert_int_equal(CALLS(ch, TDH_MNG_KEY_FREEID), 1);
	assert_true(CALLS(ch, TDH_PHYMEM_CACHE_WB) >= 1);
	assert_int_equal(ch[SEAM_COST_ZAP_4K], n4k);
	assert_int_equal(ch[SEAM_COST_CLEAR_4K], n4k);
	/* control pages: TDR, TDCS pages, per vCPU its TDVPR and TDCX pages */
	uint64_t control = 1 + TDX_TDCS_PAGES + (uint64_t)nvcpus * TDX_TDVPS_PAGES;
	if (t == TEARDOWN_ZAP) {
		/* per leaf BLOCK, TRACK with a kick walking every vCPU, REMOVE; WBINVD per 4K */
		assert_int_equal(CALLS(ch, TDH_MEM_RANGE_BLOCK), leaves);
		assert_int_equal(CALLS(ch, TDH_MEM_TRACK), leaves);
		assert_int_equal(CALLS(ch, TDH_MEM_PAGE_REMOVE), leaves);
		assert_int_equal(CALLS(ch, TDH_PHYMEM_PAGE_WBINVD), n4k + 1);	/* + the TDR */
		/* no vCPU is in guest mode, and each kick still walks them all */
		assert_int_equal(ch[SEAM_COST_KICK_VCPU], leaves * (uint64_t)nvcpus);
		assert_int_equal(ch[SEAM_COST_KICK_VCPU2],
				 leaves * (uint64_t)nvcpus * (uint64_t)nvcpus);
		assert_int_equal(ch[SEAM_COST_IPI], 0);
		assert_int_equal(CALLS(ch, TDH_PHYMEM_PAGE_RECLAIM), sept + control);
	} else {
		/* after the HKID is gone: one RECLAIM per leaf, nothing else */
		assert_int_equal(CALLS(ch, TDH_MEM_RANGE_BLOCK), 0);
		assert_int_equal(CALLS(ch, TDH_MEM_TRACK), 0);
		assert_int_equal(CALLS(ch, TDH_MEM_PAGE_REMOVE), 0);
		assert_int_equal(CALLS(ch, TDH_PHYMEM_PAGE_WBINVD), 1);	/* the TDR */
		assert_int_equal(ch[SEAM_COST_KICK_VCPU], 0);
		assert_int_equal(ch[SEAM_COST_KICK_VCPU2], 0);
		assert_int_equal(CALLS(ch, TDH_PHYMEM_PAGE_RECLAIM), leaves + sept + control);
	}
	host_empty(k);
	kvm_destroy(k);
}

static void test_sequence_per_leaf(void **state)
{
	(void)state;
	BANNER("SEAMCALLs per leaf: zap BLOCK+TRACK+kick(all vCPUs)+REMOVE+WBINVD/4K+clear; "
	       "terminate RECLAIM+clear only; 4K and 2M leaves, 1 and 3 vCPUs");
	for (int t = 0; t < TEARDOWN_NR; t++)
		for (int huge = 0; huge < 2; huge++)
			for (int n = 1; n <= 3; n += 2)
				check_sequence((enum kvm_teardown)t, huge, n);
}

static void test_nothing_left(void **state)
{
	(void)state;
	BANNER("both paths leave nothing: no host page, PAMT entry or Dynamic PAMT range; "
	       "4K and 2M leaves, dpamt on and off; removed pages are cleared");
	for (int t = 0; t < TEARDOWN_NR; t++)
		for (int huge = 0; huge < 2; huge++)
			for (int dp = 0; dp < 2; dp++) {
				struct kvm *k = host(dp);
				struct kvm_vm *vm = td(k, (enum kvm_teardown)t, huge, dp, 2);
				bool h = huge;
				assert_int_equal(kvm_vcpu_run(vm, 0, accept_prog, &h), 0);
				uint64_t hpa = kvm_vm_private_hpa(vm, SLOT_BASE + SZ_2M * 2 + SZ_4K);
				if (!huge)
					hpa = kvm_vm_private_hpa(vm, SLOT_BASE);
				assert_true(hpa != 0);
				assert_false(physmem_page_is_zero(tdx_module_physmem(kvm_module(k)), hpa));
				uint64_t ch[SEAM_COST_NR];
				destroy_counted(vm, NULL, ch);
				assert_true(physmem_page_is_zero(tdx_module_physmem(kvm_module(k)), hpa));
				host_empty(k);
				kvm_destroy(k);
			}
}

/* ---- KVM_TDX_TERMINATE_VM while a vCPU runs ---- */

static volatile bool stop_spin;
static int busy_rc, after_rc;

static void spin_prog(struct gvcpu *g, void *arg)
{
	if (arg)	/* the first vCPU accepts a page */
		task_check_eq(guest_accept(g, SLOT_BASE, 0), TDX_SUCCESS);
	while (!stop_spin)
		guest_relax(g);
}

static void terminator(void *arg)
{
	struct kvm_vm *vm = arg;
	seam_yield();
	busy_rc = kvm_tdx_terminate_vm(vm);
	stop_spin = true;
}

static void test_terminate_busy_and_dead(void **state)
{
	(void)state;
	BANNER("KVM_TDX_TERMINATE_VM: -EBUSY with nothing changed while a vCPU runs; then the VM "
	       "is dead (-EIO everywhere, TERMINATE again too) and teardown reclaims everything");
	struct kvm *k = host(false);
	struct kvm_vm *vm = td(k, TEARDOWN_TERMINATE, false, false, 2);
	stop_spin = false;
	struct engine_config c = { .sched = SCHED_RR, .stack_size = 256 * 1024 };
	struct engine *e = engine_create(&c);
	static struct vjob j;
	j = (struct vjob){ vm, 0, spin_prog, vm, 0 };
	engine_spawn(e, "vcpu0", vjob_task, &j);
	engine_spawn(e, "vmm", terminator, vm);
	assert_int_equal(engine_run(e), ENGINE_OK);
	engine_destroy(e);
	assert_int_equal(busy_rc, -EBUSY);
	assert_int_equal(j.rc, 0);
	const char *why;
	assert_false(kvm_vm_dead(vm, &why));
	assert_true(kvm_vm_private_mapped(vm, SLOT_BASE));
	/* the TD still runs: another vCPU program works */
	stop_spin = true;
	assert_int_equal(kvm_vcpu_run(vm, 1, spin_prog, NULL), 0);

	/* idle now: terminated, dead, the HKID free */
	assert_int_equal(kvm_tdx_terminate_vm(vm), 0);
	assert_true(kvm_vm_dead(vm, &why));
	assert_non_null(strstr(why, "KVM_TDX_TERMINATE_VM"));
	assert_int_equal(tdx_td_lifecycle(kvm_vm_td(vm)), TD_TEARDOWN);
	assert_int_equal(kvm_tdx_terminate_vm(vm), -EIO);
	after_rc = kvm_vcpu_run(vm, 0, spin_prog, NULL);
	assert_int_equal(after_rc, -EIO);
	struct kvm_pre_fault_memory pf = { SLOT_BASE + SZ_2M, SZ_4K };
	assert_int_equal(kvm_pre_fault_memory(vm, 0, &pf), -EIO);
	uint64_t ch[SEAM_COST_NR];
	destroy_counted(vm, NULL, ch);
	/* the HKID went at TERMINATE: teardown only reclaims */
	assert_int_equal(CALLS(ch, TDH_MNG_KEY_FREEID), 0);
	assert_int_equal(CALLS(ch, TDH_MEM_PAGE_REMOVE), 0);
	host_empty(k);
	kvm_destroy(k);
}

static void test_terminate_without_td(void **state)
{
	(void)state;
	BANNER("KVM_TDX_TERMINATE_VM before INIT_VM: the VM is dead, nothing to release; teardown "
	       "with terminate of a VM that was never initialized");
	struct kvm *k = host(false);
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	pol.teardown = TEARDOWN_TERMINATE;
	struct kvm_vm *vm = kvm_create_vm(k, &pol);
	assert_non_null(vm);
	assert_int_equal(kvm_tdx_terminate_vm(vm), 0);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), -EIO);
	assert_int_equal(kvm_destroy_vm(vm), 0);
	vm = kvm_create_vm(k, &pol);
	assert_non_null(vm);
	assert_int_equal(kvm_destroy_vm(vm), 0);
	host_empty(k);
	kvm_destroy(k);
}

/* ---- virtual time ---- */

static void test_costs(void **state)
{
	(void)state;
	BANNER("teardown in virtual time: default calibration costs add nothing; with them zap "
	       "costs more than terminate, and each path's time is its charges times the costs");
	struct cost_table c;
	cost_table_default(&c);
	assert_int_equal(c.ns[SEAM_COST_KICK_VCPU], 0);
	assert_int_equal(c.ns[SEAM_COST_CLEAR_4K], 0);
	c.ns[SEAM_COST_KICK_VCPU] = 3000;
	c.ns[SEAM_COST_KICK_VCPU2] = 100;
	c.ns[SEAM_COST_CLEAR_4K] = 400;
	c.ns[SEAM_COST_ZAP_4K] = 700;
	uint64_t ns[TEARDOWN_NR], ns_def[TEARDOWN_NR];
	for (int t = 0; t < TEARDOWN_NR; t++) {
		for (int pass = 0; pass < 2; pass++) {
			struct kvm *k = host(false);
			struct kvm_vm *vm = td(k, (enum kvm_teardown)t, false, false, 4);
			bool huge = false;
			assert_int_equal(kvm_vcpu_run(vm, 0, accept_prog, &huge), 0);
			uint64_t ch[SEAM_COST_NR];
			uint64_t v = destroy_counted(vm, pass ? &c : NULL, ch);
			uint64_t sum = 0;
			for (int i = 0; i < SEAM_COST_NR; i++)
				sum += (pass ? c.ns[i] : 0) * ch[i];
			if (pass)
				assert_int_equal(v, sum);
			(pass ? ns : ns_def)[t] = v;
			kvm_destroy(k);
		}
		print_message("    %-9s default %" PRIu64 " ns, calibrated %" PRIu64 " ns\n",
			      kvm_policy_teardown_name((enum kvm_teardown)t), ns_def[t], ns[t]);
	}
	assert_true(ns[TEARDOWN_TERMINATE] > 0);
	assert_true(ns[TEARDOWN_ZAP] > ns[TEARDOWN_TERMINATE]);
	assert_true(ns_def[TEARDOWN_ZAP] > ns_def[TEARDOWN_TERMINATE]);
	/* zap's kicks: NPAGES x (4 x 3000 + 16 x 100) more than its default time
	 * beyond what both paths add per 4K (clear, zap) */
	uint64_t per4k = NPAGES * (400 + 700);
	assert_int_equal(ns[TEARDOWN_ZAP] - ns_def[TEARDOWN_ZAP],
			 per4k + NPAGES * (4 * 3000 + 16 * 100));
	assert_int_equal(ns[TEARDOWN_TERMINATE] - ns_def[TEARDOWN_TERMINATE], per4k);
}

/* ---- engine: calibration charges move the clock, not the schedule ---- */

static void charging_task(void *arg)
{
	(void)arg;
	seam_charge(SEAM_COST_KICK_VCPU, 4);
	seam_charge(SEAM_COST_KICK_VCPU2, 16);
	seam_charge(SEAM_COST_CLEAR_4K, 512);
	seam_charge(SEAM_COST_ZAP_4K, 512);
}

static void test_calibration_charges_are_not_points(void **state)
{
	(void)state;
	BANNER("kick_vcpu, kick_vcpu2, clear_4k and zap_4k charge time and are counted, but are "
	       "no scheduling point: a cost file changes times, never schedules");
	struct cost_table c;
	cost_table_default(&c);
	c.ns[SEAM_COST_KICK_VCPU] = 10;
	c.ns[SEAM_COST_KICK_VCPU2] = 1;
	c.ns[SEAM_COST_CLEAR_4K] = 2;
	c.ns[SEAM_COST_ZAP_4K] = 3;
	struct engine_config cfg = { .sched = SCHED_RANDOM, .seed = 3, .stack_size = 64 * 1024,
				     .costs = &c };
	struct engine *e = engine_create(&cfg);
	engine_spawn(e, "a", charging_task, NULL);
	engine_spawn(e, "b", charging_task, NULL);
	assert_int_equal(engine_run(e), ENGINE_OK);
	/* one step per task's end only: the charges took none */
	assert_int_equal(engine_steps(e), 2);
	assert_int_equal(engine_task_clock(e, 0), 40 + 16 + 1024 + 1536);
	assert_int_equal(engine_charges(e, SEAM_COST_CLEAR_4K), 1024);
	engine_destroy(e);
	/* engine_time_solo: the same charges, the same time, no engine */
	uint64_t ch[SEAM_COST_NR] = { 0 };
	assert_int_equal(engine_time_solo(&c, charging_task, NULL, ch), 40 + 16 + 1024 + 1536);
	assert_int_equal(ch[SEAM_COST_KICK_VCPU2], 16);
	assert_null(seam_solo_charges);	/* the direct driver counts nothing afterwards */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_sequence_per_leaf),
		cmocka_unit_test(test_nothing_left),
		cmocka_unit_test(test_terminate_busy_and_dead),
		cmocka_unit_test(test_terminate_without_td),
		cmocka_unit_test(test_costs),
		cmocka_unit_test(test_calibration_charges_are_not_points),
	};
	return cmocka_run_group_tests_name("teardown (zap, terminate)", tests, NULL, NULL);
}
