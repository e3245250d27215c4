/* SPDX-License-Identifier: MIT */
/*
 * The TD HOB and the firmware that reads it: the VMM's HOB list
 * (src/cli/tdhob.c, QEMU's split of its RAM entries and tdvf-hob.c's
 * layout), byte for byte; the TDVF builder writing it into the TD_HOB
 * section before PAGE.ADD (MRTD unchanged); the firmware guest
 * (src/guest/tdvf_fw.c) accepting exactly the unaccepted ranges with
 * OVMF's algorithm, alone and with APs sharing the chunks round robin;
 * broken HOBs as guest panics; the scenario keys.  The cases that need
 * Debian's OVMF.fd skip without it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "../src/cli/scenario.h"
#include "../src/cli/tdhob.h"
#include "../src/cli/tdvf.h"
#include "../src/guest/tdvf_fw.h"
#include "../src/guest/hob.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"
#include "../src/module/physmem.h"
#include "vjob.h"

#define OVMF_PATH "/usr/share/ovmf/OVMF.fd"

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* The test's own HOB list: PHIT, descriptors (type, start, length), end. */
struct res { uint32_t type; uint64_t start, len; };

static size_t expected_hob(uint8_t *buf, size_t cap, uint64_t gpa, const struct res *r, int n)
{
	memset(buf, 0, cap);
	size_t len = 56 + 48 * (size_t)n + 8;
	put16(buf, 1);
	put16(buf + 2, 56);
	put32(buf + 8, 9);
	put64(buf + 48, gpa + len);
	for (int i = 0; i < n; i++) {
		uint8_t *d = buf + 56 + 48 * i;
		put16(d, 3);
		put16(d + 2, 48);
		put32(d + 24, r[i].type);
		put32(d + 28, 7);
		put64(d + 32, r[i].start);
		put64(d + 40, r[i].len);
	}
	put16(buf + 56 + 48 * n, 0xffff);
	put16(buf + 56 + 48 * n + 2, 8);
	return len;
}

static void assert_layout(const struct tdhob_ram *got, const struct res *want, int n)
{
	for (int i = 0; i < got->n && i < n; i++)
		if (got->e[i].gpa != want[i].start || got->e[i].len != want[i].len ||
		    (got->e[i].type == TDHOB_RAM_ADDED ? 0u : 7u) != want[i].type)
			print_error("entry %d: [%#" PRIx64 " +%#" PRIx64 ") type %d, want [%#" PRIx64
				    " +%#" PRIx64 ") %u\n", i, got->e[i].gpa, got->e[i].len,
				    got->e[i].type, want[i].start, want[i].len, want[i].type);
	assert_int_equal(got->n, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(got->e[i].gpa, want[i].start);
		assert_int_equal(got->e[i].len, want[i].len);
		assert_int_equal(got->e[i].type == TDHOB_RAM_ADDED ? 0 : 7, want[i].type);
	}
}

/* ---- the VMM's HOB ---- */

