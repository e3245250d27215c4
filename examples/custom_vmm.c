/* SPDX-License-Identifier: MIT */
/*
 * custom_vmm - a VMM of one's own: the exits KVM_RUN hands to userspace go
 * to a struct kvm_vmm_ops, here one that logs every exit and converts the
 * memory as QEMU does (kvm_vmm_convert: set the attributes, discard the
 * other kind's memory).
 *
 * The guest shares a 3 MiB buffer with TDVMCALL MapGPA (two
 * KVM_HC_MAP_GPA_RANGE exits: KVM exits 2M a time), leaves a message in
 * it, and takes it back private with MapGPA again; the VMM reads the
 * message from shared memory just before that conversion.  Then the guest
 * touches a private page through its shared alias without asking, and
 * accepts it back: two KVM_EXIT_MEMORY_FAULTs, the implicit conversions.
 * The vCPU runs as a task of the engine, which keeps virtual time.
 *
 *	cc -o custom_vmm custom_vmm.c $(pkg-config --cflags --libs tdxsim)
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <tdxsim/engine/engine.h>
#include <tdxsim/host/hostmem.h>
#include <tdxsim/host/kvm.h>

#define PAGE_SIZE	4096ull
#define RAM_BASE	0x0ull			/* [0, 64 MiB) */
#define RAM_SIZE	(64ull << 20)
#define BUF_GPA		(16ull << 20)		/* the buffer the guest shares */
#define BUF_SIZE	(3ull << 20)
#define BUF_PAGES	4			/* pages of it the guest uses */
#define LONE_GPA	(32ull << 20)		/* converted by memory faults */

static const char message[] = "a message the guest left in shared memory";

/* What the VMM keeps: its counts and what it read from the guest. */
struct vmm {
	int exits;
	int memory_faults;
	int map_gpa_ranges;
	char seen[sizeof(message)];
};

static int vmm_memory_fault(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t size,
			    bool private, void *ctx)
{
	struct vmm *vmm = ctx;
	int r = kvm_vmm_convert(vm, gpa, size, private);

	vmm->exits++;
	vmm->memory_faults++;
	printf("exit %2d  vcpu%d  KVM_EXIT_MEMORY_FAULT   gpa %#010" PRIx64 " size %#" PRIx64
	       " as %s: convert -> %d\n", vmm->exits, vcpu, gpa, size,
	       private ? "private" : "shared", r);
	return r;
}

static uint64_t vmm_map_gpa_range(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t npages,
				  bool private, void *ctx)
{
	struct vmm *vmm = ctx;

	/* before the buffer goes back to private, read what the guest left */
	if (private && gpa == BUF_GPA &&
	    kvm_vm_read_shared(vm, gpa, vmm->seen, sizeof(vmm->seen)) == 0)
		printf("         the VMM reads \"%s\"\n", vmm->seen);

	int r = kvm_vmm_convert(vm, gpa, npages * PAGE_SIZE, private);

	vmm->exits++;
	vmm->map_gpa_ranges++;
	printf("exit %2d  vcpu%d  KVM_HC_MAP_GPA_RANGE    gpa %#010" PRIx64 " pages %-4" PRIu64
	       " to %s: convert -> %d\n", vmm->exits, vcpu, gpa, npages,
	       private ? "private" : "shared", r);
	return r ? 1 : 0;	/* hypercall.ret: 0 is success */
}

struct guest_result {
	int bad;		/* checks that failed inside the guest */
};

static void expect(struct gvcpu *g, struct guest_result *res, bool ok, const char *what)
{
	if (!ok) {
		printf("guest: %s failed on vcpu%d\n", what, g->index);
		res->bad++;
	}
}

static void guest(struct gvcpu *g, void *arg)
{
	struct guest_result *res = arg;
	char buf[sizeof(message)];

	/* private pages first: accept them and write */
	for (uint64_t i = 0; i < BUF_PAGES; i++) {
		expect(g, res, guest_accept(g, BUF_GPA + i * PAGE_SIZE, 0) == TDX_SUCCESS, "ACCEPT");
		guest_write64(g, BUF_GPA + i * PAGE_SIZE, 0x5ec2e7);
	}

	/* MapGPA to shared: the private contents are gone */
	expect(g, res, guest_map_gpa(g, BUF_GPA, BUF_SIZE, true) == TDVMCALL_STATUS_SUCCESS,
	       "MapGPA to shared");
	guest_write(g, guest_shared(g, BUF_GPA), message, sizeof(message));
	guest_read(g, guest_shared(g, BUF_GPA), buf, sizeof(buf));
	expect(g, res, !memcmp(buf, message, sizeof(buf)), "shared read back");

	/* MapGPA back to private: accept again, the pages read zero */
	expect(g, res, guest_map_gpa(g, BUF_GPA, BUF_SIZE, false) == TDVMCALL_STATUS_SUCCESS,
	       "MapGPA to private");
	for (uint64_t i = 0; i < BUF_PAGES; i++) {
		uint64_t gpa = BUF_GPA + i * PAGE_SIZE;
		expect(g, res, guest_accept(g, gpa, 0) == TDX_SUCCESS, "ACCEPT after MapGPA");
		expect(g, res, guest_read64(g, gpa) == 0, "a fresh private page");
	}

	/* implicit conversions: a shared access to private memory, and back */
	guest_write64(g, guest_shared(g, LONE_GPA), 0x1234);
	expect(g, res, guest_read64(g, guest_shared(g, LONE_GPA)) == 0x1234, "implicit shared");
	expect(g, res, guest_accept(g, LONE_GPA, 0) == TDX_SUCCESS, "implicit private");
}

