/* SPDX-License-Identifier: MIT */
/*
 * Halted vCPUs (guest_halt, guest_wake; the host's HLT and x2APIC ICR
 * exits in src/host/tdx.c): a halted vCPU blocks without engine steps
 * until an IPI, a pending wakeup makes HLT return at once, a kick does
 * not wait for a halted vCPU, the VM's death wakes it, a HLT nobody ends
 * is a deadlock the report names, and the boot parameter (INIT_VCPU's
 * data) reaches the guest.
 */
#include <inttypes.h>
#include <string.h>

#include "testlib.h"
#include "../src/engine/engine.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"
#include "vjob.h"

#define SLOT_BASE 0x100000ull
#define SLOT_SIZE (16ull << 20)
#define NV 4

struct world {
	struct kvm *k;
	struct kvm_vm *vm;
	struct engine *e;
	struct vjob job[NV];
};

static void world_init(struct world *w, int nvcpus, uint64_t seed, uint64_t boot_param)
{
	memset(w, 0, sizeof(*w));
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 2 * SZ_1G;
	w->k = kvm_create(&p);
	assert_non_null(w->k);
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	w->vm = kvm_create_vm(w->k, &pol);
	assert_non_null(w->vm);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(w->vm, &init), 0);
	assert_int_equal(kvm_vmm_add_private_ram(w->vm, 0, SLOT_BASE, SLOT_SIZE), 0);
	for (int i = 0; i < nvcpus; i++) {
		assert_int_equal(kvm_create_vcpu(w->vm), i);
		assert_int_equal(kvm_tdx_init_vcpu_data(w->vm, i, boot_param + (uint64_t)i), 0);
	}
	assert_int_equal(kvm_tdx_finalize_vm(w->vm), 0);
	w->e = engine_seeded(seed, 200000);
}

static void world_spawn(struct world *w, int i, void (*prog)(struct gvcpu *, void *), void *arg)
{
	char name[16];
	snprintf(name, sizeof(name), "vcpu%d", i);
	w->job[i] = (struct vjob){ w->vm, i, prog, arg, 0 };
	engine_spawn(w->e, name, vjob_task, &w->job[i]);
}

static void world_fini(struct world *w)
{
	engine_destroy(w->e);
	assert_int_equal(kvm_destroy_vm(w->vm), 0);
	assert_int_equal(kvm_hostmem(w->k)->allocated, 0);
	kvm_destroy(w->k);
}

/* ---- the APs halt until the BSP wakes them; the last one wakes the BSP ---- */

static struct {
	int go;			/* the BSP's command: 1 once the APs may go on */
	int done;		/* APs finished */
	int spinning;		/* the BSP waits for the host, in the TD */
	int host_done;		/* the host task's conversion returned */
	uint64_t ap_rip[NV];	/* each AP's RIP when the BSP woke them */
	uint64_t kicks_seen[NV];	/* each AP's kick requests when the host was done */
} mb;

static void ap_prog(struct gvcpu *g, void *arg)
{
	(void)arg;
	while (!mb.go)
		guest_halt(g);
	uint64_t gpa = SLOT_BASE + SZ_2M + (uint64_t)g->index * SZ_4K;
	task_check_eq(guest_accept(g, gpa, 0), TDX_SUCCESS);
	guest_write64(g, gpa, 0xa0 + (uint64_t)g->index);
	if (++mb.done == NV - 1)
		task_check_eq(guest_wake(g, 0), TDVMCALL_STATUS_SUCCESS);
}