static void test_hob_bytes(void **state)
{
	(void)state;
	BANNER("RAM entries split around added ranges as QEMU does, sorted; the HOB bytes exact");
	struct tdhob_ram r;
	tdhob_ram_init(&r);
	assert_int_equal(tdhob_ram_add(&r, 0x100000, 16ull << 20, TDHOB_RAM_UNACCEPTED), 0);
	assert_int_equal(tdhob_ram_add(&r, 0x4000000, 0x200000, TDHOB_RAM_UNACCEPTED), 0);
	/* the middle, then the head of what is left, then a whole entry */
	assert_int_equal(tdhob_ram_accept(&r, 0x809000, 0x2000), 0);
	assert_int_equal(tdhob_ram_accept(&r, 0x80b000, 0x1000), 0);
	assert_int_equal(tdhob_ram_accept(&r, 0x4000000, 0x200000), 0);
	assert_int_equal(tdhob_ram_accept(&r, 0x100000, 0x1000), 0);
	/* not RAM: nothing to describe; partly RAM, or RAM added already: refused */
	assert_int_equal(tdhob_ram_accept(&r, 0x2000000, 0x1000), 1);
	assert_int_equal(tdhob_ram_accept(&r, 0x10ff000, 0x2000), -1);
	assert_int_equal(tdhob_ram_accept(&r, 0x809000, 0x1000), -1);
	assert_int_equal(tdhob_ram_add(&r, 0x10ff000, 0x1000, TDHOB_RAM_ADDED), -1);
	assert_int_equal(tdhob_ram_add(&r, 0x3000000, 0x800, TDHOB_RAM_ADDED), -1);
	tdhob_ram_sort(&r);
	static const struct res want[] = {
		{ 0, 0x100000, 0x1000 },
		{ 7, 0x101000, 0x708000 },
		{ 0, 0x809000, 0x2000 },
		{ 0, 0x80b000, 0x1000 },
		{ 7, 0x80c000, 0x1100000 - 0x80c000 },
		{ 0, 0x4000000, 0x200000 },
	};
	assert_layout(&r, want, 6);
	static uint8_t got[8192], exp[8192];
	char err[160];
	assert_int_equal(tdhob_write(&r, 0x809000, got, sizeof(got), err, sizeof(err)),
			 (long)expected_hob(exp, sizeof(exp), 0x809000, want, 6));
	assert_memory_equal(got, exp, sizeof(got));
	assert_int_equal(tdhob_bytes(&r), 56 + 6 * 48 + 8);
	/* too small a TD_HOB is a clear error, never an overrun */
	assert_int_equal(tdhob_write(&r, 0x809000, got, 100, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TD_HOB overrun"));
	print_message("    %s\n", err);
	/* a full list refuses a split and changes nothing */
	struct tdhob_ram full;
	tdhob_ram_init(&full);
	for (int i = 0; i < TDHOB_MAX_ENTRIES; i++)
		assert_int_equal(tdhob_ram_add(&full, (uint64_t)i << 30, 1ull << 30,
					       TDHOB_RAM_UNACCEPTED), 0);
	assert_int_equal(tdhob_ram_add(&full, 1ull << 40, 4096, TDHOB_RAM_ADDED), -1);
	assert_int_equal(tdhob_ram_accept(&full, 0x1000, 0x1000), -1);
	assert_int_equal(full.n, TDHOB_MAX_ENTRIES);
	assert_int_equal(full.e[0].len, 1ull << 30);
}

/* Debian's OVMF.fd, or skip. */
static bool load_ovmf(struct tdvf *t)
{
	char err[256];
	if (access(OVMF_PATH, R_OK) || tdvf_load_file(OVMF_PATH, t, err, sizeof(err))) {
		print_message("    %s is not usable (Debian package ovmf): skipped\n", OVMF_PATH);
		return false;
	}
	return true;
}

/* OVMF.fd's sections in a 2 GiB slot at 0: QEMU's RAM entries for it */
static const struct res ovmf_2g[] = {
	{ 7, 0x0, 0x800000 },
	{ 0, 0x800000, 0x6000 },	/* TEMP_MEM */
	{ 7, 0x806000, 0x3000 },
	{ 0, 0x809000, 0x2000 },	/* TD_HOB */
	{ 0, 0x80b000, 0x2000 },	/* TEMP_MEM */
	{ 7, 0x80d000, 0x3000 },
	{ 0, 0x810000, 0x10000 },	/* TEMP_MEM */
	{ 7, 0x820000, 0x80000000 - 0x820000 },
};

static void test_hob_ovmf(void **state)
{
	(void)state;
	BANNER("OVMF.fd in a 2 GiB slot at 0: the TD_HOB page the TD gets is QEMU's list; MRTD unchanged");
	struct tdvf t;
	if (!load_ovmf(&t))
		skip();
	struct tdhob_ram ram, lay;
	char err[256];
	tdhob_ram_init(&ram);
	assert_int_equal(tdhob_ram_add(&ram, 0, 2 * SZ_1G, TDHOB_RAM_UNACCEPTED), 0);
	assert_int_equal(tdvf_hob_layout(&t, &ram, &lay, err, sizeof(err)), 0);
	assert_layout(&lay, ovmf_2g, 8);
	assert_int_equal(tdvf_hob_gpa(&t), 0x809000);
	/* without RAM (tdxsim measure): TD_HOB and TEMP_MEM are added RAM of their own */
	assert_int_equal(tdvf_hob_layout(&t, NULL, &lay, err, sizeof(err)), 0);
	static const struct res own[] = {
		{ 0, 0x800000, 0x6000 }, { 0, 0x809000, 0x2000 }, { 0, 0x80b000, 0x2000 },
		{ 0, 0x810000, 0x10000 },
	};
	assert_layout(&lay, own, 4);
	/* a slot that holds a section only in part is refused */
	struct tdhob_ram bad;
	tdhob_ram_init(&bad);
	assert_int_equal(tdhob_ram_add(&bad, 0x80a000, 0x100000, TDHOB_RAM_UNACCEPTED), 0);
	assert_int_equal(tdvf_hob_layout(&t, &bad, &lay, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "partly inside the TD's RAM"));

	/* the TD: the HOB page in TD memory, and MRTD with and without the RAM */
	uint8_t mrtd[2][48];
	for (int with = 0; with < 2; with++) {
		struct kvm_platform p;
		kvm_platform_default(&p);
		p.mem_bytes = 4 * SZ_1G;
		struct kvm *k = kvm_create(&p);
		assert_non_null(k);
		struct kvm_vm *vm = kvm_create_vm(k, NULL);
		assert_non_null(vm);
		struct kvm_tdx_init_vm init;
		kvm_tdx_init_vm_default(&init, 48);
		assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
		assert_int_equal(kvm_create_vcpu(vm), 0);
		assert_int_equal(kvm_tdx_init_vcpu_data(vm, 0, tdvf_hob_gpa(&t)), 0);
		if (with)
			assert_int_equal(kvm_vmm_add_private_ram(vm, 8, 0, 2 * SZ_1G), 0);
		assert_int_equal(tdvf_build_td_ram(k, vm, 0, &t, TDVF_FLOW_QEMU9, with ? &ram : NULL,
						   err, sizeof(err)), 0);
		assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
		assert_true(tdx_td_mrtd(kvm_vm_td(vm), mrtd[with]));
		if (with) {
			static uint8_t page[8192], exp[8192];
			struct physmem *pm = tdx_module_physmem(kvm_module(k));
			for (int pg = 0; pg < 2; pg++)
				physmem_read(pm, kvm_vm_private_hpa(vm, 0x809000 + 4096ull * pg),
					     page + 4096 * pg, 4096);
			expected_hob(exp, sizeof(exp), 0x809000, ovmf_2g, 8);
			assert_memory_equal(page, exp, sizeof(page));
			/* the rest of the slot is not added: unaccepted RAM */
			assert_false(kvm_vm_private_mapped(vm, 0x806000));
			assert_int_equal(kvm_vm_stats(vm)->page_adds, 538);
		}
		assert_int_equal(kvm_destroy_vm(vm), 0);
		assert_int_equal(kvm_hostmem(k)->allocated, 0);
		kvm_destroy(k);
	}
	assert_memory_equal(mrtd[0], mrtd[1], 48);
	tdvf_free(&t);
}


/* ---- the firmware over a TD HOB ---- */

#define NVMAX 4

/* One TD for the firmware: RAM, the HOB (the VMM's, or bytes of the test's), vCPUs. */
struct fwtd {
	struct kvm *k;
	struct kvm_vm *vm;
	struct engine *e;
	struct tdvf_fw *fw;
	struct tdvf_fw_cfg cfg;
	int n;
	struct vjob job[NVMAX];
	struct tdvf_fw_stats total;
};

struct fwarg {
	struct fwtd *t;
	int rank;
	int rc;
};
static struct fwarg fwargs[NVMAX];

static void fw_prog(struct gvcpu *g, void *arg)
{
	struct fwarg *a = arg;
	a->rc = tdvf_fw_run(g, a->t->fw, a->rank, a->t->n, &a->t->cfg);
}

/*
 * A TD of @n vCPUs with private RAM [@ram, @ram + @size) (slot 8), OVMF.fd
 * loaded in it when @ovmf, else a HOB page at @hob: the VMM's list when
 * @bytes is NULL, else those @len bytes.  @huge: a host that maps 2M
 * (huge-v5, 2M folios).
 */
static void fwtd_init(struct fwtd *t, int n, uint64_t ram, uint64_t size, const struct tdvf *ovmf,
		      uint64_t hob, const uint8_t *bytes, size_t len, bool huge)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = size + 2 * SZ_1G;
	p.enhanced_demote = true;
	t->k = kvm_create(&p);
	assert_non_null(t->k);
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	if (huge) {
		assert_int_equal(kvm_policy_set(&pol, "level", "huge-v5"), 0);
		assert_int_equal(kvm_policy_set(&pol, "folio", "2m"), 0);
	}
	t->vm = kvm_create_vm(t->k, &pol);
	assert_non_null(t->vm);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(t->vm, &init), 0);
	assert_int_equal(kvm_vmm_add_private_ram(t->vm, 8, ram, size), 0);
	if (ovmf)
		hob = tdvf_hob_gpa(ovmf);
	for (int i = 0; i < n; i++) {
		assert_int_equal(kvm_create_vcpu(t->vm), i);
		assert_int_equal(kvm_tdx_init_vcpu_data(t->vm, i, hob), 0);
	}
	struct tdhob_ram r;
	tdhob_ram_init(&r);
	assert_int_equal(tdhob_ram_add(&r, ram, size, TDHOB_RAM_UNACCEPTED), 0);
	char err[256];
	if (ovmf) {
		assert_int_equal(tdvf_build_td_ram(t->k, t->vm, 0, ovmf, TDVF_FLOW_QEMU9, &r, err,
						   sizeof(err)), 0);
	} else {
		static _Alignas(4096) uint8_t page[4096];
		if (bytes) {
			memset(page, 0, sizeof(page));
			memcpy(page, bytes, len);
		} else {
			assert_int_equal(tdhob_ram_accept(&r, hob, 4096), 0);
			tdhob_ram_sort(&r);
			assert_true(tdhob_write(&r, hob, page, sizeof(page), err, sizeof(err)) > 0);
		}
		struct kvm_tdx_init_mem_region reg = { page, hob, 1 };
		assert_int_equal(kvm_tdx_init_mem_region(t->vm, 0, 0, &reg), 0);
	}
	assert_int_equal(kvm_tdx_finalize_vm(t->vm), 0);
	t->fw = tdvf_fw_create(n);
	assert_non_null(t->fw);
	t->e = engine_seeded(test_seed(), 50000000);
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "vcpu%d", i);
		fwargs[i] = (struct fwarg){ t, i, 0 };
		t->job[i] = (struct vjob){ t->vm, i, fw_prog, &fwargs[i], 0 };
		engine_spawn(t->e, name, vjob_task, &t->job[i]);
	}
}

