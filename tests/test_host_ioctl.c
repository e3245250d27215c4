/* SPDX-License-Identifier: MIT */
/*
 * The KVM-style host's ioctls (src/host/kvm.h): error tables per ioctl,
 * GPAW / EPT-level selection from CPUID 0x80000008 (seed 003), the two
 * build flows (mainline "populate" and seed 004's "prefault"), MRTD,
 * pre-faulting after FINALIZE, teardown that leaves no page behind, and
 * the fuzzing defects: dead VMs, host memory exhaustion, memslots above
 * the GPA width, huge memslots, failed INIT_VM.
 *
 * Expected values come from ../shared/reference/kvm-tdx.md (sections 1-3),
 * the seeds and KVM's documented behaviour; each table row says why.
 */
#include <stdio.h>
#include <string.h>

#include "testlib.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"

#define SLOT0_SIZE	(4 * SZ_1M)
#define SZ_1M		0x100000ull
#define BIT47		(1ull << 47)
#define BIT51		(1ull << 51)
#define GPA_NO_SLOT	(16 * SZ_1M)	/* no memslot covers it */

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static const char *ename(int r)
{
	static char buf[32];
	switch (r) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -EFAULT: return "-EFAULT";
	case -ENOENT: return "-ENOENT";
	case -EEXIST: return "-EEXIST";
	case -EBADF: return "-EBADF";
	case -EBUSY: return "-EBUSY";
	case -EIO: return "-EIO";
	case -EAGAIN: return "-EAGAIN";
	case -ENOMEM: return "-ENOMEM";
	case -EOPNOTSUPP: return "-EOPNOTSUPP";
	case -EFBIG: return "-EFBIG";
	case -E2BIG: return "-E2BIG";
	case -EMFILE: return "-EMFILE";
	default:
		snprintf(buf, sizeof(buf), "%d", r);
		return buf;
	}
}

static struct kvm *new_kvm(bool ept5, unsigned max_pa)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	p.ept_5level = ept5;
	p.max_pa = max_pa;
	struct kvm *k = kvm_create(&p);
	assert_non_null(k);
	return k;
}

/* Destroy @vm and report (0) or complain (-1) if anything is left. */
static int destroy_clean(struct kvm *k, struct kvm_vm *vm, const char *what)
{
	int r = kvm_destroy_vm(vm);
	uint64_t alloc = kvm_hostmem(k)->allocated, pamt = test_pamt_in_use(kvm_module(k));
	if (r || alloc || pamt) {
		print_error("%s: teardown: kvm_destroy_vm %s, %llu host pages still allocated, "
			    "%llu PAMT entries not NDA\n", what, ename(r), (unsigned long long)alloc,
			    (unsigned long long)pamt);
		return -1;
	}
	return 0;
}

static void fill_image(uint8_t *img, size_t len, unsigned salt)
{
	for (size_t i = 0; i < len; i++)
		img[i] = (uint8_t)((i * 131 + (i >> 12) * 7 + salt * 29 + 1) & 0xff);
}

/* ------------------------------------------------------------------ */
/* table machinery                                                     */
/* ------------------------------------------------------------------ */

enum stage {
	ST_NEW,		/* KVM_CREATE_VM (+ memslot 0, guest_memfd 0, private) */
	ST_INIT,	/* ... + INIT_VM */
	ST_VCPU,	/* ... + vCPU 0 created and INIT_VCPU'd */
	ST_FINAL,	/* ... + FINALIZE */
};

struct cfg {
	enum stage stage;
	enum kvm_build_flow flow;
	unsigned maxpa;		/* guest MAXPHYADDR for INIT_VM; 0: 48 */
	uint16_t max_vcpus;	/* INIT_VM max_vcpus; 0: default */
};

struct env {
	struct kvm *k;
	struct kvm_vm *vm;
};

/* Memslot @slot at [gpa, gpa + size): a guest_memfd of that size, all private. */
static int add_ram(struct kvm_vm *vm, int slot, uint64_t gpa, uint64_t size)
{
	int fd = kvm_vmm_add_private_ram(vm, slot, gpa, size);
	return fd < 0 ? fd : 0;
}

static int del_slot(struct kvm_vm *vm, int slot)
{
	struct kvm_userspace_memory_region2 r = { .slot = (uint32_t)slot };
	return kvm_set_user_memory_region2(vm, &r);
}

/* Every stage has memslot 0 at [0, 4 MiB) on guest_memfd 0, all private. */
static int env_setup(struct env *e, struct kvm *k, const struct cfg *c)
{
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	if (kvm_policy_set(&pol, "build", c->flow == BUILD_PREFAULT ? "prefault" : "populate"))
		return -1;
	e->k = k;
	e->vm = kvm_create_vm(k, &pol);
	if (!e->vm)
		return -1;
	if (kvm_vmm_add_private_ram(e->vm, 0, 0, SLOT0_SIZE) != 0)
		return -2;
	if (c->stage == ST_NEW)
		return 0;
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, c->maxpa ? c->maxpa : 48);
	init.max_vcpus = c->max_vcpus;
	if (kvm_tdx_init_vm(e->vm, &init))
		return -4;
	if (c->stage == ST_INIT)
		return 0;
	if (kvm_create_vcpu(e->vm) != 0 || kvm_tdx_init_vcpu(e->vm, 0))
		return -5;
	if (c->stage == ST_VCPU)
		return 0;
	return kvm_tdx_finalize_vm(e->vm) ? -6 : 0;
}

struct row {
	const char *name;
	struct cfg cfg;
	int (*prep)(struct kvm_vm *vm);	/* optional extra setup, 0 on success */
	int64_t i;			/* slot, vCPU id or variant */
	uint64_t a, b;			/* GPA/offset, size/length/pages */
	bool flag;			/* NULL pointer, private, ... (per table) */
	int want;
};

typedef int (*row_call)(struct env *e, const struct row *r);

static void run_table(const char *table, const struct row *rows, size_t n, row_call call)
{
	struct kvm *k = new_kvm(true, 52);
	int failures = 0;
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		struct env e = { 0 };
		int s = env_setup(&e, k, &r->cfg);
		if (s) {
			print_error("%s: row \"%s\": setup failed at step %d\n", table, r->name, s);
			failures++;
		} else if (r->prep && r->prep(e.vm)) {
			print_error("%s: row \"%s\": preparation failed\n", table, r->name);
			failures++;
		} else {
			int got = call(&e, r);
			if (got != r->want) {
				print_error("%s: row \"%s\": got %s, want %s\n", table, r->name,
					    ename(got), ename(r->want));
				failures++;
			}
		}
		if (e.vm && destroy_clean(k, e.vm, r->name))
			failures++;
	}
	kvm_destroy(k);
	if (failures)
		fail_msg("%s: %d row(s) failed", table, failures);
}

#define RUN_TABLE(name, rows, call) run_table((name), (rows), sizeof(rows) / sizeof((rows)[0]), (call))

/* ---- preparations ---- */

static _Alignas(4096) uint8_t src_pages[4 * 4096];

static int prep_create_vcpu(struct kvm_vm *vm)
{
	return kvm_create_vcpu(vm) >= 0 ? 0 : -1;
}

/* vCPU 1 is created (not initialized) and then the TD is finalized. */
static int prep_vcpu1_then_finalize(struct kvm_vm *vm)
{
	if (kvm_create_vcpu(vm) != 1)
		return -1;
	return kvm_tdx_finalize_vm(vm);
}

static int prep_max_vcpus(struct kvm_vm *vm)
{
	for (int i = 0; i < 256; i++)
		if (kvm_create_vcpu(vm) != i)
			return -1;
	return 0;
}

/* A refused INIT_VM (unsupported attribute) must leave the VM untouched. */
static int prep_refused_init_vm(struct kvm_vm *vm)
{
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	init.attributes |= TD_ATTR_DEBUG;
	return kvm_tdx_init_vm(vm, &init) == -EINVAL ? 0 : -1;
}

static int prep_delete_slot0(struct kvm_vm *vm)
{
	return del_slot(vm, 0);
}

/* slot 1: the last 2 MiB below the shared bit of a 48-bit TD */
static int prep_slot_below_bit47(struct kvm_vm *vm)
{
	return add_ram(vm, 1, BIT47 - 2 * SZ_1M, 2 * SZ_1M);
}

static int prep_page0_shared(struct kvm_vm *vm)
{
	return kvm_set_memory_attributes(vm, 0, SZ_4K, 0);
}

/* INIT_MEM_REGION of @n pages at @gpa through vCPU 0, measured. */
static int init_mem(struct kvm_vm *vm, uint64_t gpa, const void *src, uint64_t n)
{
	struct kvm_tdx_init_mem_region r = { src, gpa, n };
	return kvm_tdx_init_mem_region(vm, 0, KVM_TDX_MEASURE_MEMORY_REGION, &r);
}

/* PRE_FAULT_MEMORY of [gpa, gpa + size) through vCPU 0; 0 only if all of it was mapped. */
static int pre_fault(struct kvm_vm *vm, uint64_t gpa, uint64_t size)
{
	struct kvm_pre_fault_memory r = { gpa, size, 0 };
	int e = kvm_pre_fault_memory(vm, 0, &r);
	return e ? e : r.size ? -EAGAIN : 0;
}

static int prep_add_page0(struct kvm_vm *vm)
{
	return init_mem(vm, 0, src_pages, 1);
}

static int prep_prefault_page0(struct kvm_vm *vm)
{
	return pre_fault(vm, 0, SZ_4K);
}

static int prep_prefault_add_page0(struct kvm_vm *vm)
{
	int r = pre_fault(vm, 0, SZ_4K);
	return r ? r : init_mem(vm, 0, src_pages, 1);
}

