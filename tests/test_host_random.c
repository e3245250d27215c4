/* SPDX-License-Identifier: MIT */
/*
 * Random sequences of the host's ioctls (src/host/kvm.h), most of them with
 * bad or borderline operands, mixed with short guest runs: every call must
 * return 0 or one of the errnos KVM documents for it, never crash (the CI
 * also runs this under ASan and UBSan), and teardown must leave nothing
 * behind whatever state the sequence reached, including a killed VM.
 *
 * The seed comes from test_seed() (TDXSIM_SEED reruns one); a failure
 * prints the sequence number and the last calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"

#define SZ_1M		0x100000ull
#define SEQUENCES	100
#define CALLS		40
#define HISTORY		8

struct rnd {
	uint64_t s;
	char hist[HISTORY][96];
	unsigned nhist;
};

static uint64_t r64(struct rnd *r) { return test_rand(&r->s); }
static unsigned rn(struct rnd *r, unsigned n) { return (unsigned)(r64(r) % n); }

static void note(struct rnd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct rnd *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->hist[r->nhist++ % HISTORY], sizeof(r->hist[0]), fmt, ap);
	va_end(ap);
}

static void dump(const struct rnd *r)
{
	unsigned n = r->nhist < HISTORY ? r->nhist : HISTORY;
	for (unsigned i = r->nhist - n; i < r->nhist; i++)
		print_error("    %s\n", r->hist[i % HISTORY]);
}

/* A GPA that is often interesting: near the slots below 64M, unaligned, shared, huge. */
static uint64_t pick_gpa(struct rnd *r)
{
	switch (rn(r, 8)) {
	case 0: return (uint64_t)rn(r, 64) * SZ_1M;
	case 1: return (uint64_t)rn(r, 16384) * SZ_4K;
	case 2: return (uint64_t)rn(r, 16384) * SZ_4K + 1 + rn(r, 4095);
	case 3: return ((uint64_t)rn(r, 16384) * SZ_4K) | (rn(r, 2) ? 1ull << 47 : 1ull << 51);
	case 4: return 1ull << (30 + rn(r, 30));
	case 5: return ~0ull - rn(r, 3) * SZ_4K - 0xfff;
	case 6: return (uint64_t)rn(r, 32) * SZ_2M;
	default: return 0;
	}
}