static enum engine_outcome fwtd_run(struct fwtd *t)
{
	enum engine_outcome o = engine_run(t->e);
	if (o != ENGINE_OK)
		print_error("%s\n", engine_report(t->e));
	for (int i = 0; i < t->n; i++) {
		const struct tdvf_fw_stats *s = &t->fw->st[i];
		t->total.accepts_4k += s->accepts_4k;
		t->total.accepts_2m += s->accepts_2m;
		t->total.fallbacks_2m += s->fallbacks_2m;
		t->total.already += s->already;
		t->total.chunks += s->chunks;
	}
	return o;
}

/* Is private @gpa accepted in the S-EPT? */
static bool accepted_at(struct fwtd *t, uint64_t gpa)
{
	struct tdx_sept_leaf l;
	return tdx_td_sept_lookup(kvm_vm_td(t->vm), gpa, &l) && tdx_sept_state_accepted(l.state);
}

/* Every page of [lo, hi) accepted (or not, @want) */
static void assert_accepted(struct fwtd *t, uint64_t lo, uint64_t hi, bool want)
{
	for (uint64_t a = lo; a < hi; a += 4096)
		if (accepted_at(t, a) != want) {
			print_error("GPA %#" PRIx64 " %s\n", a, want ? "not accepted" : "accepted");
			fail();
		}
}