/* vCPU 0 exists and is initialized, and so does vCPU 1 (after INIT_VM). */
static int prep_vcpu1(struct kvm_vm *vm)
{
	return kvm_create_vcpu(vm) == 1 && kvm_tdx_init_vcpu(vm, 1) == 0 ? 0 : -1;
}

/* slot 1 at [8 MiB, 10 MiB) without guest_memfd, its attributes private */
static int prep_shared_slot1(struct kvm_vm *vm)
{
	struct kvm_userspace_memory_region2 r = { .slot = 1, .guest_phys_addr = 8 * SZ_1M,
						  .memory_size = 2 * SZ_1M };
	int e = kvm_set_user_memory_region2(vm, &r);
	return e ? e : kvm_set_memory_attributes(vm, 8 * SZ_1M, 2 * SZ_1M,
						 KVM_MEMORY_ATTRIBUTE_PRIVATE);
}

/* ------------------------------------------------------------------ */
/* 1. error tables                                                     */
/* ------------------------------------------------------------------ */

static int call_caps(struct env *e, const struct row *r)
{
	struct kvm_tdx_capabilities caps;
	return kvm_tdx_capabilities(e->k, r->flag ? NULL : &caps);
}

static void test_caps(void **state)
{
	(void)state;
	BANNER("KVM_TDX_CAPABILITIES: NULL is -EFAULT; only SEPT_VE_DISABLE; GPAW 52 iff 5-level EPT");
	static const struct row rows[] = {
		{ .name = "valid buffer", .cfg = { ST_NEW }, .want = 0 },
		{ .name = "NULL buffer (copy_to_user fails)", .cfg = { ST_NEW }, .flag = true,
		  .want = -EFAULT },
		{ .name = "valid buffer after FINALIZE", .cfg = { ST_FINAL }, .want = 0 },
	};
	RUN_TABLE("KVM_TDX_CAPABILITIES", rows, call_caps);

	/* contents: the reference says upstream only offers SEPT_VE_DISABLE */
	static const struct { bool ept5; unsigned max_pa; bool gpaw52; } plat[] = {
		{ true, 52, true }, { true, 48, false }, { false, 52, false }, { false, 46, false },
	};
	for (size_t i = 0; i < sizeof(plat) / sizeof(plat[0]); i++) {
		struct kvm *k = new_kvm(plat[i].ept5, plat[i].max_pa);
		struct kvm_tdx_capabilities caps;
		memset(&caps, 0xa5, sizeof(caps));
		assert_int_equal(kvm_tdx_capabilities(k, &caps), 0);
		assert_int_equal(caps.supported_attrs, TD_ATTR_SEPT_VE_DISABLE);
		assert_true((caps.supported_xfam & TDX_XFAM_FIXED1) == TDX_XFAM_FIXED1);
		assert_int_equal(caps.supported_xfam & ~TDX_XFAM_FIXED0, 0);
		assert_true(caps.max_vcpus_per_td >= 1);
		if (caps.gpaw_52 != plat[i].gpaw52) {
			print_error("platform ept5=%d max_pa=%u: gpaw_52 %d, want %d\n", plat[i].ept5,
				    plat[i].max_pa, caps.gpaw_52, plat[i].gpaw52);
			fail();
		}
		kvm_destroy(k);
	}
}

enum init_vm_variant {
	IV_DEFAULT,	/* kvm_tdx_init_vm_default(48) */
	IV_NULL,
	IV_ATTR_BIT5,	/* an attribute bit with no meaning */
	IV_ATTR_DEBUG,	/* a TDX attribute KVM does not offer */
	IV_ATTR_PERFMON,
	IV_ATTR_NONE,	/* SEPT_VE_DISABLE off: a subset of the supported attributes */
	IV_XFAM_BIT3,	/* outside the supported XFAM */
	IV_NENT_NEG,
	IV_NENT_BIG,
	IV_NENT_MAX,	/* exactly KVM_TDX_MAX_CPUID entries */
	IV_MAXV_257,
	IV_MAXV_256,
	IV_NO_LEAF,
	IV_MAXPA_46,
};

static int call_init_vm(struct env *e, const struct row *r)
{
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	switch ((enum init_vm_variant)r->i) {
	case IV_DEFAULT: break;
	case IV_NULL: return kvm_tdx_init_vm(e->vm, NULL);
	case IV_ATTR_BIT5: init.attributes |= 1ull << 5; break;
	case IV_ATTR_DEBUG: init.attributes |= TD_ATTR_DEBUG; break;
	case IV_ATTR_PERFMON: init.attributes |= TD_ATTR_PERFMON; break;
	case IV_ATTR_NONE: init.attributes = 0; break;
	case IV_XFAM_BIT3: init.xfam |= 1ull << 3; break;
	case IV_NENT_NEG: init.nent = -1; break;
	case IV_NENT_BIG: init.nent = KVM_TDX_MAX_CPUID + 1; break;
	case IV_NENT_MAX:
		init.nent = KVM_TDX_MAX_CPUID;
		for (int i = 1; i < KVM_TDX_MAX_CPUID; i++)
			init.entries[i] = (struct kvm_cpuid_entry){ .function = 0x40000000u + (uint32_t)i };
		break;
	case IV_MAXV_257: init.max_vcpus = 257; break;
	case IV_MAXV_256: init.max_vcpus = 256; break;
	case IV_NO_LEAF: init.nent = 0; break;
	case IV_MAXPA_46: kvm_tdx_init_vm_default(&init, 46); break;
	}
	return kvm_tdx_init_vm(e->vm, &init);
}

static void test_init_vm_errors(void **state)
{
	(void)state;
	BANNER("KVM_TDX_INIT_VM error table: state, attributes, XFAM, CPUID, max_vcpus");
	static const struct row rows[] = {
		{ "fresh VM, defaults", { ST_NEW }, NULL, IV_DEFAULT, .want = 0 },
		{ "twice", { ST_INIT }, NULL, IV_DEFAULT, .want = -EINVAL },
		{ "after FINALIZE (vCPUs exist)", { ST_FINAL }, NULL, IV_DEFAULT, .want = -EBUSY },
		{ "a vCPU already exists (after INIT_VM)", { ST_VCPU }, NULL, IV_DEFAULT,
		  .want = -EBUSY },
		{ "NULL argument", { ST_NEW }, NULL, IV_NULL, .want = -EFAULT },
		{ "unknown attribute bit 5", { ST_NEW }, NULL, IV_ATTR_BIT5, .want = -EINVAL },
		{ "attribute DEBUG (not offered)", { ST_NEW }, NULL, IV_ATTR_DEBUG, .want = -EINVAL },
		{ "attribute PERFMON (not offered)", { ST_NEW }, NULL, IV_ATTR_PERFMON,
		  .want = -EINVAL },
		{ "no attributes", { ST_NEW }, NULL, IV_ATTR_NONE, .want = 0 },
		{ "XFAM bit 3 unsupported", { ST_NEW }, NULL, IV_XFAM_BIT3, .want = -EINVAL },
		{ "nent -1", { ST_NEW }, NULL, IV_NENT_NEG, .want = -EINVAL },
		{ "nent 33: more than KVM_MAX_CPUID_ENTRIES", { ST_NEW }, NULL, IV_NENT_BIG,
		  .want = -E2BIG },
		{ "nent 32", { ST_NEW }, NULL, IV_NENT_MAX, .want = 0 },
		{ "max_vcpus 257", { ST_NEW }, NULL, IV_MAXV_257, .want = -EINVAL },
		{ "max_vcpus 256", { ST_NEW }, NULL, IV_MAXV_256, .want = 0 },
		{ "no CPUID 0x80000008", { ST_NEW }, NULL, IV_NO_LEAF, .want = -EINVAL },
		{ "guest MAXPHYADDR 46", { ST_NEW }, NULL, IV_MAXPA_46, .want = -EINVAL },
		{ "valid after a refused one", { ST_NEW }, prep_refused_init_vm, IV_DEFAULT,
		  .want = 0 },
	};
	RUN_TABLE("KVM_TDX_INIT_VM", rows, call_init_vm);
}

static int call_create_vcpu(struct env *e, const struct row *r)
{
	(void)r;
	return kvm_create_vcpu(e->vm);
}

static void test_create_vcpu_errors(void **state)
{
	(void)state;
	BANNER("KVM_CREATE_VCPU error table: ids in order, max_vcpus and KVM_MAX_VCPUS");
	static const struct row rows[] = {
		/* tdx_vcpu_create(): only between INIT_VM and FINALIZE */
		{ "before INIT_VM", { ST_NEW }, .want = -EIO },
		{ "after FINALIZE", { ST_FINAL }, .want = -EIO },
		{ "first vCPU after INIT_VM is id 0", { ST_INIT }, .want = 0 },
		{ "second vCPU is id 1", { ST_VCPU }, .want = 1 },
		{ "max_vcpus 2: second fits", { ST_VCPU, .max_vcpus = 2 }, .want = 1 },
		{ "max_vcpus 1: second refused", { ST_VCPU, .max_vcpus = 1 }, .want = -EINVAL },
		{ "257th vCPU (KVM_MAX_VCPUS 256)", { ST_INIT }, prep_max_vcpus, .want = -EINVAL },
	};
	RUN_TABLE("KVM_CREATE_VCPU", rows, call_create_vcpu);
}

static int call_init_vcpu(struct env *e, const struct row *r)
{
	return kvm_tdx_init_vcpu(e->vm, (int)r->i);
}

