/* SPDX-License-Identifier: MIT */
/*
 * The host fixes of issue 9: six defects found by fuzzing (dead VMs,
 * host memory exhaustion, the leftover host-priority bit, memslots above
 * the GPA width, huge memslots, a failed INIT_VM) and the rules where the
 * host now follows mainline KVM (6.16 to 6.19): per-VM attributes,
 * pre-fault progress and shared GFNs, local retry for private faults only,
 * TRACK/BLOCK/write-back rules at zap and teardown, MapGPA, guest_memfd
 * objects and what the VMM sees.  Each case names the item it pins.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "testlib.h"
#include "../src/engine/engine.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"
#include "vjob.h"

#define SZ_1M		0x100000ull
#define BASE		SZ_1M		/* slot 0: [1 MiB, 65 MiB) on guest_memfd 0 */
#define SLOT_SIZE	(64 * SZ_1M)
#define NO_SLOT		(512 * SZ_1M)	/* no memslot there */
#define BIT47		(1ull << 47)

struct world {
	struct kvm *k;
	struct kvm_vm *vm;
};

static struct kvm *host(unsigned nr_hkids, uint64_t hp_timeout_ns)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	if (nr_hkids)
		p.nr_hkids = nr_hkids;
	p.hp_timeout_ns = hp_timeout_ns;
	struct kvm *k = kvm_create(&p);
	assert_non_null(k);
	return k;
}

/* A TD with slot 0, @nvcpus initialized vCPUs, finalized unless !@final. */
static struct kvm_vm *td_pol(struct kvm *k, const struct kvm_policy *pol, int nvcpus, bool ve,
			     bool final)
{
	struct kvm_vm *vm = kvm_create_vm(k, pol);
	assert_non_null(vm);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	if (ve)
		init.attributes = 0;
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
	assert_int_equal(kvm_vmm_add_private_ram(vm, 0, BASE, SLOT_SIZE), 0);
	for (int i = 0; i < nvcpus; i++) {
		assert_int_equal(kvm_create_vcpu(vm), i);
		assert_int_equal(kvm_tdx_init_vcpu(vm, i), 0);
	}
	if (final)
		assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	return vm;
}

static struct kvm_vm *td(struct kvm *k, int nvcpus, bool ve, bool final)
{
	return td_pol(k, NULL, nvcpus, ve, final);
}

/* Destroy @vm and check that the host holds nothing for it any more. */
static void destroy_clean(struct kvm *k, struct kvm_vm *vm)
{
	kvm_destroy_vm(vm);
	if (kvm_hostmem(k)->allocated || test_pamt_in_use(kvm_module(k)))
		fail_msg("teardown left %llu host pages and %llu PAMT entries",
			 (unsigned long long)kvm_hostmem(k)->allocated,
			 (unsigned long long)test_pamt_in_use(kvm_module(k)));
}

static int pre_fault(struct kvm_vm *vm, uint64_t gpa, uint64_t size, uint64_t *left)
{
	struct kvm_pre_fault_memory r = { gpa, size, 0 };
	int e = kvm_pre_fault_memory(vm, 0, &r);
	if (left)
		*left = r.size;
	return e;
}

/* ---- SEAMCALLs by leaf, counted through the seam's charge hook ---- */

static uint64_t leaf_calls[128];

static void count_charge(void *ctx, enum seam_cost kind, uint64_t n)
{
	(void)ctx;
	if (kind < SEAM_COST_TDCALL)
		leaf_calls[kind - SEAM_COST_SEAMCALL] += n;
}

static const struct seam_hooks counting = { .charge = count_charge };

static void count_start(void)
{
	memset(leaf_calls, 0, sizeof(leaf_calls));
	seam_install(&counting);
}

static void count_stop(void)
{
	seam_install(NULL);
}


/* ================================================================== */
/* Defect 1: a dead VM never releases a page its TD still holds       */
/* ================================================================== */

#define HELD 8

static void accept_then_stray(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < HELD; i++) {
		task_check_eq(guest_accept(g, BASE + i * SZ_4K, 0), TDX_SUCCESS);
		guest_write64(g, BASE + i * SZ_4K, 0xd00d + i);
	}
	guest_write64(g, guest_shared(g, NO_SLOT), 1);	/* no memslot: the VMM gives up */
}

static void touch_many(struct gvcpu *g, void *arg)
{
	uint64_t n = *(uint64_t *)arg;
	for (uint64_t i = 0; i < n; i++) {
		task_check_eq(guest_accept(g, BASE + i * SZ_4K, 0), TDX_SUCCESS);
		guest_write64(g, BASE + i * SZ_4K, i);
	}
}

static void test_dead_vm_keeps_td_pages(void **state)
{
	(void)state;
	BANNER("defect 1: a killed VM's hole punch keeps the pages its TD holds; the next VM "
	       "gets clean pages; calls on the dead VM are -EIO");
	struct kvm *k = host(0, 0);
	struct kvm_policy pol2m;
	kvm_policy_default(&pol2m);
	pol2m.folio = FOLIO_2M;	/* the punch below frees the rest of a 2M folio */
	struct kvm_vm *vm = td_pol(k, &pol2m, 1, false, true);
	assert_int_equal(kvm_vcpu_run(vm, 0, accept_then_stray, NULL), -EIO);
	const char *why;
	assert_true(kvm_vm_dead(vm, &why));
	assert_non_null(strstr(why, "no memslot"));
	uint64_t hpa[HELD];
	for (int i = 0; i < HELD; i++) {
		hpa[i] = kvm_vm_private_hpa(vm, BASE + (uint64_t)i * SZ_4K);
		assert_true(hpa[i] != 0);
	}
	/* every VM and vCPU call of a dead VM is -EIO (kvm->vm_dead) */
	assert_int_equal(kvm_set_memory_attributes(vm, BASE, HELD * SZ_4K, 0), -EIO);
	assert_int_equal(pre_fault(vm, BASE + 64 * SZ_4K, SZ_4K, NULL), -EIO);
	assert_int_equal(kvm_create_guest_memfd(vm, SZ_2M, 0), -EIO);
	struct kvm_userspace_memory_region2 del = { .slot = 0 };
	assert_int_equal(kvm_set_user_memory_region2(vm, &del), -EIO);
	/* the file operation still works, but what the TD holds stays */
	uint64_t before = kvm_hostmem(k)->allocated;
	assert_int_equal(kvm_gmem_punch_hole(vm, 0, 0, SLOT_SIZE), 0);
	assert_true(kvm_hostmem(k)->allocated < before);	/* the rest of the 2M folio went */
	for (int i = 0; i < HELD; i++) {
		if (!hostmem_is_allocated(kvm_hostmem(k), hpa[i]) ||
		    tdx_hpa_owner(kvm_module(k), hpa[i]) != kvm_vm_td(vm))
			fail_msg("page %d (HPA %#llx) left the dead TD's hands", i,
				 (unsigned long long)hpa[i]);
	}
	/* a second VM allocates what was freed; its TD must find it clean */
	struct kvm_vm *vm2 = td(k, 1, false, true);
	uint64_t n = 2048;
	assert_int_equal(kvm_vcpu_run(vm2, 0, touch_many, &n), 0);
	assert_false(kvm_vm_dead(vm2, NULL));
	kvm_destroy_vm(vm2);
	destroy_clean(k, vm);	/* teardown reclaims the held pages */
	kvm_destroy(k);
}

/* ================================================================== */
/* Defect 2: host memory exhaustion fails the call, never the process */
/* ================================================================== */

enum xop { X_INIT_VM, X_INIT_VCPU, X_INIT_MEM, X_PRE_FAULT, X_RUN, X_NR };
static const char *const xop_name[X_NR] = { "INIT_VM", "INIT_VCPU", "INIT_MEM_REGION",
					    "PRE_FAULT_MEMORY", "KVM_RUN" };

static _Alignas(4096) uint8_t img[8 * 4096];
static unsigned partial_prefaults;	/* pre-faults that returned 0 with pages left */

/* Bring a VM to just before @op. */
static struct kvm_vm *x_setup(struct kvm *k, enum xop op)
{
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	assert_non_null(vm);
	assert_int_equal(kvm_vmm_add_private_ram(vm, 0, BASE, SLOT_SIZE), 0);
	if (op == X_INIT_VM)
		return vm;
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
	assert_int_equal(kvm_create_vcpu(vm), 0);
	if (op == X_INIT_VCPU)
		return vm;
	assert_int_equal(kvm_tdx_init_vcpu(vm, 0), 0);
	if (op == X_INIT_MEM)
		return vm;
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	return vm;
}