static void fwtd_fini(struct fwtd *t)
{
	engine_destroy(t->e);
	tdvf_fw_destroy(t->fw);
	assert_int_equal(kvm_destroy_vm(t->vm), 0);
	assert_int_equal(kvm_hostmem(t->k)->allocated, 0);
	kvm_destroy(t->k);
}

static void test_fw_ovmf_2g(void **state)
{
	(void)state;
	BANNER("OVMF.fd in 2 GiB at 0, one vCPU: exactly the unaccepted ranges, 4K heads "
	       "0x806-0x808, 0x80d-0x80f, 0x820-0x9ff, the rest at 2M, each page once");
	struct tdvf ovmf;
	if (!load_ovmf(&ovmf))
		skip();
	struct fwtd t;
	fwtd_init(&t, 1, 0, 2 * SZ_1G, &ovmf, 0, NULL, 0, true);
	assert_int_equal(fwtd_run(&t), ENGINE_OK);
	assert_int_equal(t.job[0].rc, 0);
	const struct tdvf_fw_stats *s = &t.fw->st[0];
	assert_int_equal(s->accepts_4k, 3 + 3 + 480);
	assert_int_equal(s->accepts_2m, 4 + (2 * SZ_1G - 0xa00000) / SZ_2M);
	assert_int_equal(s->fallbacks_2m, 0);
	assert_int_equal(s->already, 0);
	/* all of it: the unaccepted ranges now, the sections since PAGE.ADD */
	assert_accepted(&t, 0, 2 * SZ_1G, true);
	fwtd_fini(&t);
	tdvf_free(&ovmf);
}