static void test_init_vcpu_errors(void **state)
{
	(void)state;
	BANNER("KVM_TDX_INIT_VCPU error table: before INIT_VM, twice, after FINALIZE, no vCPU");
	static const struct row rows[] = {
		{ "after INIT_VM", { ST_INIT }, prep_create_vcpu, 0, .want = 0 },
		{ "before INIT_VM (no vCPU can exist)", { ST_NEW }, NULL, 0, .want = -ENOENT },
		{ "twice", { ST_VCPU }, NULL, 0, .want = -EINVAL },
		{ "after FINALIZE (vCPU 0, initialized)", { ST_FINAL }, NULL, 0, .want = -EINVAL },
		{ "after FINALIZE (vCPU 1, created before)", { ST_VCPU }, prep_vcpu1_then_finalize,
		  1, .want = -EINVAL },
		{ "no vCPU with id 1", { ST_VCPU }, NULL, 1, .want = -ENOENT },
		{ "negative id", { ST_VCPU }, NULL, -1, .want = -ENOENT },
		{ "no vCPU at all", { ST_INIT }, NULL, 0, .want = -ENOENT },
	};
	RUN_TABLE("KVM_TDX_INIT_VCPU", rows, call_init_vcpu);
}

/*
 * Slot @i at [a, a + b): a new guest_memfd of (at least) that size bound at
 * offset 0; with @flag a shared-only slot (no guest_memfd); b = 0 deletes.
 */
static int call_set_mem_region(struct env *e, const struct row *r)
{
	struct kvm_userspace_memory_region2 m = {
		.slot = (uint32_t)r->i, .guest_phys_addr = r->a, .memory_size = r->b,
	};
	if (r->b && !r->flag) {
		uint64_t sz = (r->b + SZ_4K - 1) & ~(SZ_4K - 1);
		int fd = kvm_create_guest_memfd(e->vm, sz && sz < (1ull << 62) ? sz : SZ_4K, 0);
		if (fd < 0)
			return fd;
		m.flags = KVM_MEM_GUEST_MEMFD;
		m.guest_memfd = fd;
	}
	return kvm_set_user_memory_region2(e->vm, &m);
}

static void test_memslot_errors(void **state)
{
	(void)state;
	BANNER("KVM_SET_USER_MEMORY_REGION2 error table: slot ids, alignment, overlap, shared bit");
	/* slot 0 is [0, 4 MiB) in every row */
	static const struct row rows[] = {
		{ "slot -1", { ST_INIT }, NULL, -1, 8 * SZ_1M, 2 * SZ_1M, .want = -EINVAL },
		{ "slot 16 (KVM_MAX_MEMSLOTS)", { ST_INIT }, NULL, 16, 8 * SZ_1M, 2 * SZ_1M,
		  .want = -EINVAL },
		{ "slot 15", { ST_INIT }, NULL, 15, 8 * SZ_1M, 2 * SZ_1M, .want = 0 },
		{ "misaligned GPA", { ST_INIT }, NULL, 1, 8 * SZ_1M + 0x800, 2 * SZ_1M,
		  .want = -EINVAL },
		{ "misaligned size", { ST_INIT }, NULL, 1, 8 * SZ_1M, 2 * SZ_1M + 0x10,
		  .want = -EINVAL },
		{ "GPA + size wraps", { ST_INIT }, NULL, 1, ~0xfffull, 2 * SZ_4K, .want = -EINVAL },
		/* KVM_MEM_MAX_NR_PAGES: 2^31 - 1 pages, checked before anything else */
		{ "2^31 pages (8 TiB), before INIT_VM", { ST_NEW }, NULL, 1, 1ull << 44, 1ull << 43,
		  .want = -EINVAL },
		{ "2^31 - 1 pages, 52-bit TD", { ST_INIT, .maxpa = 52 }, NULL, 1, 1ull << 44,
		  (1ull << 43) - SZ_4K, .want = 0 },
		{ "delete an unused slot", { ST_INIT }, NULL, 1, 0, 0, .want = -EINVAL },
		{ "delete slot 0", { ST_INIT }, NULL, 0, 0, 0, .want = 0 },
		{ "delete slot 0 after FINALIZE", { ST_FINAL }, NULL, 0, 0, 0, .want = 0 },
		{ "delete slot 0 twice", { ST_INIT }, prep_delete_slot0, 0, 0, 0, .want = -EINVAL },
		{ "slot 1 overlaps slot 0", { ST_INIT }, NULL, 1, 2 * SZ_1M, 4 * SZ_1M,
		  .want = -EEXIST },
		{ "slot 1 = slot 0's range", { ST_INIT }, NULL, 1, 0, SLOT0_SIZE, .want = -EEXIST },
		{ "slot 1 adjacent to slot 0", { ST_INIT }, NULL, 1, SLOT0_SIZE, 2 * SZ_1M, .want = 0 },
		{ "slot 1 before INIT_VM", { ST_NEW }, NULL, 1, SLOT0_SIZE, 2 * SZ_1M, .want = 0 },
		{ "slot 1 after FINALIZE (hotplug)", { ST_FINAL }, NULL, 1, 8 * SZ_1M, 2 * SZ_1M,
		  .want = 0 },
		/* KVM: "Private memslots are immutable, they can only be deleted" -> -EINVAL */
		{ "move guest_memfd slot 0", { ST_INIT }, NULL, 0, 8 * SZ_1M, SLOT0_SIZE,
		  .want = -EINVAL },
		{ "48-bit TD: GPA with shared bit 47", { ST_INIT }, NULL, 1, BIT47, 2 * SZ_1M,
		  .want = -EINVAL },
		{ "48-bit TD: range ends above bit 47", { ST_INIT }, NULL, 1, BIT47 - 2 * SZ_1M,
		  4 * SZ_1M, .want = -EINVAL },
		{ "48-bit TD: GPA above 48 bits", { ST_INIT }, NULL, 1, 1ull << 48, 2 * SZ_1M,
		  .want = -EINVAL },
		/* before INIT_VM only the host MAX_PA (52) bounds it; INIT_VM checks later */
		{ "before INIT_VM: GPA 2^48", { ST_NEW }, NULL, 1, 1ull << 48, 2 * SZ_1M, .want = 0 },
		{ "before INIT_VM: above the host MAX_PA", { ST_NEW }, NULL, 1, 1ull << 52, 2 * SZ_1M,
		  .want = -EINVAL },
		{ "shared-only slot (no guest_memfd)", { ST_INIT }, NULL, 1, 8 * SZ_1M, 2 * SZ_1M,
		  true, .want = 0 },
		{ "shared-only slot after FINALIZE", { ST_FINAL }, NULL, 1, 8 * SZ_1M, 2 * SZ_1M,
		  true, .want = 0 },
		{ "48-bit TD: last 2 MiB below bit 47", { ST_INIT }, NULL, 1, BIT47 - 2 * SZ_1M,
		  2 * SZ_1M, .want = 0 },
		{ "52-bit TD: bit 47 is a private GPA", { ST_INIT, .maxpa = 52 }, NULL, 1, BIT47,
		  2 * SZ_1M, .want = 0 },
		{ "52-bit TD: GPA with shared bit 51", { ST_INIT, .maxpa = 52 }, NULL, 1, BIT51,
		  2 * SZ_1M, .want = -EINVAL },
	};
	RUN_TABLE("KVM_SET_USER_MEMORY_REGION2", rows, call_set_mem_region);
}

/* flag: private; i = 1: an unknown attribute bit as well */
static int call_set_attr(struct env *e, const struct row *r)
{
	uint64_t attrs = (r->flag ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0) | (r->i ? 1ull << 0 : 0);
	return kvm_set_memory_attributes(e->vm, r->a, r->b, attrs);
}

static void test_attributes_errors(void **state)
{
	(void)state;
	BANNER("KVM_SET_MEMORY_ATTRIBUTES error table: alignment, size 0, wrap, shared bit");
	/* flag = private */
	static const struct row rows[] = {
		{ "shared [0, 4K)", { ST_INIT }, NULL, 0, 0, SZ_4K, false, 0 },
		{ "private [0, 4K)", { ST_INIT }, NULL, 0, 0, SZ_4K, true, 0 },
		{ "before INIT_VM", { ST_NEW }, NULL, 0, 0, SZ_4K, false, 0 },
		{ "after FINALIZE", { ST_FINAL }, NULL, 0, 0, SZ_4K, false, 0 },
		{ "no memslot (attributes exist without slots)", { ST_INIT }, NULL, 0, GPA_NO_SLOT,
		  SZ_4K, false, 0 },
		{ "misaligned GPA", { ST_INIT }, NULL, 0, 0x800, SZ_4K, false, -EINVAL },
		{ "misaligned size", { ST_INIT }, NULL, 0, 0, 0x800, false, -EINVAL },
		{ "size 0", { ST_INIT }, NULL, 0, 0, 0, false, -EINVAL },
		{ "GPA + size wraps", { ST_INIT }, NULL, 0, ~0xfffull, 2 * SZ_4K, false, -EINVAL },
		/* costs what the slots hold, not what the range spans */
		{ "52-bit TD: 2^50 bytes from 0, private", { ST_INIT, .maxpa = 52 }, NULL, 0, 0,
		  1ull << 50, true, 0 },
		{ "after FINALIZE: 2^46 bytes from 0, shared", { ST_FINAL }, NULL, 0, 0, 1ull << 46,
		  false, 0 },
		{ "48-bit TD: shared GPA", { ST_INIT }, NULL, 0, BIT47, SZ_4K, false, -EINVAL },
		{ "48-bit TD: shared GPA, after FINALIZE", { ST_FINAL }, NULL, 0, BIT47, SZ_4K, true,
		  -EINVAL },
		{ "52-bit TD: shared GPA (bit 51)", { ST_INIT, .maxpa = 52 }, NULL, 0, BIT51, SZ_4K,
		  false, -EINVAL },
		{ "unknown attribute bit 0", { ST_INIT }, NULL, 1, 0, SZ_4K, true, -EINVAL },
		{ "after the slot was deleted", { ST_INIT }, prep_delete_slot0, 0, 0, SZ_4K, true, 0 },
	};
	RUN_TABLE("KVM_SET_MEMORY_ATTRIBUTES", rows, call_set_attr);
}

