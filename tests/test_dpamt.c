/* SPDX-License-Identifier: MIT */
/*
 * Dynamic PAMT: TDH.PHYMEM.PAMT.ADD/REMOVE, MISSING_PAMT_PAGE_PAIR from the
 * leaves that take a free 4K page, the configuration, the memory it saves,
 * and the PAMT.ADD against PAMT.ADD race that hardware showed (a pair page
 * in a 2M range another CPU is adding: OPERAND_BUSY).
 */
#include <stdio.h>
#include <string.h>

#include "testlib.h"

#define HKID2 7		/* a key id bringup does not use */
#define DP_RANGES 8	/* 2M ranges of bringup's 4K pages given a pair up front */

/* A struct fx (so the fx_* helpers work) with a pool of pair pages. */
struct dp {
	struct fx f;
	uint64_t pool, pool_used;	/* a 2M range the pair pages come from */
};

static struct tdx_module *dp_module(void)
{
	struct tdx_module_config cfg;
	tdx_module_default_config(&cfg);
	cfg.dynamic_pamt = true;
	struct tdx_module *m = tdx_module_create(&cfg);
	assert_non_null(m);
	return m;
}

static uint64_t dp_pair_page(struct dp *d)
{
	if (d->pool_used == 512) {
		d->pool = bringup_page_2m(&d->f.b);
		d->pool_used = 0;
	}
	return d->pool + SZ_4K * d->pool_used++;
}

static uint64_t dp_add(struct dp *d, uint64_t range)
{
	uint64_t p0 = dp_pair_page(d), p1 = dp_pair_page(d);
	return tdh_phymem_pamt_add(d->f.m, &d->f.out, range | PAMT_2M, p0, p1);
}

/*
 * A Dynamic PAMT module and, if @td, a TD through MNG.INIT: the host first
 * gives pairs to the 2M ranges bringup allocates its 4K pages from.
 */
static void dp_init(struct dp *d, bool td)
{
	memset(d, 0, sizeof(*d));
	d->f.m = dp_module();
	d->f.pm = tdx_module_physmem(d->f.m);
	bringup_init(&d->f.b, d->f.m);
	d->pool_used = 512;
	bringup_default_opts(&d->f.o);
	if (!td)
		return;
	for (int i = 0; i < DP_RANGES; i++)
		assert_status(dp_add(d, d->f.b.next + i * SZ_2M), TDX_SUCCESS);
	if (bringup_td(&d->f.b, &d->f.o)) {
		print_error("bringup failed at %s: %s\n", d->f.b.last_leaf,
			    tdx_status_name(d->f.b.last_status));
		fail();
	}
}

static void dp_fini(struct dp *d)
{
	fx_fini(&d->f);
}

/* A 2M range nothing uses (no pair): from the top of the TDMR. */
static uint64_t dp_bare_range(struct dp *d)
{
	return bringup_page_2m(&d->f.b);
}

static void test_config(void **state)
{
	(void)state;
	BANNER("config: Dynamic PAMT refused above MAX_PA 48; FEATURES0 bits 36 and 51");
	struct tdx_module_config cfg;
	tdx_module_default_config(&cfg);
	cfg.dynamic_pamt = true;
	cfg.max_pa = 52;
	assert_null(tdx_module_create(&cfg));
	cfg.max_pa = 49;
	assert_null(tdx_module_create(&cfg));
	cfg.max_pa = 48;
	struct tdx_module *m = tdx_module_create(&cfg);
	assert_non_null(m);
	assert_true(tdx_module_dynamic_pamt(m));
	assert_int_equal(tdx_module_features0(m), TDX_FEATURES0_DYNAMIC_PAMT);
	tdx_module_destroy(m);

	tdx_module_default_config(&cfg);
	cfg.max_pa = 52;	/* without Dynamic PAMT any width is fine */
	cfg.enhanced_demote_interruptibility = true;
	m = tdx_module_create(&cfg);
	assert_non_null(m);
	assert_false(tdx_module_dynamic_pamt(m));
	/* the module supports Dynamic PAMT whether or not the host enables it */
	assert_int_equal(tdx_module_features0(m), TDX_FEATURES0_DYNAMIC_PAMT |
			 TDX_FEATURES0_ENHANCED_DEMOTE_INTERRUPTIBILITY);
	tdx_module_destroy(m);
	assert_int_equal(TDX_FEATURES0_DYNAMIC_PAMT, 1ull << 36);
	assert_int_equal(TDX_FEATURES0_ENHANCED_DEMOTE_INTERRUPTIBILITY, 1ull << 51);
	assert_int_equal(PT_PAMT, 15);
}