#define RAM	0x1000000ull	/* the RAM of the synthetic cases: [16 MiB, 16 MiB + size) */
#define HOB	(RAM + 0x3000)	/* its HOB page: the RAM is split around it */

static void test_fw_accept_end(void **state)
{
	(void)state;
	BANNER("accept_end: memory at and above it stays unaccepted; below it, every page once");
	struct fwtd t;
	fwtd_init(&t, 1, RAM, 64ull << 20, NULL, HOB, NULL, 0, false);
	t.cfg.accept_end = RAM + (40ull << 20) + 0x5000;	/* inside a 2M page */
	assert_int_equal(fwtd_run(&t), ENGINE_OK);
	assert_int_equal(t.job[0].rc, 0);
	assert_accepted(&t, RAM, t.cfg.accept_end, true);
	assert_accepted(&t, t.cfg.accept_end, RAM + (64ull << 20), false);
	/* the host maps 4K: every 2M ACCEPT falls back; heads and tails at 4K */
	const struct tdvf_fw_stats *s = &t.fw->st[0];
	assert_int_equal(s->already, 0);
	assert_int_equal(s->accepts_2m, 0);
	/* [RAM, HOB) 3 pages; [HOB+4K, RAM+2M) 508; 19 2M pages; the 5 pages of the tail */
	assert_int_equal(s->fallbacks_2m, 19);
	assert_int_equal(s->accepts_4k, 3 + 508 + 19 * 512 + 5);
	fwtd_fini(&t);
}

static void test_fw_round_robin(void **state)
{
	(void)state;
	BANNER("4 vCPUs: the BSP takes the APs' stacks and the heads, the 2M middle goes round "
	       "robin in 32 MiB chunks (per-vCPU counts), the APs wait in HLT");
	struct fwtd t;
	/* the HOB 3 pages into the RAM; 4 MiB, then 8 x 32 MiB, then 8 KiB */
	uint64_t size = (260ull << 20) + 0x2000;
	fwtd_init(&t, 4, RAM, size, NULL, HOB, NULL, 0, true);
	assert_int_equal(fwtd_run(&t), ENGINE_OK);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(t.job[i].rc, 0);
		assert_int_equal(fwargs[i].rc, 0);
	}
	assert_accepted(&t, RAM, RAM + size, true);
	assert_int_equal(t.total.already, 0);
	/*
	 * Phase 1: [RAM, HOB) is shorter than the 2 MiB of stacks: whole, at 4K
	 * (3); then [HOB + 4K, ...) holds them: its first 2 MiB, 4K up to RAM +
	 * 2M (508) and 4K beyond (4).  Phase 2 from RAM + 2M + 16K: 4K to RAM +
	 * 4M (508), the middle [RAM + 4M, RAM + 260M) = 8 chunks of 32M (16 2M
	 * pages each) shared, the 8 KiB tail by the BSP at 4K (2).
	 */
	const struct tdvf_fw_stats *s = t.fw->st;
	assert_int_equal(s[0].accepts_4k, 3 + 508 + 4 + 508 + 2);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(s[i].chunks, 2);		/* chunks i and i + 4 */
		assert_int_equal(s[i].accepts_2m, 32);
		if (i)
			assert_int_equal(s[i].accepts_4k, 0);
		assert_int_equal(s[i].commands, i ? 1 : 2);	/* the BSP: ACCEPT, EXIT */
	}
	/* APs halted: before the command, and after it unless EXIT came first; no spinning */
	for (int i = 1; i < 4; i++) {
		struct gvcpu *g = kvm_vcpu_guest(t.vm, i);
		assert_true(g->st.halts >= 1 && g->st.halts <= 2);
	}
	fwtd_fini(&t);
}

/* ---- broken HOBs ---- */