static int call_punch(struct env *e, const struct row *r)
{
	return kvm_gmem_punch_hole(e->vm, (int)r->i, r->a, r->b);
}

static void test_punch_hole_errors(void **state)
{
	(void)state;
	BANNER("guest_memfd PUNCH_HOLE error table: descriptor, alignment, length");
	static const struct row rows[] = {
		{ "first page of slot 0", { ST_INIT }, NULL, 0, 0, SZ_4K, .want = 0 },
		{ "whole slot 0 after FINALIZE", { ST_FINAL }, NULL, 0, 0, SLOT0_SIZE, .want = 0 },
		{ "before INIT_VM", { ST_NEW }, NULL, 0, 0, SZ_4K, .want = 0 },
		/* punching beyond EOF is not an error for fallocate(2) */
		{ "beyond the end of the file", { ST_INIT }, NULL, 0, 2 * SLOT0_SIZE, SZ_4K,
		  .want = 0 },
		{ "fd -1", { ST_INIT }, NULL, -1, 0, SZ_4K, .want = -EBADF },
		{ "fd 32 (past the table)", { ST_INIT }, NULL, KVM_MAX_GMEMS, 0, SZ_4K,
		  .want = -EBADF },
		{ "misaligned offset", { ST_INIT }, NULL, 0, 0x800, SZ_4K, .want = -EINVAL },
		{ "misaligned length", { ST_INIT }, NULL, 0, 0, 0x800, .want = -EINVAL },
		{ "length 0", { ST_INIT }, NULL, 0, 0, 0, .want = -EINVAL },
		/* fallocate(2): a negative offset (bit 63 set as loff_t) is EINVAL */
		{ "offset + length wraps", { ST_INIT }, NULL, 0, ~0xfffull, 2 * SZ_4K,
		  .want = -EINVAL },
		{ "an fd never created", { ST_INIT }, NULL, 1, 0, SZ_4K, .want = -EBADF },
		/* the file outlives its binding (the VMM still holds the fd) */
		{ "fd 0 after slot 0 was deleted", { ST_INIT }, prep_delete_slot0, 0, 0, SZ_4K,
		  .want = 0 },
	};
	RUN_TABLE("PUNCH_HOLE", rows, call_punch);
}

enum { IM_BAD_FLAGS = 100, IM_BAD_SOURCE };

/* i: the vCPU, or IM_BAD_FLAGS / IM_BAD_SOURCE through vCPU 0; flag: NULL source */
static int call_init_mem(struct env *e, const struct row *r)
{
	struct kvm_tdx_init_mem_region reg = { r->flag ? NULL : src_pages, r->a, r->b };
	uint32_t flags = KVM_TDX_MEASURE_MEMORY_REGION;
	int vcpu = (int)r->i;
	if (r->i == IM_BAD_FLAGS)
		flags |= 2;
	if (r->i == IM_BAD_SOURCE)
		reg.source = src_pages + 8;
	if (r->i >= IM_BAD_FLAGS)
		vcpu = 0;
	return kvm_tdx_init_mem_region(e->vm, vcpu, flags, &reg);
}

static void test_init_mem_region_errors(void **state)
{
	(void)state;
	BANNER("KVM_TDX_INIT_MEM_REGION error table: state, alignment, wrap, shared, flows");
	/* flag = NULL source */
	static const struct row rows[] = {
		{ "populate: one page", { ST_VCPU }, NULL, 0, 0, 1, .want = 0 },
		{ "populate: four pages", { ST_VCPU }, NULL, 0, SZ_4K, 4, .want = 0 },
		{ "before INIT_VM", { ST_NEW }, NULL, 0, 0, 1, .want = -EINVAL },
		{ "after FINALIZE", { ST_FINAL }, NULL, 0, 0, 1, .want = -EINVAL },
		/* a vCPU ioctl: the vCPU must exist and be initialized */
		{ "no vCPU yet", { ST_INIT }, NULL, 0, 0, 1, .want = -EINVAL },
		{ "vCPU created, not initialized", { ST_INIT }, prep_create_vcpu, 0, 0, 1,
		  .want = -EINVAL },
		{ "through vCPU 1", { ST_VCPU }, prep_vcpu1, 1, 0, 1, .want = 0 },
		{ "unknown flag", { ST_VCPU }, NULL, IM_BAD_FLAGS, 0, 1, .want = -EINVAL },
		{ "misaligned source", { ST_VCPU }, NULL, IM_BAD_SOURCE, 0, 1, .want = -EINVAL },
		{ "a shared-only slot", { ST_VCPU }, prep_shared_slot1, 0, 8 * SZ_1M, 1,
		  .want = -EINVAL },
		{ "misaligned GPA", { ST_VCPU }, NULL, 0, 0x800, 1, .want = -EINVAL },
		{ "zero pages", { ST_VCPU }, NULL, 0, 0, 0, .want = -EINVAL },
		{ "GPA + pages wraps", { ST_VCPU }, NULL, 0, ~0xfffull, 2, .want = -EINVAL },
		/* KVM: get_user_pages() on a bad source address fails with EFAULT */
		{ "NULL source", { ST_VCPU }, NULL, 0, 0, 1, true, .want = -EFAULT },
		{ "48-bit TD: shared GPA", { ST_VCPU }, NULL, 0, BIT47, 1, .want = -EINVAL },
		{ "48-bit TD: range runs into the shared half", { ST_VCPU }, prep_slot_below_bit47,
		  0, BIT47 - SZ_4K, 2, .want = -EINVAL },
		{ "no memslot", { ST_VCPU }, NULL, 0, GPA_NO_SLOT, 1, .want = -EINVAL },
		{ "GPA with the shared attribute", { ST_VCPU }, prep_page0_shared, 0, 0, 1,
		  .want = -EINVAL },
		{ "populate: page added twice", { ST_VCPU }, prep_add_page0, 0, 0, 1,
		  .want = -EEXIST },
		{ "prefault: not pre-faulted", { ST_VCPU, BUILD_PREFAULT }, NULL, 0, 0, 1,
		  .want = -EINVAL },
		{ "prefault: pre-faulted", { ST_VCPU, BUILD_PREFAULT }, prep_prefault_page0, 0, 0, 1,
		  .want = 0 },
		{ "prefault: pre-faulted page added twice", { ST_VCPU, BUILD_PREFAULT },
		  prep_prefault_add_page0, 0, 0, 1, .want = -EINVAL },
		{ "prefault: after FINALIZE", { ST_FINAL, BUILD_PREFAULT }, NULL, 0, 0, 1,
		  .want = -EINVAL },
	};
	RUN_TABLE("KVM_TDX_INIT_MEM_REGION", rows, call_init_mem);
}

static int call_finalize(struct env *e, const struct row *r)
{
	(void)r;
	return kvm_tdx_finalize_vm(e->vm);
}

static void test_finalize_errors(void **state)
{
	(void)state;
	BANNER("KVM_TDX_FINALIZE_VM error table: state, vCPUs (an MR.FINALIZE error is -EIO), "
	       "pre-faulted pages");
	static const struct row rows[] = {
		{ "initialized vCPU", { ST_VCPU }, .want = 0 },
		{ "before INIT_VM", { ST_NEW }, .want = -EINVAL },
		/* MR.FINALIZE fails with NO_VCPUS: KVM_BUG_ON, -EIO, the VM is dead */
		{ "no vCPU", { ST_INIT }, .want = -EIO },
		{ "vCPU created, not initialized", { ST_INIT }, prep_create_vcpu, .want = -EIO },
		{ "twice", { ST_FINAL }, .want = -EINVAL },
		{ "populate: after INIT_MEM_REGION", { ST_VCPU }, prep_add_page0, .want = 0 },
		{ "prefault: nothing pre-faulted", { ST_VCPU, BUILD_PREFAULT }, .want = 0 },
		{ "prefault: pre-faulted page not added", { ST_VCPU, BUILD_PREFAULT },
		  prep_prefault_page0, .want = -EINVAL },
		{ "prefault: pre-faulted page added", { ST_VCPU, BUILD_PREFAULT },
		  prep_prefault_add_page0, .want = 0 },
	};
	RUN_TABLE("KVM_TDX_FINALIZE_VM", rows, call_finalize);
}

/* i: the vCPU; flag: flags = 1 */
static int call_prefault(struct env *e, const struct row *r)
{
	struct kvm_pre_fault_memory pf = { r->a, r->b, r->flag ? 1 : 0 };
	return kvm_pre_fault_memory(e->vm, (int)r->i, &pf);
}