static void accept_spread(struct gvcpu *g, void *arg)
{
	(void)arg;
	/* one page in each of 8 2M regions: a table each, a folio each */
	for (uint64_t i = 0; i < 8; i++) {
		task_check_eq(guest_accept(g, BASE + SZ_2M * i, 0), TDX_SUCCESS);
		guest_write64(g, BASE + SZ_2M * i, i);
	}
}

/* Run @op once; 0 on success, else its -errno (RUN: -EIO, the VM killed). */
static int x_call(struct kvm_vm *vm, enum xop op, uint64_t *progress)
{
	struct kvm_tdx_init_vm init;
	switch (op) {
	case X_INIT_VM:
		kvm_tdx_init_vm_default(&init, 48);
		return kvm_tdx_init_vm(vm, &init);
	case X_INIT_VCPU:
		return kvm_tdx_init_vcpu(vm, 0);
	case X_INIT_MEM: {
		/* 8 pages across two 2M regions, from where the last call stopped */
		uint64_t done = *progress;
		struct kvm_tdx_init_mem_region r = { img + done * 4096,
						     BASE + SZ_2M - 4 * SZ_4K + done * SZ_4K, 8 - done };
		int e = kvm_tdx_init_mem_region(vm, 0, KVM_TDX_MEASURE_MEMORY_REGION, &r);
		*progress = 8 - r.nr_pages;
		return e;
	}
	case X_PRE_FAULT: {
		/* 8 pages across a 2M boundary: a new S-EPT table on the way */
		struct kvm_pre_fault_memory r = { BASE + 5 * SZ_2M - 4 * SZ_4K, 8 * SZ_4K, 0 };
		int e = kvm_pre_fault_memory(vm, 0, &r);
		*progress = 8 - r.size / SZ_4K;
		if (!e && r.size) {
			partial_prefaults++;
			return -ENOMEM;	/* partial: 0, and the rest was handed back */
		}
		return e;
	}
	default:
		return kvm_vcpu_run(vm, 0, accept_spread, NULL);
	}
}

static void test_exhaustion_fails_cleanly(void **state)
{
	(void)state;
	BANNER("defect 2: host memory exhausted at every allocation of INIT_VM, INIT_VCPU, "
	       "INIT_MEM_REGION, PRE_FAULT, a vCPU fault: -ENOMEM or only that VM killed, "
	       "nothing leaked, a retry works");
	struct kvm *k = host(0, 0);
	struct hostmem *hm = kvm_hostmem(k);
	for (int op = 0; op < X_NR; op++) {
		uint64_t extra, failures = 0;
		for (extra = 0; extra < 4096; extra++) {
			struct kvm_vm *vm = x_setup(k, (enum xop)op);
			uint64_t progress = 0;
			hostmem_set_limit(hm, hm->allocated + extra);
			int r = x_call(vm, (enum xop)op, &progress);
			hostmem_set_limit(hm, UINT64_MAX);
			if (r == 0) {
				destroy_clean(k, vm);
				break;
			}
			failures++;
			const char *why = "";
			bool dead = kvm_vm_dead(vm, &why);
			if (op == X_RUN) {
				if (r != -EIO || !dead || !strstr(why, "out of host memory"))
					fail_msg("%s with %llu pages to spare: %d, VM %s", xop_name[op],
						 (unsigned long long)extra, r, why);
			} else {
				if (r != -ENOMEM || dead)
					fail_msg("%s with %llu pages to spare: %d (want -ENOMEM), VM %s",
						 xop_name[op], (unsigned long long)extra, r,
						 dead ? why : "alive");
				/* the same call goes through once memory is there again */
				if (op == X_INIT_MEM) {
					/* it goes on from its reported progress */
					if (x_call(vm, X_INIT_MEM, &progress) || progress != 8)
						fail_msg("INIT_MEM_REGION after exhaustion: %llu of 8 pages",
							 (unsigned long long)progress);
				} else if (x_call(vm, (enum xop)op, &progress)) {
					fail_msg("%s retried after -ENOMEM failed", xop_name[op]);
				}
			}
			destroy_clean(k, vm);
		}
		print_message("  %s: %llu exhausted attempts, succeeded with %llu pages to spare\n",
			      xop_name[op], (unsigned long long)failures, (unsigned long long)extra);
		assert_true(failures > 0);	/* the op allocates: it was exhausted at least once */
		assert_true(extra < 4096);
	}
	/* some pre-faults mapped a part and handed the rest back */
	assert_true(partial_prefaults > 0);
	kvm_destroy(k);
}

/* ================================================================== */
/* Defect 3: a host-priority bit left behind                          */
/* ================================================================== */

#define HP_GPA (BASE + 16 * SZ_4K)

static void accept_hp(struct gvcpu *g, void *arg)
{
	(void)arg;
	task_check_eq(guest_accept(g, HP_GPA, 0), TDX_SUCCESS);
}

static int resumes;

/* A VMM that calls KVM_RUN again twice after an internal error, then stops. */
static int resume_twice(struct kvm_vm *vm, int vcpu, uint64_t ret, void *ctx)
{
	(void)vm;
	(void)vcpu;
	(void)ctx;
	task_check_eq(ret, TDX_HOST_PRIORITY_BUSY_TIMEOUT);
	return resumes++ < 2 ? 0 : -1;
}

/* The S-EPT entry of private @gpa at 4K (white box). */
static uint64_t *sept_entry(struct kvm_vm *vm, uint64_t gpa)
{
	int reached;
	uint64_t copy;
	uint64_t *e = sept_walk(kvm_vm_td(vm), gpa, 0, &reached, &copy);
	assert_int_equal(reached, 0);
	return e;
}

static void test_hp_timeout_is_an_internal_error(void **state)
{
	(void)state;
	BANNER("defect 3: an ACCEPT stuck on a leftover host-priority bit times out; KVM makes "
	       "that an internal error for the VMM (QEMU stops the VM), it does not just re-enter");
	for (int custom = 0; custom < 2; custom++) {
		struct kvm *k = host(0, 1000000);	/* HP timeout 1 ms */
		struct kvm_vm *vm = td(k, 1, false, true);
		if (custom) {
			struct kvm_vmm_ops ops = { .internal_error = resume_twice };
			kvm_set_vmm_ops(vm, &ops);
			resumes = 0;
		}
		/* the S-EPT table exists, HP_GPA's entry is FREE; a host call that lost
		 * its entry lock and then gave up left the host-priority bit on it */
		assert_int_equal(pre_fault(vm, HP_GPA + SZ_4K, SZ_4K, NULL), 0);
		*sept_entry(vm, HP_GPA) |= SEPTE_HP;
		struct engine *e = engine_seeded(1, 2000000);
		static struct vjob j;
		j = (struct vjob){ vm, 0, accept_hp, NULL, 0 };
		engine_spawn(e, "vcpu0", vjob_task, &j);
		enum engine_outcome o = engine_run(e);
		if (o != ENGINE_OK)
			engine_print_report(e, stderr);
		assert_int_equal(o, ENGINE_OK);
		const char *why;
		assert_int_equal(j.rc, -EIO);
		assert_true(kvm_vm_dead(vm, &why));
		assert_non_null(strstr(why, "KVM_EXIT_INTERNAL_ERROR"));
		assert_non_null(strstr(why, "HOST_PRIORITY_BUSY_TIMEOUT"));
		assert_int_equal(kvm_vm_stats(vm)->internal_errors, custom ? 3 : 1);
		/* each timeout took the full 1 ms of BUSY answers */
		assert_true(kvm_vcpu_guest(vm, 0)->st.accept_busy > 100);
		engine_destroy(e);
		destroy_clean(k, vm);
		kvm_destroy(k);
	}
}

/* The fuzzer's scenario: two vCPUs accept one page while the VMM converts it. */
static struct kvm_vm *hp_vm;
static uint64_t hp_done;

static void hp_acceptor(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (int round = 0; round < 3; round++) {
		uint64_t st = guest_accept(g, HP_GPA, 0);
		task_check(st == TDX_SUCCESS || tdx_status_code(st) == TDX_PAGE_ALREADY_ACCEPTED);
	}
	seam_fetch_add64(&hp_done, 1);
}

