/* SPDX-License-Identifier: MIT */
/*
 * Operand validation of the host leaves: the GPA+level operand, the shared
 * bit and the GPA width, EPT_WALK_FAILED details, HPA and TDR operands,
 * PAGE.ADD's source, SEPT.ADD's TD handle, SEPT.RD's L2 flag, the raw
 * SEAMCALL dispatcher, and a randomised check of AUG's RCX against a
 * predicate written from the ABI (shared/reference/module-abi.md sections 1,
 * 4, 5; verify_page_info_input and check_gpa_validity of the 1.5 module).
 */
#include <inttypes.h>
#include <string.h>

#include "testlib.h"

#define INV(o) (TDX_OPERAND_INVALID | (o))
#define PMI(o) (TDX_PAGE_METADATA_INCORRECT | (o))
#define RANGE(o) (TDX_OPERAND_ADDR_RANGE_ERROR | (o))

/* ---------------------------------------------------------------------------
 * Fixtures
 */

/* A RUNNABLE 5-level TD with GPAW = 1 (shared bit 51); MAX_PA 52 for PML5. */
static void fx_gpaw(struct fx *f)
{
	struct tdx_module_config c;
	struct bringup_opts o;
	tdx_module_default_config(&c);
	c.max_pa = 52;
	bringup_default_opts(&o);
	o.levels = 5;
	o.gpaw = true;
	fx_init_cfg(f, &c, &o);
	assert_status(tdh_mr_finalize(f->m, &f->out, f->b.tdr), TDX_SUCCESS);
	assert_true(tdx_td_gpaw(f->b.td));
	assert_int_equal(tdx_td_levels(f->b.td), 5);
	assert_int_equal(tdx_td_shared_bit(f->b.td), BIT64(51));
}

/* ---------------------------------------------------------------------------
 * The memory leaves with a GPA+level operand in RCX
 */

enum mleaf { M_AUG, M_BLOCK, M_UNBLOCK, M_SEPT_ADD, M_REMOVE, M_SEPT_REMOVE, M_SEPT_RD, M_NR };

/* Level range of each leaf (verify_page_info_input); -1: the TD's EPT walk length. */
static const struct {
	const char *name;
	int min, max;
} mleaves[M_NR] = {
	[M_AUG] = { "MEM.PAGE.AUG", 0, 1 },
	[M_BLOCK] = { "MEM.RANGE.BLOCK", 0, -1 },
	[M_UNBLOCK] = { "MEM.RANGE.UNBLOCK", 0, -1 },
	[M_SEPT_ADD] = { "MEM.SEPT.ADD", 1, -1 },
	[M_REMOVE] = { "MEM.PAGE.REMOVE", 0, 2 },
	[M_SEPT_REMOVE] = { "MEM.SEPT.REMOVE", 1, -1 },
	[M_SEPT_RD] = { "MEM.SEPT.RD", 0, -1 },
};

static int max_level(struct fx *f, int which)
{
	return mleaves[which].max < 0 ? tdx_td_levels(f->b.td) - 1 : mleaves[which].max;
}

/* Call a memory leaf with @info; fresh pages where the leaf takes one. */
static uint64_t mcall(struct fx *f, int which, uint64_t info)
{
	int level = (int)(info & GPA_INFO_LEVEL_MASK);
	uint64_t tdr = f->b.tdr;
	memset(&f->out, 0xa5, sizeof(f->out));
	switch (which) {
	case M_AUG:
		return tdh_mem_page_aug(f->m, &f->out, info, tdr,
					level == 1 ? bringup_page_2m(&f->b) : bringup_page(&f->b));
	case M_BLOCK:
		return tdh_mem_range_block(f->m, &f->out, info, tdr);
	case M_UNBLOCK:
		return tdh_mem_range_unblock(f->m, &f->out, info, tdr);
	case M_SEPT_ADD:
		return tdh_mem_sept_add(f->m, &f->out, info, tdr, bringup_page(&f->b));
	case M_REMOVE:
		return tdh_mem_page_remove(f->m, &f->out, info, tdr);
	case M_SEPT_REMOVE:
		return tdh_mem_sept_remove(f->m, &f->out, info, tdr);
	case M_SEPT_RD:
		return tdh_mem_sept_rd(f->m, &f->out, info, tdr);
	}
	fail_msg("bad leaf %d", which);
	return 0;
}

/*
 * @invalid: the call must return exactly OPERAND_INVALID|RCX with RCX and
 * RDX out zero; otherwise it must not return OPERAND_INVALID at all.
 * Returns the number of mismatches (printed).
 */
static int check_rcx(struct fx *f, int which, uint64_t info, bool invalid, const char *what)
{
	uint64_t st = mcall(f, which, info);
	if (invalid) {
		if (st == INV(OPND_RCX) && f->out.rcx == 0 && f->out.rdx == 0)
			return 0;
	} else if (tdx_status_code(st) != TDX_OPERAND_INVALID) {
		return 0;
	}
	print_error("%s, %s RCX %#" PRIx64 ": %s|%#x (rcx %#" PRIx64 " rdx %#" PRIx64
		    "), expected %s\n", what, mleaves[which].name, info, tdx_status_name(st),
		    tdx_status_operand(st), f->out.rcx, f->out.rdx,
		    invalid ? "OPERAND_INVALID|RCX with RCX/RDX 0" : "not OPERAND_INVALID");
	return 1;
}