static size_t good_hob(uint8_t *buf, size_t cap)
{
	static const struct res r[] = {
		{ 7, RAM, HOB - RAM }, { 0, HOB, 0x1000 }, { 7, HOB + 0x1000, 0x400000 - 0x4000 },
	};
	return expected_hob(buf, cap, HOB, r, 3);
}

static void test_fw_broken_hob(void **state)
{
	(void)state;
	BANNER("a broken TD HOB is a guest panic naming what is wrong (APs stop too), never a crash");
	static const struct { const char *what; int at; int width; uint64_t val; size_t cut;
			      const char *want; } rows[] = {
		{ "no end-of-list HOB", 0, 0, 0, 56 + 3 * 48, "no end-of-list HOB" },
		{ "cut in a descriptor", 0, 0, 0, 56 + 48 + 16, "runs past the end" },
		{ "zero length", 58, 2, 0, 0, "HobLength 0" },
		{ "odd length", 58, 2, 50, 0, "not a multiple of 8" },
		{ "length past the area", 58, 2, 0x2000, 0, "runs past the end" },
		{ "reserved", 60, 4, 1, 0, "Reserved" },
		{ "no PHIT first", 0, 2, 3, 0, "not the PHIT" },
		{ "PHIT length", 2, 2, 64, 0, "HobLength 64, not 56" },
		{ "boot mode", 12, 4, 0x99, 0, "boot mode" },
		{ "descriptor length", 58, 2, 40, 0, "not 48" },
		{ "resource type", 56 + 24, 4, 9, 0, "unknown resource type" },
		{ "attributes", 56 + 28, 4, 0x80000000u, 0, "unknown resource attributes" },
		{ "unaligned range", 56 + 32, 8, RAM + 1, 0, "not 4K aligned" },
		{ "range outside memory", 56 + 40, 8, 1ull << 50, 0, "outside the TD's private GPA" },
		{ "wrapping range", 56 + 32, 8, ~0xfffull, 0, "outside the TD's private GPA" },
		{ "overlap", 56 + 48 + 32, 8, RAM, 0, "overlaps" },
		{ "unknown HOB type", 56 + 96, 2, 0x22, 0, "unknown type 0x22" },
	};
	int n = (int)(sizeof(rows) / sizeof(rows[0]));
	for (int i = 0; i < n; i++) {
		static uint8_t hob[4096];
		good_hob(hob, sizeof(hob));
		for (int b = 0; b < rows[i].width; b++)
			hob[rows[i].at + b] = (uint8_t)(rows[i].val >> (8 * b));
		size_t cut = rows[i].cut ? rows[i].cut : sizeof(hob);
		if (rows[i].cut)
			memset(hob + cut, 0, sizeof(hob) - cut);
		/* the parser alone, on exactly the area */
		struct tdvf_hob_range r[8];
		int nr;
		char err[192];
		assert_int_equal(tdvf_hob_parse(hob, cut, 1ull << 47, r, 8, &nr, err, sizeof(err)), -1);
		/* the firmware on 2 vCPUs: the BSP panics with it, the AP returns -1 */
		struct fwtd t;
		fwtd_init(&t, 2, RAM, 4ull << 20, NULL, HOB, hob, rows[i].cut ? cut : sizeof(hob), false);
		t.cfg.hob_size = rows[i].cut ? cut : 0;
		assert_int_equal(fwtd_run(&t), ENGINE_OK);
		struct gvcpu *bsp = kvm_vcpu_guest(t.vm, 0);
		print_message("    %-22s -> %s\n", rows[i].what, bsp->why);
		assert_int_equal(t.job[0].rc, -EIO);
		assert_non_null(strstr(bsp->why, "guest panic: TDVF: bad TD HOB"));
		if (!strstr(bsp->why, rows[i].want)) {
			print_error("%s: \"%s\" lacks \"%s\"\n", rows[i].what, bsp->why, rows[i].want);
			fail();
		}
		assert_int_equal(t.job[1].rc, 0);
		assert_int_equal(fwargs[1].rc, -1);
		assert_accepted(&t, RAM, RAM + 0x3000, false);
		fwtd_fini(&t);
	}
	/* the good one parses into its three descriptors */
	static uint8_t hob[4096];
	good_hob(hob, sizeof(hob));
	struct tdvf_hob_range r[8];
	int nr;
	char err[192];
	assert_int_equal(tdvf_hob_parse(hob, sizeof(hob), 1ull << 47, r, 8, &nr, err, sizeof(err)), 0);
	assert_int_equal(nr, 3);
	assert_int_equal(r[2].start, HOB + 0x1000);
}