static void hp_converter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 6 && seam_load64(&hp_done) < 2 && !kvm_vm_dead(hp_vm, NULL); i++) {
		kvm_vmm_convert(hp_vm, HP_GPA, SZ_4K, false);
		seam_yield();
		kvm_vmm_convert(hp_vm, HP_GPA, SZ_4K, true);
		for (int y = 0; y < 20; y++)
			seam_yield();
	}
}

static void test_hp_leftover_scenario(void **state)
{
	(void)state;
	BANNER("defect 3, the fuzzer's scenario: a fault-path AUG loses to an ACCEPT, a conversion "
	       "resolves the fault, the bit stays: the VM stops with an internal error or the two "
	       "ACCEPTs reset each other's timer (livelock), as on KVM");
	unsigned ok = 0, stopped = 0, livelock = 0;
	for (uint64_t s = 1; s <= 120; s++) {
		struct kvm *k = host(0, 200000);	/* HP timeout 200 us */
		struct kvm_vm *vm = td(k, 2, false, true);
		hp_vm = vm;
		hp_done = 0;
		assert_int_equal(pre_fault(vm, HP_GPA + SZ_4K, SZ_4K, NULL), 0);
		struct engine *e = engine_seeded(s, 400000);
		static struct vjob j[2];
		for (int i = 0; i < 2; i++) {
			j[i] = (struct vjob){ vm, i, hp_acceptor, NULL, 0 };
			engine_spawn(e, "vcpu", vjob_task, &j[i]);
		}
		engine_spawn(e, "vmm", hp_converter, NULL);
		enum engine_outcome o = engine_run(e);
		const char *why = "";
		bool dead = kvm_vm_dead(vm, &why);
		bool hp_left = (*sept_entry(vm, HP_GPA) & SEPTE_HP) != 0;
		if (o == ENGINE_OK && !dead) {
			ok++;
		} else if (o == ENGINE_OK && strstr(why, "HOST_PRIORITY_BUSY_TIMEOUT")) {
			stopped++;
		} else if (o == ENGINE_STEP_BOUND && hp_left) {
			livelock++;
		} else {
			engine_print_report(e, stderr);
			fail_msg("seed %" PRIu64 ": outcome %d, VM %s, HP bit %s", s, (int)o,
				 dead ? why : "alive", hp_left ? "set" : "clear");
		}
		engine_destroy(e);
		if (o == ENGINE_OK) {
			destroy_clean(k, vm);
		} else {
			kvm_vm_free_abandoned(vm);
		}
		kvm_destroy(k);
	}
	print_message("  120 seeds: %u completed, %u stopped by the host-priority timeout, "
		      "%u livelocked on a leftover bit\n", ok, stopped, livelock);
	assert_true(ok > 0);
	assert_true(stopped + livelock > 0);	/* the scenario is reproduced */
}

/* ================================================================== */
/* Defect 4: memslots the GPA width cannot map                        */
/* ================================================================== */

static void test_memslot_beyond_gpaw(void **state)
{
	(void)state;
	BANNER("defect 4: a memslot at 2^48 made before INIT_VM: a 4-level INIT_VM refuses it "
	       "(no alias of GPA 0), a 5-level one maps it; after INIT_VM aliases are refused");
	struct kvm *k = host(0, 0);
	struct kvm_tdx_init_vm init;
	/* [2^48, 2^48 + 2M) */
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	assert_int_equal(kvm_vmm_add_private_ram(vm, 0, 1ull << 48, SZ_2M), 0);
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), -EINVAL);
	assert_int_equal(kvm_hostmem(k)->allocated, 0);		/* nothing kept */
	kvm_tdx_init_vm_default(&init, 52);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);	/* the VM is still as new */
	assert_int_equal(kvm_vmm_add_private_ram(vm, 1, 0, SZ_2M), 1);
	assert_int_equal(kvm_create_vcpu(vm), 0);
	assert_int_equal(kvm_tdx_init_vcpu(vm, 0), 0);
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	assert_int_equal(pre_fault(vm, 1ull << 48, SZ_4K, NULL), 0);
	assert_true(kvm_vm_private_mapped(vm, 1ull << 48));
	assert_false(kvm_vm_private_mapped(vm, 0));		/* no alias */
	destroy_clean(k, vm);
	/* a slot that crosses the shared bit of a 4-level TD */
	vm = kvm_create_vm(k, NULL);
	int fd = kvm_create_guest_memfd(vm, 2 * SZ_2M, 0);
	struct kvm_userspace_memory_region2 r = { .slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
						  .guest_phys_addr = BIT47 - SZ_2M,
						  .memory_size = 2 * SZ_2M, .guest_memfd = fd };
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), -EINVAL);
	r.memory_size = 0;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);	/* delete it */
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
	/* now the shared bit is known: the alias range is refused */
	r.guest_phys_addr = 1ull << 48;
	r.memory_size = SZ_2M;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), -EINVAL);
	r.guest_phys_addr = BIT47;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), -EINVAL);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Defect 5: the largest memslot costs what is populated              */
/* ================================================================== */

static void test_huge_memslot(void **state)
{
	(void)state;
	BANNER("defect 5: an 8 TiB memslot: creation, attribute changes, hole punch and deletion "
	       "cost what is populated (simulator memory stays small)");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 52);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
	const uint64_t gpa = 1ull << 44, size = KVM_MEM_MAX_NR_PAGES * SZ_4K;
	uint64_t base = kvm_vm_resident_bytes(vm);
	int fd = kvm_vmm_add_private_ram(vm, 0, gpa, size);
	assert_true(fd >= 0);
	uint64_t created = kvm_vm_resident_bytes(vm) - base;
	print_message("  8 TiB memslot: %llu bytes of host structures\n",
		      (unsigned long long)created);
	assert_true(created < 1024 * 1024);	/* was 352 MiB */
	assert_int_equal(kvm_create_vcpu(vm), 0);
	assert_int_equal(kvm_tdx_init_vcpu(vm, 0), 0);
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	/* one page deep inside */
	const uint64_t far = gpa + (5ull << 40);
	assert_int_equal(pre_fault(vm, far, SZ_4K, NULL), 0);
	assert_true(kvm_vm_private_mapped(vm, far));
	assert_int_equal(kvm_set_memory_attributes(vm, gpa, size, 0), 0);
	assert_false(kvm_vm_private_mapped(vm, far));
	assert_int_equal(kvm_set_memory_attributes(vm, gpa, size, KVM_MEMORY_ATTRIBUTE_PRIVATE), 0);
	assert_int_equal(kvm_gmem_punch_hole(vm, fd, 0, size), 0);
	uint64_t n2m, n4k;
	assert_int_equal(kvm_vm_gmem_folios(vm, fd, &n2m, &n4k), 0);
	assert_int_equal(n2m + n4k, 0);
	struct kvm_userspace_memory_region2 del = { .slot = 0 };
	assert_int_equal(kvm_set_user_memory_region2(vm, &del), 0);
	assert_true(kvm_vm_resident_bytes(vm) - base < 1024 * 1024);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Defect 6: a failed INIT_VM is undone                               */
/* ================================================================== */

static void test_failed_init_vm_undone(void **state)
{
	(void)state;
	BANNER("defect 6: INIT_VM refused by TDH.MNG.INIT gives back its HKID and pages: "
	       "another VM gets the only HKID, and the same VM can retry");
	struct kvm *k = host(1, 0);	/* one HKID */
	struct kvm_vm *a = kvm_create_vm(k, NULL);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	init.xfam = 1ull << 2;		/* KVM lets it through; MNG.INIT: FIXED1 bits missing */
	assert_int_equal(kvm_tdx_init_vm(a, &init), -EINVAL);
	assert_false(kvm_vm_dead(a, NULL));
	assert_int_equal(kvm_hostmem(k)->allocated, 0);
	assert_int_equal(test_pamt_in_use(kvm_module(k)), 0);
	struct kvm_vm *b = kvm_create_vm(k, NULL);
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(b, &init), 0);		/* the HKID is free */
	assert_int_equal(kvm_tdx_init_vm(a, &init), -EBUSY);	/* ... and now taken */
	destroy_clean(k, b);
	assert_int_equal(kvm_tdx_init_vm(a, &init), 0);		/* a retries */
	assert_int_equal(kvm_vmm_add_private_ram(a, 0, BASE, SZ_2M), 0);
	assert_int_equal(kvm_create_vcpu(a), 0);
	assert_int_equal(kvm_tdx_init_vcpu(a, 0), 0);
	assert_int_equal(kvm_tdx_finalize_vm(a), 0);
	destroy_clean(k, a);
	kvm_destroy(k);
}