static void test_gpa_info_reserved_bits(void **state)
{
	(void)state;
	BANNER("GPA+level operand: reserved bits 11:3 and 63:52 -> OPERAND_INVALID|RCX");
	static const int bits[] = { 3, 4, 7, 8, 11, 52, 53, 56, 60, 62, 63 };
	struct fx f;
	int failures = 0;
	fx_init_runnable(&f, NULL);
	for (int w = 0; w < M_NR; w++) {
		uint64_t base = tdx_gpa_info(0, mleaves[w].min);
		failures += check_rcx(&f, w, base, false, "no reserved bit");
		for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
			failures += check_rcx(&f, w, base | BIT64(bits[i]), true, "reserved bit");
		failures += check_rcx(&f, w, base | GPA_INFO_RSVD0_MASK, true, "bits 11:3");
		failures += check_rcx(&f, w, base | GPA_INFO_RSVD1_MASK, true, "bits 63:52");
	}
	assert_int_equal(failures, 0);
	fx_fini(&f);
}

static int level_range_on(struct fx *f)
{
	int failures = 0;
	for (int w = 0; w < M_NR; w++) {
		for (int l = 0; l <= 7; l++) {
			bool in = l >= mleaves[w].min && l <= max_level(f, w);
			failures += check_rcx(f, w, tdx_gpa_info(0, l), !in, "level range");
		}
	}
	return failures;
}

static void test_gpa_info_level_range(void **state)
{
	(void)state;
	BANNER("GPA+level operand: levels outside each leaf's range (4- and 5-level TDs)");
	struct fx f;
	fx_init_runnable(&f, NULL);
	assert_int_equal(level_range_on(&f), 0);
	fx_fini(&f);
	fx_gpaw(&f);
	assert_int_equal(level_range_on(&f), 0);
	fx_fini(&f);
}

static void test_gpa_info_alignment(void **state)
{
	(void)state;
	BANNER("GPA+level operand: GPA not aligned to the level's size -> OPERAND_INVALID|RCX");
	struct fx f;
	int failures = 0;
	fx_init_runnable(&f, NULL);
	for (int w = 0; w < M_NR; w++) {
		for (int l = mleaves[w].min; l <= max_level(&f, w); l++) {
			if (l == 0)
				continue;	/* every GPA in RCX is 4K aligned */
			uint64_t size = tdx_level_size(l);
			failures += check_rcx(&f, w, tdx_gpa_info(SZ_4K, l), true, "4K offset");
			failures += check_rcx(&f, w, tdx_gpa_info(tdx_level_size(l - 1), l), true,
					      "next-lower level's size");
			failures += check_rcx(&f, w, tdx_gpa_info(size + size / 2, l), true,
					      "half a level");
			failures += check_rcx(&f, w, tdx_gpa_info(3 * size, l), false, "aligned");
		}
	}
	assert_int_equal(failures, 0);
	fx_fini(&f);
}

static void test_gpa_shared_bit_and_width(void **state)
{
	(void)state;
	BANNER("shared bit 47 (GPAW 0) / 51 (GPAW 1) and bits above the GPA width -> OPERAND_INVALID|RCX");
	struct fx f;
	int failures = 0;

	fx_init_runnable(&f, NULL);
	assert_false(tdx_td_gpaw(f.b.td));
	assert_int_equal(tdx_td_shared_bit(f.b.td), BIT64(47));
	for (int w = 0; w < M_NR; w++) {
		int l = mleaves[w].min;
		failures += check_rcx(&f, w, tdx_gpa_info(BIT64(47), l), true, "GPAW 0, shared bit 47");
		for (int b = 48; b <= 51; b++)
			failures += check_rcx(&f, w, tdx_gpa_info(BIT64(b), l), true,
					      "GPAW 0, above the 48-bit GPA width");
		failures += check_rcx(&f, w, tdx_gpa_info(BIT64(46), l), false, "GPAW 0, bit 46");
	}
	assert_int_equal(failures, 0);
	/* the top private GPA works end to end */
	uint64_t top = BIT64(47) - SZ_4K;
	fx_aug(&f, top, 0);
	assert_int_equal(fx_pub_state(&f, top, 0), SEPT_PUB_PENDING);
	fx_fini(&f);

	fx_gpaw(&f);
	for (int w = 0; w < M_NR; w++) {
		int l = mleaves[w].min;
		failures += check_rcx(&f, w, tdx_gpa_info(BIT64(51), l), true, "GPAW 1, shared bit 51");
		failures += check_rcx(&f, w, tdx_gpa_info(BIT64(51) | BIT64(47), l), true,
				      "GPAW 1, bits 51 and 47");
		for (int b = 47; b <= 50; b++)
			failures += check_rcx(&f, w, tdx_gpa_info(BIT64(b), l), false,
					      "GPAW 1, private bit");
	}
	assert_int_equal(failures, 0);
	/* bits 47 and 48 are private GPA bits with GPAW 1: AUG them for real */
	fx_aug(&f, BIT64(48), 0);
	fx_aug(&f, BIT64(47), 0);
	fx_aug(&f, BIT64(51) - SZ_2M, 1);
	assert_int_equal(fx_pub_state(&f, BIT64(48), 0), SEPT_PUB_PENDING);
	assert_int_equal(fx_pub_state(&f, BIT64(47), 0), SEPT_PUB_PENDING);
	assert_int_equal(fx_pub_state(&f, BIT64(51) - SZ_2M, 1), SEPT_PUB_PENDING);
	fx_fini(&f);
}