/* ---- the scenario keys ---- */

/* Parse @text; 0 or -1 with the message in @err. */
static int load(const char *text, struct scenario *sc, char *err, size_t errlen)
{
	char path[] = "/tmp/tdxsim-fw-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int r = scenario_load(path, sc, err, errlen);
	unlink(path);
	return r;
}

static void test_fw_scenario_keys(void **state)
{
	(void)state;
	BANNER("[firmware] hob: the default page, an explicit one, bad ones; the firmware "
	       "program runs over it (a TD HOB page PAGE.ADDed at setup, the rest accepted)");
	static struct scenario sc;
	char err[512];
	static const char *const base = "[memslot 0]\ngpa = 0\nsize = 8M\n[memslot 1]\n"
					"gpa = 0x1000000\nsize = 4M\n[vcpu 0]\nprogram = firmware\n";
	char text[1024];
	/* default: the first page of the first private slot but GPA 0 */
	assert_int_equal(load(base, &sc, err, sizeof(err)), 0);
	assert_int_equal(scenario_hob_gpa(&sc), 0x1000);
	struct sc_run_opts o = { .sched = SCHED_RANDOM, .seed = 1 };
	struct sc_result r;
	assert_int_equal(scenario_run(&sc, &o, &r), 0);
	if (r.outcome != SC_OK)
		print_error("%s\n", r.message);
	assert_int_equal(r.outcome, SC_OK);
	assert_int_equal(r.counters[C_PRIVATE_MAPS], 3 * 1024 - 1);	/* all but the HOB */
	sc_result_free(&r);
	scenario_free(&sc);
	/* after a [firmware] image at the slot's start */
	snprintf(text, sizeof(text), "%s[firmware]\ngpa = 0x1000\npages = 2\n", base);
	assert_int_equal(load(text, &sc, err, sizeof(err)), 0);
	assert_int_equal(scenario_hob_gpa(&sc), 0x3000);
	assert_int_equal(scenario_run(&sc, &o, &r), 0);
	assert_int_equal(r.outcome, SC_OK);
	assert_int_equal(r.counters[C_PRIVATE_MAPS], 3 * 1024 - 3);
	sc_result_free(&r);
	scenario_free(&sc);
	/* explicit, in the second slot */
	snprintf(text, sizeof(text), "%s[firmware]\nhob = 0x1200000\n", base);
	assert_int_equal(load(text, &sc, err, sizeof(err)), 0);
	assert_int_equal(scenario_hob_gpa(&sc), 0x1200000);
	scenario_free(&sc);
	/* with gpa/size the program accepts its range alone: no HOB unless asked */
	snprintf(text, sizeof(text), "[memslot 0]\ngpa = 0\nsize = 8M\n[vcpu 0]\n"
		 "program = firmware\ngpa = 0\nsize = 4M\n");
	assert_int_equal(load(text, &sc, err, sizeof(err)), 0);
	assert_int_equal(scenario_hob_gpa(&sc), 0);
	scenario_free(&sc);
	static const struct { const char *add, *want; } bad[] = {
		{ "[firmware]\nhob = 0x1234\n", "not a 4K-aligned GPA" },
		{ "[firmware]\nhob = 0x2000000\n", "not in a private guest_memfd memslot" },
		{ "[firmware]\ngpa = 0x1000\npages = 2\nhob = 0x2000\n", "a page of the firmware image" },
		{ "[vcpu 0]\naccept_end = 3M\nchunk = 4M\nbogus = 1\n", "bogus" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", base, bad[i].add);
		if (!strncmp(bad[i].add, "[vcpu 0]", 8))	/* the program's own keys */
			snprintf(text, sizeof(text), "[memslot 0]\ngpa = 0\nsize = 8M\n[vcpu 0]\n"
				 "program = firmware\n%s", bad[i].add + 9);
		assert_int_equal(load(text, &sc, err, sizeof(err)), -1);
		print_message("    %s\n", err);
		assert_non_null(strstr(err, bad[i].want));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hob_bytes),
		cmocka_unit_test(test_hob_ovmf),
		cmocka_unit_test(test_fw_ovmf_2g),
		cmocka_unit_test(test_fw_accept_end),
		cmocka_unit_test(test_fw_round_robin),
		cmocka_unit_test(test_fw_broken_hob),
		cmocka_unit_test(test_fw_scenario_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