/* ================================================================== */
/* also: kvm_create_vm validates the policy                           */
/* ================================================================== */

static void test_policy_validated(void **state)
{
	(void)state;
	BANNER("KVM_CREATE_VM refuses an out-of-range policy instead of indexing past its tables");
	struct kvm *k = host(0, 0);
	for (int f = 0; f < 5; f++) {
		struct kvm_policy p;
		kvm_policy_default(&p);
		switch (f) {
		case 0: p.build = (enum kvm_build_flow)7; break;
		case 1: p.busy = (enum kvm_busy_policy)-1; break;
		case 2: p.max_level = MAP_LEVEL_NR; break;
		case 3: p.retry_n = 0; break;
		default: break;
		}
		char buf[128];
		kvm_policy_describe(&p, buf, sizeof(buf));
		struct kvm_vm *vm = kvm_create_vm(k, &p);
		if (f < 4) {
			assert_null(vm);
			assert_int_equal(kvm_policy_check(&p), -EINVAL);
			assert_string_equal(buf, "(invalid policy)");
		} else {
			assert_non_null(vm);
			assert_int_equal(kvm_policy_check(&p), 0);
			kvm_destroy_vm(vm);
		}
	}
	kvm_destroy(k);
}

/* ================================================================== */
/* Mainline 3: pre-fault progress and shared GFNs                     */
/* ================================================================== */

static void test_prefault_progress_and_shared(void **state)
{
	(void)state;
	BANNER("mainline 3: PRE_FAULT maps shared GFNs in the direct root and returns 0 once a "
	       "page is mapped, handing the rest back");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 1, false, true);
	assert_int_equal(kvm_set_memory_attributes(vm, BASE + 2 * SZ_4K, 2 * SZ_4K, 0), 0);
	uint64_t left;
	assert_int_equal(pre_fault(vm, BASE, 4 * SZ_4K, &left), 0);
	assert_int_equal(left, 0);
	assert_true(kvm_vm_private_mapped(vm, BASE) && kvm_vm_private_mapped(vm, BASE + SZ_4K));
	assert_false(kvm_vm_private_mapped(vm, BASE + 2 * SZ_4K));
	assert_true(kvm_vm_shared_mapped(vm, BASE + 2 * SZ_4K));
	assert_true(kvm_vm_shared_mapped(vm, BASE + 3 * SZ_4K));
	assert_false(kvm_vm_shared_mapped(vm, BASE));
	/* two pages in the slot, two past its end: 0, the last two handed back */
	struct kvm_pre_fault_memory r = { BASE + SLOT_SIZE - 2 * SZ_4K, 4 * SZ_4K, 0 };
	assert_int_equal(kvm_pre_fault_memory(vm, 0, &r), 0);
	assert_int_equal(r.gpa, BASE + SLOT_SIZE);
	assert_int_equal(r.size, 2 * SZ_4K);
	/* the rest, asked again: nothing mapped, the error */
	assert_int_equal(kvm_pre_fault_memory(vm, 0, &r), -ENOENT);
	assert_int_equal(r.size, 2 * SZ_4K);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Mainline 4: memory attributes belong to the VM                     */
/* ================================================================== */

static void test_attributes_per_vm(void **state)
{
	(void)state;
	BANNER("mainline 4: attributes are the VM's (default shared, kept across memslot deletion "
	       "and re-creation, ranges); conversion to shared only zaps, the VMM's punch frees");
	struct kvm *k = host(0, 0);
	struct kvm_policy pol2m;
	kvm_policy_default(&pol2m);
	pol2m.folio = FOLIO_2M;	/* the HugeTLB-backed guest_memfd */
	struct kvm_vm *vm = kvm_create_vm(k, &pol2m);
	int fd = kvm_create_guest_memfd(vm, SLOT_SIZE, 0);
	struct kvm_userspace_memory_region2 r = { .slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
						  .guest_phys_addr = BASE, .memory_size = SLOT_SIZE,
						  .guest_memfd = fd };
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);
	assert_false(kvm_vm_gpa_private(vm, BASE));		/* default shared */
	assert_int_equal(kvm_set_memory_attributes(vm, BASE, SLOT_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE),
			 0);
	assert_true(kvm_vm_gpa_private(vm, BASE + SLOT_SIZE - SZ_4K));
	assert_false(kvm_vm_gpa_private(vm, BASE + SLOT_SIZE));
	/* a hole in the middle, then deletion and re-creation of the slot */
	assert_int_equal(kvm_set_memory_attributes(vm, BASE + SZ_2M, SZ_4K, 0), 0);
	struct kvm_userspace_memory_region2 del = { .slot = 0 };
	assert_int_equal(kvm_set_user_memory_region2(vm, &del), 0);
	assert_true(kvm_vm_gpa_private(vm, BASE));
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);
	assert_true(kvm_vm_gpa_private(vm, BASE));
	assert_false(kvm_vm_gpa_private(vm, BASE + SZ_2M));
	assert_true(kvm_vm_gpa_private(vm, BASE + SZ_2M + SZ_4K));
	/* attributes without a memslot are kept too, and a huge range costs nothing */
	uint64_t bytes = kvm_vm_resident_bytes(vm);
	assert_int_equal(kvm_set_memory_attributes(vm, 1ull << 40, 1ull << 46,
						   KVM_MEMORY_ATTRIBUTE_PRIVATE), 0);
	assert_true(kvm_vm_gpa_private(vm, (1ull << 40) + (1ull << 45)));
	assert_true(kvm_vm_resident_bytes(vm) - bytes < 4096);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
	assert_int_equal(kvm_create_vcpu(vm), 0);
	assert_int_equal(kvm_tdx_init_vcpu(vm, 0), 0);
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	/* conversion to shared zaps and frees nothing; the VMM's punch frees */
	assert_int_equal(pre_fault(vm, BASE, 4 * SZ_4K, NULL), 0);
	uint64_t n2m, n4k;
	assert_int_equal(kvm_vm_gmem_folios(vm, fd, &n2m, &n4k), 0);
	assert_int_equal(n2m, 1);
	uint64_t alloc = kvm_hostmem(k)->allocated;
	assert_int_equal(kvm_set_memory_attributes(vm, BASE, 4 * SZ_4K, 0), 0);
	assert_false(kvm_vm_private_mapped(vm, BASE));
	assert_int_equal(kvm_vm_gmem_folios(vm, fd, &n2m, &n4k), 0);
	assert_int_equal(n2m, 1);				/* still there */
	assert_int_equal(kvm_hostmem(k)->allocated, alloc);
	assert_int_equal(kvm_vmm_convert(vm, BASE, 4 * SZ_4K, false), 0);
	assert_int_equal(kvm_vm_gmem_folios(vm, fd, &n2m, &n4k), 0);
	assert_int_equal(n2m, 0);				/* split, the 4 pages freed */
	assert_int_equal(n4k, 508);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Mainline 5: local retry for private faults only                    */
/* ================================================================== */

#define SLOT1 SZ_1G
static struct kvm_vm *lr_vm;

static void shared_reader(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (uint64_t p = 0;; p++)
		guest_read64(g, guest_shared(g, SLOT1 + (p % 512) * SZ_4K));
}

static void lr_deleter(void *arg)
{
	(void)arg;
	while (kvm_vm_stats(lr_vm)->faults < 8)
		seam_yield();
	struct kvm_userspace_memory_region2 del = { .slot = 1 };
	task_check_eq(kvm_set_user_memory_region2(lr_vm, &del), 0);
}