static void bsp_prog(struct gvcpu *g, void *arg)
{
	struct world *w = arg;
	/* a page for the host task to convert (its zap kicks) */
	task_check_eq(guest_accept(g, SLOT_BASE, 0), TDX_SUCCESS);
	guest_write64(g, SLOT_BASE, 1);
	mb.spinning = 1;
	while (!mb.host_done)
		guest_relax(g);		/* in the TD: the kick waits for us */
	for (int i = 1; i < NV; i++)
		mb.ap_rip[i] = kvm_vcpu_guest(w->vm, i)->rip;
	mb.go = 1;
	task_check_eq(guest_wake(g, GUEST_WAKE_OTHERS), TDVMCALL_STATUS_SUCCESS);
	while (mb.done < NV - 1)
		guest_halt(g);
	for (int i = 1; i < NV; i++)
		task_check_eq(guest_read64(g, SLOT_BASE + SZ_2M + (uint64_t)i * SZ_4K), 0xa0 + i);
}

/* Converts the BSP's page once every AP is halted: the zap kicks the TD. */
static void host_task(void *arg)
{
	struct world *w = arg;
	for (int i = 1; i < NV; i++) {
		struct gvcpu *g = kvm_vcpu_guest(w->vm, i);
		while (!g->st.halts || g->in_guest_mode)
			seam_yield();
	}
	while (!mb.spinning)
		seam_yield();
	task_check_eq(kvm_vmm_convert(w->vm, SLOT_BASE, SZ_4K, false), 0);
	for (int i = 1; i < NV; i++)
		mb.kicks_seen[i] = kvm_vcpu_guest(w->vm, i)->kick_req;
	mb.host_done = 1;
}

static void test_halt_wake(void **state)
{
	(void)state;
	BANNER("halted APs take no steps, a kick does not wait for them, an IPI wakes them");
	uint64_t seed = test_seed();
	for (int run = 0; run < 20; run++) {
		struct world w;
		memset(&mb, 0, sizeof(mb));
		world_init(&w, NV, seed + (uint64_t)run, 0);
		world_spawn(&w, 0, bsp_prog, &w);
		for (int i = 1; i < NV; i++)
			world_spawn(&w, i, ap_prog, NULL);
		engine_spawn(w.e, "host", host_task, &w);
		enum engine_outcome o = engine_run(w.e);
		if (o != ENGINE_OK)
			print_error("run %d: %s\n", run, engine_report(w.e));
		assert_int_equal(o, ENGINE_OK);
		const struct kvm_vm_stats *st = kvm_vm_stats(w.vm);
		assert_true(st->kicks >= 1);	/* the conversion kicked the BSP */
		for (int i = 0; i < NV; i++)
			assert_int_equal(w.job[i].rc, 0);
		for (int i = 1; i < NV; i++) {
			struct gvcpu *g = kvm_vcpu_guest(w.vm, i);
			/* halted through the kick: never asked to exit */
			assert_int_equal(mb.kicks_seen[i], 0);
			/* one HLT, no spinning: still at it when woken */
			assert_int_equal(g->st.halts, 1);
			assert_int_equal(mb.ap_rip[i], 0);
		}
		/* one broadcast and one IPI back; HLTs: 3 APs, the BSP at most once */
		assert_int_equal(st->ipis, 2);
		assert_true(st->halt_exits >= NV - 1 && st->halt_exits <= NV);
		/* each kick sent one IPI, to the BSP: none to a halted AP */
		assert_int_equal(engine_charges(w.e, SEAM_COST_IPI), 2 + st->kicks);
		world_fini(&w);
	}
}

/* ---- a wakeup before the HLT ends it at once ---- */

static int woke;

static void early_sleeper(struct gvcpu *g, void *arg)
{
	(void)arg;
	while (!woke)
		guest_relax(g);
	guest_halt(g);		/* the IPI came first: returns at once */
	guest_halt(g);		/* ... and only once: vCPU 1 wakes us again */
}

static struct kvm_vm *early_vm;

static void early_waker2(struct gvcpu *g, void *arg)
{
	(void)arg;
	task_check_eq(guest_wake(g, 0), TDVMCALL_STATUS_SUCCESS);
	woke = 1;
	struct gvcpu *v0 = kvm_vcpu_guest(early_vm, 0);
	while (v0->st.halts < 2 || v0->in_guest_mode)
		guest_relax(g);
	task_check_eq(guest_wake(g, 0), TDVMCALL_STATUS_SUCCESS);
	/* no such vCPU: the ICR names nobody */
	task_check_eq(guest_wake(g, 7), TDVMCALL_STATUS_INVALID_OPERAND);
	task_check_eq(guest_wake(g, -5), TDVMCALL_STATUS_INVALID_OPERAND);
}