/* ---------------------------------------------------------------------------
 * EPT_WALK_FAILED and its details
 */

static void expect_walk_failed(struct fx *f, int which, uint64_t info, uint64_t rcx, uint64_t rdx)
{
	uint64_t st = mcall(f, which, info);
	assert_status(st, TDX_EPT_WALK_FAILED | OPND_RCX);
	assert_int_equal(f->out.rcx, rcx);
	assert_int_equal(f->out.rdx, rdx);
}

static void test_ept_walk_failed(void **state)
{
	(void)state;
	BANNER("EPT_WALK_FAILED|RCX: RCX out = entry where the walk stopped, RDX out = level | state << 8");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t tdr = f.b.tdr, hpa = bringup_page(&f.b);
	/* a fresh TD: the PML4 entry (level 3) is FREE, reported as SVE only */
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0, 0), tdr, hpa),
		      TDX_EPT_WALK_FAILED | OPND_RCX);
	assert_int_equal(f.out.rcx, EPTE_SVE);
	assert_int_equal(f.out.rdx, tdx_sept_info(3, SEPT_PUB_FREE));
	assert_int_equal(pamt_peek_type(f.pm, hpa, PAMT_4K), PT_NDA);
	expect_walk_failed(&f, M_AUG, tdx_gpa_info(SZ_2M, 1), EPTE_SVE, 3);
	expect_walk_failed(&f, M_SEPT_RD, tdx_gpa_info(0, 0), EPTE_SVE, 3);
	expect_walk_failed(&f, M_BLOCK, tdx_gpa_info(0, 1), EPTE_SVE, 3);
	expect_walk_failed(&f, M_SEPT_ADD, tdx_gpa_info(0, 1), EPTE_SVE, 3);
	expect_walk_failed(&f, M_REMOVE, tdx_gpa_info(0, 2), EPTE_SVE, 3);

	/* one level at a time: the walk stops one level further down */
	assert_status(tdh_mem_sept_add(f.m, &f.out, tdx_gpa_info(0, 3), tdr, bringup_page(&f.b)),
		      TDX_SUCCESS);
	expect_walk_failed(&f, M_AUG, tdx_gpa_info(0, 0), EPTE_SVE, tdx_sept_info(2, SEPT_PUB_FREE));
	assert_status(tdh_mem_sept_add(f.m, &f.out, tdx_gpa_info(0, 2), tdr, bringup_page(&f.b)),
		      TDX_SUCCESS);
	expect_walk_failed(&f, M_AUG, tdx_gpa_info(0, 0), EPTE_SVE, tdx_sept_info(1, SEPT_PUB_FREE));

	/* a 2M PENDING leaf stops a 4K walk at level 1 */
	uint64_t p2m = bringup_page_2m(&f.b);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0, 1), tdr, p2m), TDX_SUCCESS);
	uint64_t p4k = bringup_page(&f.b);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0x3000, 0), tdr, p4k),
		      TDX_EPT_WALK_FAILED | OPND_RCX);
	assert_int_equal(f.out.rdx, tdx_sept_info(1, SEPT_PUB_PENDING));
	assert_int_equal(f.out.rcx & EPTE_HPA_MASK, p2m);
	assert_true(f.out.rcx & EPTE_LEAF);
	assert_int_equal(f.out.rcx & (EPTE_R | EPTE_W | EPTE_X), 0);	/* pending: no access */
	assert_int_equal(pamt_peek_type(f.pm, p4k, PAMT_4K), PT_NDA);
	fx_fini(&f);

	/* a 5-level TD: the walk starts at level 4 */
	fx_gpaw(&f);
	expect_walk_failed(&f, M_AUG, tdx_gpa_info(0, 0), EPTE_SVE, tdx_sept_info(4, SEPT_PUB_FREE));
	fx_fini(&f);
}

/* ---------------------------------------------------------------------------
 * HPA and TDR operands
 */