static void test_local_retry_private_only(void **state)
{
	(void)state;
	BANNER("mainline 5: shared EPT violations are not retried locally: deleting a shared "
	       "slot completes even without the 6.18 memslot break");
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	assert_int_equal(kvm_policy_set(&pol, "slot_break", "off"), 0);
	for (uint64_t s = 1; s <= 8; s++) {
		struct kvm *k = host(0, 0);
		struct kvm_vm *vm = kvm_create_vm(k, &pol);
		struct kvm_tdx_init_vm init;
		kvm_tdx_init_vm_default(&init, 48);
		assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
		assert_int_equal(kvm_vmm_add_private_ram(vm, 0, BASE, SLOT_SIZE), 0);
		/* slot 1: guest_memfd RAM the guest uses shared */
		assert_int_equal(kvm_vmm_add_private_ram(vm, 1, SLOT1, SZ_2M), 1);
		assert_int_equal(kvm_set_memory_attributes(vm, SLOT1, SZ_2M, 0), 0);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(kvm_create_vcpu(vm), i);
			assert_int_equal(kvm_tdx_init_vcpu(vm, i), 0);
		}
		assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
		lr_vm = vm;
		struct engine *e = engine_seeded(s, 300000);
		static struct vjob j[2];
		for (int i = 0; i < 2; i++) {
			j[i] = (struct vjob){ vm, i, shared_reader, NULL, 0 };
			engine_spawn(e, "vcpu", vjob_task, &j[i]);
		}
		engine_spawn(e, "vmm", lr_deleter, NULL);
		enum engine_outcome o = engine_run(e);
		if (o != ENGINE_OK) {
			engine_print_report(e, stderr);
			fail_msg("seed %" PRIu64 ": deletion did not complete", s);
		}
		const char *why;
		assert_true(kvm_vm_dead(vm, &why));	/* then the reads meet "no memslot" */
		assert_non_null(strstr(why, "no memslot"));
		assert_int_equal(kvm_vm_stats(vm)->local_retries, 0);
		engine_destroy(e);
		destroy_clean(k, vm);
		kvm_destroy(k);
	}
}

/* ================================================================== */
/* Mainline 7: TRACK, BLOCK and write-back rules                      */
/* ================================================================== */

static void accept_n(struct gvcpu *g, void *arg)
{
	uint64_t n = *(uint64_t *)arg;
	for (uint64_t i = 0; i < n; i++) {
		task_check_eq(guest_accept(g, BASE + i * SZ_4K, 0), TDX_SUCCESS);
		guest_write64(g, BASE + i * SZ_4K, i + 1);
	}
}

static void test_track_and_writeback_rules(void **state)
{
	(void)state;
	BANNER("mainline 7: no TRACK before FINALIZE; ALREADY_BLOCKED bugs the VM; at teardown "
	       "only the TDR gets a cache write-back");
	struct kvm *k = host(0, 0);
	/* a zap while INITIALIZED: BLOCK and REMOVE, no TRACK (tdx_track() returns) */
	struct kvm_vm *vm = td(k, 1, false, false);
	struct kvm_tdx_init_mem_region r = { img, BASE, 2 };
	assert_int_equal(kvm_tdx_init_mem_region(vm, 0, 0, &r), 0);
	count_start();
	assert_int_equal(kvm_gmem_punch_hole(vm, 0, 0, SZ_4K), 0);
	count_stop();
	assert_int_equal(leaf_calls[TDH_MEM_RANGE_BLOCK], 1);
	assert_int_equal(leaf_calls[TDH_MEM_TRACK], 0);
	assert_int_equal(leaf_calls[TDH_MEM_PAGE_REMOVE], 1);
	assert_false(kvm_vm_private_mapped(vm, BASE));
	assert_true(kvm_vm_private_mapped(vm, BASE + SZ_4K));
	destroy_clean(k, vm);

	/* RUNNABLE: BLOCK, TRACK, REMOVE; a page blocked behind KVM's back bugs the VM */
	vm = td(k, 1, false, true);
	uint64_t n = 6;
	assert_int_equal(kvm_vcpu_run(vm, 0, accept_n, &n), 0);
	count_start();
	assert_int_equal(kvm_gmem_punch_hole(vm, 0, 0, SZ_4K), 0);
	count_stop();
	assert_int_equal(leaf_calls[TDH_MEM_TRACK], 1);
	struct tdx_regs out;
	assert_status(tdh_mem_range_block(kvm_module(k), &out, tdx_gpa_info(BASE + SZ_4K, 0),
					  kvm_vm_tdr(vm)), TDX_SUCCESS);
	assert_int_equal(kvm_gmem_punch_hole(vm, 0, SZ_4K, SZ_4K), 0);
	const char *why;
	assert_true(kvm_vm_dead(vm, &why));
	assert_non_null(strstr(why, "ALREADY_BLOCKED"));
	destroy_clean(k, vm);

	/* teardown: one write-back per private page removed, one for the TDR, none else */
	vm = td(k, 2, false, true);
	n = 40;
	assert_int_equal(kvm_vcpu_run(vm, 0, accept_n, &n), 0);
	count_start();
	kvm_destroy_vm(vm);
	count_stop();
	assert_int_equal(leaf_calls[TDH_MEM_PAGE_REMOVE], n);
	assert_int_equal(leaf_calls[TDH_PHYMEM_PAGE_WBINVD], n + 1);
	assert_true(leaf_calls[TDH_PHYMEM_PAGE_RECLAIM] > 10);	/* control and S-EPT pages */
	assert_int_equal(kvm_hostmem(k)->allocated, 0);
	kvm_destroy(k);
}

/* Mainline 7: TRACK's PREVIOUS_TLB_EPOCH_BUSY is a host bug, not a BUSY to retry. */
static struct kvm *ep_k;
static struct kvm_vm *ep_vm;
static uint64_t ep_phase;

static void ep_guest(struct gvcpu *g, void *arg)
{
	(void)arg;
	task_check_eq(guest_accept(g, BASE, 0), TDX_SUCCESS);
	seam_store64(&ep_phase, 1);
	for (;;)
		guest_read64(g, BASE + 8);	/* stays in the TD, in its entry epoch */
}

static void ep_host(void *arg)
{
	(void)arg;
	while (!seam_load64(&ep_phase))
		seam_yield();
	/* a TRACK behind KVM's back: the vCPU is still in the previous epoch */
	struct tdx_regs out;
	task_check_eq(tdh_mem_track(kvm_module(ep_k), &out, kvm_vm_tdr(ep_vm)), TDX_SUCCESS);
	task_check_eq(kvm_gmem_punch_hole(ep_vm, 0, 0, SZ_4K), 0);
}

static void test_prev_epoch_busy_bugs_vm(void **state)
{
	(void)state;
	BANNER("mainline 7: PREVIOUS_TLB_EPOCH_BUSY from the host's TRACK bugs the VM "
	       "(KVM retries only OPERAND_BUSY)");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 1, false, true);
	ep_k = k;
	ep_vm = vm;
	ep_phase = 0;
	struct engine *e = engine_seeded(3, 500000);
	static struct vjob j;
	j = (struct vjob){ vm, 0, ep_guest, NULL, 0 };
	engine_spawn(e, "vcpu0", vjob_task, &j);
	engine_spawn(e, "vmm", ep_host, NULL);
	enum engine_outcome o = engine_run(e);
	if (o != ENGINE_OK)
		engine_print_report(e, stderr);
	assert_int_equal(o, ENGINE_OK);
	const char *why;
	assert_true(kvm_vm_dead(vm, &why));
	assert_non_null(strstr(why, "PREVIOUS_TLB_EPOCH_BUSY"));
	assert_int_equal(j.rc, -EIO);	/* KVM_REQ_VM_DEAD took the vCPU out */
	engine_destroy(e);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Mainline 8: FINALIZE errors bug the VM                             */
/* ================================================================== */

static void test_finalize_error_bugs_vm(void **state)
{
	(void)state;
	BANNER("mainline 8: MR.FINALIZE failing with anything but BUSY (NO_VCPUS here) is -EIO "
	       "and the VM is dead (KVM_BUG_ON): later calls are -EIO too");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 0, false, false);
	assert_int_equal(kvm_tdx_finalize_vm(vm), -EIO);
	const char *why;
	assert_true(kvm_vm_dead(vm, &why));
	assert_non_null(strstr(why, "NO_VCPUS"));
	assert_int_equal(kvm_create_vcpu(vm), -EIO);
	assert_int_equal(kvm_tdx_finalize_vm(vm), -EIO);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Mainline 8: an MR.EXTEND error is -EIO                             */
/* ================================================================== */

static struct tdx_module *mr_m;
static uint64_t mr_tdr;
static struct td_ctx mr_hold;
static bool mr_held;

/* At MR.EXTEND's start, another SEAMCALL holds the TDR shared: BUSY. */
static void mr_charge(void *ctx, enum seam_cost kind, uint64_t n)
{
	(void)ctx;
	(void)n;
	if (!mr_held && kind == SEAM_COST_SEAMCALL + TDH_MR_EXTEND)
		mr_held = td_lock_tdr(mr_m, &mr_hold, mr_tdr, SEAM_SHARED, OPND_RDX) == TDX_SUCCESS;
}

static const struct seam_hooks mr_hooks = { .charge = mr_charge };

