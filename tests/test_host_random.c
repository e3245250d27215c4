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
#include <string.h>

#include "testlib.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"

#define SZ_1M		0x100000ull
#define SEQUENCES	60
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
	case -EIO: case -EAGAIN: case -ENOMEM: case -EBADF: case -EOPNOTSUPP:
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

enum { C_INIT_VM, C_CREATE_VCPU, C_INIT_VCPU, C_REGION, C_ATTR, C_PUNCH, C_INIT_MEM, C_FINALIZE,
       C_PRE_FAULT, C_RUN, C_KINDS };
static const char *const kind_name[C_KINDS] = {
	"INIT_VM", "CREATE_VCPU", "INIT_VCPU", "SET_MEMORY_REGION", "SET_MEMORY_ATTRIBUTES",
	"PUNCH_HOLE", "INIT_MEM_REGION", "FINALIZE", "PRE_FAULT_MEMORY", "RUN",
};

static int one_sequence(struct kvm *k, struct rnd *r, int seq, unsigned ok[C_KINDS],
			unsigned *killed)
{
	static const char *const keys[][2] = {
		{ "build", "populate" }, { "build", "premap" }, { "busy", "kick-retry" },
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
	static uint8_t img[16 * SZ_4K];
	int i = -1;
	/* a well-formed start, to a random stage, so that later calls meet every state */
	unsigned stage = rn(r, 6);
	struct kvm_tdx_init_vm init0;
	kvm_tdx_init_vm_default(&init0, rn(r, 2) ? 48 : 52);
	if (stage >= 1)
		CHECK(kvm_set_memory_region(vm, 0, 0, 16 * SZ_1M), "prefix: slot 0");
	if (stage >= 2)
		CHECK(kvm_tdx_init_vm(vm, &init0), "prefix: INIT_VM");
	if (stage >= 3) {
		CHECK(kvm_create_vcpu(vm), "prefix: CREATE_VCPU");
		CHECK(kvm_tdx_init_vcpu(vm, 0), "prefix: INIT_VCPU");
	}
	if (stage >= 4) {
		if (pol.build == BUILD_PREMAP)
			CHECK(kvm_pre_fault_memory(vm, SZ_1M, 4 * SZ_4K), "prefix: PRE_FAULT_MEMORY");
		CHECK(kvm_tdx_init_mem_region(vm, SZ_1M, img, 4, true), "prefix: INIT_MEM_REGION");
	}
	if (stage >= 5)
		CHECK(kvm_tdx_finalize_vm(vm), "prefix: FINALIZE");
	note(r, "prefix to stage %u (%s)", stage, pol.build == BUILD_PREMAP ? "premap" : "populate");
	for (i = 0; i < CALLS; i++) {
		int rc = 0, kind = (int)rn(r, 12);
		switch (kind) {
		case 0: {
			struct kvm_tdx_init_vm init;
			static const unsigned phys[] = { 48, 52, 48, 52, 0, 36, 57, 64 };
			kvm_tdx_init_vm_default(&init, phys[rn(r, 2) ? rn(r, 2) : rn(r, 8)]);
			if (rn(r, 8) == 0)
				init.nent = 0;	/* no CPUID 0x80000008 at all */
			note(r, "INIT_VM");
			rc = kvm_tdx_init_vm(vm, &init);
			CHECK(rc, "INIT_VM");
			break;
		}
		case 1:
			note(r, "CREATE_VCPU");
			rc = kvm_create_vcpu(vm);
			CHECK(rc < 0 ? rc : 0, "CREATE_VCPU");
			break;
		case 2: {
			int id = rn(r, 2) ? 0 : (int)rn(r, 4) - 1;
			note(r, "INIT_VCPU %d", id);
			rc = kvm_tdx_init_vcpu(vm, id);
			CHECK(rc, "INIT_VCPU");
			break;
		}
		case 3: {
			int slot = rn(r, 2) ? (int)rn(r, 3) : (int)rn(r, KVM_MAX_MEMSLOTS + 2) - 1;
			uint64_t gpa = rn(r, 3) ? (uint64_t)rn(r, 32) * SZ_2M : pick_gpa(r);
			uint64_t size = rn(r, 3) ? SZ_2M * rn(r, 4) : pick_size(r);
			note(r, "SET_MEMORY_REGION slot %d %#llx+%#llx", slot,
			     (unsigned long long)gpa, (unsigned long long)size);
			rc = kvm_set_memory_region(vm, slot, gpa, size);
			CHECK(rc, "SET_MEMORY_REGION");
			break;
		}
		case 4: {
			uint64_t gpa = pick_gpa(r), size = pick_size(r);
			bool priv = rn(r, 2);
			note(r, "SET_MEMORY_ATTRIBUTES %#llx+%#llx %s", (unsigned long long)gpa,
			     (unsigned long long)size, priv ? "private" : "shared");
			rc = kvm_set_memory_attributes(vm, gpa, size, priv);
			CHECK(rc, "SET_MEMORY_ATTRIBUTES");
			break;
		}
		case 5: {
			int slot = (int)rn(r, KVM_MAX_MEMSLOTS + 2) - 1;
			uint64_t off = pick_gpa(r) & (rn(r, 2) ? 0x7fffffull : ~0ull), len = pick_size(r);
			note(r, "PUNCH_HOLE slot %d %#llx+%#llx", slot, (unsigned long long)off,
			     (unsigned long long)len);
			rc = kvm_gmem_punch_hole(vm, slot, off, len);
			CHECK(rc, "PUNCH_HOLE");
			break;
		}
		case 6: {
			uint64_t gpa = rn(r, 2) ? (uint64_t)rn(r, 16384) * SZ_4K : pick_gpa(r);
			uint64_t n = rn(r, 4) ? 1 + rn(r, 16) : r64(r);
			bool measure = rn(r, 2);
			note(r, "INIT_MEM_REGION %#llx %llu pages", (unsigned long long)gpa,
			     (unsigned long long)n);
			/* the source holds 16 pages: longer requests must fail before reading it */
			rc = kvm_tdx_init_mem_region(vm, gpa, n <= 16 ? img : NULL, n, measure);
			CHECK(rc, "INIT_MEM_REGION");
			break;
		}
		case 7:
			note(r, "FINALIZE");
			rc = kvm_tdx_finalize_vm(vm);
			CHECK(rc, "FINALIZE");
			break;
		case 8: {
			uint64_t gpa = rn(r, 2) ? (uint64_t)rn(r, 16384) * SZ_4K : pick_gpa(r);
			uint64_t size = rn(r, 2) ? SZ_4K * (1 + rn(r, 8)) : pick_size(r);
			note(r, "PRE_FAULT_MEMORY %#llx+%#llx", (unsigned long long)gpa,
			     (unsigned long long)size);
			rc = kvm_pre_fault_memory(vm, gpa, size > 64 * SZ_4K ? 64 * SZ_4K : size);
			CHECK(rc, "PRE_FAULT_MEMORY");
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
		ok[kind < C_RUN ? kind : C_RUN] += rc == 0;
	}
	const char *why = NULL;
	bool dead = kvm_vm_dead(vm, &why);
	if (dead) {
		(*killed)++;
		/* the guest's own faults; anything else is the host failing */
		if (strncmp(why, "no memslot for GPA", 18) && strncmp(why, "guest access before accepting", 29)) {
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