static void test_hpa_operands(void **state)
{
	(void)state;
	BANNER("HPA operands: alignment / MAX_PA (OPERAND_INVALID), outside TDMRs (ADDR_RANGE_ERROR), "
	       "in use (PAGE_METADATA_INCORRECT), with the right operand id");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t tdr = f.b.tdr;
	uint64_t gi = tdx_gpa_info(0x5000, 0);
	fx_path(&f, 0x5000, 0);
	uint64_t p = bringup_page(&f.b);
	const uint64_t beyond_mem = BIT64(40);	/* below MAX_PA 46, above the 64G of memory */

	/* AUG's page: R8 */
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, p + 0x800), INV(OPND_R8));
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, p + 8), INV(OPND_R8));
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, BIT64(46)), INV(OPND_R8));
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, BIT64(46) | p), INV(OPND_R8));
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, beyond_mem), RANGE(OPND_R8));
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, f.b.shared_page), RANGE(OPND_R8));
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, f.b.tdcx[0]), PMI(OPND_R8));
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, f.b.tdvpr[0]), PMI(OPND_R8));
	/* 2M: aligned to 2M, and every 4K page inside it free */
	uint64_t g2 = tdx_gpa_info(SZ_2M, 1);
	assert_status(tdh_mem_page_aug(f.m, &f.out, g2, tdr, p), INV(OPND_R8));
	uint64_t used2m = bringup_page_2m(&f.b);
	fx_path(&f, 0x9000, 0);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0x9000, 0), tdr, used2m + 5 * SZ_4K),
		      TDX_SUCCESS);
	assert_status(tdh_mem_page_aug(f.m, &f.out, g2, tdr, used2m), PMI(OPND_R8));
	assert_int_equal(fx_pub_state(&f, 0x5000, 0), SEPT_PUB_FREE);
	assert_int_equal(fx_pub_state(&f, SZ_2M, 1), SEPT_PUB_FREE);
	/* a 4K page inside a 2M private page is found at 2M and refused */
	uint64_t p2m = bringup_page_2m(&f.b);
	assert_status(tdh_mem_page_aug(f.m, &f.out, g2, tdr, p2m), TDX_SUCCESS);
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, p2m + 7 * SZ_4K), PMI(OPND_R8));
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, p), TDX_SUCCESS);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0x6000, 0), tdr, p), PMI(OPND_R8));

	/* MNG.CREATE's TDR page: RCX */
	uint64_t q = bringup_page(&f.b);
	assert_status(tdh_mng_create(f.m, &f.out, q + 0x100, 2), INV(OPND_RCX));
	assert_status(tdh_mng_create(f.m, &f.out, BIT64(46), 2), INV(OPND_RCX));
	assert_status(tdh_mng_create(f.m, &f.out, beyond_mem, 2), RANGE(OPND_RCX));
	assert_status(tdh_mng_create(f.m, &f.out, f.b.shared_page, 2), RANGE(OPND_RCX));
	assert_status(tdh_mng_create(f.m, &f.out, f.b.tdcx[3], 2), PMI(OPND_RCX));
	assert_status(tdh_mng_create(f.m, &f.out, p, 2), PMI(OPND_RCX));
	assert_status(tdh_mng_create(f.m, &f.out, p2m + SZ_4K, 2), PMI(OPND_RCX));
	assert_status(tdh_mng_create(f.m, &f.out, q, 2), TDX_SUCCESS);
	fx_fini(&f);
}

static void test_tdr_operand(void **state)
{
	(void)state;
	BANNER("TDR operand (RDX of memory leaves, RCX of TRACK/FINALIZE/KEY.CONFIG): not a TDR page "
	       "-> PAGE_METADATA_INCORRECT, checked before the GPA");
	struct fx f;
	fx_init(&f, NULL);
	uint64_t free_page = bringup_page(&f.b);
	const struct { uint64_t tdr; uint64_t rc; } bad[] = {
		{ f.b.tdcx[0], TDX_PAGE_METADATA_INCORRECT },
		{ f.b.tdvpr[0], TDX_PAGE_METADATA_INCORRECT },
		{ free_page, TDX_PAGE_METADATA_INCORRECT },
		{ f.b.tdr + 0x80, TDX_OPERAND_INVALID },
		{ f.b.tdr | 1, TDX_OPERAND_INVALID },
		{ BIT64(46), TDX_OPERAND_INVALID },
		{ f.b.shared_page, TDX_OPERAND_ADDR_RANGE_ERROR },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t t = bad[i].tdr, want_rdx = bad[i].rc | OPND_RDX, want_rcx = bad[i].rc | OPND_RCX;
		uint64_t gi = tdx_gpa_info(0, 0), bad_gi = gi | BIT64(5);
		assert_status(tdh_mem_page_aug(f.m, &f.out, gi, t, bringup_page(&f.b)), want_rdx);
		assert_status(tdh_mem_page_aug(f.m, &f.out, bad_gi, t, bringup_page(&f.b)), want_rdx);
		assert_status(tdh_mem_range_block(f.m, &f.out, bad_gi, t), want_rdx);
		assert_status(tdh_mem_range_unblock(f.m, &f.out, gi, t), want_rdx);
		assert_status(tdh_mem_page_remove(f.m, &f.out, bad_gi, t), want_rdx);
		assert_status(tdh_mem_sept_remove(f.m, &f.out, tdx_gpa_info(0, 1), t), want_rdx);
		assert_status(tdh_mem_page_add(f.m, &f.out, gi, t, bringup_page(&f.b), f.b.shared_page),
			      want_rdx);
		assert_status(tdh_mr_extend(f.m, &f.out, 0, t), want_rdx);
		assert_status(tdh_mem_track(f.m, &f.out, t), want_rcx);
		assert_status(tdh_mr_finalize(f.m, &f.out, t), want_rcx);
		assert_status(tdh_mng_key_config(f.m, &f.out, t), want_rcx);
		assert_status(tdh_vp_create(f.m, &f.out, bringup_page(&f.b), t), want_rdx);
		if (!(t & 1)) {	/* bit 0 of these two handles is a flag */
			assert_status(tdh_mem_sept_add(f.m, &f.out, tdx_gpa_info(0, 3), t,
						       bringup_page(&f.b)), want_rdx);
			assert_status(tdh_mem_sept_rd(f.m, &f.out, bad_gi, t), want_rdx);
		}
	}
	fx_fini(&f);
}