static uint64_t pick_size(struct rnd *r)
{
	switch (rn(r, 7)) {
	case 0: return 0;
	case 1: return SZ_4K * (1 + rn(r, 16));
	case 2: return SZ_2M * (1 + rn(r, 4));
	case 3: return 1 + rn(r, 3 * SZ_4K);
	case 4: return ~0ull - rn(r, 2) * SZ_4K;
	case 5: return 1ull << (20 + rn(r, 40));
	default: return SZ_1M * (1 + rn(r, 8));
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

/* ---- guest programs: a few private and shared touches at random GPAs ---- */

struct gprog {
	uint64_t gpa[6];
	uint8_t kind[6];	/* 0 accept+write, 1 read, 2 MapGPA to shared, 3 MapGPA private, 4 shared write */
	int n;
};

static void guest_prog(struct gvcpu *g, void *arg)
{
	const struct gprog *p = arg;
	for (int i = 0; i < p->n; i++) {
		uint64_t gpa = p->gpa[i] & ~0xfffull;
		switch (p->kind[i]) {
		case 0:
			if (guest_accept(g, gpa, 0) == TDX_SUCCESS)
				guest_write64(g, gpa, gpa ^ 0x5a5a);
			break;
		case 1:
			(void)guest_read64(g, gpa);
			break;
		case 2:
			(void)guest_map_gpa(g, gpa, SZ_4K, true);
			break;
		case 3:
			(void)guest_map_gpa(g, gpa, SZ_4K, false);
			break;
		default:
			guest_write64(g, guest_shared(g, gpa), 1);
			break;
		}
	}
}

/* ---- one sequence ---- */

#define CHECK(rc, what)									\
	do {										\
		if (!errno_ok(rc)) {							\
			print_error("sequence %d call %d: %s returned %d\n", seq, i, (what), (rc)); \
			dump(r);							\
			return -1;							\
		}									\
	} while (0)

enum { C_INIT_VM, C_CREATE_VCPU, C_INIT_VCPU, C_GMEM, C_REGION, C_ATTR, C_PUNCH, C_INIT_MEM,
       C_FINALIZE, C_PRE_FAULT, C_SHARED, C_RUN, C_KINDS };
static const char *const kind_name[C_KINDS] = {
	"INIT_VM", "CREATE_VCPU", "INIT_VCPU", "CREATE_GUEST_MEMFD", "SET_USER_MEMORY_REGION2",
	"SET_MEMORY_ATTRIBUTES", "PUNCH_HOLE", "INIT_MEM_REGION", "FINALIZE", "PRE_FAULT_MEMORY",
	"VMM shared access", "RUN",
};

/* A guest_memfd descriptor: mostly the ones made so far, sometimes a bad one. */
static int pick_fd(struct rnd *r, int nfds)
{
	return rn(r, 5) && nfds ? (int)rn(r, (unsigned)nfds) : (int)rn(r, KVM_MAX_GMEMS + 4) - 2;
}

/* Is @why a way the guest (or memory pressure) may kill its own VM? */
static bool expected_kill(const char *why)
{
	static const char *const ok[] = {
		"no memslot for GPA", "guest access before accepting", "out of host memory",
		"userspace gave up on a memory fault", "KVM_EXIT_INTERNAL_ERROR",
		/* the VMM finalizing a TD without vCPUs: KVM_BUG_ON, the VM is dead */
		"TDH.MR.FINALIZE: TDX_NO_VCPUS",
	};
	for (size_t j = 0; j < sizeof(ok) / sizeof(ok[0]); j++)
		if (!strncmp(why, ok[j], strlen(ok[j])))
			return true;
	return false;
}

static int one_sequence(struct kvm *k, struct rnd *r, int seq, unsigned ok[C_KINDS],
			unsigned *killed)
{
	static const char *const keys[][2] = {
		{ "build", "populate" }, { "build", "prefault" }, { "busy", "kick-retry" },
		{ "busy", "retry-n" }, { "local_retry", "on" }, { "local_retry", "off" },
		{ "slot_break", "on" }, { "retry_n", "3" },
	};
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	for (unsigned j = rn(r, 4); j; j--) {
		unsigned q = rn(r, sizeof(keys) / sizeof(keys[0]));
		assert_int_equal(kvm_policy_set(&pol, keys[q][0], keys[q][1]), 0);
	}
	struct kvm_vm *vm = kvm_create_vm(k, &pol);
	assert_non_null(vm);
	struct hostmem *hm = kvm_hostmem(k);
	static _Alignas(4096) uint8_t img[16 * SZ_4K];
	int i = -1, nfds = 0;
	/* a well-formed start, to a random stage, so that later calls meet every state */
	unsigned stage = rn(r, 6);
	struct kvm_tdx_init_vm init0;
	kvm_tdx_init_vm_default(&init0, rn(r, 2) ? 48 : 52);
	if (stage >= 1) {
		int fd = kvm_vmm_add_private_ram(vm, 0, 0, 16 * SZ_1M);
		CHECK(fd < 0 ? fd : 0, "prefix: slot 0");
		nfds++;
	}
	if (stage >= 2)
		CHECK(kvm_tdx_init_vm(vm, &init0), "prefix: INIT_VM");
	if (stage >= 3) {
		CHECK(kvm_create_vcpu(vm), "prefix: CREATE_VCPU");
		CHECK(kvm_tdx_init_vcpu(vm, 0), "prefix: INIT_VCPU");
	}
	if (stage >= 4) {
		if (pol.build == BUILD_PREFAULT) {
			struct kvm_pre_fault_memory pf = { SZ_1M, 4 * SZ_4K, 0 };
			CHECK(kvm_pre_fault_memory(vm, 0, &pf), "prefix: PRE_FAULT_MEMORY");
		}
		struct kvm_tdx_init_mem_region reg = { img, SZ_1M, 4 };
		CHECK(kvm_tdx_init_mem_region(vm, 0, KVM_TDX_MEASURE_MEMORY_REGION, &reg),
		      "prefix: INIT_MEM_REGION");
	}
	if (stage >= 5)
		CHECK(kvm_tdx_finalize_vm(vm), "prefix: FINALIZE");
	note(r, "prefix to stage %u (%s)", stage, pol.build == BUILD_PREFAULT ? "prefault" : "populate");
	unsigned pressure = 0;	/* calls left under a host-memory limit */
	unsigned vcpus_ready = stage >= 3;
	for (i = 0; i < CALLS; i++) {
		int rc = 0, kind = (int)rn(r, 15);
		bool was_dead = kvm_vm_dead(vm, NULL);
		/* memory pressure: now and then only a few more pages may be allocated */
		if (!pressure && rn(r, 10) == 0) {
			pressure = 1 + rn(r, 4);
			hostmem_set_limit(hm, hm->allocated + rn(r, 24));
			note(r, "host memory limited to %llu pages", (unsigned long long)hm->limit);
		} else if (pressure && !--pressure) {
			hostmem_set_limit(hm, UINT64_MAX);
		}
		switch (kind) {
		case C_INIT_VM: {
			struct kvm_tdx_init_vm init;
			static const unsigned phys[] = { 48, 52, 48, 52, 0, 36, 57, 64 };
			kvm_tdx_init_vm_default(&init, phys[rn(r, 2) ? rn(r, 2) : rn(r, 8)]);
			if (rn(r, 8) == 0)
				init.nent = 0;	/* no CPUID 0x80000008 at all */
			else if (rn(r, 16) == 0)
				init.nent = KVM_TDX_MAX_CPUID + 1 + (int)rn(r, 4);
			note(r, "INIT_VM (nent %d)", init.nent);
			rc = kvm_tdx_init_vm(vm, &init);
			CHECK(rc, "INIT_VM");
			break;
		}
		case C_CREATE_VCPU:
			note(r, "CREATE_VCPU");
			rc = kvm_create_vcpu(vm);
			rc = rc < 0 ? rc : 0;
			CHECK(rc, "CREATE_VCPU");
			break;
		case C_INIT_VCPU: {
			int id = rn(r, 2) ? 0 : (int)rn(r, 4) - 1;
			note(r, "INIT_VCPU %d", id);
			rc = kvm_tdx_init_vcpu(vm, id);
			CHECK(rc, "INIT_VCPU");
			vcpus_ready += rc == 0;
			break;
		}
		case C_GMEM: {
			uint64_t size = rn(r, 3) ? SZ_2M * (1 + rn(r, 8)) : pick_size(r);
			uint64_t flags = rn(r, 8) ? 0 : r64(r);
			note(r, "CREATE_GUEST_MEMFD %#llx flags %#llx", (unsigned long long)size,
			     (unsigned long long)flags);
			rc = kvm_create_guest_memfd(vm, size, flags);
			if (rc >= 0) {
				nfds = rc + 1 > nfds ? rc + 1 : nfds;
				rc = 0;
			}
			CHECK(rc, "CREATE_GUEST_MEMFD");
			break;
		}
		case C_REGION: {
			struct kvm_userspace_memory_region2 m = {
				.slot = rn(r, 2) ? rn(r, 3) : (uint32_t)rn(r, KVM_MAX_MEMSLOTS + 2) - 1,
				.flags = rn(r, 4) ? KVM_MEM_GUEST_MEMFD : rn(r, 2) ? 0 : (uint32_t)r64(r),
				.guest_phys_addr = rn(r, 3) ? (uint64_t)rn(r, 32) * SZ_2M : pick_gpa(r),
				.memory_size = rn(r, 3) ? SZ_2M * rn(r, 4) : pick_size(r),
				.guest_memfd_offset = rn(r, 2) ? 0 : rn(r, 2) ? SZ_2M * rn(r, 8) : pick_gpa(r),
				.guest_memfd = pick_fd(r, nfds),
			};
			note(r, "SET_USER_MEMORY_REGION2 slot %u flags %#x %#llx+%#llx fd %d+%#llx",
			     m.slot, m.flags, (unsigned long long)m.guest_phys_addr,
			     (unsigned long long)m.memory_size, m.guest_memfd,
			     (unsigned long long)m.guest_memfd_offset);
			rc = kvm_set_user_memory_region2(vm, &m);
			CHECK(rc, "SET_USER_MEMORY_REGION2");
			break;
		}
		case C_ATTR: {
			uint64_t gpa = pick_gpa(r), size = pick_size(r);
			uint64_t attrs = rn(r, 2) ? KVM_MEMORY_ATTRIBUTE_PRIVATE : rn(r, 8) ? 0 : r64(r);
			note(r, "SET_MEMORY_ATTRIBUTES %#llx+%#llx %#llx", (unsigned long long)gpa,
			     (unsigned long long)size, (unsigned long long)attrs);
			rc = kvm_set_memory_attributes(vm, gpa, size, attrs);
			CHECK(rc, "SET_MEMORY_ATTRIBUTES");
			break;
		}
		case C_PUNCH: {
			int fd = pick_fd(r, nfds);
			uint64_t off = pick_gpa(r) & (rn(r, 2) ? 0x7fffffull : ~0ull), len = pick_size(r);
			note(r, "PUNCH_HOLE fd %d %#llx+%#llx", fd, (unsigned long long)off,
			     (unsigned long long)len);
			rc = kvm_gmem_punch_hole(vm, fd, off, len);
			CHECK(rc, "PUNCH_HOLE");
			/* a file operation: a dead VM's guest_memfd still takes it */
			was_dead = false;
			break;
		}
		case C_INIT_MEM: {
			uint64_t n = rn(r, 4) ? 1 + rn(r, 16) : r64(r);
			struct kvm_tdx_init_mem_region reg = {
				/* the source holds 16 pages: longer requests must fail before reading it */
				.source = n <= 16 && rn(r, 8) ? img : NULL,
				/* mostly inside slot 0 of the prefix, [0, 16M) */
				.gpa = rn(r, 4) ? (uint64_t)rn(r, 4096) * SZ_4K : pick_gpa(r),
				.nr_pages = n,
			};
			int id = rn(r, 4) ? 0 : (int)rn(r, 3) - 1;
			uint32_t flags = rn(r, 2) ? KVM_TDX_MEASURE_MEMORY_REGION : rn(r, 8) ? 0 : 2;
			note(r, "INIT_MEM_REGION vcpu %d %#llx %llu pages", id,
			     (unsigned long long)reg.gpa, (unsigned long long)n);
			uint64_t gpa0 = reg.gpa;
			rc = kvm_tdx_init_mem_region(vm, id, flags, &reg);
			CHECK(rc, "INIT_MEM_REGION");
			/* progress is reported in the struct, and adds up */
			if (reg.nr_pages > n || reg.gpa - gpa0 != (n - reg.nr_pages) * SZ_4K ||
			    (!rc && reg.nr_pages)) {
				print_error("sequence %d call %d: INIT_MEM_REGION left gpa %#llx "
					    "nr_pages %llu\n", seq, i, (unsigned long long)reg.gpa,
					    (unsigned long long)reg.nr_pages);
				dump(r);
				return -1;
			}
			break;
		}
		case C_FINALIZE:
			/* without a vCPU FINALIZE bugs the VM: keep that rare */
			if (!vcpus_ready && rn(r, 4)) {
				rc = -EINVAL;
				was_dead = false;
				break;
			}
			note(r, "FINALIZE");
			rc = kvm_tdx_finalize_vm(vm);
			CHECK(rc, "FINALIZE");
			break;
		case C_PRE_FAULT: {
			uint64_t gpa = rn(r, 4) ? (uint64_t)rn(r, 4096) * SZ_4K : pick_gpa(r);
			uint64_t size = rn(r, 2) ? SZ_4K * (1 + rn(r, 8)) : pick_size(r);
			struct kvm_pre_fault_memory pf = { gpa, size > 64 * SZ_4K ? 64 * SZ_4K : size,
							   rn(r, 16) ? 0 : 1 };
			note(r, "PRE_FAULT_MEMORY %#llx+%#llx", (unsigned long long)gpa,
			     (unsigned long long)pf.size);
			rc = kvm_pre_fault_memory(vm, rn(r, 4) ? 0 : (int)rn(r, 3) - 1, &pf);
			CHECK(rc, "PRE_FAULT_MEMORY");
			break;
		}
		case C_SHARED: {
			uint64_t gpa = rn(r, 4) ? (uint64_t)rn(r, 4096) * SZ_4K : pick_gpa(r), v = gpa;
			note(r, "VMM %s shared %#llx", gpa & 1 ? "reads" : "writes",
			     (unsigned long long)gpa);
			rc = gpa & 1 ? kvm_vm_read_shared(vm, gpa, &v, 8)
				     : kvm_vm_write_shared(vm, gpa, &v, 8);
			CHECK(rc, "shared access");
			was_dead = false;	/* the VMM's own memory */
			break;
		}
		default: {
			struct gprog p = { .n = 1 + (int)rn(r, 6) };
			for (int j = 0; j < p.n; j++) {
				/* mostly inside slot 0 of the prefix, [0, 16M) */
				p.gpa[j] = rn(r, 16) ? (uint64_t)rn(r, 4096) * SZ_4K : pick_gpa(r);
				p.kind[j] = (uint8_t)rn(r, 5);
			}
			int id = rn(r, 2) ? 0 : (int)rn(r, 3) - 1;
			note(r, "RUN vcpu %d, %d guest steps", id, p.n);
			rc = kvm_vcpu_run(vm, id, guest_prog, &p);
			CHECK(rc, "RUN");
			break;
		}
		}
		if (was_dead && rc != -EIO) {
			print_error("sequence %d call %d: %s on a dead VM returned %d, not -EIO\n", seq,
				    i, kind_name[kind < C_RUN ? kind : C_RUN], rc);
			dump(r);
			return -1;
		}
		ok[kind < C_RUN ? kind : C_RUN] += rc == 0;
	}
	hostmem_set_limit(hm, UINT64_MAX);
	const char *why = NULL;
	bool dead = kvm_vm_dead(vm, &why);
	if (dead) {
		(*killed)++;
		/* the guest's own faults; anything else is the host failing */
		if (!expected_kill(why)) {
			print_error("sequence %d: VM killed: %s\n", seq, why);
			dump(r);
			return -1;
		}
	}
	int rc = kvm_destroy_vm(vm);
	uint64_t alloc = kvm_hostmem(k)->allocated, pamt = test_pamt_in_use(kvm_module(k));
	if ((rc && !(dead && rc == -EIO)) || alloc || pamt) {
		print_error("sequence %d: teardown returned %d (VM %s), %llu host pages still "
			    "allocated, %llu PAMT entries not NDA\n", seq, rc,
			    dead ? why : "alive", (unsigned long long)alloc, (unsigned long long)pamt);
		dump(r);
		return -1;
	}
	return 0;
}

static void test_random_ioctl_sequences(void **state)
{
	(void)state;
	BANNER("random ioctl sequences: documented errnos only, nothing left after teardown");
	struct rnd r = { .s = test_seed() };
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	p.ept_5level = true;
	p.max_pa = 52;
	struct kvm *k = kvm_create(&p);
	assert_non_null(k);
	unsigned ok[C_KINDS] = { 0 }, failures = 0, killed = 0;
	for (int seq = 0; seq < SEQUENCES; seq++) {
		r.nhist = 0;
		failures += one_sequence(k, &r, seq, ok, &killed) != 0;
	}
	kvm_destroy(k);
	print_message("  succeeded:");
	for (int c = 0; c < C_KINDS; c++)
		print_message(" %s %u", kind_name[c], ok[c]);
	print_message("; %u of %d VMs killed\n", killed, SEQUENCES);
	assert_int_equal(failures, 0);
	/* the generator must reach the deep states too, not only error paths */
	for (int c = 0; c < C_KINDS; c++)
		if (ok[c] == 0)
			fail_msg("no %s call succeeded: the sequences are too shallow", kind_name[c]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_ioctl_sequences),
	};
	return cmocka_run_group_tests_name("host_random", tests, NULL, NULL);
}