static void test_wake_before_halt(void **state)
{
	(void)state;
	BANNER("a wakeup sent before HLT makes it return at once, once; a bad target is refused");
	uint64_t seed = test_seed();
	for (int run = 0; run < 10; run++) {
		struct world w;
		woke = 0;
		world_init(&w, 2, seed + (uint64_t)run, 0);
		early_vm = w.vm;
		world_spawn(&w, 0, early_sleeper, NULL);
		world_spawn(&w, 1, early_waker2, NULL);
		enum engine_outcome o = engine_run(w.e);
		if (o != ENGINE_OK)
			print_error("%s\n", engine_report(w.e));
		assert_int_equal(o, ENGINE_OK);
		assert_int_equal(kvm_vcpu_guest(w.vm, 0)->st.halts, 2);
		assert_int_equal(kvm_vm_stats(w.vm)->ipis, 2);
		world_fini(&w);
	}
}

/* ---- a HLT nobody ends is a deadlock; the VM's death ends it ---- */

static void sleeper(struct gvcpu *g, void *arg)
{
	(void)arg;
	for (;;)
		guest_halt(g);
}

static void test_halt_forever_is_deadlock(void **state)
{
	(void)state;
	BANNER("a HLT that nothing wakes is a deadlock naming the HLT");
	struct world w;
	world_init(&w, 1, test_seed(), 0);
	world_spawn(&w, 0, sleeper, NULL);
	assert_int_equal(engine_run(w.e), ENGINE_DEADLOCK);
	assert_non_null(strstr(engine_report(w.e), "HLT"));
	engine_destroy(w.e);
	kvm_vm_free_abandoned(w.vm);
	kvm_destroy(w.k);
}

static void killer(struct gvcpu *g, void *arg)
{
	(void)arg;
	struct gvcpu *v1 = kvm_vcpu_guest(early_vm, 1);
	while (!v1->st.halts || v1->in_guest_mode)
		guest_relax(g);
	guest_read64(g, SLOT_BASE);	/* before accepting: the host kills the VM */
}

static void test_death_wakes_halted(void **state)
{
	(void)state;
	BANNER("the VM's death wakes a halted vCPU, whose KVM_RUN then fails");
	struct world w;
	world_init(&w, 2, test_seed(), 0);
	early_vm = w.vm;
	world_spawn(&w, 0, killer, NULL);
	world_spawn(&w, 1, sleeper, NULL);
	assert_int_equal(engine_run(w.e), ENGINE_OK);
	assert_true(kvm_vm_dead(w.vm, NULL));
	assert_int_equal(w.job[0].rc, -EIO);
	assert_int_equal(w.job[1].rc, -EIO);
	world_fini(&w);
}

/* ---- the boot parameter ---- */

static uint64_t got_param[2];

static void read_param(struct gvcpu *g, void *arg)
{
	(void)arg;
	got_param[g->index] = guest_boot_param(g);
}

static void test_boot_param(void **state)
{
	(void)state;
	BANNER("INIT_VCPU's data is the vCPU's initial RCX, the guest's boot parameter");
	struct world w;
	world_init(&w, 2, test_seed(), 0x809000);
	world_spawn(&w, 0, read_param, NULL);
	world_spawn(&w, 1, read_param, NULL);
	assert_int_equal(engine_run(w.e), ENGINE_OK);
	assert_int_equal(got_param[0], 0x809000);
	assert_int_equal(got_param[1], 0x809001);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_halt_wake),
		cmocka_unit_test(test_wake_before_halt),
		cmocka_unit_test(test_halt_forever_is_deadlock),
		cmocka_unit_test(test_death_wakes_halted),
		cmocka_unit_test(test_boot_param),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