static void test_mr_extend_error_is_eio(void **state)
{
	(void)state;
	BANNER("mainline 8: INIT_MEM_REGION whose MR.EXTEND fails (here BUSY on the TDR) is -EIO, "
	       "not -EBUSY, and the page does not count as done");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 1, false, false);
	mr_m = kvm_module(k);
	mr_tdr = kvm_vm_tdr(vm);
	mr_held = false;
	struct kvm_tdx_init_mem_region r = { img, BASE, 1 };
	seam_install(&mr_hooks);
	int rc = kvm_tdx_init_mem_region(vm, 0, KVM_TDX_MEASURE_MEMORY_REGION, &r);
	seam_install(NULL);
	assert_true(mr_held);
	td_ctx_release(&mr_hold);
	assert_int_equal(rc, -EIO);
	assert_int_equal(r.nr_pages, 1);
	assert_true(kvm_vm_private_mapped(vm, BASE));	/* PAGE.ADD had happened */
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Mainline 9: MapGPA                                                 */
/* ================================================================== */

struct exit_log {
	int n;
	uint64_t gpa[16], npages[16];
	bool private[16];
	int post_irq_at;	/* post an interrupt during this exit (-1: never) */
};
static struct exit_log xl;

static uint64_t log_map_gpa(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t npages,
			    bool private, void *ctx)
{
	(void)ctx;
	if (xl.n < 16) {
		xl.gpa[xl.n] = gpa;
		xl.npages[xl.n] = npages;
		xl.private[xl.n] = private;
	}
	if (xl.n++ == xl.post_irq_at)
		task_check_eq(kvm_vcpu_post_interrupt(vm, vcpu), 0);
	return (uint64_t)(int64_t)kvm_vmm_convert(vm, gpa, npages * SZ_4K, private);
}

struct mapgpa_res {
	uint64_t unaligned, mixed, illegal, big, back, retry_raw, retry_r11;
};

static void mapgpa_prog(struct gvcpu *g, void *arg)
{
	struct mapgpa_res *r = arg;
	r->unaligned = guest_vmcall(g, TDVMCALL_MAP_GPA, guest_shared(g, BASE + 0x800), SZ_4K);
	r->mixed = guest_vmcall(g, TDVMCALL_MAP_GPA, BIT47 - SZ_4K, 2 * SZ_4K);
	r->illegal = guest_vmcall(g, TDVMCALL_MAP_GPA, 1ull << 48, SZ_4K);
	/* 5 MiB to shared: 2M, 2M, 1M */
	r->big = guest_map_gpa(g, BASE, 5 * SZ_1M, true);
	/* back, with an interrupt posted during the first chunk: RETRY, R11 = next */
	xl.post_irq_at = xl.n;
	r->retry_raw = guest_vmcall(g, TDVMCALL_MAP_GPA, BASE, 5 * SZ_1M);
	r->retry_r11 = g->vmcall_r11;
	/* the guest's wrapper resumes from R11 as Linux does */
	r->back = guest_map_gpa(g, r->retry_r11, BASE + 5 * SZ_1M - r->retry_r11, false);
}

static void test_mapgpa_rules(void **state)
{
	(void)state;
	BANNER("mainline 9: MapGPA: ALIGN_ERROR, mixed ends and illegal GPAs refused, 2M "
	       "hypercall exits (shared bit stripped), RETRY with R11 on a pending interrupt");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 1, false, true);
	struct kvm_vmm_ops ops = { .map_gpa_range = log_map_gpa };
	kvm_set_vmm_ops(vm, &ops);
	memset(&xl, 0, sizeof(xl));
	xl.post_irq_at = -1;
	struct mapgpa_res r;
	assert_int_equal(kvm_vcpu_run(vm, 0, mapgpa_prog, &r), 0);
	assert_int_equal(r.unaligned, TDVMCALL_STATUS_ALIGN_ERROR);
	assert_int_equal(r.mixed, TDVMCALL_STATUS_INVALID_OPERAND);
	assert_int_equal(r.illegal, TDVMCALL_STATUS_INVALID_OPERAND);
	assert_int_equal(r.big, TDVMCALL_STATUS_SUCCESS);
	assert_int_equal(r.retry_raw, TDVMCALL_STATUS_RETRY);
	assert_int_equal(r.retry_r11, BASE + SZ_2M);
	assert_int_equal(r.back, TDVMCALL_STATUS_SUCCESS);
	/* 3 exits to shared, then 1 (interrupted), then 2 for the rest */
	assert_int_equal(xl.n, 6);
	static const uint64_t npages[] = { 512, 512, 256, 512, 512, 256 };
	for (int i = 0; i < 6; i++) {
		assert_int_equal(xl.npages[i], npages[i]);
		assert_int_equal(xl.private[i], i >= 3);
		assert_int_equal(xl.gpa[i], BASE + (uint64_t)(i % 3) * SZ_2M);
	}
	assert_true(kvm_vm_gpa_private(vm, BASE + 5 * SZ_1M - SZ_4K));
	assert_int_equal(kvm_vm_stats(vm)->map_gpa_exits, 6);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Mainline 11 and 12: guest_memfd objects; what the VMM sees         */
/* ================================================================== */

struct mf_log {
	int n;
	int vcpu;
	uint64_t gpa, size;
	bool private;
};
static struct mf_log mf;

static int log_memory_fault(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t size,
			    bool private, void *ctx)
{
	(void)ctx;
	mf.n++;
	mf.vcpu = vcpu;
	mf.gpa = gpa;
	mf.size = size;
	mf.private = private;
	return kvm_vmm_convert(vm, gpa, size, private);
}

#define G1 SZ_1G
#define G2 (2 * SZ_1G)
#define G3 (3 * SZ_1G)

static void two_bindings_prog(struct gvcpu *g, void *arg)
{
	(void)arg;
	task_check_eq(guest_accept(g, G1, 0), TDX_SUCCESS);
	guest_write64(g, G1, 11);
	task_check_eq(guest_accept(g, G2, 0), TDX_SUCCESS);
	guest_write64(g, G2, 22);
	/* the VMM filled shared memory for us */
	task_check_eq(guest_read64(g, guest_shared(g, BASE)), 0xfeedface);
}

static void private_in_shared_slot(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_accept(g, G3, 0);
}

static void test_gmem_objects_and_vmm_exits(void **state)
{
	(void)state;
	BANNER("mainline 11/12: one guest_memfd bound to two memslots by offset, punched by offset; "
	       "a private fault in a shared-only slot is a memory-fault exit; the VMM writes shared "
	       "memory");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 1, false, true);
	int fd = kvm_create_guest_memfd(vm, 8 * SZ_1M, 0);
	assert_true(fd > 0);
	struct kvm_userspace_memory_region2 r = { .slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
						  .guest_phys_addr = G1, .memory_size = 4 * SZ_1M,
						  .guest_memfd = fd };
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);
	/* overlapping file range, outside the file, not a guest_memfd */
	r.slot = 2;
	r.guest_phys_addr = G2;
	r.guest_memfd_offset = 2 * SZ_1M;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), -EINVAL);
	r.guest_memfd_offset = 6 * SZ_1M;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), -EINVAL);
	r.guest_memfd_offset = 4 * SZ_1M;
	r.guest_memfd = 29;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), -EBADF);
	r.guest_memfd = fd;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);
	assert_int_equal(kvm_set_memory_attributes(vm, G1, 4 * SZ_1M, KVM_MEMORY_ATTRIBUTE_PRIVATE), 0);
	assert_int_equal(kvm_set_memory_attributes(vm, G2, 4 * SZ_1M, KVM_MEMORY_ATTRIBUTE_PRIVATE), 0);
	/* shared memory the VMM fills before the guest runs */
	assert_int_equal(kvm_set_memory_attributes(vm, BASE, SZ_4K, 0), 0);
	uint64_t v = 0xfeedface;
	assert_int_equal(kvm_vm_write_shared(vm, BASE, &v, 8), 0);
	assert_int_equal(kvm_vm_write_shared(vm, NO_SLOT, &v, 8), -EFAULT);
	assert_int_equal(kvm_vcpu_run(vm, 0, two_bindings_prog, NULL), 0);
	/* file offset 4M is G2: punching it leaves G1 (offset 0) alone */
	assert_int_equal(kvm_gmem_punch_hole(vm, fd, 4 * SZ_1M, SZ_4K), 0);
	assert_false(kvm_vm_private_mapped(vm, G2));
	assert_true(kvm_vm_private_mapped(vm, G1));
	/* slot 3: shared-only memory, but the guest wants it private */
	struct kvm_userspace_memory_region2 s3 = { .slot = 3, .guest_phys_addr = G3,
						   .memory_size = SZ_2M };
	assert_int_equal(kvm_set_user_memory_region2(vm, &s3), 0);
	assert_int_equal(kvm_set_memory_attributes(vm, G3, SZ_2M, KVM_MEMORY_ATTRIBUTE_PRIVATE), 0);
	struct kvm_vmm_ops ops = { .memory_fault = log_memory_fault };
	kvm_set_vmm_ops(vm, &ops);
	memset(&mf, 0, sizeof(mf));
	assert_int_equal(kvm_vcpu_run(vm, 0, private_in_shared_slot, NULL), -EIO);
	assert_int_equal(mf.n, 1);
	assert_int_equal(mf.vcpu, 0);
	assert_int_equal(mf.gpa, G3);
	assert_int_equal(mf.size, SZ_4K);
	assert_true(mf.private);
	const char *why;
	assert_true(kvm_vm_dead(vm, &why));	/* QEMU refuses: no guest_memfd behind it */
	assert_non_null(strstr(why, "userspace gave up"));
	destroy_clean(k, vm);
	kvm_destroy(k);
}