static void test_page_add_source(void **state)
{
	(void)state;
	BANNER("PAGE.ADD: the source (R9) must be 4K aligned and below MAX_PA (its type is not "
	       "checked: test_module_fixes); checked after the S-EPT entry and before the target (R8)");
	struct fx f;
	fx_init(&f, NULL);
	uint64_t tdr = f.b.tdr;
	fx_path(&f, 0, 0);
	uint64_t gi = tdx_gpa_info(0, 0);
	uint64_t added = fx_add(&f, 0x1000);
	uint64_t p2m = bringup_page_2m(&f.b);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(SZ_2M, 1), tdr, p2m), TDX_SUCCESS);
	uint64_t t = bringup_page(&f.b);

	(void)added;
	const uint64_t bad_src[] = {
		f.b.shared_page + 0x10, f.b.shared_page + 0x800, p2m + 0x40, BIT64(46),
	};
	for (size_t i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++) {
		assert_status(tdh_mem_page_add(f.m, &f.out, gi, tdr, t, bad_src[i]), INV(OPND_R9));
		assert_int_equal(pamt_peek_type(f.pm, t, PAMT_4K), PT_NDA);
	}
	/* the source is checked before the target */
	assert_status(tdh_mem_page_add(f.m, &f.out, gi, tdr, f.b.tdcx[1], f.b.tdcx[2] + 8),
		      INV(OPND_R9));
	assert_status(tdh_mem_page_add(f.m, &f.out, gi, tdr, f.b.tdcx[1], f.b.shared_page),
		      PMI(OPND_R8));
	assert_status(tdh_mem_page_add(f.m, &f.out, gi, tdr, t + 0x40, f.b.shared_page), INV(OPND_R8));
	/* and after the S-EPT entry */
	assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(0x1000, 0), tdr, t,
				       f.b.tdcx[2] + 8), TDX_EPT_ENTRY_STATE_INCORRECT | OPND_RCX);
	assert_int_equal(f.out.rdx, tdx_sept_info(0, SEPT_PUB_MAPPED));
	/* 4K only */
	assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(0, 1), tdr, t, f.b.shared_page),
		      INV(OPND_RCX));
	assert_int_equal(fx_pub_state(&f, 0, 0), SEPT_PUB_FREE);

	/* shared pages: host memory outside the TDMRs, or a free TDMR page */
	assert_status(tdh_mem_page_add(f.m, &f.out, gi, tdr, t, f.b.shared_page), TDX_SUCCESS);
	assert_int_equal(pamt_peek_type(f.pm, t, PAMT_4K), PT_REG);
	uint64_t src = bringup_page(&f.b);
	physmem_write64(f.pm, src + 64, 0x1234);
	uint64_t t2 = bringup_page(&f.b);
	assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(0x2000, 0), tdr, t2, src), TDX_SUCCESS);
	assert_int_equal(physmem_read64(f.pm, t2 + 64), 0x1234);
	assert_int_equal(pamt_peek_type(f.pm, src, PAMT_4K), PT_NDA);
	fx_fini(&f);
}

