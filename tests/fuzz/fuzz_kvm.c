/* SPDX-License-Identifier: MIT */
/*
 * fuzz_kvm - the KVM-style host API (src/host/kvm.h) under libFuzzer.
 *
 * Each input makes a host (kvm_create: its platform from the first bytes),
 * one TDX VM with a policy from the next ones, and then a sequence of host
 * calls decoded from the rest, with borderline operands (unaligned, zero,
 * huge, overlapping, shared-bit GPAs, bad descriptors, bad vCPU ids, calls
 * out of order), now and then under a host-memory limit, mixed with short
 * guest runs.  After every call: the errno is one KVM documents, a dead VM
 * answers -EIO, and the invariants hold (fuzz_check() with the VM and the
 * host's allocator).  At the end the VM may be dead only for a reason the
 * guest or memory pressure explains; kvm_destroy_vm() must leave no host
 * page allocated and no PAMT entry in use.  Format: docs/fuzzing.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "../../src/host/hostmem.h"
#include "../../src/host/kvm.h"
#include "../../src/module/tdx_module.h"

#define SZ_4K		0x1000ull
#define SZ_1M		0x100000ull
#define SZ_2M		0x200000ull
#define MAX_CALLS	64
#define GSTEPS		8

static struct fin in;

static unsigned rn(unsigned n)
{
	return fin_u8(&in) % n;
}

/* A GPA: mostly 4K or 2M aligned in [0, 64M); sometimes unaligned, shared, huge. */
static uint64_t pick_gpa(void)
{
	uint8_t s = fin_u8(&in);
	uint64_t x = fin_u16(&in);
	switch (s % 10) {
	case 0: case 1: case 2: return (x % 16384) * SZ_4K;
	case 3: case 4: return (x % 32) * SZ_2M;
	case 5: return (x % 16384) * SZ_4K + 1 + (x >> 2) % 4095;
	case 6: return ((x % 16384) * SZ_4K) | (s & 0x10 ? 1ull << 47 : 1ull << 51);
	case 7: return 1ull << (30 + x % 34);
	case 8: return ~0ull - (x % 4) * SZ_4K - 0xfff;
	default: return fin_u64(&in);
	}
}

static uint64_t pick_size(void)
{
	uint8_t s = fin_u8(&in);
	uint64_t x = fin_u16(&in);
	switch (s % 9) {
	case 0: return 0;
	case 1: case 2: return SZ_4K * (1 + x % 16);
	case 3: case 4: return SZ_2M * (1 + x % 4);
	case 5: return 1 + x;
	case 6: return ~0ull - (x % 2) * SZ_4K;
	case 7: return 1ull << (20 + x % 44);
	default: return fin_u64(&in);
	}
}

static bool errno_ok(int rc)
{
	switch (rc) {
	case 0: case -EINVAL: case -EFAULT: case -ENOENT: case -EEXIST: case -EBUSY:
	case -EIO: case -EAGAIN: case -ENOMEM: case -EBADF: case -EOPNOTSUPP: case -E2BIG:
	case -EMFILE: case -EFBIG:
		return true;
	default:
		return false;
	}
}

/* Why a VM may die in a sequence: its guest's faults, or host memory running out. */
static bool expected_kill(const char *why)
{
	static const char *const ok[] = {
		"no memslot for GPA", "guest access before accepting", "out of host memory",
		"userspace gave up on a memory fault", "KVM_EXIT_INTERNAL_ERROR",
		"TDH.MR.FINALIZE: TDX_NO_VCPUS",
		/* the default VMM's conversion for MapGPA ran out of host memory */
		"KVM_RUN: MapGPA exit answered with hypercall.ret -12",
	};
	for (size_t j = 0; j < sizeof(ok) / sizeof(ok[0]); j++)
		if (!strncmp(why, ok[j], strlen(ok[j])))
			return true;
	return false;
}

/* ---- guest programs ---- */

struct gprog {
	uint64_t gpa[GSTEPS];
	uint8_t kind[GSTEPS];
	int n;
	bool explicit;		/* the VM's level design is explicit-demotion */
};

