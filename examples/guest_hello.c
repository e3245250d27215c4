/* SPDX-License-Identifier: MIT */
/*
 * guest_hello - the smallest whole TD, built against the installed libtdxsim.
 *
 * A host (kvm_create), a VM with its design variants at their defaults,
 * KVM_TDX_INIT_VM, 16 MiB of private RAM (a guest_memfd bound to memslot 0),
 * one vCPU, a measured one-page boot image (KVM_TDX_INIT_MEM_REGION), then
 * KVM_TDX_FINALIZE_VM.  The guest program reads the boot image, accepts a
 * few pages, writes them and reads them back.  The VM's statistics are
 * printed, the VM is torn down and every host page must be back.
 *
 *	cc -o guest_hello guest_hello.c $(pkg-config --cflags --libs tdxsim)
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <tdxsim/host/hostmem.h>
#include <tdxsim/host/kvm.h>

#define PAGE_SIZE	4096ull
#define RAM_BASE	0x100000ull		/* [1 MiB, 17 MiB) */
#define RAM_SIZE	(16ull << 20)
#define BOOT_GPA	RAM_BASE		/* the measured boot image */
#define DATA_GPA	(RAM_BASE + 0x10000)	/* what the guest accepts */
#define DATA_PAGES	8

static const char greeting[] = "hello from the VMM's boot image";

/* The boot image: page-aligned, as KVM_TDX_INIT_MEM_REGION wants its source. */
static _Alignas(4096) unsigned char boot_image[PAGE_SIZE];

struct hello {
	char seen[sizeof(greeting)];	/* what the guest read from the image */
	int bad;			/* pages that did not read back */
};

/* The guest program: plain C on the vCPU, memory through the guest API. */
static void hello_guest(struct gvcpu *g, void *arg)
{
	struct hello *h = arg;

	/* PAGE.ADDed pages are mapped and accepted: read them at once */
	guest_read(g, BOOT_GPA, h->seen, sizeof(h->seen));

	for (uint64_t i = 0; i < DATA_PAGES; i++) {
		uint64_t gpa = DATA_GPA + i * PAGE_SIZE;
		/* the first ACCEPT exits to the host, which PAGE.AUGs the page */
		uint64_t st = guest_accept(g, gpa, 0);
		if (st != TDX_SUCCESS)
			gvcpu_kill(g, "ACCEPT %#" PRIx64 ": %s", gpa, tdx_status_name(st));
		guest_write64(g, gpa, 0xc0ffee00 + i);
	}
	for (uint64_t i = 0; i < DATA_PAGES; i++)
		if (guest_read64(g, DATA_GPA + i * PAGE_SIZE) != 0xc0ffee00 + i)
			h->bad++;
}

static int check(int r, const char *what)
{
	if (r < 0)
		fprintf(stderr, "guest_hello: %s: %s\n", what, strerror(-r));
	return r < 0;
}

int main(void)
{
	struct kvm_platform plat;
	struct kvm_tdx_init_vm init;
	struct hello h = { .bad = 0 };
	int vcpu, ret = 1;

	kvm_platform_default(&plat);
	plat.mem_bytes = 4ull << 30;
	struct kvm *k = kvm_create(&plat);
	if (!k) {
		fprintf(stderr, "guest_hello: kvm_create failed\n");
		return 1;
	}
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	if (!vm) {
		fprintf(stderr, "guest_hello: kvm_create_vm failed\n");
		goto out_kvm;
	}

	/* build: INIT_VM (48-bit guest physical addresses), RAM, a vCPU */
	kvm_tdx_init_vm_default(&init, 48);
	if (check(kvm_tdx_init_vm(vm, &init), "KVM_TDX_INIT_VM") ||
	    check(kvm_vmm_add_private_ram(vm, 0, RAM_BASE, RAM_SIZE), "private RAM"))
		goto out_vm;
	vcpu = kvm_create_vcpu(vm);
	if (check(vcpu, "KVM_CREATE_VCPU") || check(kvm_tdx_init_vcpu(vm, vcpu), "KVM_TDX_INIT_VCPU"))
		goto out_vm;

	/* the boot image: PAGE.ADD and MR.EXTEND it into MRTD */
	memcpy(boot_image, greeting, sizeof(greeting));
	struct kvm_tdx_init_mem_region r = { .source = boot_image, .gpa = BOOT_GPA, .nr_pages = 1 };
	if (check(kvm_tdx_init_mem_region(vm, vcpu, KVM_TDX_MEASURE_MEMORY_REGION, &r),
		  "KVM_TDX_INIT_MEM_REGION") ||
	    check(kvm_tdx_finalize_vm(vm), "KVM_TDX_FINALIZE_VM"))
		goto out_vm;

	uint8_t mrtd[TDX_MRTD_BYTES];
	tdx_td_mrtd(kvm_vm_td(vm), mrtd);
	printf("MRTD ");
	for (int i = 0; i < TDX_MRTD_BYTES; i++)
		printf("%02x", mrtd[i]);
	printf("\n");

	/* KVM_RUN: the guest program runs on vCPU 0 until it returns */
	if (check(kvm_vcpu_run(vm, vcpu, hello_guest, &h), "KVM_RUN")) {
		fprintf(stderr, "guest_hello: vCPU stopped: %s\n", kvm_vcpu_guest(vm, vcpu)->why);
		goto out_vm;
	}
	printf("guest read \"%s\"\n", h.seen);
	if (strcmp(h.seen, greeting) || h.bad) {
		fprintf(stderr, "guest_hello: wrong data in the guest (%d bad pages)\n", h.bad);
		goto out_vm;
	}

	const struct kvm_vm_stats *vs = kvm_vm_stats(vm);
	const struct gvcpu_stats *gs = &kvm_vcpu_guest(vm, vcpu)->st;
	printf("vm:    %" PRIu64 " EPT violations, %" PRIu64 " PAGE.AUGs, %" PRIu64 " PAGE.ADDs, %"
	       PRIu64 " SEPT.ADDs\n", vs->faults, vs->private_maps, vs->page_adds, vs->sept_adds);
	printf("vcpu0: %" PRIu64 " TD exits, %" PRIu64 " ACCEPTs, TLB %" PRIu64 " hits %" PRIu64
	       " misses\n", gs->exits, gs->accepts, gs->tlb_hits, gs->tlb_misses);
	if (vs->private_maps != DATA_PAGES || vs->page_adds != 1 || gs->accepts != DATA_PAGES) {
		fprintf(stderr, "guest_hello: unexpected statistics\n");
		goto out_vm;
	}
	printf("host pages in use before teardown: %" PRIu64 "\n", kvm_hostmem(k)->allocated);
	ret = 0;

out_vm:
	if (check(kvm_destroy_vm(vm), "teardown"))
		ret = 1;
	printf("host pages in use after teardown: %" PRIu64 "\n", kvm_hostmem(k)->allocated);
	if (kvm_hostmem(k)->allocated != 0) {
		fprintf(stderr, "guest_hello: teardown leaked host pages\n");
		ret = 1;
	}
out_kvm:
	kvm_destroy(k);
	if (!ret)
		printf("guest_hello: ok\n");
	return ret;
}