static void test_mr_extend_gpa(void **state)
{
	(void)state;
	BANNER("MR.EXTEND: GPA 256-byte aligned and private (OPERAND_INVALID|RCX), leaf MAPPED "
	       "(EPT_ENTRY_NOT_PRESENT|RCX)");
	struct fx f;
	fx_init(&f, NULL);
	uint64_t tdr = f.b.tdr;
	fx_add(&f, 0x4000);
	fx_aug(&f, 0x5000, 0);
	static const uint64_t bad[] = { 0x4080, 0x4001, 0x40f0, BIT64(47) | 0x4000,
					BIT64(48) | 0x4000, BIT64(51) | 0x4000, BIT64(63) | 0x4000 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_status(tdh_mr_extend(f.m, &f.out, bad[i], tdr), INV(OPND_RCX));
	for (uint64_t off = 0; off < SZ_4K; off += 256)
		assert_status(tdh_mr_extend(f.m, &f.out, 0x4000 + off, tdr), TDX_SUCCESS);
	/* a PENDING leaf and a missing leaf are not present */
	assert_status(tdh_mr_extend(f.m, &f.out, 0x5000, tdr), TDX_EPT_ENTRY_NOT_PRESENT | OPND_RCX);
	assert_status(tdh_mr_extend(f.m, &f.out, 0x6000, tdr), TDX_EPT_ENTRY_NOT_PRESENT | OPND_RCX);
	assert_status(tdh_mr_extend(f.m, &f.out, SZ_1G, tdr), TDX_EPT_ENTRY_NOT_PRESENT | OPND_RCX);
	fx_fini(&f);
}

static void test_sept_add_handle(void **state)
{
	(void)state;
	BANNER("SEPT.ADD: TD handle bits 11:1 reserved (OPERAND_INVALID|RDX); ALLOW_EXISTING");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t tdr = f.b.tdr, p = bringup_page(&f.b);
	uint64_t gi = tdx_gpa_info(0, 3);
	static const int rsvd[] = { 1, 2, 5, 11, 52, 63 };
	for (size_t i = 0; i < sizeof(rsvd) / sizeof(rsvd[0]); i++) {
		assert_status(tdh_mem_sept_add(f.m, &f.out, gi, tdr | BIT64(rsvd[i]), p), INV(OPND_RDX));
		assert_status(tdh_mem_sept_add(f.m, &f.out, gi | BIT64(3), tdr | BIT64(rsvd[i]), p),
			      INV(OPND_RDX));
		assert_status(tdh_mem_sept_add(f.m, &f.out, gi, tdr | TDR_HANDLE_ALLOW_EXISTING |
					       BIT64(rsvd[i]), p), INV(OPND_RDX));
	}
	assert_int_equal(pamt_peek_type(f.pm, p, PAMT_4K), PT_NDA);
	/* the new S-EPT page: R8 */
	assert_status(tdh_mem_sept_add(f.m, &f.out, gi, tdr, p + 0x100), INV(OPND_R8));
	assert_status(tdh_mem_sept_add(f.m, &f.out, gi, tdr, f.b.tdcx[4]), PMI(OPND_R8));
	assert_status(tdh_mem_sept_add(f.m, &f.out, gi, tdr, f.b.shared_page), RANGE(OPND_R8));

	assert_status(tdh_mem_sept_add_v1(f.m, &f.out, gi, tdr | TDR_HANDLE_ALLOW_EXISTING, p),
		      TDX_SUCCESS);
	assert_int_equal(pamt_peek_type(f.pm, p, PAMT_4K), PT_EPT);
	assert_int_equal(f.out.r8, TDX_NULL_PA);	/* version 1: the page was used */
	uint64_t p2 = bringup_page(&f.b);
	/* present: an error without ALLOW_EXISTING, success with it (page unused) */
	assert_status(tdh_mem_sept_add(f.m, &f.out, gi, tdr, p2), TDX_EPT_ENTRY_STATE_INCORRECT | OPND_RCX);
	assert_int_equal(f.out.rdx, tdx_sept_info(3, SEPT_PUB_NL_MAPPED));
	assert_status(tdh_mem_sept_add_v1(f.m, &f.out, gi, tdr | TDR_HANDLE_ALLOW_EXISTING, p2),
		      TDX_SUCCESS);
	assert_int_equal(f.out.r8, p2 | SEPT_ADD_R8_EXISTED);
	assert_int_equal(pamt_peek_type(f.pm, p2, PAMT_4K), PT_NDA);
	/* version 0: the same success, but R8 comes back as given */
	assert_status(tdh_mem_sept_add(f.m, &f.out, gi, tdr | TDR_HANDLE_ALLOW_EXISTING, p2),
		      TDX_SUCCESS);
	assert_int_equal(f.out.r8, p2);
	fx_fini(&f);
}

static void test_sept_rd_l2_flag(void **state)
{
	(void)state;
	BANNER("SEPT.RD: RDX bit 0 (read L2 attributes) needs a DEBUG TD, else OPERAND_INVALID|RDX");
	struct fx f;
	fx_init_runnable(&f, NULL);
	fx_aug(&f, 0, 0);
	assert_status(tdh_mem_sept_rd(f.m, &f.out, tdx_gpa_info(0, 0), f.b.tdr | 1), INV(OPND_RDX));
	/* the flag is checked before the GPA operand */
	assert_status(tdh_mem_sept_rd(f.m, &f.out, tdx_gpa_info(0, 0) | BIT64(3), f.b.tdr | 1),
		      INV(OPND_RDX));
	assert_status(tdh_mem_sept_rd(f.m, &f.out, tdx_gpa_info(0, 0), f.b.tdr), TDX_SUCCESS);
	assert_int_equal(f.out.rdx, tdx_sept_info(0, SEPT_PUB_PENDING));
	fx_fini(&f);

	/* a DEBUG TD, built by hand (bringup has no DEBUG option) */
	struct tdx_module_config c;
	struct td_params p;
	tdx_module_default_config(&c);
	memset(&f, 0, sizeof(f));
	f.m = tdx_module_create(&c);
	assert_non_null(f.m);
	f.pm = tdx_module_physmem(f.m);
	bringup_init(&f.b, f.m);
	bringup_default_opts(&f.o);
	f.b.tdr = bringup_page(&f.b);
	assert_status(tdh_mng_create(f.m, &f.out, f.b.tdr, 1), TDX_SUCCESS);
	assert_status(tdh_mng_key_config(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	for (int i = 0; i < TDX_TDCS_PAGES; i++)
		assert_status(tdh_mng_addcx(f.m, &f.out, bringup_page(&f.b), f.b.tdr), TDX_SUCCESS);
	bringup_td_params(&f.o, &p);
	p.attributes |= TD_ATTR_DEBUG;
	physmem_write(f.pm, f.b.shared_page, &p, sizeof(p));
	assert_status(tdh_mng_init(f.m, &f.out, f.b.tdr, f.b.shared_page), TDX_SUCCESS);
	f.b.td = tdx_td_by_tdr(f.m, f.b.tdr);
	fx_aug(&f, 0, 0);
	assert_status(tdh_mem_sept_rd(f.m, &f.out, tdx_gpa_info(0, 0), f.b.tdr | 1), TDX_SUCCESS);
	assert_int_equal(f.out.rdx, tdx_sept_info(0, SEPT_PUB_PENDING));
	fx_fini(&f);
}

/* ---------------------------------------------------------------------------
 * The raw dispatcher
 */

static void test_seamcall_dispatcher(void **state)
{
	(void)state;
	BANNER("tdx_seamcall: unknown leaf, version, RAX bits 63:24 -> OPERAND_INVALID|RAX; "
	       "a successful AUG with its outputs");
	struct fx f;
	struct tdx_regs r;
	fx_init_runnable(&f, NULL);
	fx_path(&f, 0, 0);
	uint64_t gi = tdx_gpa_info(0, 0), hpa = bringup_page(&f.b);
	const uint64_t bad_rax[] = {
		127, 100, 0x7fff, 0xffff,			/* no such leaf */
		TDH_MEM_PAGE_AUG | (1ull << 16),		/* AUG has only version 0 */
		TDH_MEM_PAGE_AUG | (0xffull << 16),
		TDH_MR_FINALIZE | (1ull << 16),
		TDH_MEM_PAGE_AUG | BIT64(24),			/* bits 63:24 reserved */
		TDH_MEM_PAGE_AUG | BIT64(40),
		TDH_MEM_PAGE_AUG | BIT64(63),
	};
	for (size_t i = 0; i < sizeof(bad_rax) / sizeof(bad_rax[0]); i++) {
		r = (struct tdx_regs){ .rax = bad_rax[i], .rcx = gi, .rdx = f.b.tdr, .r8 = hpa };
		tdx_seamcall(f.m, &r);
		assert_status(r.rax, TDX_OPERAND_INVALID | OPND_RAX);
		assert_int_equal(tdx_status_operand(r.rax), 0);
		assert_int_equal(pamt_peek_type(f.pm, hpa, PAMT_4K), PT_NDA);
	}
	assert_int_equal(fx_pub_state(&f, 0, 0), SEPT_PUB_FREE);

	/* an AUG with no S-EPT path: the walk details in RCX/RDX */
	r = (struct tdx_regs){ .rax = TDH_MEM_PAGE_AUG, .rcx = tdx_gpa_info(SZ_1G, 0),
			       .rdx = f.b.tdr, .r8 = hpa };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_EPT_WALK_FAILED | OPND_RCX);
	assert_int_equal(r.rcx, EPTE_SVE);
	assert_int_equal(r.rdx, tdx_sept_info(2, SEPT_PUB_FREE));

	/* a successful AUG: RCX = RDX = 0 out */
	r = (struct tdx_regs){ .rax = TDH_MEM_PAGE_AUG, .rcx = gi, .rdx = f.b.tdr, .r8 = hpa };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_SUCCESS);
	assert_int_equal(r.rcx, 0);
	assert_int_equal(r.rdx, 0);
	assert_int_equal(pamt_peek_type(f.pm, hpa, PAMT_4K), PT_REG);
	/* SEPT.RD through the dispatcher sees it PENDING at hpa */
	r = (struct tdx_regs){ .rax = TDH_MEM_SEPT_RD, .rcx = gi, .rdx = f.b.tdr };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_SUCCESS);
	assert_int_equal(r.rdx, tdx_sept_info(0, SEPT_PUB_PENDING));
	assert_int_equal(r.rcx & EPTE_HPA_MASK, hpa);
	/* the same AUG again: the entry is no longer FREE */
	r = (struct tdx_regs){ .rax = TDH_MEM_PAGE_AUG, .rcx = gi, .rdx = f.b.tdr,
			       .r8 = bringup_page(&f.b) };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_EPT_ENTRY_STATE_INCORRECT | OPND_RCX);
	assert_int_equal(r.rdx, tdx_sept_info(0, SEPT_PUB_PENDING));
	fx_fini(&f);
}