static void test_pre_fault_errors(void **state)
{
	(void)state;
	BANNER("KVM_PRE_FAULT_MEMORY error table: not allowed yet, alignment, shared, no slot");
	static const struct row rows[] = {
		{ "after FINALIZE", { ST_FINAL }, NULL, 0, 0, SZ_4K, .want = 0 },
		{ "after FINALIZE, whole slot", { ST_FINAL }, NULL, 0, 0, SLOT0_SIZE, .want = 0 },
		{ "after FINALIZE, already mapped", { ST_FINAL }, prep_prefault_page0, 0, 0, SZ_4K,
		  .want = 0 },
		{ "populate: before FINALIZE", { ST_VCPU }, NULL, 0, 0, SZ_4K,
		  .want = -EOPNOTSUPP },
		/* a vCPU ioctl */
		{ "after INIT_VM, no vCPU", { ST_INIT }, NULL, 0, 0, SZ_4K, .want = -EINVAL },
		{ "no TD yet (before INIT_VM)", { ST_NEW }, NULL, 0, 0, SZ_4K, .want = -EINVAL },
		{ "no vCPU 1", { ST_FINAL }, NULL, 1, 0, SZ_4K, .want = -EINVAL },
		{ "flags 1", { ST_FINAL }, NULL, 0, 0, SZ_4K, true, .want = -EINVAL },
		{ "prefault: before FINALIZE", { ST_VCPU, BUILD_PREFAULT }, NULL, 0, 0, SZ_4K,
		  .want = 0 },
		{ "prefault: after FINALIZE", { ST_FINAL, BUILD_PREFAULT }, NULL, 0, 0, SZ_4K,
		  .want = 0 },
		{ "misaligned GPA", { ST_FINAL }, NULL, 0, 0x800, SZ_4K, .want = -EINVAL },
		{ "misaligned size", { ST_FINAL }, NULL, 0, 0, 0x800, .want = -EINVAL },
		{ "size 0", { ST_FINAL }, NULL, 0, 0, 0, .want = -EINVAL },
		{ "GPA + size wraps", { ST_FINAL }, NULL, 0, ~0xfffull, 2 * SZ_4K, .want = -EINVAL },
		{ "48-bit TD: shared GPA", { ST_FINAL }, NULL, 0, BIT47, SZ_4K, .want = -EINVAL },
		{ "prefault: shared GPA", { ST_VCPU, BUILD_PREFAULT }, NULL, 0, BIT47, SZ_4K,
		  .want = -EINVAL },
		{ "52-bit TD: shared GPA (bit 51)", { ST_FINAL, .maxpa = 52 }, NULL, 0, BIT51,
		  SZ_4K, .want = -EINVAL },
		{ "52-bit TD: bit 47 is private, no memslot", { ST_FINAL, .maxpa = 52 }, NULL, 0,
		  BIT47, SZ_4K, .want = -ENOENT },
		{ "no memslot", { ST_FINAL }, NULL, 0, GPA_NO_SLOT, SZ_4K, .want = -ENOENT },
		{ "slot deleted", { ST_FINAL }, prep_delete_slot0, 0, 0, SZ_4K, .want = -ENOENT },
		{ "prefault: no memslot", { ST_VCPU, BUILD_PREFAULT }, NULL, 0, GPA_NO_SLOT, SZ_4K,
		  .want = -ENOENT },
		/* mapped in the direct root */
		{ "GPA with the shared attribute", { ST_FINAL }, prep_page0_shared, 0, 0, SZ_4K,
		  .want = 0 },
		/* a private GFN with no guest_memfd behind it: a memory-fault exit */
		{ "private GFN in a shared-only slot", { ST_FINAL }, prep_shared_slot1, 0, 8 * SZ_1M,
		  SZ_4K, .want = -EFAULT },
	};
	RUN_TABLE("KVM_PRE_FAULT_MEMORY", rows, call_prefault);
}

static void prog_nop(struct gvcpu *g, void *arg)
{
	(void)g;
	(void)arg;
}

static int call_run(struct env *e, const struct row *r)
{
	return kvm_vcpu_run(e->vm, (int)r->i, prog_nop, NULL);
}

static int prep_run_once(struct kvm_vm *vm)
{
	return kvm_vcpu_run(vm, 0, prog_nop, NULL);
}

static void test_vcpu_run_errors(void **state)
{
	(void)state;
	BANNER("KVM_RUN error table: TD not runnable, vCPU not initialized, bad id");
	static const struct row rows[] = {
		{ "after FINALIZE", { ST_FINAL }, NULL, 0, .want = 0 },
		{ "again after a run", { ST_FINAL }, prep_run_once, 0, .want = 0 },
		{ "before INIT_VM", { ST_NEW }, NULL, 0, .want = -EINVAL },
		{ "before INIT_VCPU", { ST_INIT }, prep_create_vcpu, 0, .want = -EINVAL },
		{ "before FINALIZE", { ST_VCPU }, NULL, 0, .want = -EINVAL },
		{ "vCPU 1 never initialized", { ST_VCPU }, prep_vcpu1_then_finalize, 1,
		  .want = -EINVAL },
		{ "no vCPU 1", { ST_FINAL }, NULL, 1, .want = -EINVAL },
		{ "negative id", { ST_FINAL }, NULL, -1, .want = -EINVAL },
	};
	RUN_TABLE("KVM_RUN", rows, call_run);
}

/*
 * INIT_MEM_REGION checks the range's first and last GPA for the shared bit
 * up front, then goes page by page and reports progress in the struct
 * (tdx_vcpu_init_mem_region() copies the region back on failure too).
 */
static void test_init_mem_region_progress(void **state)
{
	(void)state;
	BANNER("INIT_MEM_REGION: progress advances gpa/source/nr_pages, also when a page fails");
	struct kvm *k = new_kvm(true, 52);
	struct env e;
	struct cfg c = { ST_VCPU };
	assert_int_equal(env_setup(&e, k, &c), 0);
	/* 4 pages from 8K below the end of slot 0: two added, the third has no memslot */
	struct kvm_tdx_init_mem_region r = { src_pages, SLOT0_SIZE - 2 * SZ_4K, 4 };
	assert_int_equal(kvm_tdx_init_mem_region(e.vm, 0, KVM_TDX_MEASURE_MEMORY_REGION, &r),
			 -EINVAL);
	assert_int_equal(r.gpa, SLOT0_SIZE);
	assert_int_equal(r.nr_pages, 2);
	assert_ptr_equal(r.source, src_pages + 2 * 4096);
	assert_int_equal(kvm_vm_stats(e.vm)->page_adds, 2);
	assert_true(kvm_vm_private_mapped(e.vm, SLOT0_SIZE - SZ_4K));
	/* success consumes the whole region */
	r = (struct kvm_tdx_init_mem_region){ src_pages, 0, 3 };
	assert_int_equal(kvm_tdx_init_mem_region(e.vm, 0, 0, &r), 0);
	assert_int_equal(r.nr_pages, 0);
	assert_int_equal(r.gpa, 3 * SZ_4K);
	/* a range whose last GPA is shared adds nothing: checked before the loop */
	assert_int_equal(prep_slot_below_bit47(e.vm), 0);
	uint64_t adds = kvm_vm_stats(e.vm)->page_adds;
	r = (struct kvm_tdx_init_mem_region){ src_pages, BIT47 - SZ_4K, 2 };
	assert_int_equal(kvm_tdx_init_mem_region(e.vm, 0, 0, &r), -EINVAL);
	assert_int_equal(r.nr_pages, 2);
	assert_int_equal(kvm_vm_stats(e.vm)->page_adds, adds);
	assert_false(kvm_vm_private_mapped(e.vm, BIT47 - SZ_4K));
	assert_int_equal(destroy_clean(k, e.vm, "progress"), 0);
	kvm_destroy(k);
}

/* ------------------------------------------------------------------ */
/* 2. GPAW selection (seed 003)                                        */
/* ------------------------------------------------------------------ */

enum { P5_52, P5_48, P4_52, P4_46, NPLAT };

static const struct { bool ept5; unsigned max_pa; } gpaw_plat[NPLAT] = {
	[P5_52] = { true, 52 },
	[P5_48] = { true, 48 },
	[P4_52] = { false, 52 },
	[P4_46] = { false, 46 },
};

struct gpaw_row {
	int plat;
	unsigned guest_pa;	/* CPUID 0x80000008 EAX[23:16] */
	unsigned host_pa;	/* EAX[7:0] */
	bool present;		/* the leaf is in the CPUID list */
	int want;
	int levels;		/* when want == 0 */
	uint64_t shared;
};

#define G(p, g, h, w, l, s) { p, g, h, true, w, l, s }
#define GX(p) { p, 48, 46, false, -EINVAL, 0, 0 }

static const struct gpaw_row gpaw_rows[] = {
	/* only 48 and 52 are accepted; 48 -> 4 levels, shared bit 47 everywhere */
	G(P5_52, 48, 46, 0, 4, BIT47), G(P5_48, 48, 46, 0, 4, BIT47),
	G(P4_52, 48, 46, 0, 4, BIT47), G(P4_46, 48, 46, 0, 4, BIT47),
	/* 52 needs 5-level EPT and a host that can address 49+ bits */
	G(P5_52, 52, 46, 0, 5, BIT51), G(P5_48, 52, 46, -EINVAL, 0, 0),
	G(P4_52, 52, 46, -EINVAL, 0, 0), G(P4_46, 52, 46, -EINVAL, 0, 0),
	/* everything else is refused on every platform */
	G(P5_52, 36, 46, -EINVAL, 0, 0), G(P5_48, 36, 46, -EINVAL, 0, 0),
	G(P4_52, 36, 46, -EINVAL, 0, 0), G(P4_46, 36, 46, -EINVAL, 0, 0),
	G(P5_52, 39, 46, -EINVAL, 0, 0), G(P5_48, 39, 46, -EINVAL, 0, 0),
	G(P4_52, 39, 46, -EINVAL, 0, 0), G(P4_46, 39, 46, -EINVAL, 0, 0),
	G(P5_52, 46, 46, -EINVAL, 0, 0), G(P5_48, 46, 46, -EINVAL, 0, 0),
	G(P4_52, 46, 46, -EINVAL, 0, 0), G(P4_46, 46, 46, -EINVAL, 0, 0),
	G(P5_52, 49, 46, -EINVAL, 0, 0), G(P5_48, 49, 46, -EINVAL, 0, 0),
	G(P4_52, 49, 46, -EINVAL, 0, 0), G(P4_46, 49, 46, -EINVAL, 0, 0),
	G(P5_52, 51, 46, -EINVAL, 0, 0), G(P5_48, 51, 46, -EINVAL, 0, 0),
	G(P4_52, 51, 46, -EINVAL, 0, 0), G(P4_46, 51, 46, -EINVAL, 0, 0),
	G(P5_52, 57, 46, -EINVAL, 0, 0), G(P5_48, 57, 46, -EINVAL, 0, 0),
	G(P4_52, 57, 46, -EINVAL, 0, 0), G(P4_46, 57, 46, -EINVAL, 0, 0),
	G(P5_52, 0, 46, -EINVAL, 0, 0), G(P5_48, 0, 46, -EINVAL, 0, 0),
	G(P4_52, 0, 46, -EINVAL, 0, 0), G(P4_46, 0, 46, -EINVAL, 0, 0),
	/* GPAW comes from the guest MAXPHYADDR, not from EAX[7:0] (seed 003) */
	G(P5_52, 48, 52, 0, 4, BIT47), G(P5_52, 52, 39, 0, 5, BIT51),
	G(P5_52, 0, 52, -EINVAL, 0, 0), G(P4_46, 0, 48, -EINVAL, 0, 0),
	/* the leaf missing */
	GX(P5_52), GX(P5_48), GX(P4_52), GX(P4_46),
};