static void test_disabled(void **state)
{
	(void)state;
	BANNER("without Dynamic PAMT both leaves answer OPERAND_INVALID|RAX");
	struct fx f;
	fx_init(&f, NULL);
	uint64_t r = bringup_page_2m(&f.b);
	struct tdx_regs regs = { .rax = TDH_PHYMEM_PAMT_ADD, .rcx = r | 1,
				 .rdx = bringup_page(&f.b), .r8 = bringup_page(&f.b) };
	tdx_seamcall(f.m, &regs);
	assert_status(regs.rax, TDX_OPERAND_INVALID | OPND_RAX);
	regs = (struct tdx_regs){ .rax = TDH_PHYMEM_PAMT_REMOVE, .rcx = r | 1 };
	tdx_seamcall(f.m, &regs);
	assert_status(regs.rax, TDX_OPERAND_INVALID | OPND_RAX);
	assert_string_equal(tdx_leaf_name(58), "TDH.PHYMEM.PAMT.ADD");
	assert_string_equal(tdx_leaf_name(59), "TDH.PHYMEM.PAMT.REMOVE");
	/* the static PAMT: every touched range has its 4K PAMT */
	assert_int_equal(pamt_peek_type(f.pm, r, PAMT_2M), PT_NDA);
	assert_non_null(pamt_entry_of(f.pm, r, PAMT_4K));
	fx_fini(&f);
}

static void test_add_remove(void **state)
{
	(void)state;
	BANNER("PAMT.ADD then REMOVE through tdx_seamcall: PT_PAMT range and pair, pair back in RDX/R8");
	struct dp d;
	dp_init(&d, false);
	uint64_t r = dp_bare_range(&d), p0 = dp_pair_page(&d), p1 = dp_pair_page(&d);
	assert_null(pamt_entry_of(d.f.pm, r, PAMT_4K));	/* no 4K PAMT yet */
	uint64_t arrays = d.f.pm->n_pamt4k, bytes = physmem_resident_bytes(d.f.pm);
	struct tdx_regs regs = { .rax = TDH_PHYMEM_PAMT_ADD, .rcx = r | 1, .rdx = p0, .r8 = p1 };
	tdx_seamcall(d.f.m, &regs);
	assert_status(regs.rax, TDX_SUCCESS);
	assert_int_equal(regs.rdx, p0);		/* ADD writes no output register */
	assert_int_equal(pamt_peek_type(d.f.pm, r, PAMT_2M), PT_PAMT);
	assert_int_equal(pamt_peek_type(d.f.pm, p0, PAMT_4K), PT_PAMT);
	assert_int_equal(pamt_peek_type(d.f.pm, p1, PAMT_4K), PT_PAMT);
	assert_int_equal(pamt_peek_type(d.f.pm, r + 5 * SZ_4K, PAMT_4K), PT_NDA);
	assert_non_null(pamt_entry_of(d.f.pm, r, PAMT_4K));
	assert_int_equal(d.f.pm->n_pamt4k, arrays + 1);
	assert_true(physmem_resident_bytes(d.f.pm) >= bytes + 512 * sizeof(struct pamt_entry));

	regs = (struct tdx_regs){ .rax = TDH_PHYMEM_PAMT_REMOVE, .rcx = r | 1, .rdx = 1, .r8 = 2 };
	tdx_seamcall(d.f.m, &regs);
	assert_status(regs.rax, TDX_SUCCESS);
	assert_int_equal(regs.rdx, p0);
	assert_int_equal(regs.r8, p1);
	assert_int_equal(pamt_peek_type(d.f.pm, r, PAMT_2M), PT_NDA);
	assert_int_equal(pamt_peek_type(d.f.pm, p0, PAMT_4K), PT_NDA);
	assert_int_equal(pamt_peek_type(d.f.pm, p1, PAMT_4K), PT_NDA);
	assert_null(pamt_entry_of(d.f.pm, r, PAMT_4K));
	assert_int_equal(d.f.pm->n_pamt4k, arrays);
	/* the pair is an ordinary free page again: it can serve once more */
	assert_status(tdh_phymem_pamt_add(d.f.m, &d.f.out, r | 1, p1, p0), TDX_SUCCESS);
	dp_fini(&d);
}