/* ---------------------------------------------------------------------------
 * Randomised: AUG's RCX against an independent predicate
 */

/*
 * Is @rcx a well-formed, private GPA+level operand for PAGE.AUG of a TD with
 * @gpaw?  From the ABI: bits 11:3 and 63:52 zero, level 0 or 1, GPA aligned
 * to the level's size, shared bit (47, or 51 with GPAW) clear, and with
 * GPAW 0 bits 51:48 clear.
 */
static bool aug_rcx_valid(uint64_t rcx, bool gpaw)
{
	if (rcx & (GENMASK64(11, 3) | GENMASK64(63, 52)))
		return false;
	unsigned level = rcx & 7;
	if (level > 1)
		return false;
	uint64_t gpa = rcx & GENMASK64(51, 12);
	if (gpa & ((4096ull << (9 * level)) - 1))
		return false;
	if (gpa & BIT64(gpaw ? 51 : 47))
		return false;
	if (!gpaw && (gpa & GENMASK64(51, 48)))
		return false;
	return true;
}

/* A random AUG operand, biased toward the interesting edges. */
static uint64_t random_rcx(uint64_t *s)
{
	uint64_t r = test_rand(s);
	if (r % 8 == 0)
		return test_rand(s);			/* anything */
	uint64_t gpa;
	switch ((r >> 3) % 4) {
	case 0:	gpa = test_rand(s) & GENMASK64(21, 12); break;	/* inside the first 4M */
	case 1:	gpa = test_rand(s) & GENMASK64(29, 21); break;	/* 2M steps in the first 1G */
	case 2:	gpa = test_rand(s) & GENMASK64(51, 12); break;
	default: gpa = BIT64(44 + test_rand(s) % 8) | (test_rand(s) & GENMASK64(29, 12)); break;
	}
	uint64_t level = (r >> 5) % 4 ? (r >> 7) % 2 : (r >> 7) % 8;
	uint64_t rcx = gpa | level;
	if ((r >> 10) % 4 == 0)				/* one stray bit anywhere */
		rcx |= BIT64(test_rand(s) % 64);
	if ((r >> 12) % 3 == 0)				/* often align to the level */
		rcx &= ~((4096ull << (9 * (level & 1))) - 1) | 7;
	return rcx;
}