/* ================================================================== */
/* Found in review: races and leaks around the fixes                  */
/* ================================================================== */

static struct kvm *rv_k;
static struct kvm_vm *rv_vm;
static uint64_t rv_stop, rv_bad;

/* Pre-fault one shared page again and again: what the direct root maps must be allocated. */
static void rv_faulter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 60 && !rv_bad; i++) {
		struct kvm_pre_fault_memory r = { BASE, SZ_4K, 0 };
		kvm_pre_fault_memory(rv_vm, 0, &r);
		uint64_t hpa = kvm_vm_shared_hpa(rv_vm, BASE);
		if (hpa && !hostmem_is_allocated(kvm_hostmem(rv_k), hpa))
			rv_bad = hpa;
	}
	rv_stop = 1;
}

static void rv_discarder(void *arg)
{
	(void)arg;
	while (!rv_stop)
		task_check_eq(kvm_vmm_discard_shared(rv_vm, BASE, SZ_4K), 0);
}

static void test_discard_vs_shared_fault(void **state)
{
	(void)state;
	BANNER("review: discarding shared memory while a shared fault looks it up never leaves "
	       "a freed page mapped (the pages go under the exclusive mmu_lock)");
	for (uint64_t s = 1; s <= 40; s++) {
		struct kvm *k = host(0, 0);
		struct kvm_vm *vm = td(k, 1, false, true);
		assert_int_equal(kvm_set_memory_attributes(vm, BASE, SZ_4K, 0), 0);
		rv_k = k;
		rv_vm = vm;
		rv_stop = rv_bad = 0;
		struct engine *e = engine_seeded(s, 2000000);
		engine_spawn(e, "fault", rv_faulter, NULL);
		engine_spawn(e, "discard", rv_discarder, NULL);
		assert_int_equal(engine_run(e), ENGINE_OK);
		engine_destroy(e);
		if (rv_bad)
			fail_msg("seed %" PRIu64 ": the direct root maps freed HPA %#llx", s,
				 (unsigned long long)rv_bad);
		destroy_clean(k, vm);
		kvm_destroy(k);
	}
}

static void rv_deleter(void *arg)
{
	(void)arg;
	while (kvm_vm_stats(rv_vm)->faults < 4)
		seam_yield();
	struct kvm_userspace_memory_region2 del = { .slot = 0 };
	int r = kvm_set_user_memory_region2(rv_vm, &del);
	task_check(r == 0 || r == -EIO);
}

static void test_dead_during_deletion(void **state)
{
	(void)state;
	BANNER("review: a VM that dies while its memslot is deleted keeps its TD's pages through "
	       "a later punch (held is the PAMT's word, not the memslots')");
	for (uint64_t s = 1; s <= 30; s++) {
		struct kvm *k = host(0, 0);
		struct kvm_vm *vm = td(k, 1, false, true);
		rv_vm = vm;
		struct engine *e = engine_seeded(s, 2000000);
		static struct vjob j;
		j = (struct vjob){ vm, 0, accept_then_stray, NULL, 0 };
		engine_spawn(e, "vcpu0", vjob_task, &j);
		engine_spawn(e, "vmm", rv_deleter, NULL);
		assert_int_equal(engine_run(e), ENGINE_OK);
		engine_destroy(e);
		assert_true(kvm_vm_dead(vm, NULL));
		assert_int_equal(kvm_gmem_punch_hole(vm, 0, 0, SLOT_SIZE), 0);
		/* a second VM must find every page it is given clean */
		struct kvm_vm *vm2 = td(k, 1, false, true);
		uint64_t n = 1024;
		assert_int_equal(kvm_vcpu_run(vm2, 0, touch_many, &n), 0);
		kvm_destroy_vm(vm2);
		destroy_clean(k, vm);
		kvm_destroy(k);
	}
}

static void rv_converter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		int r = kvm_vmm_convert(rv_vm, BASE + (uint64_t)(i % 4) * SZ_4K, SZ_4K, i & 1);
		task_check(r == 0 || r == -EINVAL);
	}
}

static void rv_slot_deleter(void *arg)
{
	(void)arg;
	seam_yield();
	struct kvm_userspace_memory_region2 del = { .slot = 0 };
	task_check_eq(kvm_set_user_memory_region2(rv_vm, &del), 0);
}

static void test_convert_vs_deletion(void **state)
{
	(void)state;
	BANNER("review: a VMM conversion racing the deletion of its memslot gets -EINVAL, never "
	       "a NULL memslot");
	for (uint64_t s = 1; s <= 40; s++) {
		struct kvm *k = host(0, 0);
		struct kvm_vm *vm = td(k, 1, false, true);
		rv_vm = vm;
		struct engine *e = engine_seeded(s, 2000000);
		engine_spawn(e, "convert", rv_converter, NULL);
		engine_spawn(e, "delete", rv_slot_deleter, NULL);
		enum engine_outcome o = engine_run(e);
		if (o != ENGINE_OK)
			engine_print_report(e, stderr);
		assert_int_equal(o, ENGINE_OK);
		engine_destroy(e);
		destroy_clean(k, vm);
		kvm_destroy(k);
	}
}

static struct kvm_tdx_init_mem_region rv_region;
static int rv_init_rc, rv_final_rc;

static void rv_init_mem(void *arg)
{
	(void)arg;
	rv_init_rc = kvm_tdx_init_mem_region(rv_vm, 0, 0, &rv_region);
}

static void rv_finalize(void *arg)
{
	(void)arg;
	rv_final_rc = kvm_tdx_finalize_vm(rv_vm);
}

static void test_init_mem_vs_finalize(void **state)
{
	(void)state;
	BANNER("review: INIT_MEM_REGION racing FINALIZE adds or refuses each page, never AUGs "
	       "it (FINALIZE takes slots_lock, the state is checked under it)");
	static _Alignas(4096) uint8_t image[16 * 4096];
	memset(image, 0xa5, sizeof(image));
	for (uint64_t s = 1; s <= 40; s++) {
		struct kvm *k = host(0, 0);
		struct kvm_vm *vm = td(k, 1, false, false);
		rv_vm = vm;
		rv_region = (struct kvm_tdx_init_mem_region){ image, BASE, 16 };
		struct engine *e = engine_seeded(s, 2000000);
		engine_spawn(e, "init", rv_init_mem, NULL);
		engine_spawn(e, "final", rv_finalize, NULL);
		assert_int_equal(engine_run(e), ENGINE_OK);
		engine_destroy(e);
		const struct kvm_vm_stats *st = kvm_vm_stats(vm);
		assert_int_equal(rv_final_rc, 0);
		assert_int_equal(st->private_maps, 0);
		assert_int_equal(st->page_adds, 16 - rv_region.nr_pages);
		assert_true(rv_init_rc == 0 || rv_init_rc == -EINVAL);
		assert_int_equal(rv_init_rc == 0, rv_region.nr_pages == 0);
		destroy_clean(k, vm);
		kvm_destroy(k);
	}
}