static void guest_prog(struct gvcpu *g, void *arg)
{
	const struct gprog *p = arg;
	for (int i = 0; i < p->n; i++) {
		uint64_t gpa = p->gpa[i] & ~0xfffull;
		switch (p->kind[i] % 9) {
		case 0:
			if (guest_accept(g, gpa, 0) == TDX_SUCCESS)
				guest_write64(g, gpa, gpa ^ 0x5a5a);
			break;
		case 1:
			(void)guest_accept(g, gpa & ~(SZ_2M - 1), 1);
			break;
		case 2:
			(void)guest_read64(g, gpa);
			break;
		case 3:
			(void)guest_map_gpa(g, gpa, SZ_4K << (p->kind[i] >> 6), true);
			break;
		case 4:
			(void)guest_map_gpa(g, gpa, SZ_4K << (p->kind[i] >> 6), false);
			break;
		case 5:
			guest_write64(g, guest_shared(g, gpa), 1);
			break;
		case 6:
			(void)guest_request_demote(g, gpa & ~(SZ_2M - 1));
			break;
		case 7:
			/*
			 * A 4K ATTR.WR over a 2M leaf is a demotion request only
			 * to explicit-demotion; the other designs see a fault
			 * without level info, find the 2M leaf mapped and let
			 * the guest retry for ever (as KVM would)
			 */
			if (p->explicit)
				(void)guest_attr_wr(g, gpa, 0);
			break;
		default:
			guest_relax(g);
			break;
		}
	}
}

/* ---- the sequence ---- */

enum { C_INIT_VM, C_CREATE_VCPU, C_INIT_VCPU, C_GMEM, C_REGION, C_ATTR, C_PUNCH, C_INIT_MEM,
       C_FINALIZE, C_PRE_FAULT, C_SHARED, C_RUN, C_CONVERT, C_RAM, C_DISCARD, C_PROMOTE,
       C_INTR, C_PRESSURE, C_KINDS };

static int pick_fd(int nfds)
{
	uint8_t s = fin_u8(&in);
	return (s & 3) && nfds ? (int)(s >> 2) % nfds : (int)(s >> 2) % (KVM_MAX_GMEMS + 4) - 2;
}

static int pick_vcpu(void)
{
	uint8_t s = fin_u8(&in);
	return s & 1 ? (int)(s >> 1) % 4 : (s >> 1) % 3 - 1 + (s & 0x80 ? 1 << 20 : 0);
}

static struct kvm *make_host(void)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	uint8_t b = fin_u8(&in);
	p.mem_bytes = (b & 1 ? 4ull : 3ull) << 30;
	p.fragmentation = b & 2 ? 0.25 : 0.0;
	p.dynamic_pamt = b & 4;
	if (p.dynamic_pamt)
		p.max_pa = 48;
	p.enhanced_demote = b & 8;
	p.nonblocking_resize = b & 16;
	p.explicit_demotion = b & 32;
	p.nr_hkids = b & 64 ? 1 : 64;
	p.seed = fin_u8(&in);
	struct kvm *k = kvm_create(&p);
	if (!k)
		fuzz_fail("kvm_create refused platform byte %#x", b);
	return k;
}

static struct kvm_policy make_policy(bool dpamt)
{
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	uint8_t a = fin_u8(&in), b = fin_u8(&in);
	pol.build = a & 1 ? BUILD_PREFAULT : BUILD_POPULATE;
	pol.busy = a & 2 ? BUSY_RETRY_N : BUSY_KICK_RETRY;
	pol.retry_n = 1 + ((a >> 2) & 3);
	pol.local_retry = a & 16;
	pol.local_retry_slot_break = a & 32;
	/*
	 * Not huge-rfc1: under the direct driver nothing ends a livelock
	 * (livelock_exits needs the engine), and seed 001's rare case, a 4K
	 * ACCEPT inside a 2M leaf, is that design's documented one.
	 */
	static const enum kvm_map_level levels[] = { MAP_LEVEL_4K, MAP_LEVEL_HUGE_V5,
						     MAP_LEVEL_HUGE_NBR, MAP_LEVEL_EXPLICIT };
	pol.max_level = levels[b % 4];
	pol.folio = b & 8 ? FOLIO_2M : FOLIO_4K;
	pol.promote = b & 16;
	pol.dpamt = dpamt && (b & 32);
	pol.dpamt_demote_locked = !(b & 64);
	/* a run that makes no progress ends as a livelock instead of hanging the fuzzer */
	pol.livelock_exits = 64;
	return pol;
}

