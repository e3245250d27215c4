/* SPDX-License-Identifier: MIT */
/*
 * Real-KVM reference figure for the simulator's fault benchmarks: how many
 * 4K guest-memory faults per second the host's KVM resolves.
 *
 * A VM gets two memslots: one page at guest physical 0 holding a dozen
 * bytes of hand-assembled guest code, and a big slot of anonymous memory at
 * guest physical 1 MiB that is neither pre-touched nor allowed to use
 * transparent huge pages (MADV_NOHUGEPAGE), so every first touch is a 4K
 * fault in both the host's page tables and KVM's second-level (or shadow)
 * page tables.  One vCPU starts in flat 32-bit protected mode without
 * paging, writes one dword to every 4K page of the big slot and halts.
 * Only the KVM_RUN calls are timed.  Afterwards the host checks that every
 * page holds what the guest wrote.
 *
 * Standalone: cc -O2 -DKVM_FAULT_MAIN bench/kvm_fault.c -o /tmp/kf && /tmp/kf
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Pages per second at which a tiny KVM guest can first-touch every 4K page of @bytes of anonymous memory; -1.0 if /dev/kvm is unusable (with a one-line reason on stderr). */
double kvm_fault_4k_pages_per_s(unsigned long long bytes);

#define KF_PAGE		4096ull
#define KF_CODE_GPA	0x0ull		/* slot 0: one page of guest code */
#define KF_BIG_GPA	0x100000ull	/* slot 1: the memory to fault in */
/*
 * Keep the big slot well below 4 GiB: the loop uses 32-bit addresses, and
 * the top of the 32-bit space is where KVM/x86 places its private pages
 * (TSS, identity map) and the APIC page.
 */
#define KF_GPA_LIMIT	0xc0000000ull

/*
 * Guest code, 32-bit protected mode, flat segments, no paging.  On entry
 * (set through KVM_SET_REGS) EAX = first page of the big slot and
 * EBX = end of the big slot (exclusive, EBX > EAX, both 4K aligned).
 * Every page gets its own guest-physical address as its first dword.
 */
static const uint8_t kf_guest_code[] = {
	/* 0x00 loop: */
	0x89, 0x00,			/* mov  dword [eax], eax      */
	0x05, 0x00, 0x10, 0x00, 0x00,	/* add  eax, 0x1000           */
	0x39, 0xd8,			/* cmp  eax, ebx              */
	0x72, 0xf5,			/* jb   loop  (0x0b - 11)     */
	/* 0x0b: */
	0xf4,				/* hlt                        */
};

static uint64_t kf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A flat 4 GiB segment: base 0, limit 0xffffffff, G=1, D/B=1, DPL 0. */
static void kf_flat_segment(struct kvm_segment *s, uint16_t selector,
			    uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffffu;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = 1;
	s->s = 1;		/* code/data, not system */
	s->l = 0;
	s->g = 1;
	s->avl = 0;
}

static const char *kf_exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN:		return "KVM_EXIT_UNKNOWN";
	case KVM_EXIT_EXCEPTION:	return "KVM_EXIT_EXCEPTION";
	case KVM_EXIT_IO:		return "KVM_EXIT_IO";
	case KVM_EXIT_DEBUG:		return "KVM_EXIT_DEBUG";
	case KVM_EXIT_MMIO:		return "KVM_EXIT_MMIO";
	case KVM_EXIT_SHUTDOWN:		return "KVM_EXIT_SHUTDOWN (triple fault)";
	case KVM_EXIT_FAIL_ENTRY:	return "KVM_EXIT_FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR:	return "KVM_EXIT_INTERNAL_ERROR";
	default:			return "unexpected exit";
	}
}