struct aug_stats {
	int valid, invalid, success;
};

static int random_aug_on(struct fx *f, uint64_t *seed, int n, struct aug_stats *s)
{
	bool gpaw = tdx_td_gpaw(f->b.td);
	uint64_t page4k = bringup_page(&f->b), page2m = bringup_page_2m(&f->b);
	int failures = 0;
	for (int i = 0; i < n; i++) {
		uint64_t rcx = random_rcx(seed);
		bool valid = aug_rcx_valid(rcx, gpaw);
		bool big = (rcx & 7) == 1;
		uint64_t hpa = big ? page2m : page4k;
		memset(&f->out, 0xa5, sizeof(f->out));
		uint64_t st = tdh_mem_page_aug(f->m, &f->out, rcx, f->b.tdr, hpa);
		bool ok;
		if (valid) {
			s->valid++;
			ok = st == TDX_SUCCESS || st == (TDX_EPT_WALK_FAILED | OPND_RCX) ||
			     st == (TDX_EPT_ENTRY_STATE_INCORRECT | OPND_RCX);
			if (st == TDX_SUCCESS) {
				s->success++;
				ok = ok && pamt_peek_type(f->pm, hpa, (enum pamt_size)big) == PT_REG;
				if (big)
					page2m = bringup_page_2m(&f->b);
				else
					page4k = bringup_page(&f->b);
			}
		} else {
			s->invalid++;
			ok = st == INV(OPND_RCX) && f->out.rcx == 0 && f->out.rdx == 0;
		}
		if (st != TDX_SUCCESS && pamt_peek_type(f->pm, hpa, (enum pamt_size)big) != PT_NDA)
			ok = false;
		if (!ok && failures++ < 20)
			print_error("GPAW %d RCX %#" PRIx64 " (%s): %s|%#x\n", gpaw, rcx,
				    valid ? "valid" : "invalid", tdx_status_name(st),
				    tdx_status_operand(st));
	}
	return failures;
}

static void test_random_aug_rcx(void **state)
{
	(void)state;
	BANNER("randomised AUG RCX values vs. a predicate from the ABI (GPAW 0 and 1)");
	uint64_t seed = test_seed();
	struct fx f;
	struct aug_stats s = { 0 };
	int failures = 0;

	fx_init_runnable(&f, NULL);
	fx_path(&f, 0, 0);		/* 4K leaves possible in [0, 2M) */
	fx_path(&f, SZ_2M, 1);		/* 2M leaves possible in [2M, 1G) */
	failures += random_aug_on(&f, &seed, 3000, &s);
	fx_fini(&f);

	fx_gpaw(&f);
	fx_path(&f, 0, 0);
	fx_path(&f, SZ_2M, 1);
	failures += random_aug_on(&f, &seed, 3000, &s);
	fx_fini(&f);

	print_message("  valid %d (%d mapped), invalid %d\n", s.valid, s.success, s.invalid);
	assert_int_equal(failures, 0);
	/* the generator must exercise both sides */
	assert_true(s.valid >= 500);
	assert_true(s.invalid >= 500);
	assert_true(s.success >= 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gpa_info_reserved_bits),
		cmocka_unit_test(test_gpa_info_level_range),
		cmocka_unit_test(test_gpa_info_alignment),
		cmocka_unit_test(test_gpa_shared_bit_and_width),
		cmocka_unit_test(test_ept_walk_failed),
		cmocka_unit_test(test_hpa_operands),
		cmocka_unit_test(test_tdr_operand),
		cmocka_unit_test(test_page_add_source),
		cmocka_unit_test(test_mr_extend_gpa),
		cmocka_unit_test(test_sept_add_handle),
		cmocka_unit_test(test_sept_rd_l2_flag),
		cmocka_unit_test(test_seamcall_dispatcher),
		cmocka_unit_test(test_random_aug_rcx),
	};
	return cmocka_run_group_tests_name("operands", tests, NULL, NULL);
}