static _Alignas(4096) uint8_t img[16 * SZ_4K];
static bool explicit_level;	/* this input's VM is explicit-demotion */

/* One call; its return value (0 or -errno).  *file_op: it works on a dead VM too. */
static int one_call(struct kvm *k, struct kvm_vm *vm, int kind, int *nfds, bool *file_op)
{
	struct hostmem *hm = kvm_hostmem(k);
	int rc;
	*file_op = false;
	switch (kind) {
	case C_INIT_VM: {
		static const unsigned phys[] = { 48, 52, 48, 52, 0, 36, 57, 64 };
		struct kvm_tdx_init_vm init;
		uint8_t s = fin_u8(&in);
		kvm_tdx_init_vm_default(&init, phys[s % 8]);
		if (s & 8)
			init.nent = 0;
		else if (s & 16)
			init.nent = KVM_TDX_MAX_CPUID + 1 + (s >> 5);
		if (s & 0x80)
			init.attributes = fin_u64(&in);
		if ((s & 0xe0) == 0x60)
			init.xfam = fin_u64(&in);
		init.max_vcpus = s & 0x20 ? fin_u16(&in) : 0;
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "KVM_TDX_INIT_VM (byte %#x)", s);
		return kvm_tdx_init_vm(vm, &init);
	}
	case C_CREATE_VCPU:
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "KVM_CREATE_VCPU");
		rc = kvm_create_vcpu(vm);
		return rc < 0 ? rc : 0;
	case C_INIT_VCPU: {
		int id = pick_vcpu();
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "KVM_TDX_INIT_VCPU %d", id);
		return kvm_tdx_init_vcpu(vm, id);
	}
	case C_GMEM: {
		uint8_t s = fin_u8(&in);
		uint64_t size = s & 3 ? SZ_2M * (1 + (s >> 2) % 16) : pick_size();
		uint64_t flags = s & 0x80 ? fin_u64(&in) : 0;
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "KVM_CREATE_GUEST_MEMFD %#" PRIx64
			 " flags %#" PRIx64, size, flags);
		rc = kvm_create_guest_memfd(vm, size, flags);
		if (rc >= 0) {
			*nfds = rc + 1 > *nfds ? rc + 1 : *nfds;
			return 0;
		}
		return rc;
	}
	case C_REGION: {
		uint8_t s = fin_u8(&in);
		struct kvm_userspace_memory_region2 m = {
			.slot = s & 1 ? (s >> 1) % 3 : (uint32_t)((s >> 1) % (KVM_MAX_MEMSLOTS + 2)) - 1,
			.flags = s & 6 ? KVM_MEM_GUEST_MEMFD : s & 8 ? 0 : fin_u32(&in),
			.guest_phys_addr = s & 0x10 ? pick_gpa() : (uint64_t)(fin_u8(&in) % 32) * SZ_2M,
			.memory_size = s & 0x20 ? pick_size() : SZ_2M * (fin_u8(&in) % 5),
			.guest_memfd_offset = s & 0x40 ? pick_gpa() : SZ_2M * (fin_u8(&in) % 8),
			.guest_memfd = pick_fd(*nfds),
		};
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "SET_USER_MEMORY_REGION2 slot %u "
			 "flags %#x %#" PRIx64 "+%#" PRIx64 " fd %d+%#" PRIx64, m.slot, m.flags,
			 m.guest_phys_addr, m.memory_size, m.guest_memfd, m.guest_memfd_offset);
		return kvm_set_user_memory_region2(vm, &m);
	}
	case C_ATTR: {
		uint64_t gpa = pick_gpa(), size = pick_size();
		uint8_t s = fin_u8(&in);
		uint64_t attrs = s & 1 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : s & 2 ? 0 : fin_u64(&in);
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "SET_MEMORY_ATTRIBUTES %#" PRIx64
			 "+%#" PRIx64 " %#" PRIx64, gpa, size, attrs);
		return kvm_set_memory_attributes(vm, gpa, size, attrs);
	}
	case C_PUNCH: {
		int fd = pick_fd(*nfds);
		uint64_t off = pick_gpa() & (fin_u8(&in) & 1 ? 0x7fffffull : ~0ull), len = pick_size();
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "PUNCH_HOLE fd %d %#" PRIx64
			 "+%#" PRIx64, fd, off, len);
		*file_op = true;
		return kvm_gmem_punch_hole(vm, fd, off, len);
	}
	case C_INIT_MEM: {
		uint8_t s = fin_u8(&in);
		uint64_t n = s & 3 ? 1 + (s >> 2) % 16 : fin_u64(&in);
		struct kvm_tdx_init_mem_region reg = {
			/* the source holds 16 pages: longer requests must fail before reading it */
			.source = n <= 16 && (s & 4) ? img : NULL,
			.gpa = s & 8 ? pick_gpa() : (uint64_t)(fin_u16(&in) % 4096) * SZ_4K,
			.nr_pages = n,
		};
		int id = pick_vcpu();
		uint32_t flags = s & 0x10 ? KVM_TDX_MEASURE_MEMORY_REGION : s & 0x20 ? 0 : 2;
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "INIT_MEM_REGION vcpu %d %#" PRIx64
			 " %" PRIu64 " pages", id, reg.gpa, n);
		uint64_t gpa0 = reg.gpa;
		rc = kvm_tdx_init_mem_region(vm, id, flags, &reg);
		/* progress is reported in the struct, and adds up */
		if (reg.nr_pages > n || reg.gpa - gpa0 != (n - reg.nr_pages) * SZ_4K ||
		    (!rc && reg.nr_pages))
			fuzz_fail("%s: returned %d leaving gpa %#" PRIx64 " nr_pages %" PRIu64,
				  fuzz_last_call, rc, reg.gpa, reg.nr_pages);
		return rc;
	}
	case C_FINALIZE:
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "KVM_TDX_FINALIZE_VM");
		return kvm_tdx_finalize_vm(vm);
	case C_PRE_FAULT: {
		uint8_t s = fin_u8(&in);
		uint64_t gpa = s & 1 ? pick_gpa() : (uint64_t)(fin_u16(&in) % 4096) * SZ_4K;
		uint64_t size = s & 2 ? pick_size() : SZ_4K * (1 + (s >> 4));
		struct kvm_pre_fault_memory pf = { gpa, size > 64 * SZ_4K ? 64 * SZ_4K : size,
						   s & 4 ? 1 : 0 };
		int id = pick_vcpu();
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "PRE_FAULT_MEMORY vcpu %d %#" PRIx64
			 "+%#" PRIx64, id, pf.gpa, pf.size);
		return kvm_pre_fault_memory(vm, id, &pf);
	}
	case C_SHARED: {
		uint8_t s = fin_u8(&in);
		uint64_t gpa = s & 1 ? pick_gpa() : (uint64_t)(fin_u16(&in) % 4096) * SZ_4K;
		uint64_t len = s & 2 ? 8 : 1 + fin_u8(&in);
		uint8_t buf[256];
		memset(buf, 0x5a, sizeof(buf));
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "VMM %s shared %#" PRIx64 "+%" PRIu64,
			 s & 4 ? "reads" : "writes", gpa, len);
		*file_op = true;	/* the VMM's own memory */
		return s & 4 ? kvm_vm_read_shared(vm, gpa, buf, len)
			     : kvm_vm_write_shared(vm, gpa, buf, len);
	}
	case C_RUN: {
		struct gprog p = { .n = 1 + rn(GSTEPS), .explicit = explicit_level };
		for (int j = 0; j < p.n; j++) {
			uint8_t s = fin_u8(&in);
			p.gpa[j] = s & 0x80 ? pick_gpa() : (uint64_t)(fin_u16(&in) % 4096) * SZ_4K;
			p.kind[j] = s & 0x7f;
		}
		int id = pick_vcpu();
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "KVM_RUN vcpu %d, %d guest steps",
			 id, p.n);
		return kvm_vcpu_run(vm, id, guest_prog, &p);
	}
	case C_CONVERT: {
		uint64_t gpa = pick_gpa(), size = pick_size();
		bool priv = fin_u8(&in) & 1;
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "VMM convert %#" PRIx64 "+%#" PRIx64
			 " to %s", gpa, size, priv ? "private" : "shared");
		*file_op = true;	/* a VMM helper of several calls */
		return kvm_vmm_convert(vm, gpa, size, priv);
	}
	case C_RAM: {
		uint8_t s = fin_u8(&in);
		int slot = (int)(s % (KVM_MAX_MEMSLOTS + 1));
		uint64_t gpa = s & 0x80 ? pick_gpa() : (uint64_t)(fin_u8(&in) % 32) * SZ_2M;
		uint64_t size = s & 0x40 ? pick_size() : SZ_2M * (1 + fin_u8(&in) % 8);
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "VMM private RAM slot %d %#" PRIx64
			 "+%#" PRIx64, slot, gpa, size);
		*file_op = true;
		rc = kvm_vmm_add_private_ram(vm, slot, gpa, size);
		if (rc >= 0) {
			*nfds = rc + 1 > *nfds ? rc + 1 : *nfds;
			return 0;
		}
		return rc;
	}
	case C_DISCARD: {
		uint64_t gpa = pick_gpa(), size = pick_size();
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "VMM discard shared %#" PRIx64
			 "+%#" PRIx64, gpa, size);
		*file_op = true;
		return kvm_vmm_discard_shared(vm, gpa, size);
	}
	case C_PROMOTE:
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "promote");
		*file_op = true;	/* a khugepaged-like pass, not an ioctl */
		rc = kvm_vm_promote(vm);
		return rc > 0 ? 0 : rc;
	case C_INTR: {
		int id = pick_vcpu();
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "post interrupt vcpu %d", id);
		return kvm_vcpu_post_interrupt(vm, id);
	}
	default: {
		/* memory pressure: only a few more pages, or no limit again */
		uint8_t s = fin_u8(&in);
		hostmem_set_limit(hm, s & 1 ? UINT64_MAX : hm->allocated + (s >> 1) % 32);
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "host memory limit %#" PRIx64,
			 hm->limit);
		*file_op = true;
		return 0;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in = (struct fin){ data, size };
	struct kvm *k = make_host();
	struct kvm_policy pol = make_policy(kvm_module(k) && tdx_module_dynamic_pamt(kvm_module(k)));
	explicit_level = pol.max_level == MAP_LEVEL_EXPLICIT;
	struct kvm_vm *vm = kvm_create_vm(k, &pol);
	if (!vm)
		fuzz_fail("KVM_CREATE_VM refused a valid policy");
	struct hostmem *hm = kvm_hostmem(k);
	struct tdx_module *m = kvm_module(k);
	int nfds = 0;
	snprintf(fuzz_last_call, sizeof(fuzz_last_call), "KVM_CREATE_VM");
	FUZZ_CHECK(m, vm, hm);
	for (int i = 0; i < MAX_CALLS && fin_left(&in); i++) {
		int kind = rn(C_KINDS);
		bool was_dead = kvm_vm_dead(vm, NULL), file_op;
		int rc = one_call(k, vm, kind, &nfds, &file_op);
		if (!errno_ok(rc))
			fuzz_fail("%s returned %d, not an errno KVM documents", fuzz_last_call, rc);
		if (was_dead && !file_op && rc != -EIO)
			fuzz_fail("%s on a dead VM returned %d, not -EIO", fuzz_last_call, rc);
		FUZZ_CHECK(m, vm, hm);
	}
	hostmem_set_limit(hm, UINT64_MAX);
	const char *why = NULL;
	bool dead = kvm_vm_dead(vm, &why);
	if (dead && !expected_kill(why))
		fuzz_fail("the VM was killed: %s (after %s)", why, fuzz_last_call);
	int rc = kvm_destroy_vm(vm);
	uint64_t left = hm->allocated, pamt = fuzz_pamt_in_use(m);
	if ((rc && !(dead && rc == -EIO)) || left || pamt)
		fuzz_fail("teardown returned %d (VM %s), %" PRIu64 " host pages still allocated, "
			  "%" PRIu64 " PAMT entries in use", rc, dead ? why : "alive", left, pamt);
	kvm_destroy(k);
	return 0;
}