double kvm_fault_4k_pages_per_s(unsigned long long bytes)
{
	double result = -1.0;
	int kvm = -1, vm = -1, vcpu = -1;
	void *code = MAP_FAILED, *big = MAP_FAILED;
	struct kvm_run *run = MAP_FAILED;
	size_t run_size = 0;
	unsigned long long npages, touched, i;
	uint64_t run_ns = 0;
	int ret;

	if (bytes == 0)
		bytes = 1ull << 30;
	bytes = (bytes + KF_PAGE - 1) & ~(KF_PAGE - 1);
	npages = bytes / KF_PAGE;
	if (bytes > KF_GPA_LIMIT - KF_BIG_GPA) {
		fprintf(stderr, "kvm_fault: %llu bytes does not fit below guest "
			"physical 0x%llx\n", bytes, KF_GPA_LIMIT);
		return -1.0;
	}

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fprintf(stderr, "kvm_fault: open /dev/kvm: %s\n",
			strerror(errno));
		goto out;
	}
	ret = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		fprintf(stderr, "kvm_fault: KVM API version %d, want %d\n",
			ret, KVM_API_VERSION);
		goto out;
	}
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0) {
		fprintf(stderr, "kvm_fault: KVM_CAP_USER_MEMORY missing\n");
		goto out;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fprintf(stderr, "kvm_fault: KVM_CREATE_VM: %s\n",
			strerror(errno));
		goto out;
	}

	/* Slot 0: the guest code, one page at guest physical 0. */
	code = mmap(NULL, KF_PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED) {
		fprintf(stderr, "kvm_fault: mmap code page: %s\n",
			strerror(errno));
		goto out;
	}
	memcpy(code, kf_guest_code, sizeof(kf_guest_code));
	{
		struct kvm_userspace_memory_region r = {
			.slot = 0,
			.flags = 0,
			.guest_phys_addr = KF_CODE_GPA,
			.memory_size = KF_PAGE,
			.userspace_addr = (uint64_t)(uintptr_t)code,
		};
		if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			fprintf(stderr, "kvm_fault: code memslot: %s\n",
				strerror(errno));
			goto out;
		}
	}

	/* Slot 1: the memory to fault in; untouched, no huge pages. */
	big = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (big == MAP_FAILED) {
		fprintf(stderr, "kvm_fault: mmap %llu bytes: %s\n", bytes,
			strerror(errno));
		goto out;
	}
	if (madvise(big, bytes, MADV_NOHUGEPAGE) < 0) {
		fprintf(stderr, "kvm_fault: madvise(MADV_NOHUGEPAGE): %s\n",
			strerror(errno));
		goto out;
	}
	{
		struct kvm_userspace_memory_region r = {
			.slot = 1,
			.flags = 0,
			.guest_phys_addr = KF_BIG_GPA,
			.memory_size = bytes,
			.userspace_addr = (uint64_t)(uintptr_t)big,
		};
		if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			fprintf(stderr, "kvm_fault: big memslot: %s\n",
				strerror(errno));
			goto out;
		}
	}

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		fprintf(stderr, "kvm_fault: KVM_CREATE_VCPU: %s\n",
			strerror(errno));
		goto out;
	}
	ret = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret < (int)sizeof(struct kvm_run)) {
		fprintf(stderr, "kvm_fault: KVM_GET_VCPU_MMAP_SIZE: %d\n", ret);
		goto out;
	}
	run_size = (size_t)ret;
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED) {
		fprintf(stderr, "kvm_fault: mmap kvm_run: %s\n",
			strerror(errno));
		goto out;
	}

	/* Flat 32-bit protected mode, paging off. */
	{
		struct kvm_sregs sr;

		if (ioctl(vcpu, KVM_GET_SREGS, &sr) < 0) {
			fprintf(stderr, "kvm_fault: KVM_GET_SREGS: %s\n",
				strerror(errno));
			goto out;
		}
		kf_flat_segment(&sr.cs, 0x08, 0xb);	/* code, exec/read, accessed */
		kf_flat_segment(&sr.ds, 0x10, 0x3);	/* data, read/write, accessed */
		sr.es = sr.ds;
		sr.fs = sr.ds;
		sr.gs = sr.ds;
		sr.ss = sr.ds;
		/* CR0: PE (bit 0) and ET (bit 4); caches on, PG off. */
		sr.cr0 = 0x11;
		sr.cr3 = 0;
		sr.cr4 = 0;
		sr.efer = 0;
		if (ioctl(vcpu, KVM_SET_SREGS, &sr) < 0) {
			fprintf(stderr, "kvm_fault: KVM_SET_SREGS: %s\n",
				strerror(errno));
			goto out;
		}
	}
	{
		struct kvm_regs r;

		memset(&r, 0, sizeof(r));
		r.rip = KF_CODE_GPA;
		r.rflags = 0x2;				/* bit 1 is always set */
		r.rax = KF_BIG_GPA;			/* first page */
		r.rbx = KF_BIG_GPA + bytes;		/* end, exclusive */
		if (ioctl(vcpu, KVM_SET_REGS, &r) < 0) {
			fprintf(stderr, "kvm_fault: KVM_SET_REGS: %s\n",
				strerror(errno));
			goto out;
		}
	}

	/* Run to the HLT; only the KVM_RUN calls are timed. */
	for (;;) {
		uint64_t t0 = kf_now_ns();

		ret = ioctl(vcpu, KVM_RUN, 0);
		run_ns += kf_now_ns() - t0;
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "kvm_fault: KVM_RUN: %s\n",
				strerror(errno));
			goto out;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		switch (run->exit_reason) {
		case KVM_EXIT_FAIL_ENTRY:
			fprintf(stderr, "kvm_fault: %s, hardware reason 0x%llx\n",
				kf_exit_name(run->exit_reason),
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr, "kvm_fault: %s, suberror %u\n",
				kf_exit_name(run->exit_reason),
				run->internal.suberror);
			break;
		case KVM_EXIT_MMIO:
			fprintf(stderr, "kvm_fault: %s at guest physical 0x%llx\n",
				kf_exit_name(run->exit_reason),
				(unsigned long long)run->mmio.phys_addr);
			break;
		case KVM_EXIT_IO:
			fprintf(stderr, "kvm_fault: %s on port 0x%x\n",
				kf_exit_name(run->exit_reason), run->io.port);
			break;
		default:
			fprintf(stderr, "kvm_fault: %s (exit reason %u)\n",
				kf_exit_name(run->exit_reason),
				run->exit_reason);
			break;
		}
		goto out;
	}

	/* Every page must hold its own guest-physical address. */
	touched = 0;
	for (i = 0; i < npages; i++) {
		uint32_t v;

		memcpy(&v, (const uint8_t *)big + i * KF_PAGE, sizeof(v));
		if (v == (uint32_t)(KF_BIG_GPA + i * KF_PAGE))
			touched++;
	}
	if (touched != npages) {
		fprintf(stderr, "kvm_fault: guest touched %llu of %llu pages\n",
			touched, npages);
		goto out;
	}
	if (run_ns == 0)
		run_ns = 1;
	result = (double)npages * 1e9 / (double)run_ns;

out:
	if (run != MAP_FAILED)
		munmap(run, run_size);
	if (vcpu >= 0)
		close(vcpu);
	if (vm >= 0)
		close(vm);
	if (big != MAP_FAILED)
		munmap(big, bytes);
	if (code != MAP_FAILED)
		munmap(code, KF_PAGE);
	if (kvm >= 0)
		close(kvm);
	return result;
}

#ifdef KVM_FAULT_MAIN
int main(void)
{
	const unsigned long long bytes = 1ull << 30;
	uint64_t t0 = kf_now_ns();
	double pps = kvm_fault_4k_pages_per_s(bytes);
	double total_s = (double)(kf_now_ns() - t0) / 1e9;

	if (pps < 0)
		return 1;
	printf("kvm_fault_4k_pages_per_s: %.0f pages/s (%llu pages in %.3f s"
	       " of KVM_RUN, %.0f ns/page; %.3f s wall incl. setup/check)\n",
	       pps, bytes / KF_PAGE, (double)(bytes / KF_PAGE) / pps,
	       1e9 / pps, total_s);
	return 0;
}
#endif