static void test_gpaw_selection(void **state)
{
	(void)state;
	BANNER("GPAW/EPT levels from CPUID 0x80000008 EAX[23:16]: 48 or 52 (5-level) only");
	struct kvm *k[NPLAT];
	for (int p = 0; p < NPLAT; p++)
		k[p] = new_kvm(gpaw_plat[p].ept5, gpaw_plat[p].max_pa);
	int failures = 0;
	for (size_t i = 0; i < sizeof(gpaw_rows) / sizeof(gpaw_rows[0]); i++) {
		const struct gpaw_row *r = &gpaw_rows[i];
		char name[128];
		snprintf(name, sizeof(name), "ept5=%s max_pa=%u guest MAXPHYADDR %u host %u%s",
			 gpaw_plat[r->plat].ept5 ? "yes" : "no", gpaw_plat[r->plat].max_pa,
			 r->guest_pa, r->host_pa, r->present ? "" : " (leaf missing)");
		struct kvm_vm *vm = kvm_create_vm(k[r->plat], NULL);
		assert_non_null(vm);
		struct kvm_tdx_init_vm init;
		kvm_tdx_init_vm_default(&init, 48);
		/* two leaves: the one that matters second, so a lookup must search */
		init.nent = 2;
		init.entries[0] = (struct kvm_cpuid_entry){ .function = 0x1, .eax = 0x806f8,
							    .ebx = 0x800, .ecx = 0xfeda3203 };
		/* EAX[15:8] = linear address width 57; EBX/ECX/EDX arbitrary */
		uint32_t eax = (r->guest_pa << 16) | (57u << 8) | r->host_pa;
		init.entries[1] = (struct kvm_cpuid_entry){ .function = r->present ? 0x80000008 : 0x7,
							    .eax = eax, .ebx = 0x1234,
							    .ecx = 0x5678, .edx = 0x9abc };
		int got = kvm_tdx_init_vm(vm, &init);
		const struct kvm_cpuid_entry *e = &init.entries[1];
		bool bad = false;
		if (got != r->want) {
			print_error("GPAW row \"%s\": got %s, want %s\n", name, ename(got),
				    ename(r->want));
			bad = true;
		} else if (got == 0) {
			struct tdx_td *td = kvm_vm_td(vm);
			int levels = td ? tdx_td_levels(td) : -1;
			uint64_t sb = td ? tdx_td_shared_bit(td) : 0;
			if (levels != r->levels || sb != r->shared) {
				print_error("GPAW row \"%s\": levels %d shared bit %#llx, want %d %#llx\n",
					    name, levels, (unsigned long long)sb, r->levels,
					    (unsigned long long)r->shared);
				bad = true;
			}
		}
		/* KVM works on a copy (memdup_user): the caller's entries stay as they were */
		if (e->eax != eax || e->ebx != 0x1234 || e->ecx != 0x5678 || e->edx != 0x9abc) {
			print_error("GPAW row \"%s\": the caller's entry changed: eax %#x -> %#x\n",
				    name, eax, e->eax);
			bad = true;
		}
		if (init.entries[0].eax != 0x806f8 || init.entries[0].ecx != 0xfeda3203) {
			print_error("GPAW row \"%s\": another leaf was modified\n", name);
			bad = true;
		}
		if (destroy_clean(k[r->plat], vm, name))
			bad = true;
		failures += bad;
	}
	for (int p = 0; p < NPLAT; p++)
		kvm_destroy(k[p]);
	if (failures)
		fail_msg("GPAW selection: %d row(s) failed", failures);
}

static void test_cpuid_first_entry(void **state)
{
	(void)state;
	BANNER("two CPUID 0x80000008 entries: KVM uses the first (kvm_find_cpuid_entry2)");
	struct kvm *k = new_kvm(true, 52);
	for (int first52 = 0; first52 < 2; first52++) {
		struct kvm_vm *vm = kvm_create_vm(k, NULL);
		struct kvm_tdx_init_vm init;
		kvm_tdx_init_vm_default(&init, first52 ? 52 : 48);
		init.nent = 2;
		init.entries[1] = init.entries[0];
		init.entries[1].eax = ((first52 ? 48u : 52u) << 16) | 46;
		assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
		assert_int_equal(tdx_td_levels(kvm_vm_td(vm)), first52 ? 5 : 4);
		assert_int_equal(destroy_clean(k, vm, "cpuid first"), 0);
	}
	kvm_destroy(k);
}

/* ------------------------------------------------------------------ */
/* 3. build flows                                                      */
/* ------------------------------------------------------------------ */

#define IMG_GPA		0x10000ull
#define IMG_PAGES	3

struct read_arg {
	uint64_t gpa;
	size_t len;
	uint8_t *buf;
	uint64_t ept_exits;
};

static void prog_read(struct gvcpu *g, void *arg)
{
	struct read_arg *a = arg;
	uint64_t e0 = g->st.ept_exits;
	guest_read(g, a->gpa, a->buf, a->len);
	a->ept_exits = g->st.ept_exits - e0;
}

static struct kvm_vm *build_vm(struct kvm *k, enum kvm_build_flow flow)
{
	struct env e;
	struct cfg c = { ST_VCPU, flow };
	assert_int_equal(env_setup(&e, k, &c), 0);
	return e.vm;
}

static void check_guest_reads(struct kvm_vm *vm, uint64_t gpa, const uint8_t *want, size_t len)
{
	static uint8_t buf[IMG_PAGES * 4096];
	assert_true(len <= sizeof(buf));
	memset(buf, 0xee, sizeof(buf));
	struct read_arg a = { gpa, len, buf, ~0ull };
	assert_int_equal(kvm_vcpu_run(vm, 0, prog_read, &a), 0);
	assert_memory_equal(buf, want, len);
	/* build-time pages were PAGE.ADDed: MAPPED, nothing to fault in */
	assert_int_equal(a.ept_exits, 0);
}

static void test_populate_flow(void **state)
{
	(void)state;
	BANNER("populate: INIT_MEM_REGION(MEASURE) of 3 pages, FINALIZE, the guest reads them");
	static _Alignas(4096) uint8_t img[IMG_PAGES * 4096];
	fill_image(img, sizeof(img), 1);
	struct kvm *k = new_kvm(true, 52);
	struct kvm_vm *vm = build_vm(k, BUILD_POPULATE);
	assert_int_equal(init_mem(vm, IMG_GPA, img, IMG_PAGES), 0);
	assert_int_equal(kvm_vm_stats(vm)->page_adds, IMG_PAGES);
	for (int i = 0; i < IMG_PAGES; i++)
		assert_true(kvm_vm_private_mapped(vm, IMG_GPA + (uint64_t)i * SZ_4K));
	assert_false(kvm_vm_private_mapped(vm, IMG_GPA + IMG_PAGES * SZ_4K));
	uint8_t mrtd[TDX_MRTD_BYTES];
	assert_false(tdx_td_mrtd(kvm_vm_td(vm), mrtd));	/* not before FINALIZE */
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	assert_true(tdx_td_mrtd(kvm_vm_td(vm), mrtd));
	check_guest_reads(vm, IMG_GPA, img, sizeof(img));
	assert_int_equal(destroy_clean(k, vm, "populate"), 0);
	kvm_destroy(k);
}