static void test_freed_pages_are_zeroed(void **state)
{
	(void)state;
	BANNER("review: a private page given back (REMOVE, punch) comes back zeroed: untouched "
	       "shared memory reads zero, no TD data leaks");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 1, false, false);
	static _Alignas(4096) uint8_t image[4096];
	memset(image, 0xa5, sizeof(image));
	struct kvm_tdx_init_mem_region r = { image, BASE, 1 };
	assert_int_equal(kvm_tdx_init_mem_region(vm, 0, 0, &r), 0);
	uint64_t hpa = kvm_vm_private_hpa(vm, BASE);
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	assert_int_equal(kvm_vmm_convert(vm, BASE, SZ_4K, false), 0);
	assert_int_equal(pre_fault(vm, BASE, SZ_4K, NULL), 0);
	assert_true(kvm_vm_shared_mapped(vm, BASE));
	uint64_t v = 1;
	assert_int_equal(kvm_vm_read_shared(vm, BASE, &v, 8), 0);
	if (kvm_vm_shared_hpa(vm, BASE) == hpa)
		print_message("  (the shared page is the former private one)\n");
	assert_int_equal(v, 0);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

static int rv_vm_rc, rv_slot_rc;

static void rv_init_vm(void *arg)
{
	(void)arg;
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	rv_vm_rc = kvm_tdx_init_vm(rv_vm, &init);
}

static void rv_add_alias_slot(void *arg)
{
	(void)arg;
	int fd = kvm_create_guest_memfd(rv_vm, SZ_2M, 0);
	struct kvm_userspace_memory_region2 r = { .slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
						  .guest_phys_addr = BIT47, .memory_size = SZ_2M,
						  .guest_memfd = fd };
	rv_slot_rc = kvm_set_user_memory_region2(rv_vm, &r);
}

static void test_slot_vs_init_vm(void **state)
{
	(void)state;
	BANNER("review: a memslot at the shared bit made while INIT_VM runs: one of the two is "
	       "refused, never both accepted");
	for (uint64_t s = 1; s <= 40; s++) {
		struct kvm *k = host(0, 0);
		struct kvm_vm *vm = kvm_create_vm(k, NULL);
		rv_vm = vm;
		struct engine *e = engine_seeded(s, 2000000);
		engine_spawn(e, "init", rv_init_vm, NULL);
		engine_spawn(e, "slot", rv_add_alias_slot, NULL);
		assert_int_equal(engine_run(e), ENGINE_OK);
		engine_destroy(e);
		assert_true(rv_vm_rc == -EINVAL || rv_slot_rc == -EINVAL);
		assert_true(rv_vm_rc == 0 || rv_slot_rc == 0);
		destroy_clean(k, vm);
		kvm_destroy(k);
	}
}

static void test_shared_slot_reset_and_move(void **state)
{
	(void)state;
	BANNER("review: a shared-only memslot set again unchanged is 0, moved is 0 (mappings "
	       "gone, memory kept), resized -EINVAL; a guest_memfd slot stays immutable");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 1, false, true);
	struct kvm_userspace_memory_region2 r = { .slot = 1, .guest_phys_addr = G3,
						  .memory_size = SZ_2M };
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);
	uint64_t v = 0x1234;
	assert_int_equal(kvm_vm_write_shared(vm, G3, &v, 8), 0);
	assert_int_equal(pre_fault(vm, G3, SZ_4K, NULL), 0);
	assert_true(kvm_vm_shared_mapped(vm, G3));
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);	/* unchanged */
	assert_true(kvm_vm_shared_mapped(vm, G3));
	r.guest_phys_addr = G2;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), 0);	/* moved */
	assert_false(kvm_vm_shared_mapped(vm, G3));
	v = 0;
	assert_int_equal(kvm_vm_read_shared(vm, G2, &v, 8), 0);
	assert_int_equal(v, 0x1234);
	r.memory_size = 2 * SZ_2M;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), -EINVAL);	/* resized */
	r.memory_size = SZ_2M;
	r.guest_phys_addr = BASE;
	assert_int_equal(kvm_set_user_memory_region2(vm, &r), -EEXIST);	/* onto slot 0 */
	struct kvm_userspace_memory_region2 g = { .slot = 0, .flags = KVM_MEM_GUEST_MEMFD,
						  .guest_phys_addr = BASE, .memory_size = SLOT_SIZE,
						  .guest_memfd = 0 };
	assert_int_equal(kvm_set_user_memory_region2(vm, &g), -EINVAL);	/* immutable */
	/* a range over the shared bit, its ends both below it or clear of it */
	assert_int_equal(kvm_set_memory_attributes(vm, 0, (1ull << 48) + SZ_4K, 0), -EINVAL);
	destroy_clean(k, vm);
	kvm_destroy(k);
}

static int busy_answers;

static uint64_t busy_once(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t npages, bool private,
			  void *ctx)
{
	(void)vcpu;
	(void)ctx;
	if (busy_answers++ == 0)
		return (uint64_t)-EBUSY;
	return (uint64_t)(int64_t)kvm_vmm_convert(vm, gpa, npages * SZ_4K, private);
}

static uint64_t efault_answer(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t npages,
			      bool private, void *ctx)
{
	(void)vm, (void)vcpu, (void)gpa, (void)npages, (void)private, (void)ctx;
	return (uint64_t)-EFAULT;
}

static void mapgpa_shared(struct gvcpu *g, void *arg)
{
	*(uint64_t *)arg = guest_map_gpa(g, BASE, SZ_4K, true);
}

static void test_mapgpa_vmm_busy(void **state)
{
	(void)state;
	BANNER("review: a VMM answering MapGPA with -EBUSY makes the guest RETRY (Linux resumes "
	       "from R11); an unexpected answer fails KVM_RUN (-EIO, the guest not entered "
	       "again)");
	struct kvm *k = host(0, 0);
	struct kvm_vm *vm = td(k, 1, false, true);
	struct kvm_vmm_ops ops = { .map_gpa_range = busy_once };
	kvm_set_vmm_ops(vm, &ops);
	busy_answers = 0;
	uint64_t st = 1;
	assert_int_equal(kvm_vcpu_run(vm, 0, mapgpa_shared, &st), 0);
	assert_int_equal(st, TDVMCALL_STATUS_SUCCESS);
	assert_int_equal(busy_answers, 2);
	assert_false(kvm_vm_gpa_private(vm, BASE));
	destroy_clean(k, vm);
	kvm_destroy(k);

	/* an answer KVM does not expect kills the VM: KVM_RUN is -EIO, the guest
	 * is not entered again and never sees a status for its MapGPA */
	k = host(0, 0);
	vm = td(k, 1, false, true);
	struct kvm_vmm_ops bad = { .map_gpa_range = efault_answer };
	kvm_set_vmm_ops(vm, &bad);
	st = 1;
	assert_int_equal(kvm_vcpu_run(vm, 0, mapgpa_shared, &st), -EIO);
	assert_int_equal(st, 1);
	assert_true(kvm_vm_dead(vm, NULL));
	assert_int_equal(kvm_destroy_vm(vm), 0);
	assert_int_equal(kvm_hostmem(k)->allocated, 0);
	kvm_destroy(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dead_vm_keeps_td_pages),
		cmocka_unit_test(test_exhaustion_fails_cleanly),
		cmocka_unit_test(test_hp_timeout_is_an_internal_error),
		cmocka_unit_test(test_hp_leftover_scenario),
		cmocka_unit_test(test_memslot_beyond_gpaw),
		cmocka_unit_test(test_huge_memslot),
		cmocka_unit_test(test_failed_init_vm_undone),
		cmocka_unit_test(test_policy_validated),
		cmocka_unit_test(test_prefault_progress_and_shared),
		cmocka_unit_test(test_attributes_per_vm),
		cmocka_unit_test(test_local_retry_private_only),
		cmocka_unit_test(test_track_and_writeback_rules),
		cmocka_unit_test(test_prev_epoch_busy_bugs_vm),
		cmocka_unit_test(test_finalize_error_bugs_vm),
		cmocka_unit_test(test_mr_extend_error_is_eio),
		cmocka_unit_test(test_mapgpa_rules),
		cmocka_unit_test(test_gmem_objects_and_vmm_exits),
		cmocka_unit_test(test_discard_vs_shared_fault),
		cmocka_unit_test(test_dead_during_deletion),
		cmocka_unit_test(test_convert_vs_deletion),
		cmocka_unit_test(test_init_mem_vs_finalize),
		cmocka_unit_test(test_freed_pages_are_zeroed),
		cmocka_unit_test(test_slot_vs_init_vm),
		cmocka_unit_test(test_shared_slot_reset_and_move),
		cmocka_unit_test(test_mapgpa_vmm_busy),
	};
	return cmocka_run_group_tests_name("host fixes (issue 9)", tests, NULL, NULL);
}