struct vcpu_job {
	struct kvm_vm *vm;
	int id;
	struct guest_result res;
	int rc;
};

/* The vCPU thread of the VMM: KVM_RUN until the guest program ends. */
static void vcpu_thread(void *arg)
{
	struct vcpu_job *j = arg;

	j->rc = kvm_vcpu_run(j->vm, j->id, guest, &j->res);
}

static struct kvm_vm *build_vm(struct kvm *k)
{
	struct kvm_tdx_init_vm init;
	struct kvm_vm *vm = kvm_create_vm(k, NULL);

	if (!vm)
		return NULL;
	kvm_tdx_init_vm_default(&init, 48);
	if (kvm_tdx_init_vm(vm, &init) || kvm_vmm_add_private_ram(vm, 0, RAM_BASE, RAM_SIZE) < 0 ||
	    kvm_create_vcpu(vm) != 0 || kvm_tdx_init_vcpu(vm, 0) || kvm_tdx_finalize_vm(vm)) {
		kvm_destroy_vm(vm);
		return NULL;
	}
	return vm;
}

int main(void)
{
	struct kvm_platform plat;
	struct vmm vmm = { .exits = 0 };
	int ret = 1;

	kvm_platform_default(&plat);
	plat.mem_bytes = 4ull << 30;
	struct kvm *k = kvm_create(&plat);
	if (!k)
		return 1;
	struct kvm_vm *vm = build_vm(k);
	if (!vm) {
		fprintf(stderr, "custom_vmm: building the TD failed\n");
		kvm_destroy(k);
		return 1;
	}

	struct kvm_vmm_ops ops = {
		.memory_fault = vmm_memory_fault,
		.map_gpa_range = vmm_map_gpa_range,
		.ctx = &vmm,	/* internal_error: NULL, QEMU's answer */
	};
	kvm_set_vmm_ops(vm, &ops);

	struct engine_config cfg = { .sched = SCHED_RR };
	struct engine *e = engine_create(&cfg);
	struct vcpu_job job = { .vm = vm, .id = 0 };
	if (!e || engine_spawn(e, "vcpu0", vcpu_thread, &job) < 0) {
		fprintf(stderr, "custom_vmm: engine_create/engine_spawn failed\n");
		goto out;
	}
	enum engine_outcome o = engine_run(e);
	printf("engine: %s after %" PRIu64 " steps, %.1f us of virtual time\n",
	       engine_outcome_name(o), engine_steps(e), engine_elapsed_ns(e) / 1000.0);
	if (o != ENGINE_OK || job.rc) {
		fprintf(stderr, "custom_vmm: run failed: %s rc %d %s\n", engine_report(e), job.rc,
			kvm_vcpu_guest(vm, 0)->why);
		goto out;
	}

	const struct kvm_vm_stats *vs = kvm_vm_stats(vm);
	printf("vm: %" PRIu64 " MapGPA exits, %" PRIu64 " memory faults, %" PRIu64
	       " conversions, %" PRIu64 " private leaves zapped\n",
	       vs->map_gpa_exits, vs->memory_faults, vs->conversions, vs->zapped);
	if (job.res.bad || strcmp(vmm.seen, message) ||
	    vmm.map_gpa_ranges != 4 || vs->map_gpa_exits != 4 ||
	    vmm.memory_faults != 2 || vs->memory_faults != 2) {
		fprintf(stderr, "custom_vmm: unexpected result\n");
		goto out;
	}
	ret = 0;
out:
	if (e)
		engine_destroy(e);
	if (kvm_destroy_vm(vm) || kvm_hostmem(k)->allocated) {
		fprintf(stderr, "custom_vmm: teardown failed or leaked host pages\n");
		ret = 1;
	}
	kvm_destroy(k);
	if (!ret)
		printf("custom_vmm: ok\n");
	return ret;
}