static void test_add_errors(void **state)
{
	(void)state;
	BANNER("PAMT.ADD errors: operands, range not free, pair page not free, busy");
	struct dp d;
	dp_init(&d, true);
	uint64_t r = dp_bare_range(&d), p0 = dp_pair_page(&d), p1 = dp_pair_page(&d);
	struct tdx_module *m = d.f.m;
	struct tdx_regs *o = &d.f.out;
	const struct {
		const char *what;
		uint64_t rcx, rdx, r8, want;
	} bad[] = {
		{ "level 0", r, p0, p1, TDX_OPERAND_INVALID | OPND_RCX },
		{ "level 2", r | 2, p0, p1, TDX_OPERAND_INVALID | OPND_RCX },
		{ "reserved bits 11:3", r | 1 | 0x8, p0, p1, TDX_OPERAND_INVALID | OPND_RCX },
		{ "not 2M aligned", (r + SZ_4K) | 1, p0, p1, TDX_OPERAND_INVALID | OPND_RCX },
		{ "above MAX_PA", (1ull << 46) | 1, p0, p1, TDX_OPERAND_INVALID | OPND_RCX },
		{ "RDX not aligned", r | 1, p0 + 8, p1, TDX_OPERAND_INVALID | OPND_RDX },
		{ "RDX above MAX_PA", r | 1, 1ull << 47, p1, TDX_OPERAND_INVALID | OPND_RDX },
		{ "RDX outside TDMRs", r | 1, 0x1000, p1, TDX_OPERAND_ADDR_RANGE_ERROR | OPND_RDX },
		{ "R8 not aligned", r | 1, p0, p1 + 1, TDX_OPERAND_INVALID | OPND_R8 },
		{ "R8 outside TDMRs", r | 1, p0, 0x2000, TDX_OPERAND_ADDR_RANGE_ERROR | OPND_R8 },
		{ "range outside TDMRs", 0 | 1, p0, p1, TDX_OPERAND_ADDR_RANGE_ERROR | OPND_RCX },
		{ "RDX is the TDR", r | 1, d.f.b.tdr, p1, TDX_PAGE_NOT_FREE | OPND_RDX },
		{ "R8 is a TDCS page", r | 1, p0, d.f.b.tdcx[0], TDX_PAGE_NOT_FREE | OPND_R8 },
		{ "the same page twice", r | 1, p0, p0, TDX_PAGE_NOT_FREE | OPND_R8 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("    %s\n", bad[i].what);
		assert_status(tdh_phymem_pamt_add(m, o, bad[i].rcx, bad[i].rdx, bad[i].r8),
			      bad[i].want);
		assert_int_equal(pamt_peek_type(d.f.pm, r, PAMT_2M), PT_NDA);
		assert_int_equal(pamt_peek_type(d.f.pm, p0, PAMT_4K), PT_NDA);
		assert_int_equal(pamt_peek_type(d.f.pm, p1, PAMT_4K), PT_NDA);
	}

	assert_status(tdh_phymem_pamt_add(m, o, r | 1, p0, p1), TDX_SUCCESS);
	/* already added */
	uint64_t q0 = dp_pair_page(&d), q1 = dp_pair_page(&d);
	assert_status(tdh_phymem_pamt_add(m, o, r | 1, q0, q1), TDX_HPA_RANGE_NOT_FREE | OPND_RCX);
	/* a pair page that already serves another range */
	uint64_t r2 = dp_bare_range(&d);
	assert_status(tdh_phymem_pamt_add(m, o, r2 | 1, p1, q1), TDX_PAGE_NOT_FREE | OPND_RDX);
	assert_status(tdh_phymem_pamt_add(m, o, r2 | 1, q0, p0), TDX_PAGE_NOT_FREE | OPND_R8);
	assert_int_equal(pamt_peek_type(d.f.pm, q0, PAMT_4K), PT_NDA);	/* rolled back */
	/* the range is a 2M TD page, or a 4K page's range */
	uint64_t big = fx_aug(&d.f, 0x400000, 1);
	assert_status(tdh_phymem_pamt_add(m, o, big | 1, q0, q1), TDX_HPA_RANGE_NOT_FREE | OPND_RCX);
	/* a pair page inside a 2M TD page: its own entry is the 2M one */
	assert_status(tdh_phymem_pamt_add(m, o, r2 | 1, big + SZ_4K, q1),
		      TDX_PAGE_NOT_FREE | OPND_RDX);
	/* a pair page inside the range it serves: not walked, but then not free */
	uint64_t r3 = dp_bare_range(&d);
	assert_status(tdh_phymem_pamt_add(m, o, r3 | 1, r3 + 7 * SZ_4K, q1), TDX_SUCCESS);
	assert_int_equal(pamt_peek_type(d.f.pm, r3 + 7 * SZ_4K, PAMT_4K), PT_PAMT);
	fx_path(&d.f, 0x600000, 0);
	assert_status(tdh_mem_page_aug(m, o, tdx_gpa_info(0x600000, 0), d.f.b.tdr, r3 + 7 * SZ_4K),
		      TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	assert_status(tdh_mem_page_aug(m, o, tdx_gpa_info(0x600000, 0), d.f.b.tdr, r3 + 8 * SZ_4K),
		      TDX_SUCCESS);
	/* busy: another CPU holds the range's 2M entry exclusive (its own PAMT.ADD) */
	struct pamt_lock pl;
	assert_status(pamt_walk_lock(m, r2, PAMT_2M, SEAM_EXCLUSIVE, SEAM_LOCK_PAMT_PAGE, &pl),
		      TDX_SUCCESS);
	assert_status(tdh_phymem_pamt_add(m, o, r2 | 1, q0, q1), TDX_OPERAND_BUSY | OPND_RCX);
	/* ... or the 2M entry a pair page's walk needs (its range has no 4K PAMT) */
	uint64_t r4 = dp_bare_range(&d);
	assert_status(tdh_phymem_pamt_add(m, o, r4 | 1, q0, r2 + SZ_4K), TDX_OPERAND_BUSY | OPND_R8);
	pamt_unwalk(&pl);
	assert_status(tdh_phymem_pamt_add(m, o, r4 | 1, q0, r2 + SZ_4K), TDX_SUCCESS);
	assert_status(tdh_phymem_pamt_add(m, o, r2 | 1, r2 + 2 * SZ_4K, q1), TDX_PAGE_NOT_FREE | OPND_R8);
	assert_status(tdh_phymem_pamt_add(m, o, r2 | 1, r2 + 2 * SZ_4K, dp_pair_page(&d)), TDX_SUCCESS);
	dp_fini(&d);
}

static void test_remove_errors(void **state)
{
	(void)state;
	BANNER("PAMT.REMOVE errors: no pair, a page of the range in use (operand = pair page index), busy");
	struct dp d;
	dp_init(&d, true);
	struct tdx_module *m = d.f.m;
	struct tdx_regs *o = &d.f.out;
	uint64_t r = dp_bare_range(&d);
	assert_status(tdh_phymem_pamt_remove(m, o, r | 1), TDX_NO_PAMT_PAGE_PAIR | OPND_RCX);
	assert_status(tdh_phymem_pamt_remove(m, o, r), TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_phymem_pamt_remove(m, o, 1), TDX_OPERAND_ADDR_RANGE_ERROR | OPND_RCX);
	uint64_t big = fx_aug(&d.f, 0x400000, 1);	/* a 2M page needs no pair */
	assert_status(tdh_phymem_pamt_remove(m, o, big | 1), TDX_NO_PAMT_PAGE_PAIR | OPND_RCX);

	assert_status(dp_add(&d, r), TDX_SUCCESS);
	fx_path(&d.f, 0x600000, 0);
	const struct { unsigned idx; uint32_t opnd; } use[] = { { 3, 0 }, { 255, 0 }, { 256, 1 }, { 511, 1 } };
	for (size_t i = 0; i < sizeof(use) / sizeof(use[0]); i++) {
		uint64_t gpa = 0x600000 + i * SZ_4K, hpa = r + use[i].idx * SZ_4K;
		assert_status(tdh_mem_page_aug(m, o, tdx_gpa_info(gpa, 0), d.f.b.tdr, hpa), TDX_SUCCESS);
		assert_int_equal(pamt_peek_type(d.f.pm, hpa, PAMT_4K), PT_REG);
		assert_status(tdh_phymem_pamt_remove(m, o, r | 1), TDX_PAMT_PAGE_NOT_EMPTY | use[i].opnd);
		assert_status(tdh_mem_page_remove(m, o, tdx_gpa_info(gpa, 0), d.f.b.tdr), TDX_SUCCESS);
	}
	/* busy while another CPU walks to one of its 4K entries */
	struct pamt_lock pl;
	assert_status(pamt_walk_lock(m, r + SZ_4K, PAMT_4K, SEAM_SHARED, SEAM_LOCK_PAMT_PAGE, &pl),
		      TDX_SUCCESS);
	assert_status(tdh_phymem_pamt_remove(m, o, r | 1), TDX_OPERAND_BUSY | OPND_RCX);
	pamt_unwalk(&pl);
	assert_status(tdh_phymem_pamt_remove(m, o, r | 1), TDX_SUCCESS);
	/* the TD's own pages keep their ranges' pairs in use */
	assert_status(tdh_phymem_pamt_remove(m, o, (d.f.b.tdr & ~(SZ_2M - 1)) | 1),
		      TDX_PAMT_PAGE_NOT_EMPTY | 0);
	dp_fini(&d);
}

/* ---- every leaf that takes a free 4K page needs its range's pair ---- */

struct pair_case {
	const char *leaf;
	uint32_t opnd;
	uint64_t (*call)(struct dp *d, uint64_t page);
};

static uint64_t c_page_add(struct dp *d, uint64_t page)
{
	fx_path(&d->f, 0x800000, 0);
	return tdh_mem_page_add(d->f.m, &d->f.out, tdx_gpa_info(0x800000, 0), d->f.b.tdr, page,
				d->f.b.shared_page);
}

static uint64_t c_page_aug(struct dp *d, uint64_t page)
{
	fx_path(&d->f, 0xA00000, 0);
	return tdh_mem_page_aug(d->f.m, &d->f.out, tdx_gpa_info(0xA00000, 0), d->f.b.tdr, page);
}

static uint64_t c_sept_add(struct dp *d, uint64_t page)
{
	fx_path(&d->f, 0x40000000, 1);
	return tdh_mem_sept_add(d->f.m, &d->f.out, tdx_gpa_info(0x40000000, 1), d->f.b.tdr, page);
}

static uint64_t c_mng_create(struct dp *d, uint64_t page)
{
	return tdh_mng_create(d->f.m, &d->f.out, page, HKID2);
}

static uint64_t c_mng_addcx(struct dp *d, uint64_t page)
{
	/* a second TD, keys configured, its TDR in a range with a pair */
	static unsigned hkid = 20;	/* a new TD each call */
	uint64_t tdr = bringup_page(&d->f.b);
	assert_status(tdh_mng_create(d->f.m, &d->f.out, tdr, hkid++), TDX_SUCCESS);
	assert_status(tdh_mng_key_config(d->f.m, &d->f.out, tdr), TDX_SUCCESS);
	return tdh_mng_addcx(d->f.m, &d->f.out, page, tdr);
}

static uint64_t c_vp_create(struct dp *d, uint64_t page)
{
	return tdh_vp_create(d->f.m, &d->f.out, page, d->f.b.tdr);
}

static uint64_t c_vp_addcx(struct dp *d, uint64_t page)
{
	uint64_t tdvpr = bringup_page(&d->f.b);
	assert_status(tdh_vp_create(d->f.m, &d->f.out, tdvpr, d->f.b.tdr), TDX_SUCCESS);
	return tdh_vp_addcx(d->f.m, &d->f.out, page, tdvpr);
}

static const struct pair_case pair_cases[] = {
	{ "TDH.MEM.PAGE.ADD", OPND_R8, c_page_add },
	{ "TDH.MEM.PAGE.AUG (4K)", OPND_R8, c_page_aug },
	{ "TDH.MEM.SEPT.ADD", OPND_R8, c_sept_add },
	{ "TDH.MNG.CREATE", OPND_RCX, c_mng_create },
	{ "TDH.MNG.ADDCX", OPND_RCX, c_mng_addcx },
	{ "TDH.VP.CREATE", OPND_RCX, c_vp_create },
	{ "TDH.VP.ADDCX", OPND_RCX, c_vp_addcx },
};

static void test_missing_pair(void **state)
{
	(void)state;
	BANNER("PAGE.ADD, 4K AUG, SEPT.ADD, MNG.CREATE, MNG.ADDCX, VP.CREATE, VP.ADDCX: MISSING_PAMT_PAGE_PAIR without a pair");
	for (size_t i = 0; i < sizeof(pair_cases) / sizeof(pair_cases[0]); i++) {
		const struct pair_case *pc = &pair_cases[i];
		print_message("    %s\n", pc->leaf);
		struct dp d;
		dp_init(&d, true);
		uint64_t r = dp_bare_range(&d), page = r + 9 * SZ_4K;
		uint64_t st = pc->call(&d, page);
		assert_status(st, TDX_MISSING_PAMT_PAGE_PAIR | pc->opnd);
		/* recoverable: no error bit 62, the host adds a pair and retries */
		assert_false(st & (1ull << 62));
		assert_int_equal(pamt_peek_type(d.f.pm, page, PAMT_4K), PT_NDA);
		assert_status(dp_add(&d, r), TDX_SUCCESS);
		assert_status(pc->call(&d, page), TDX_SUCCESS);
		assert_int_not_equal(pamt_peek_type(d.f.pm, page, PAMT_4K), PT_NDA);
		/* a page in use keeps the pair */
		assert_status(tdh_phymem_pamt_remove(d.f.m, &d.f.out, r | 1),
			      TDX_PAMT_PAGE_NOT_EMPTY | 0);
		dp_fini(&d);
	}
}

static void test_2m_aug(void **state)
{
	(void)state;
	BANNER("2M AUG needs no pair, and is refused on a range that has one");
	struct dp d;
	dp_init(&d, true);
	uint64_t big = dp_bare_range(&d);
	fx_path(&d.f, 0x400000, 1);
	assert_status(dp_add(&d, big), TDX_SUCCESS);
	assert_status(tdh_mem_page_aug(d.f.m, &d.f.out, tdx_gpa_info(0x400000, 1), d.f.b.tdr, big),
		      TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	assert_status(tdh_phymem_pamt_remove(d.f.m, &d.f.out, big | 1), TDX_SUCCESS);
	uint64_t arrays = d.f.pm->n_pamt4k;
	assert_status(tdh_mem_page_aug(d.f.m, &d.f.out, tdx_gpa_info(0x400000, 1), d.f.b.tdr, big),
		      TDX_SUCCESS);
	assert_int_equal(pamt_peek_type(d.f.pm, big, PAMT_2M), PT_REG);
	assert_int_equal(d.f.pm->n_pamt4k, arrays);
	assert_ptr_equal(tdx_hpa_owner(d.f.m, big + 17 * SZ_4K), d.f.b.td);
	/* a 2M range holding a pair page is not free for a 2M page either */
	uint64_t big2 = dp_bare_range(&d), r = dp_bare_range(&d);
	assert_status(tdh_phymem_pamt_add(d.f.m, &d.f.out, r | 1, big2 + SZ_4K, dp_pair_page(&d)),
		      TDX_SUCCESS);
	fx_path(&d.f, 0x600000, 1);
	assert_status(tdh_mem_page_aug(d.f.m, &d.f.out, tdx_gpa_info(0x600000, 1), d.f.b.tdr, big2),
		      TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	dp_fini(&d);
}

/*
 * Simulator memory for the same TD, without and with Dynamic PAMT: 64 MiB
 * of 2M pages (each written) and 16 4K pages in one range.
 */
static uint64_t td_memory(bool dynamic, uint64_t *arrays)
{
	struct dp d;
	if (dynamic) {
		dp_init(&d, true);
	} else {
		memset(&d, 0, sizeof(d));
		fx_init(&d.f, NULL);
	}
	uint64_t before = physmem_resident_bytes(d.f.pm);
	uint64_t a0 = d.f.pm->n_pamt4k;
	for (int i = 0; i < 32; i++) {
		uint64_t gpa = 0x40000000ull + i * SZ_2M;
		uint64_t hpa = fx_aug(&d.f, gpa, 1);
		for (uint64_t off = 0; off < SZ_2M; off += SZ_4K)
			physmem_write64(d.f.pm, hpa + off, 0);	/* touches the chunk */
		physmem_write64(d.f.pm, hpa, 1);
	}
	uint64_t r = dp_bare_range(&d);
	if (dynamic)
		assert_status(dp_add(&d, r), TDX_SUCCESS);
	fx_path(&d.f, 0x80000000ull, 0);
	for (int i = 0; i < 16; i++)
		assert_status(tdh_mem_page_aug(d.f.m, &d.f.out, tdx_gpa_info(0x80000000ull + i * SZ_4K, 0),
					       d.f.b.tdr, r + i * SZ_4K), TDX_SUCCESS);
	uint64_t grew = physmem_resident_bytes(d.f.pm) - before;
	*arrays = d.f.pm->n_pamt4k - a0;
	fx_fini(&d.f);
	return grew;
}

static void test_memory(void **state)
{
	(void)state;
	BANNER("memory: a TD of 2M pages costs 8 KiB less per 2M page with Dynamic PAMT");
	uint64_t a_static, a_dyn;
	uint64_t b_static = td_memory(false, &a_static);
	uint64_t b_dyn = td_memory(true, &a_dyn);
	print_message("    static %llu bytes (%llu 4K PAMTs), dynamic %llu bytes (%llu)\n",
		      (unsigned long long)b_static, (unsigned long long)a_static,
		      (unsigned long long)b_dyn, (unsigned long long)a_dyn);
	assert_true(a_static >= 33);		/* the 32 2M pages and the 4K range */
	assert_int_equal(a_dyn, 1);		/* only the 4K range */
	assert_true(b_dyn + 32 * 512 * sizeof(struct pamt_entry) <= b_static);
}

/* ---- the race: PAMT.ADD against PAMT.ADD ---- */

static struct {
	struct tdx_module *m;
	uint64_t x, y, p[2], q[2];
	uint64_t st_a, st_b;
} race;

static void add_x(void *arg)
{
	(void)arg;
	struct tdx_regs o;
	race.st_a = tdh_phymem_pamt_add(race.m, &o, race.x | 1, race.p[0], race.p[1]);
}

/* its first pair page lies in X */
static void add_y(void *arg)
{
	(void)arg;
	struct tdx_regs o;
	race.st_b = tdh_phymem_pamt_add(race.m, &o, race.y | 1, race.q[0], race.q[1]);
}

static void add_both(void *arg)
{
	add_x(arg);
	add_y(arg);
}

/* One run: fresh module, two CPUs (or one doing both); the statuses. */
static void race_run(uint64_t seed, bool serial)
{
	struct dp d;
	dp_init(&d, false);
	race.m = d.f.m;
	race.x = dp_bare_range(&d);
	race.y = dp_bare_range(&d);
	race.p[0] = dp_pair_page(&d);
	race.p[1] = dp_pair_page(&d);
	race.q[0] = race.x + 100 * SZ_4K;
	race.q[1] = dp_pair_page(&d);
	struct engine_config c = { .sched = SCHED_RANDOM, .seed = seed, .stack_size = 64 * 1024 };
	struct engine *e = engine_create(&c);
	assert_non_null(e);
	if (serial) {
		assert_true(engine_spawn(e, "cpu0", add_both, NULL) >= 0);
	} else {
		assert_true(engine_spawn(e, "cpu0", add_x, NULL) >= 0);
		assert_true(engine_spawn(e, "cpu1", add_y, NULL) >= 0);
	}
	enum engine_outcome out = engine_run(e);
	if (out != ENGINE_OK)
		print_error("seed %llu: %s\n", (unsigned long long)seed, engine_report(e));
	assert_int_equal(out, ENGINE_OK);
	engine_destroy(e);
	/* whoever won, the module is consistent */
	if (race.st_a == TDX_SUCCESS)
		assert_int_equal(pamt_peek_type(d.f.pm, race.x, PAMT_2M), PT_PAMT);
	if (race.st_b == TDX_SUCCESS)
		assert_int_equal(pamt_peek_type(d.f.pm, race.q[0], PAMT_4K), PT_PAMT);
	dp_fini(&d);
}

static void test_race_add_add(void **state)
{
	(void)state;
	BANNER("race: PAMT.ADD(X) vs PAMT.ADD(Y) with a pair page in X: the scheduler finds OPERAND_BUSY");
	int busy_b = 0, busy_a = 0, both = 0;
	uint64_t first_seed = 0;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		race_run(seed, false);
		if (race.st_a == TDX_SUCCESS && race.st_b == TDX_SUCCESS) {
			both++;
			continue;
		}
		/* the only interleavings that fail: one side holds X's 2M entry */
		if (race.st_b == (TDX_OPERAND_BUSY | OPND_RDX)) {
			assert_status(race.st_a, TDX_SUCCESS);
			assert_status(race.st_b, TDX_OPERAND_BUSY | OPND_RDX);
			busy_b++;
		} else {
			assert_status(race.st_a, TDX_OPERAND_BUSY | OPND_RCX);
			assert_status(race.st_b, TDX_SUCCESS);
			busy_a++;
		}
		if (!first_seed)
			first_seed = seed;
	}
	print_message("    200 seeds: %d both succeed, %d Y busy on RDX, %d X busy on RCX (first at seed %llu)\n",
		      both, busy_b, busy_a, (unsigned long long)first_seed);
	assert_true(busy_a + busy_b > 0);
	assert_true(both > 0);

	BANNER("race absent when the two PAMT.ADDs are serialised (one CPU, or the host's pamt_lock)");
	for (uint64_t seed = 1; seed <= 50; seed++) {
		race_run(seed, true);
		assert_status(race.st_a, TDX_SUCCESS);
		assert_status(race.st_b, TDX_SUCCESS);
	}
}

/*
 * A RUNNABLE Dynamic PAMT TD with a blocked and tracked 2M PENDING leaf at
 * DP_GPA (a 2M page needs no pair); returns its HPA.
 */
#define DP_GPA 0x80200000ull

static uint64_t dp_blocked_2m(struct dp *d)
{
	dp_init(d, true);
	assert_status(tdh_mr_finalize(d->f.m, &d->f.out, d->f.b.tdr), TDX_SUCCESS);
	uint64_t hpa = fx_aug(&d->f, DP_GPA, 1);
	fx_block(&d->f, DP_GPA, 1);
	fx_track(&d->f);
	return hpa;
}

static void test_demote_promote_pair(void **state)
{
	(void)state;
	BANNER("DEMOTE takes the pair in R12/R13 (errors on R12, R13), PROMOTE gives it back; R8 and RELOCATE need pairs");
	struct dp d;
	uint64_t big = dp_blocked_2m(&d);
	uint64_t info = tdx_gpa_info(DP_GPA, 1), sept = bringup_page(&d.f.b);
	uint64_t p0 = dp_pair_page(&d), p1 = dp_pair_page(&d);
	assert_status(tdh_mem_page_demote(d.f.m, &d.f.out, info, d.f.b.tdr, sept, p0 + 8, p1),
		      TDX_OPERAND_INVALID | OPND_R12);
	assert_status(tdh_mem_page_demote(d.f.m, &d.f.out, info, d.f.b.tdr, sept, p0, p1 + 8),
		      TDX_OPERAND_INVALID | OPND_R13);
	assert_status(tdh_mem_page_demote(d.f.m, &d.f.out, info, d.f.b.tdr, sept, p0,
					  d.f.b.shared_page),
		      TDX_OPERAND_ADDR_RANGE_ERROR | OPND_R13);
	assert_status(tdh_mem_page_demote(d.f.m, &d.f.out, info, d.f.b.tdr, sept, d.f.b.tdr, p1),
		      TDX_PAGE_NOT_FREE | OPND_R12);
	assert_status(tdh_mem_page_demote(d.f.m, &d.f.out, info, d.f.b.tdr, sept, p0, p0),
		      TDX_PAGE_NOT_FREE | OPND_R13);
	/* a pair page inside the range being split meets the range's own lock */
	assert_status(tdh_mem_page_demote(d.f.m, &d.f.out, info, d.f.b.tdr, sept, big + SZ_4K, p1),
		      TDX_OPERAND_BUSY | OPND_R12);
	/* the new S-EPT page itself needs its range's pair */
	uint64_t bare = dp_bare_range(&d);
	assert_status(tdh_mem_page_demote(d.f.m, &d.f.out, info, d.f.b.tdr, bare, p0, p1),
		      TDX_MISSING_PAMT_PAGE_PAIR | OPND_R8);
	uint64_t arrays = d.f.pm->n_pamt4k;
	assert_int_equal(pamt_peek_type(d.f.pm, big, PAMT_2M), PT_REG);
	assert_status(tdh_mem_page_demote(d.f.m, &d.f.out, info, d.f.b.tdr, sept, p0, p1),
		      TDX_SUCCESS);
	assert_int_equal(d.f.pm->n_pamt4k, arrays + 1);
	assert_int_equal(pamt_peek_type(d.f.pm, big, PAMT_2M), PT_PAMT);
	assert_int_equal(pamt_peek_type(d.f.pm, big + 77 * SZ_4K, PAMT_4K), PT_REG);
	assert_int_equal(pamt_peek_type(d.f.pm, p0, PAMT_4K), PT_PAMT);
	assert_int_equal(pamt_peek_type(d.f.pm, p1, PAMT_4K), PT_PAMT);

	/* RELOCATE's target needs a pair too */
	uint64_t g = DP_GPA + 3 * SZ_4K;
	fx_block(&d.f, g, 0);
	fx_track(&d.f);
	assert_status(tdh_mem_page_relocate(d.f.m, &d.f.out, tdx_gpa_info(g, 0), d.f.b.tdr,
					    bare + SZ_4K), TDX_MISSING_PAMT_PAGE_PAIR | OPND_R8);
	assert_status(tdh_mem_range_unblock(d.f.m, &d.f.out, tdx_gpa_info(g, 0), d.f.b.tdr),
		      TDX_SUCCESS);

	/* PROMOTE back: the pair returns in R12/R13 and the 4K PAMT goes away */
	fx_block(&d.f, DP_GPA, 1);
	fx_track(&d.f);
	struct tdx_regs r = { .rax = TDH_MEM_PAGE_PROMOTE, .rcx = info, .rdx = d.f.b.tdr };
	tdx_seamcall(d.f.m, &r);
	assert_status(r.rax, TDX_SUCCESS);
	assert_int_equal(r.rcx, sept);
	assert_int_equal(r.r12, p0);
	assert_int_equal(r.r13, p1);
	assert_int_equal(d.f.pm->n_pamt4k, arrays);
	assert_int_equal(pamt_peek_type(d.f.pm, big, PAMT_2M), PT_REG);
	assert_int_equal(pamt_peek_type(d.f.pm, p0, PAMT_4K), PT_NDA);
	dp_fini(&d);
}

/*
 * The race of 2026-06 across two TDs: TD A's DEMOTE takes a pair page that
 * lies in a 2M range the host is giving a pair for TD B at the same time.
 * DEMOTE walks that page's PAMT (the range's 2M entry shared) while
 * PAMT.ADD wants the same 2M entry exclusive: whichever comes second is
 * OPERAND_BUSY, DEMOTE on R12 (0x800002000000000C), PAMT.ADD on RCX
 * (0x8000020000000001).  Linux fixed it by taking pamt_lock around DEMOTE.
 */
static struct {
	struct dp d;
	uint64_t range, q[2], pair[2], sept;
	uint64_t st_demote, st_add;
} dr;

static void dr_demote(void *arg)
{
	(void)arg;
	struct tdx_regs o;
	dr.st_demote = tdh_mem_page_demote(dr.d.f.m, &o, tdx_gpa_info(DP_GPA, 1), dr.d.f.b.tdr,
					   dr.sept, dr.pair[0], dr.pair[1]);
}

static void dr_add(void *arg)
{
	(void)arg;
	struct tdx_regs o;
	dr.st_add = tdh_phymem_pamt_add(dr.d.f.m, &o, dr.range | 1, dr.q[0], dr.q[1]);
}

static void dr_both(void *arg)
{
	dr_demote(arg);
	dr_add(arg);
}

/*
 * PCT of depth 2 with about 80 steps a run: uniform random scheduling
 * almost never lets PAMT.ADD wait through DEMOTE's 25 steps up to its pair
 * (0 in 2,000 seeds), while one priority change point lands inside that
 * window a few percent of the time, as a rare hardware race should.
 */
static void dr_run(uint64_t seed, bool serial)
{
	dp_blocked_2m(&dr.d);
	dr.sept = bringup_page(&dr.d.f.b);
	dr.range = dp_bare_range(&dr.d);
	dr.pair[0] = dr.range + 5 * SZ_4K;	/* in the range being added */
	dr.pair[1] = dp_pair_page(&dr.d);
	dr.q[0] = dp_pair_page(&dr.d);
	dr.q[1] = dp_pair_page(&dr.d);
	struct engine_config c = { .sched = SCHED_PCT, .seed = seed, .pct_depth = 2,
				   .pct_steps = 80, .stack_size = 64 * 1024 };
	struct engine *e = engine_create(&c);
	assert_non_null(e);
	if (serial) {
		assert_true(engine_spawn(e, "cpu0", dr_both, NULL) >= 0);
	} else {
		assert_true(engine_spawn(e, "cpu0", dr_demote, NULL) >= 0);
		assert_true(engine_spawn(e, "cpu1", dr_add, NULL) >= 0);
	}
	assert_int_equal(engine_run(e), ENGINE_OK);
	engine_destroy(e);
	dp_fini(&dr.d);
}

static void test_race_demote_add(void **state)
{
	(void)state;
	BANNER("race: DEMOTE (pair page in range Y) vs PAMT.ADD(Y): OPERAND_BUSY on R12 or on RCX, found by the scheduler");
	int both = 0, demote_busy = 0, add_busy = 0;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		dr_run(seed, false);
		if (dr.st_demote == (TDX_OPERAND_BUSY | OPND_R12)) {
			demote_busy++;
			assert_status(dr.st_add, TDX_SUCCESS);
		} else if (dr.st_add == (TDX_OPERAND_BUSY | OPND_RCX)) {
			add_busy++;
			assert_status(dr.st_demote, TDX_SUCCESS);
		} else {
			assert_status(dr.st_demote, TDX_SUCCESS);
			assert_status(dr.st_add, TDX_SUCCESS);
			both++;
		}
	}
	print_message("    200 seeds: %d both succeed, %d DEMOTE busy on R12, %d PAMT.ADD busy on RCX\n",
		      both, demote_busy, add_busy);
	assert_int_equal(0x800002000000000Cull, TDX_OPERAND_BUSY | OPND_R12);
	assert_true(demote_busy > 0);
	assert_true(add_busy > 0);
	/* serialised (as under Linux's pamt_lock) the race is gone */
	for (uint64_t seed = 1; seed <= 50; seed++) {
		dr_run(seed, true);
		assert_status(dr.st_demote, TDX_SUCCESS);
		assert_status(dr.st_add, TDX_SUCCESS);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_add_remove),
		cmocka_unit_test(test_add_errors),
		cmocka_unit_test(test_remove_errors),
		cmocka_unit_test(test_missing_pair),
		cmocka_unit_test(test_2m_aug),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_race_add_add),
		cmocka_unit_test(test_demote_promote_pair),
		cmocka_unit_test(test_race_demote_add),
	};
	return cmocka_run_group_tests_name("dynamic PAMT", tests, NULL, NULL);
}