static void test_prefault_flow(void **state)
{
	(void)state;
	BANNER("prefault (seed 004): INIT_MEM_REGION needs a pre-fault; FINALIZE waits for every "
	       "pre-faulted page");
	static _Alignas(4096) uint8_t img[IMG_PAGES * 4096];
	fill_image(img, sizeof(img), 2);
	struct kvm *k = new_kvm(true, 52);
	struct kvm_vm *vm = build_vm(k, BUILD_PREFAULT);
	/* not pre-faulted: an error (seed 004), nothing added */
	assert_int_equal(init_mem(vm, IMG_GPA, img, 1), -EINVAL);
	assert_int_equal(kvm_vm_stats(vm)->page_adds, 0);
	assert_false(kvm_vm_private_mapped(vm, IMG_GPA));
	/* pre-fault the image and one extra page: the S-EPT path is built, but the
	 * leaves are only in KVM's mirror, the module has not been told */
	assert_int_equal(pre_fault(vm, IMG_GPA, IMG_PAGES * SZ_4K), 0);
	assert_true(kvm_vm_stats(vm)->sept_adds > 0);
	assert_int_equal(kvm_vm_stats(vm)->page_adds, 0);
	for (int i = 0; i < IMG_PAGES; i++)
		assert_false(kvm_vm_private_mapped(vm, IMG_GPA + (uint64_t)i * SZ_4K));
	/* add the first two pages */
	assert_int_equal(init_mem(vm, IMG_GPA, img, IMG_PAGES - 1), 0);
	assert_int_equal(kvm_vm_stats(vm)->page_adds, IMG_PAGES - 1);
	assert_true(kvm_vm_private_mapped(vm, IMG_GPA));
	assert_true(kvm_vm_private_mapped(vm, IMG_GPA + SZ_4K));
	assert_false(kvm_vm_private_mapped(vm, IMG_GPA + 2 * SZ_4K));
	/* the extra page is still premapped: FINALIZE is refused, the TD stays buildable */
	assert_int_equal(kvm_tdx_finalize_vm(vm), -EINVAL);
	uint8_t mrtd[TDX_MRTD_BYTES];
	assert_false(tdx_td_mrtd(kvm_vm_td(vm), mrtd));
	assert_int_equal(kvm_vcpu_run(vm, 0, prog_nop, NULL), -EINVAL);
	assert_int_equal(init_mem(vm, IMG_GPA + 2 * SZ_4K, img + 2 * 4096, 1),
			 0);
	assert_true(kvm_vm_private_mapped(vm, IMG_GPA + 2 * SZ_4K));
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	assert_true(tdx_td_mrtd(kvm_vm_td(vm), mrtd));
	check_guest_reads(vm, IMG_GPA, img, sizeof(img));
	assert_int_equal(destroy_clean(k, vm, "prefault"), 0);
	kvm_destroy(k);
}

/* Build a TD from @img (@npages at @gpa) with @flow; MRTD into @mrtd. */
static void build_mrtd(struct kvm *k, enum kvm_build_flow flow, uint64_t gpa, const uint8_t *img,
		       uint64_t npages, bool measure, uint8_t mrtd[TDX_MRTD_BYTES])
{
	struct kvm_vm *vm = build_vm(k, flow);
	if (flow == BUILD_PREFAULT)
		assert_int_equal(pre_fault(vm, gpa, npages * SZ_4K), 0);
	/* page by page, in order, as QEMU adds TDVF sections */
	for (uint64_t i = 0; i < npages; i++) {
		struct kvm_tdx_init_mem_region r = { img + i * 4096, gpa + i * SZ_4K, 1 };
		assert_int_equal(kvm_tdx_init_mem_region(vm, 0, measure ? KVM_TDX_MEASURE_MEMORY_REGION
									: 0, &r), 0);
	}
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	assert_true(tdx_td_mrtd(kvm_vm_td(vm), mrtd));
	assert_int_equal(destroy_clean(k, vm, "mrtd"), 0);
}

static void test_mrtd_flows(void **state)
{
	(void)state;
	BANNER("MRTD: same image and order -> same MRTD in both flows; another image differs");
	static _Alignas(4096) uint8_t a[IMG_PAGES * 4096], b[IMG_PAGES * 4096];
	fill_image(a, sizeof(a), 3);
	memcpy(b, a, sizeof(b));
	b[2 * 4096 + 1000] ^= 0x40;	/* one bit of the last page */
	struct kvm *k = new_kvm(true, 52);
	uint8_t pa[TDX_MRTD_BYTES], pa2[TDX_MRTD_BYTES], ma[TDX_MRTD_BYTES], pb[TDX_MRTD_BYTES],
		mb[TDX_MRTD_BYTES], pg[TDX_MRTD_BYTES], ua[TDX_MRTD_BYTES], ub[TDX_MRTD_BYTES];
	build_mrtd(k, BUILD_POPULATE, IMG_GPA, a, IMG_PAGES, true, pa);
	build_mrtd(k, BUILD_POPULATE, IMG_GPA, a, IMG_PAGES, true, pa2);
	build_mrtd(k, BUILD_PREFAULT, IMG_GPA, a, IMG_PAGES, true, ma);
	build_mrtd(k, BUILD_POPULATE, IMG_GPA, b, IMG_PAGES, true, pb);
	build_mrtd(k, BUILD_PREFAULT, IMG_GPA, b, IMG_PAGES, true, mb);
	build_mrtd(k, BUILD_POPULATE, IMG_GPA + SZ_4K, a, IMG_PAGES, true, pg);
	build_mrtd(k, BUILD_POPULATE, IMG_GPA, a, IMG_PAGES, false, ua);
	build_mrtd(k, BUILD_PREFAULT, IMG_GPA, b, IMG_PAGES, false, ub);
	assert_memory_equal(pa, pa2, TDX_MRTD_BYTES);		/* deterministic */
	assert_memory_equal(pa, ma, TDX_MRTD_BYTES);		/* flow does not matter */
	assert_memory_equal(pb, mb, TDX_MRTD_BYTES);
	assert_memory_not_equal(pa, pb, TDX_MRTD_BYTES);	/* measured contents do */
	assert_memory_not_equal(ma, mb, TDX_MRTD_BYTES);
	assert_memory_not_equal(pa, pg, TDX_MRTD_BYTES);	/* PAGE.ADD measures the GPA */
	/* without MEASURE only GPAs go in: the contents do not change MRTD */
	assert_memory_equal(ua, ub, TDX_MRTD_BYTES);
	assert_memory_not_equal(ua, pa, TDX_MRTD_BYTES);
	kvm_destroy(k);
}

struct accept_arg {
	uint64_t gpa_pre, gpa_cold;
	uint64_t st_pre, st_cold;
	uint64_t exits_pre, exits_cold;
	uint64_t word, zero;
};

static void prog_accept(struct gvcpu *g, void *arg)
{
	struct accept_arg *a = arg;
	uint64_t e0 = g->st.exits;
	a->st_pre = guest_accept(g, a->gpa_pre, TDX_LEVEL_4K);
	a->exits_pre = g->st.exits - e0;
	e0 = g->st.exits;
	a->st_cold = guest_accept(g, a->gpa_cold, TDX_LEVEL_4K);
	a->exits_cold = g->st.exits - e0;
	guest_write64(g, a->gpa_pre + 8, 0x5eed);
	a->word = guest_read64(g, a->gpa_pre + 8);
	a->zero = guest_read64(g, a->gpa_pre + 16);
}

static void test_prefault_after_finalize(void **state)
{
	(void)state;
	BANNER("after FINALIZE, PRE_FAULT_MEMORY AUGs private memory: ACCEPT needs no exit");
	for (int f = 0; f < 2; f++) {
		enum kvm_build_flow flow = f ? BUILD_PREFAULT : BUILD_POPULATE;
		struct kvm *k = new_kvm(true, 52);
		struct kvm_vm *vm = build_vm(k, flow);
		assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
		const uint64_t pre = 0x200000, cold = 0x300000;
		assert_false(kvm_vm_private_mapped(vm, pre));
		uint64_t maps = kvm_vm_stats(vm)->private_maps;
		assert_int_equal(pre_fault(vm, pre, SZ_4K), 0);
		assert_true(kvm_vm_private_mapped(vm, pre));
		assert_int_equal(kvm_vm_stats(vm)->private_maps, maps + 1);
		assert_false(kvm_vm_private_mapped(vm, cold));
		struct accept_arg a = { .gpa_pre = pre, .gpa_cold = cold };
		assert_int_equal(kvm_vcpu_run(vm, 0, prog_accept, &a), 0);
		assert_status(a.st_pre, TDX_SUCCESS);
		assert_int_equal(a.exits_pre, 0);
		/* the control: a page that was not pre-faulted does exit */
		assert_status(a.st_cold, TDX_SUCCESS);
		assert_true(a.exits_cold >= 1);
		assert_true(kvm_vm_private_mapped(vm, cold));
		assert_int_equal(a.word, 0x5eed);
		assert_int_equal(a.zero, 0);		/* ACCEPT zeroes the page */
		const char *why;
		assert_false(kvm_vm_dead(vm, &why));
		assert_int_equal(destroy_clean(k, vm, flow ? "prefault flow" : "populate flow"),
				 0);
		kvm_destroy(k);
	}
}

/* ------------------------------------------------------------------ */
/* 4. teardown                                                         */
/* ------------------------------------------------------------------ */

static struct kvm_vm *td_fresh(struct kvm *k)
{
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	assert_non_null(vm);
	return vm;
}

static struct kvm_vm *td_fresh_slot(struct kvm *k)
{
	struct env e;
	struct cfg c = { ST_NEW };
	assert_int_equal(env_setup(&e, k, &c), 0);
	assert_int_equal(kvm_set_memory_attributes(e.vm, 0, SZ_2M, 0), 0);
	return e.vm;
}

static struct kvm_vm *td_init_vm(struct kvm *k)
{
	struct env e;
	struct cfg c = { ST_INIT };
	assert_int_equal(env_setup(&e, k, &c), 0);
	return e.vm;
}

static struct kvm_vm *td_init_vm_52(struct kvm *k)
{
	struct env e;
	struct cfg c = { ST_INIT, .maxpa = 52 };
	assert_int_equal(env_setup(&e, k, &c), 0);
	return e.vm;
}

static struct kvm_vm *td_init_vcpu(struct kvm *k)
{
	struct env e;
	struct cfg c = { ST_VCPU };
	assert_int_equal(env_setup(&e, k, &c), 0);
	assert_int_equal(kvm_create_vcpu(e.vm), 1);	/* and one never initialized */
	return e.vm;
}

static struct kvm_vm *td_populated(struct kvm *k)
{
	struct kvm_vm *vm = build_vm(k, BUILD_POPULATE);
	assert_int_equal(init_mem(vm, IMG_GPA, src_pages, 4), 0);
	return vm;
}

static struct kvm_vm *td_premapped(struct kvm *k)
{
	struct kvm_vm *vm = build_vm(k, BUILD_PREFAULT);
	/* three pre-faulted, one of them added, two still premapped; another 1G region */
	assert_int_equal(pre_fault(vm, IMG_GPA, 3 * SZ_4K), 0);
	assert_int_equal(init_mem(vm, IMG_GPA, src_pages, 1), 0);
	assert_int_equal(add_ram(vm, 1, SZ_1G, 2 * SZ_1M), 0);
	assert_int_equal(pre_fault(vm, SZ_1G + SZ_4K, SZ_4K), 0);
	assert_int_equal(kvm_tdx_finalize_vm(vm), -EINVAL);
	return vm;
}

struct busy_arg {
	uint64_t base;
	int npages;
	uint64_t shared_gpa;
	uint64_t bad;
};

static void prog_busy(struct gvcpu *g, void *arg)
{
	struct busy_arg *a = arg;
	for (int i = 0; i < a->npages; i++) {
		uint64_t gpa = a->base + (uint64_t)i * SZ_4K;
		if (guest_accept(g, gpa, TDX_LEVEL_4K) != TDX_SUCCESS)
			a->bad++;
		guest_write64(g, gpa, 100 + (uint64_t)i);
	}
	/* one page converted to shared and used through its alias */
	if (guest_map_gpa(g, a->shared_gpa, SZ_4K, true) != TDVMCALL_STATUS_SUCCESS)
		a->bad++;
	guest_write64(g, guest_shared(g, a->shared_gpa), 7);
	if (guest_read64(g, guest_shared(g, a->shared_gpa)) != 7)
		a->bad++;
	for (int i = 0; i < a->npages; i++)
		if (guest_read64(g, a->base + (uint64_t)i * SZ_4K) != 100 + (uint64_t)i)
			a->bad++;
}

static struct kvm_vm *td_ran(struct kvm *k)
{
	struct kvm_vm *vm = build_vm(k, BUILD_POPULATE);
	assert_int_equal(init_mem(vm, IMG_GPA, src_pages, 2), 0);
	assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
	assert_int_equal(pre_fault(vm, 0x200000, SZ_4K), 0);
	struct busy_arg a = { .base = 0x200000, .npages = 5, .shared_gpa = 0x380000 };
	assert_int_equal(kvm_vcpu_run(vm, 0, prog_busy, &a), 0);
	assert_int_equal(a.bad, 0);
	for (int i = 0; i < 5; i++)
		assert_true(kvm_vm_private_mapped(vm, 0x200000 + (uint64_t)i * SZ_4K));
	assert_true(kvm_vm_stats(vm)->private_maps >= 5);
	return vm;
}

static struct kvm_vm *td_ran_then_punched(struct kvm *k)
{
	struct kvm_vm *vm = td_ran(k);
	assert_int_equal(kvm_gmem_punch_hole(vm, 0, 0x200000, 2 * SZ_4K), 0);
	assert_false(kvm_vm_private_mapped(vm, 0x200000));
	assert_int_equal(add_ram(vm, 1, 8 * SZ_1M, 2 * SZ_1M), 0);
	assert_int_equal(pre_fault(vm, 8 * SZ_1M, 4 * SZ_4K), 0);
	assert_int_equal(del_slot(vm, 1), 0);
	assert_false(kvm_vm_private_mapped(vm, 8 * SZ_1M));
	return vm;
}

static void test_policy_names(void **state)
{
	(void)state;
	BANNER("design variants by name: every known name sets its field, anything else is EINVAL");
	static const struct {
		const char *key, *val;
		int want;
		const char *describe;	/* kvm_policy_describe() afterwards, when want is 0 */
	} rows[] = {
		{ "build", "prefault", 0,
		  "build=prefault busy=kick-retry local_retry=on slot_break=on level=4k folio=4k promote=off dpamt=off" },
		{ "build", "premap", -EINVAL, NULL },	/* renamed: it was never mainline */
		{ "build", "populate", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=4k folio=4k promote=off dpamt=off" },
		{ "busy", "retry-n", 0,
		  "build=populate busy=retry-n retry_n=16 local_retry=on slot_break=on level=4k folio=4k promote=off dpamt=off" },
		{ "retry_n", "3", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=4k folio=4k promote=off dpamt=off" },
		{ "local_retry", "off", 0,
		  "build=populate busy=kick-retry local_retry=off slot_break=on level=4k folio=4k promote=off dpamt=off" },
		{ "slot_break", "no", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=off level=4k folio=4k promote=off dpamt=off" },
		{ "level", "4k", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=4k folio=4k promote=off dpamt=off" },
		{ "build", "Prefault", -EINVAL, NULL },
		{ "build", "", -EINVAL, NULL },
		{ "busy", "retry", -EINVAL, NULL },
		{ "retry_n", "0", -EINVAL, NULL },
		{ "retry_n", "12x", -EINVAL, NULL },
		{ "local_retry", "maybe", -EINVAL, NULL },
		{ "level", "2m", -EINVAL, NULL },	/* a size, not a design */
		{ "level", "huge-v5", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=huge-v5 folio=4k promote=off dpamt=off" },
		{ "level", "explicit-demotion", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=explicit-demotion folio=4k promote=off dpamt=off" },
		{ "folio", "2m", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=4k folio=2m promote=off dpamt=off" },
		{ "folio", "1g", -EINVAL, NULL },
		{ "promote", "on", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=4k folio=4k promote=on dpamt=off" },
		{ "dpamt", "on", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=4k folio=4k promote=off dpamt=on" },
		{ "dpamt_demote_locked", "sometimes", -EINVAL, NULL },
		{ "livelock_exits", "50", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=4k folio=4k promote=off dpamt=off livelock_exits=50" },
		{ "livelock_exits", "0", 0,
		  "build=populate busy=kick-retry local_retry=on slot_break=on level=4k folio=4k promote=off dpamt=off livelock_exits=off" },
		{ "livelock_exits", "-1", -EINVAL, NULL },
		{ "livelock_exits", "100000001", -EINVAL, NULL },
		{ "livelock_exits", "5x", -EINVAL, NULL },
		{ "colour", "blue", -EINVAL, NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kvm_policy pol, def;
		kvm_policy_default(&pol);
		kvm_policy_default(&def);
		int r = kvm_policy_set(&pol, rows[i].key, rows[i].val);
		if (r != rows[i].want)
			fail_msg("%s=%s: got %s, want %s", rows[i].key, rows[i].val, ename(r),
				 ename(rows[i].want));
		if (r) {
			/* a refused name leaves the policy as it was */
			assert_memory_equal(&pol, &def, sizeof(pol));
			continue;
		}
		char buf[256];
		kvm_policy_describe(&pol, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].describe);
	}
}

static void test_teardown_leaves_nothing(void **state)
{
	(void)state;
	BANNER("teardown in every state: no host page allocated, every PAMT entry NDA");
	/* has_td: a TD exists, so control pages are allocated before teardown */
	static const struct {
		const char *name;
		struct kvm_vm *(*build)(struct kvm *);
		bool has_td;
	} st[] = {
		{ "fresh VM", td_fresh, false },
		{ "fresh VM with a memslot and attributes", td_fresh_slot, false },
		{ "after INIT_VM", td_init_vm, true },
		{ "after INIT_VM, 5-level", td_init_vm_52, true },
		{ "after INIT_VCPU (plus an uninitialized vCPU)", td_init_vcpu, true },
		{ "populate: INIT_MEM_REGION, no FINALIZE", td_populated, true },
		{ "prefault: pre-faulted, partly added, no FINALIZE", td_premapped, true },
		{ "after a run that accepted pages", td_ran, true },
		{ "after a run, a hole punch and a slot deletion", td_ran_then_punched, true },
	};
	struct kvm *k = new_kvm(true, 52);
	/* the baseline: a host with no TD holds nothing */
	assert_int_equal(kvm_hostmem(k)->allocated, 0);
	assert_int_equal(test_pamt_in_use(kvm_module(k)), 0);
	int failures = 0;
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		struct kvm_vm *vm = st[i].build(k);
		/* guard against a vacuous check: a TD holds TDR/TDCS pages at least */
		if (st[i].has_td && (kvm_hostmem(k)->allocated == 0 || test_pamt_in_use(kvm_module(k)) == 0)) {
			print_error("%s: nothing allocated before teardown?\n", st[i].name);
			failures++;
		}
		if (destroy_clean(k, vm, st[i].name))
			failures++;
	}
	kvm_destroy(k);
	if (failures)
		fail_msg("teardown: %d state(s) left something behind", failures);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_init_vm_errors),
		cmocka_unit_test(test_create_vcpu_errors),
		cmocka_unit_test(test_init_vcpu_errors),
		cmocka_unit_test(test_memslot_errors),
		cmocka_unit_test(test_attributes_errors),
		cmocka_unit_test(test_punch_hole_errors),
		cmocka_unit_test(test_init_mem_region_errors),
		cmocka_unit_test(test_init_mem_region_progress),
		cmocka_unit_test(test_finalize_errors),
		cmocka_unit_test(test_pre_fault_errors),
		cmocka_unit_test(test_vcpu_run_errors),
		cmocka_unit_test(test_gpaw_selection),
		cmocka_unit_test(test_cpuid_first_entry),
		cmocka_unit_test(test_populate_flow),
		cmocka_unit_test(test_prefault_flow),
		cmocka_unit_test(test_mrtd_flows),
		cmocka_unit_test(test_prefault_after_finalize),
		cmocka_unit_test(test_teardown_leaves_nothing),
		cmocka_unit_test(test_policy_names),
	};
	return cmocka_run_group_tests_name("host_ioctl", tests, NULL, NULL);
}
