/* SPDX-License-Identifier: MIT */
/*
 * TD and vCPU lifecycle and teardown.
 *
 * Every status code the lifecycle leaves can return is produced at least
 * once, with the operand id the 1.5 module reports (shared/reference/
 * module-abi.md sections 1, 2, 4, 5, 8, 9 and the per-leaf summaries of
 * intel/tdx-module branch tdx_1.5: check order, status codes, operand ids).
 * Also: a full teardown in KVM's order, TD_FATAL, and the op-state gates of
 * the memory and vCPU leaves as a table.
 *
 * Where the simulator models less than the real module (no L2 VMs, so no
 * TDCS pages 7..9 or TDVPS pages 7..15), the tests accept either limit and
 * say so.
 */
#include <stddef.h>
#include <string.h>

#include "testlib.h"

/* ---------------------------------------------------------------------------
 * Step-by-step fixtures
 */

/* A module (default config unless @cfg) with nothing in it; pages from f->b. */
static void fx_bare(struct fx *f, const struct tdx_module_config *cfg)
{
	struct tdx_module_config c;
	memset(f, 0, sizeof(*f));
	if (cfg)
		c = *cfg;
	else
		tdx_module_default_config(&c);
	f->m = tdx_module_create(&c);
	assert_non_null(f->m);
	f->pm = tdx_module_physmem(f->m);
	bringup_init(&f->b, f->m);
	bringup_default_opts(&f->o);
}

/* MNG.CREATE, KEY.CONFIG if @keys, then @ntdcx MNG.ADDCX: the TD of f->b. */
static void td_start(struct fx *f, uint64_t hkid, bool keys, int ntdcx)
{
	f->b.tdr = bringup_page(&f->b);
	assert_status(tdh_mng_create(f->m, &f->out, f->b.tdr, hkid), TDX_SUCCESS);
	f->b.td = tdx_td_by_tdr(f->m, f->b.tdr);
	assert_non_null(f->b.td);
	if (keys)
		assert_status(tdh_mng_key_config(f->m, &f->out, f->b.tdr), TDX_SUCCESS);
	for (int i = 0; i < ntdcx; i++) {
		f->b.tdcx[i] = bringup_page(&f->b);
		assert_status(tdh_mng_addcx(f->m, &f->out, f->b.tdcx[i], f->b.tdr), TDX_SUCCESS);
	}
}

/* MNG.INIT with @p placed in the shared (non-TD) page. */
static uint64_t td_init(struct fx *f, const struct td_params *p)
{
	physmem_write(f->pm, f->b.shared_page, p, sizeof(*p));
	return tdh_mng_init(f->m, &f->out, f->b.tdr, f->b.shared_page);
}

/* A TD in the INITIALIZED op state with no vCPU (params from f->o). */
static void td_initialized(struct fx *f, uint64_t hkid)
{
	struct td_params p;
	td_start(f, hkid, true, TDX_TDCS_PAGES);
	bringup_td_params(&f->o, &p);
	assert_status(td_init(f, &p), TDX_SUCCESS);
}

/* VP.CREATE and @naddcx VP.ADDCX; returns the vCPU's slot in f->b. */
static int vcpu_create(struct fx *f, int naddcx)
{
	int i = f->b.nvcpus++;
	f->b.tdvpr[i] = bringup_page(&f->b);
	assert_status(tdh_vp_create(f->m, &f->out, f->b.tdvpr[i], f->b.tdr), TDX_SUCCESS);
	for (int k = 0; k < naddcx; k++)
		assert_status(tdh_vp_addcx(f->m, &f->out, bringup_page(&f->b), f->b.tdvpr[i]),
			      TDX_SUCCESS);
	f->b.vcpu[i] = tdx_vcpu_by_tdvpr(f->m, f->b.tdvpr[i]);
	assert_non_null(f->b.vcpu[i]);
	return i;
}

/*
 * SEPT.ADD (ALLOW_EXISTING) the path to @level for @gpa, recording every
 * S-EPT page that was consumed in @pages.
 */
static void path_rec(struct fx *f, uint64_t gpa, int level, uint64_t *pages, int *n)
{
	for (int l = tdx_td_levels(f->b.td) - 1; l > level; l--) {
		uint64_t page = bringup_page(&f->b);
		uint64_t info = tdx_gpa_info(gpa & ~(tdx_level_size(l) - 1), l);
		assert_status(tdh_mem_sept_add_v1(f->m, &f->out, info,
						  f->b.tdr | TDR_HANDLE_ALLOW_EXISTING, page),
			      TDX_SUCCESS);
		if (f->out.r8 != TDX_NULL_PA) {
			assert_true(f->out.r8 & SEPT_ADD_R8_EXISTED);
			assert_int_equal(f->out.r8 & ~SEPT_ADD_R8_EXISTED, page);
			assert_int_equal(pamt_peek_type(f->pm, page, PAMT_4K), PT_NDA);
		} else {
			assert_int_equal(pamt_peek_type(f->pm, page, PAMT_4K), PT_EPT);
			pages[(*n)++] = page;
		}
	}
}

/* RECLAIM @hpa: success with RCX = type, RDX = owner TDR (0 for a TDR), R8 = size. */
static void reclaim_ok(struct fx *f, uint64_t hpa, unsigned type, uint64_t owner, unsigned size)
{
	struct tdx_regs o;
	memset(&o, 0xa5, sizeof(o));
	assert_status(tdh_phymem_page_reclaim(f->m, &o, hpa), TDX_SUCCESS);
	assert_int_equal(o.rcx, type);
	assert_int_equal(o.rdx, owner);
	assert_int_equal(o.r8, size);
	assert_int_equal(pamt_peek_type(f->pm, hpa, (enum pamt_size)size), PT_NDA);
}

/* Every page f->b handed out is PT_NDA again, at 4K, 2M and 1G. */
static void assert_all_pages_free(struct fx *f)
{
	for (uint64_t p = f->b.base; p < f->b.next; p += SZ_4K) {
		assert_int_equal(pamt_peek_type(f->pm, p, PAMT_4K), PT_NDA);
		assert_int_equal(pamt_peek_type(f->pm, p, PAMT_2M), PT_NDA);
		assert_int_equal(pamt_peek_type(f->pm, p, PAMT_1G), PT_NDA);
	}
	for (uint64_t p = f->b.next2m; p < f->b.end; p += SZ_2M) {
		assert_int_equal(pamt_peek_type(f->pm, p, PAMT_2M), PT_NDA);
		assert_int_equal(pamt_peek_type(f->pm, p, PAMT_1G), PT_NDA);
		for (uint64_t q = p; q < p + SZ_2M; q += SZ_4K)
			assert_int_equal(pamt_peek_type(f->pm, q, PAMT_4K), PT_NDA);
	}
}

/* VPFLUSHDONE, CACHE.WB (START), KEY.FREEID of @tdr; every vCPU already flushed. */
static void release_key(struct fx *f, uint64_t tdr)
{
	assert_status(tdh_mng_vpflushdone(f->m, &f->out, tdr), TDX_SUCCESS);
	assert_status(tdh_phymem_cache_wb(f->m, &f->out, TDX_CACHEWB_START), TDX_SUCCESS);
	assert_status(tdh_mng_key_freeid(f->m, &f->out, tdr), TDX_SUCCESS);
}

/*
 * RECLAIM every control page of the TD of f->b (vCPU TDCX pages, TDVPRs,
 * TDCS pages), then the TDR.  Child pages other than these must already be
 * gone.
 */
static void reclaim_control_pages(struct fx *f, int ntdcx)
{
	uint64_t tdr = f->b.tdr;
	for (int i = 0; i < f->b.nvcpus; i++) {
		struct tdx_vcpu *v = f->b.vcpu[i];
		for (uint32_t k = 0; k < v->num_tdcx; k++)
			reclaim_ok(f, v->tdcx[k], PT_TDCX, tdr, PAMT_4K);
		reclaim_ok(f, f->b.tdvpr[i], PT_TDVPR, tdr, PAMT_4K);
	}
	for (int i = 0; i < ntdcx; i++)
		reclaim_ok(f, f->b.tdcx[i], PT_TDCX, tdr, PAMT_4K);
	reclaim_ok(f, tdr, PT_TDR, 0, PAMT_4K);
	f->b.td = NULL;		/* the TD is gone; so are its vCPUs */
	memset(f->b.vcpu, 0, sizeof(f->b.vcpu));
}

/* ---------------------------------------------------------------------------
 * TDH.MNG.CREATE, TDH.MNG.KEY.CONFIG, TDH.MNG.ADDCX
 */

static void test_mng_create(void **state)
{
	(void)state;
	BANNER("MNG.CREATE: key id range and reserved bits (RDX), page in use (RCX), HKID_NOT_FREE");
	struct fx f;
	fx_bare(&f, NULL);
	const uint64_t nr = 64;		/* the default config's private key ids: 1..64 */
	uint64_t page = bringup_page(&f.b);
	const uint64_t bad_rdx[] = { 0, nr + 1, 0xffff, 1 | BIT64(16), 1 | BIT64(63) };
	for (size_t i = 0; i < sizeof(bad_rdx) / sizeof(bad_rdx[0]); i++) {
		assert_status(tdh_mng_create(f.m, &f.out, page, bad_rdx[i]),
			      TDX_OPERAND_INVALID | OPND_RDX);
		assert_int_equal(pamt_peek_type(f.pm, page, PAMT_4K), PT_NDA);
	}
	/* the key id is checked before the TDR page */
	assert_status(tdh_mng_create(f.m, &f.out, page + 8, 0), TDX_OPERAND_INVALID | OPND_RDX);

	/* the highest key id is valid */
	assert_status(tdh_mng_create(f.m, &f.out, page, nr), TDX_SUCCESS);
	assert_int_equal(pamt_peek_type(f.pm, page, PAMT_4K), PT_TDR);
	struct tdx_td *td = tdx_td_by_tdr(f.m, page);
	assert_non_null(td);
	assert_int_equal(tdx_td_lifecycle(td), TD_HKID_ASSIGNED);

	/* a page already in use: a TDR, a TDCX, a private page */
	uint64_t fresh = bringup_page(&f.b);
	assert_status(tdh_mng_create(f.m, &f.out, page, 2), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	f.b.tdr = page;
	f.b.td = td;
	assert_status(tdh_mng_key_config(f.m, &f.out, page), TDX_SUCCESS);
	uint64_t tdcx = bringup_page(&f.b);
	assert_status(tdh_mng_addcx(f.m, &f.out, tdcx, page), TDX_SUCCESS);
	assert_status(tdh_mng_create(f.m, &f.out, tdcx, 2), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);

	/* the key of a live TD is not free; the page stays free */
	assert_status(tdh_mng_create(f.m, &f.out, fresh, nr), TDX_HKID_NOT_FREE);
	assert_int_equal(pamt_peek_type(f.pm, fresh, PAMT_4K), PT_NDA);
	/* another key on the same page works */
	assert_status(tdh_mng_create(f.m, &f.out, fresh, 1), TDX_SUCCESS);
	assert_int_equal(pamt_peek_type(f.pm, fresh, PAMT_4K), PT_TDR);
	fx_fini(&f);
}

static void test_key_config(void **state)
{
	(void)state;
	BANNER("KEY.CONFIG: once per TD (LIFECYCLE_STATE_INCORRECT the second time), TDR operand RCX");
	struct fx f;
	fx_bare(&f, NULL);
	td_start(&f, 3, false, 0);
	uint64_t free_page = bringup_page(&f.b);
	assert_status(tdh_mng_key_config(f.m, &f.out, free_page),
		      TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	assert_int_equal(tdx_td_lifecycle(f.b.td), TD_HKID_ASSIGNED);
	assert_status(tdh_mng_key_config(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_int_equal(tdx_td_lifecycle(f.b.td), TD_KEYS_CONFIGURED);
	assert_status(tdh_mng_key_config(f.m, &f.out, f.b.tdr), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_int_equal(tdx_td_lifecycle(f.b.td), TD_KEYS_CONFIGURED);
	fx_fini(&f);
}

static void test_mng_addcx(void **state)
{
	(void)state;
	BANNER("MNG.ADDCX: TD_KEYS_NOT_CONFIGURED, page checks, TDCX_NUM_INCORRECT past the TDCS size");
	struct fx f;
	fx_bare(&f, NULL);
	td_start(&f, 1, false, 0);
	uint64_t page = bringup_page(&f.b);
	assert_status(tdh_mng_addcx(f.m, &f.out, page, f.b.tdr), TDX_TD_KEYS_NOT_CONFIGURED);
	assert_int_equal(pamt_peek_type(f.pm, page, PAMT_4K), PT_NDA);
	assert_status(tdh_mng_key_config(f.m, &f.out, f.b.tdr), TDX_SUCCESS);

	/* TDR operand is RDX; the new page is RCX */
	assert_status(tdh_mng_addcx(f.m, &f.out, page, page), TDX_PAGE_METADATA_INCORRECT | OPND_RDX);
	/* the TDR itself: its PAMT entry is already held exclusive by this call */
	assert_status(tdh_mng_addcx(f.m, &f.out, f.b.tdr, f.b.tdr), TDX_OPERAND_BUSY | OPND_RCX);
	assert_status(tdh_mng_addcx(f.m, &f.out, page + 0x800, f.b.tdr),
		      TDX_OPERAND_INVALID | OPND_RCX);

	for (int i = 0; i < TDX_TDCS_PAGES; i++) {
		f.b.tdcx[i] = i ? bringup_page(&f.b) : page;
		assert_status(tdh_mng_addcx(f.m, &f.out, f.b.tdcx[i], f.b.tdr), TDX_SUCCESS);
		assert_int_equal(pamt_peek_type(f.pm, f.b.tdcx[i], PAMT_4K), PT_TDCX);
		/* a page already added cannot be added again */
		if (i + 1 < TDX_TDCS_PAGES)
			assert_status(tdh_mng_addcx(f.m, &f.out, f.b.tdcx[i], f.b.tdr),
				      TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	}
	/*
	 * Past the TDCS size: TDX_TDCX_NUM_INCORRECT.  The 1.5 module accepts up
	 * to 9 pages (3 L2 SEPT roots) before MNG.INIT; a module without L2 VMs
	 * stops at 6.  Either way the first refusal is TDCX_NUM_INCORRECT.
	 */
	int added = TDX_TDCS_PAGES;
	uint64_t st;
	for (;;) {
		uint64_t p = bringup_page(&f.b);
		st = tdh_mng_addcx(f.m, &f.out, p, f.b.tdr);
		if (st != TDX_SUCCESS) {
			assert_int_equal(pamt_peek_type(f.pm, p, PAMT_4K), PT_NDA);
			break;
		}
		added++;
		assert_true(added <= 9);
	}
	assert_status(st, TDX_TDCX_NUM_INCORRECT);
	assert_in_range(added, 6, 9);
	fx_fini(&f);
}

/* ---------------------------------------------------------------------------
 * TDH.MNG.INIT
 */

static void test_mng_init_state(void **state)
{
	(void)state;
	BANNER("MNG.INIT: KEYS_NOT_CONFIGURED, TDCS_NOT_ALLOCATED, TD_PARAMS address (RDX), twice");
	struct fx f;
	struct td_params p;
	fx_bare(&f, NULL);
	bringup_td_params(&f.o, &p);
	physmem_write(f.pm, f.b.shared_page, &p, sizeof(p));

	td_start(&f, 1, false, 0);
	assert_status(td_init(&f, &p), TDX_TD_KEYS_NOT_CONFIGURED);
	assert_status(tdh_mng_key_config(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_status(td_init(&f, &p), TDX_TDCS_NOT_ALLOCATED);
	for (int i = 0; i < TDX_TDCS_PAGES; i++) {
		if (i == TDX_TDCS_PAGES - 1) {
			/* five TDCS pages are still not enough */
			assert_status(td_init(&f, &p), TDX_TDCS_NOT_ALLOCATED);
			/* other leaves that need the TDCS say the same */
			assert_status(tdh_vp_create(f.m, &f.out, bringup_page(&f.b), f.b.tdr),
				      TDX_TDCS_NOT_ALLOCATED);
			assert_status(tdh_mem_track(f.m, &f.out, f.b.tdr), TDX_TDCS_NOT_ALLOCATED);
		}
		f.b.tdcx[i] = bringup_page(&f.b);
		assert_status(tdh_mng_addcx(f.m, &f.out, f.b.tdcx[i], f.b.tdr), TDX_SUCCESS);
	}
	/* TDR operand is RCX */
	assert_status(tdh_mng_init(f.m, &f.out, f.b.tdcx[0], f.b.shared_page),
		      TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	/* TD_PARAMS must be 1024-aligned and below MAX_PA */
	const uint64_t bad_addr[] = { f.b.shared_page + 512, f.b.shared_page + 8,
				      f.b.shared_page + 1, BIT64(46), BIT64(52) };
	for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++)
		assert_status(tdh_mng_init(f.m, &f.out, f.b.tdr, bad_addr[i]),
			      TDX_OPERAND_INVALID | OPND_RDX);
	assert_int_equal(tdx_td_op_state(f.b.td), OP_STATE_UNINITIALIZED);
	assert_status(tdh_mng_init(f.m, &f.out, f.b.tdr, f.b.shared_page), TDX_SUCCESS);
	assert_int_equal(tdx_td_op_state(f.b.td), OP_STATE_INITIALIZED);
	assert_status(tdh_mng_init(f.m, &f.out, f.b.tdr, f.b.shared_page), TDX_OP_STATE_INCORRECT);
	fx_fini(&f);
}

struct pmod {
	uint16_t off;
	uint8_t size;	/* 0: unused */
	uint64_t val;
};
#define MOD(field, v) { offsetof(struct td_params, field), \
			sizeof(((struct td_params *)0)->field), (v) }

struct pcase {
	const char *what;
	struct pmod mod[2];
	uint64_t want;
};

#define INV(o) (TDX_OPERAND_INVALID | (o))
#define EPTP4 (EPTP_MT_WB | (3ull << EPTP_PWL_SHIFT))

/* TD_PARAMS checks, in the module's order (lifecycle-leaves.md 4.2). */
static const struct pcase param_cases[] = {
	{ "ATTRIBUTES bit 31 (KL)", { MOD(attributes, TD_ATTR_KL) }, INV(OPND_ATTRIBUTES) },
	{ "ATTRIBUTES bit 1", { MOD(attributes, BIT64(1)) }, INV(OPND_ATTRIBUTES) },
	{ "ATTRIBUTES bit 62", { MOD(attributes, BIT64(62)) }, INV(OPND_ATTRIBUTES) },
	{ "MIGRATABLE + DEBUG", { MOD(attributes, TD_ATTR_MIGRATABLE | TD_ATTR_DEBUG) },
	  INV(OPND_ATTRIBUTES) },
	{ "MIGRATABLE + PERFMON", { MOD(attributes, TD_ATTR_MIGRATABLE | TD_ATTR_PERFMON) },
	  INV(OPND_ATTRIBUTES) },
	{ "XFAM 0 (fixed1 x87/SSE missing)", { MOD(xfam, 0) }, INV(OPND_XFAM) },
	{ "XFAM x87 only", { MOD(xfam, 1) }, INV(OPND_XFAM) },
	{ "XFAM SSE only", { MOD(xfam, 2) }, INV(OPND_XFAM) },
	{ "XFAM AVX512 bits unequal (5 only)", { MOD(xfam, 3 | BIT64(2) | BIT64(5)) }, INV(OPND_XFAM) },
	{ "XFAM AVX512 bits unequal (5,6)", { MOD(xfam, 3 | BIT64(2) | BIT64(5) | BIT64(6)) },
	  INV(OPND_XFAM) },
	{ "XFAM AVX512 without AVX", { MOD(xfam, 3 | BIT64(5) | BIT64(6) | BIT64(7)) }, INV(OPND_XFAM) },
	{ "XFAM bit 3 (outside fixed0)", { MOD(xfam, 3 | BIT64(3)) }, INV(OPND_XFAM) },
	{ "XFAM CET_U without CET_S", { MOD(xfam, 3 | BIT64(11)) }, INV(OPND_XFAM) },
	{ "XFAM AMX bit 17 without 18", { MOD(xfam, 3 | BIT64(17)) }, INV(OPND_XFAM) },
	{ "MAX_VCPUS 0", { MOD(max_vcpus, 0) }, INV(OPND_MAX_VCPUS) },
	{ "NUM_L2_VMS 4", { MOD(num_l2_vms, 4) }, INV(OPND_NUM_L2_VMS) },
	{ "NUM_L2_VMS 255", { MOD(num_l2_vms, 255) }, INV(OPND_NUM_L2_VMS) },
	{ "RESERVED0 byte 0", { MOD(reserved0[0], 1) }, INV(OPND_RDX) },
	{ "RESERVED0 byte 3", { MOD(reserved0[3], 0x80) }, INV(OPND_RDX) },
	{ "CONFIG_FLAGS bit 3", { MOD(config_flags, BIT64(3)) }, INV(OPND_EXEC_CONTROLS) },
	{ "CONFIG_FLAGS bit 63", { MOD(config_flags, BIT64(63)) }, INV(OPND_EXEC_CONTROLS) },
	{ "EPTP memory type UC", { MOD(eptp_controls, 3ull << EPTP_PWL_SHIFT) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP memory type 5", { MOD(eptp_controls, 5 | (3ull << EPTP_PWL_SHIFT)) },
	  INV(OPND_EPTP_CONTROLS) },
	{ "EPTP walk length 3 levels", { MOD(eptp_controls, EPTP_MT_WB | (2ull << EPTP_PWL_SHIFT)) },
	  INV(OPND_EPTP_CONTROLS) },
	{ "EPTP walk length 1 level", { MOD(eptp_controls, EPTP_MT_WB) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP walk length 6 levels", { MOD(eptp_controls, EPTP_MT_WB | (5ull << EPTP_PWL_SHIFT)) },
	  INV(OPND_EPTP_CONTROLS) },
	{ "EPTP bit 6 (A/D)", { MOD(eptp_controls, EPTP4 | BIT64(6)) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP bit 7 (SSS)", { MOD(eptp_controls, EPTP4 | BIT64(7)) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP bit 8", { MOD(eptp_controls, EPTP4 | BIT64(8)) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP bit 11", { MOD(eptp_controls, EPTP4 | BIT64(11)) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP base bit 12", { MOD(eptp_controls, EPTP4 | BIT64(12)) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP base bit 51", { MOD(eptp_controls, EPTP4 | BIT64(51)) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP bit 52", { MOD(eptp_controls, EPTP4 | BIT64(52)) }, INV(OPND_EPTP_CONTROLS) },
	{ "EPTP bit 63", { MOD(eptp_controls, EPTP4 | BIT64(63)) }, INV(OPND_EPTP_CONTROLS) },
	{ "GPAW with a 4-level EPT", { MOD(config_flags, TD_CONFIG_GPAW) }, INV(OPND_EPTP_CONTROLS) },
	{ "TSC_FREQUENCY 0", { MOD(tsc_frequency, 0) }, INV(OPND_TSC_FREQUENCY) },
	{ "TSC_FREQUENCY 3", { MOD(tsc_frequency, 3) }, INV(OPND_TSC_FREQUENCY) },
	{ "TSC_FREQUENCY 401", { MOD(tsc_frequency, 401) }, INV(OPND_TSC_FREQUENCY) },
	{ "TSC_FREQUENCY 0xffff", { MOD(tsc_frequency, 0xffff) }, INV(OPND_TSC_FREQUENCY) },
	{ "RESERVED1 byte 0", { MOD(reserved1[0], 1) }, INV(OPND_RDX) },
	{ "RESERVED1 byte 37", { MOD(reserved1[37], 1) }, INV(OPND_RDX) },
	{ "MSR_CONFIG_CTLS bit 1", { MOD(msr_config_ctls, 2) }, INV(OPND_RDX) },
	{ "MSR_CONFIG_CTLS bit 7", { MOD(msr_config_ctls, 0x80) }, INV(OPND_RDX) },
	{ "RESERVED2 byte 0", { MOD(reserved2[0], 1) }, INV(OPND_RDX) },
	{ "RESERVED2 byte 23", { MOD(reserved2[23], 1) }, INV(OPND_RDX) },
	{ "RESERVED3 byte 0", { MOD(reserved3[0], 1) }, INV(OPND_RDX) },
	{ "RESERVED3 byte 575", { MOD(reserved3[575], 0x40) }, INV(OPND_RDX) },
	{ "ARCH_CAPS_CONFIG without MSR_CONFIG_CTLS bit 0", { MOD(ia32_arch_caps_config, BIT64(4)) },
	  INV(OPND_ARCH_CAPS_CONFIG) },
	{ "ARCH_CAPS_CONFIG bit 0", { MOD(msr_config_ctls, 1), MOD(ia32_arch_caps_config, BIT64(0)) },
	  INV(OPND_ARCH_CAPS_CONFIG) },
	/* the first failing check wins */
	{ "order: ATTRIBUTES before XFAM", { MOD(attributes, TD_ATTR_KL), MOD(xfam, 0) },
	  INV(OPND_ATTRIBUTES) },
	{ "order: XFAM before MAX_VCPUS", { MOD(xfam, 0), MOD(max_vcpus, 0) }, INV(OPND_XFAM) },
	{ "order: MAX_VCPUS before NUM_L2_VMS", { MOD(max_vcpus, 0), MOD(num_l2_vms, 4) },
	  INV(OPND_MAX_VCPUS) },
	{ "order: NUM_L2_VMS before RESERVED0", { MOD(num_l2_vms, 4), MOD(reserved0[0], 1) },
	  INV(OPND_NUM_L2_VMS) },
	{ "order: RESERVED0 before CONFIG_FLAGS", { MOD(reserved0[0], 1), MOD(config_flags, BIT64(3)) },
	  INV(OPND_RDX) },
	{ "order: CONFIG_FLAGS before EPTP", { MOD(config_flags, BIT64(3)), MOD(eptp_controls, 0) },
	  INV(OPND_EXEC_CONTROLS) },
	{ "order: EPTP before TSC", { MOD(eptp_controls, 0), MOD(tsc_frequency, 0) },
	  INV(OPND_EPTP_CONTROLS) },
	{ "order: TSC before RESERVED1", { MOD(tsc_frequency, 0), MOD(reserved1[0], 1) },
	  INV(OPND_TSC_FREQUENCY) },
};

static void apply_mods(struct td_params *p, const struct pmod *mods, int n)
{
	for (int i = 0; i < n; i++) {
		if (!mods[i].size)
			continue;
		uint64_t v = mods[i].val;	/* little-endian host: low bytes first */
		memcpy((uint8_t *)p + mods[i].off, &v, mods[i].size);
	}
}

static void test_mng_init_params(void **state)
{
	(void)state;
	BANNER("MNG.INIT: TD_PARAMS validation, each error with its operand id, in the module's order");
	struct fx f;
	struct td_params base, p;
	fx_bare(&f, NULL);
	td_start(&f, 1, true, TDX_TDCS_PAGES);
	bringup_td_params(&f.o, &base);
	int failures = 0;
	for (size_t i = 0; i < sizeof(param_cases) / sizeof(param_cases[0]); i++) {
		const struct pcase *c = &param_cases[i];
		p = base;
		apply_mods(&p, c->mod, 2);
		uint64_t st = td_init(&f, &p);
		if (st != c->want) {
			print_error("%s: status %s|%#x, expected %s|%#x\n", c->what,
				    tdx_status_name(st), tdx_status_operand(st),
				    tdx_status_name(c->want), tdx_status_operand(c->want));
			failures++;
		}
		/* a failed MNG.INIT leaves the TD uninitialized, so it can be retried */
		if (st != TDX_SUCCESS && tdx_td_op_state(f.b.td) != OP_STATE_UNINITIALIZED) {
			print_error("%s: op state changed by a failed MNG.INIT\n", c->what);
			failures++;
		}
		if (st == TDX_SUCCESS)
			break;	/* cannot go on with this TD */
	}
	assert_int_equal(failures, 0);
	/* the same TD initializes with valid parameters after all those failures */
	assert_status(td_init(&f, &base), TDX_SUCCESS);
	assert_int_equal(tdx_td_op_state(f.b.td), OP_STATE_INITIALIZED);
	assert_false(tdx_td_gpaw(f.b.td));
	assert_int_equal(tdx_td_levels(f.b.td), 4);

	/* boundary values that are valid, each on a fresh TD */
	static const struct pcase ok[] = {
		{ "TSC_FREQUENCY 4", { MOD(tsc_frequency, 4) }, TDX_SUCCESS },
		{ "TSC_FREQUENCY 400", { MOD(tsc_frequency, 400) }, TDX_SUCCESS },
		{ "MAX_VCPUS 0xffff", { MOD(max_vcpus, 0xffff) }, TDX_SUCCESS },
		{ "ATTRIBUTES DEBUG|SEPT_VE_DISABLE|PKS|PERFMON",
		  { MOD(attributes, TD_ATTR_DEBUG | TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_PKS |
				    TD_ATTR_PERFMON) }, TDX_SUCCESS },
		{ "ATTRIBUTES MIGRATABLE", { MOD(attributes, TD_ATTR_MIGRATABLE) }, TDX_SUCCESS },
		{ "CONFIG_FLAGS FLEXIBLE_PENDING_VE|NO_RBP_MOD",
		  { MOD(config_flags, TD_CONFIG_FLEXIBLE_PENDING_VE | TD_CONFIG_NO_RBP_MOD) },
		  TDX_SUCCESS },
		{ "ARCH_CAPS_CONFIG allowed bits",
		  { MOD(msr_config_ctls, 1),
		    MOD(ia32_arch_caps_config, BIT64(4) | BIT64(19) | BIT64(20) | BIT64(24)) },
		  TDX_SUCCESS },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		p = base;
		apply_mods(&p, ok[i].mod, 2);
		td_start(&f, 2 + i, true, TDX_TDCS_PAGES);
		uint64_t st = td_init(&f, &p);
		if (st != TDX_SUCCESS) {
			print_error("%s: status %s|%#x, expected success\n", ok[i].what,
				    tdx_status_name(st), tdx_status_operand(st));
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	fx_fini(&f);
}

static uint64_t init_with_eptp(const struct tdx_module_config *cfg, int levels, bool gpaw, int *got_levels)
{
	struct fx f;
	struct td_params p;
	fx_bare(&f, cfg);
	f.o.levels = levels;
	f.o.gpaw = gpaw;
	td_start(&f, 1, true, TDX_TDCS_PAGES);
	bringup_td_params(&f.o, &p);
	uint64_t st = td_init(&f, &p);
	*got_levels = st == TDX_SUCCESS ? tdx_td_levels(f.b.td) : 0;
	if (st == TDX_SUCCESS)
		assert_int_equal(tdx_td_gpaw(f.b.td), gpaw);
	fx_fini(&f);
	return st;
}

static void test_mng_init_eptp_platform(void **state)
{
	(void)state;
	BANNER("MNG.INIT: 5-level EPT needs platform PML5 and MAX_PA >= 49; GPAW needs 5 levels");
	struct tdx_module_config c;
	int lv;

	/* no 5-level EPT on the platform */
	tdx_module_default_config(&c);
	c.max_pa = 52;
	c.ept_5level = false;
	assert_status(init_with_eptp(&c, 5, false, &lv), INV(OPND_EPTP_CONTROLS));
	assert_status(init_with_eptp(&c, 5, true, &lv), INV(OPND_EPTP_CONTROLS));
	assert_status(init_with_eptp(&c, 4, true, &lv), INV(OPND_EPTP_CONTROLS));
	assert_status(init_with_eptp(&c, 4, false, &lv), TDX_SUCCESS);
	assert_int_equal(lv, 4);

	/* PML5 but MAX_PA 46 (< 49) */
	tdx_module_default_config(&c);
	c.max_pa = 46;
	c.ept_5level = true;
	assert_status(init_with_eptp(&c, 5, false, &lv), INV(OPND_EPTP_CONTROLS));

	/* PML5 and MAX_PA 52: 5 levels, with or without GPAW */
	c.max_pa = 52;
	assert_status(init_with_eptp(&c, 5, false, &lv), TDX_SUCCESS);
	assert_int_equal(lv, 5);
	assert_status(init_with_eptp(&c, 5, true, &lv), TDX_SUCCESS);
	assert_int_equal(lv, 5);
	assert_status(init_with_eptp(&c, 4, true, &lv), INV(OPND_EPTP_CONTROLS));
}

/* ---------------------------------------------------------------------------
 * vCPUs
 */

static void test_vp_create_addcx(void **state)
{
	(void)state;
	BANNER("VP.CREATE / VP.ADDCX: operands, TDCX_NUM_INCORRECT, VCPU_STATE_INCORRECT, after finalize");
	struct fx f;
	fx_bare(&f, NULL);
	td_initialized(&f, 1);
	uint64_t page = bringup_page(&f.b);
	/* TDR is RDX, the new TDVPR is RCX */
	assert_status(tdh_vp_create(f.m, &f.out, page, page), TDX_PAGE_METADATA_INCORRECT | OPND_RDX);
	assert_status(tdh_vp_create(f.m, &f.out, f.b.tdcx[0], f.b.tdr),
		      TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	assert_status(tdh_vp_create(f.m, &f.out, page + 0x10, f.b.tdr), TDX_OPERAND_INVALID | OPND_RCX);
	assert_int_equal(pamt_peek_type(f.pm, page, PAMT_4K), PT_NDA);

	int v = vcpu_create(&f, 0);
	uint64_t tdvpr = f.b.tdvpr[v];
	assert_int_equal(pamt_peek_type(f.pm, tdvpr, PAMT_4K), PT_TDVPR);
	/* VP.ADDCX: TDVPR is RDX, the new page is RCX */
	assert_status(tdh_vp_addcx(f.m, &f.out, page, f.b.tdr), TDX_PAGE_METADATA_INCORRECT | OPND_RDX);
	assert_status(tdh_vp_addcx(f.m, &f.out, f.b.tdcx[0], tdvpr),
		      TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	/* pages this call already holds (TDVPR exclusive, TDR shared) are busy */
	assert_status(tdh_vp_addcx(f.m, &f.out, f.b.tdr, tdvpr), TDX_OPERAND_BUSY | OPND_RCX);
	assert_status(tdh_vp_addcx(f.m, &f.out, tdvpr, tdvpr), TDX_OPERAND_BUSY | OPND_RCX);

	for (int k = 1; k < TDX_TDVPS_PAGES; k++) {
		uint64_t p = bringup_page(&f.b);
		assert_status(tdh_vp_addcx(f.m, &f.out, p, tdvpr), TDX_SUCCESS);
		assert_int_equal(pamt_peek_type(f.pm, p, PAMT_4K), PT_TDCX);
	}
	/*
	 * Past the TDVPS size: TDCX_NUM_INCORRECT.  The 1.5 module takes up to
	 * 15 TDVPS pages (L2 VMs); a module without L2 VMs stops at 6.
	 */
	int pages = TDX_TDVPS_PAGES;
	uint64_t st;
	for (;;) {
		uint64_t p = bringup_page(&f.b);
		st = tdh_vp_addcx(f.m, &f.out, p, tdvpr);
		if (st != TDX_SUCCESS) {
			assert_int_equal(pamt_peek_type(f.pm, p, PAMT_4K), PT_NDA);
			break;
		}
		pages++;
		assert_true(pages <= 15);
	}
	assert_status(st, TDX_TDCX_NUM_INCORRECT);
	assert_in_range(pages, 6, 15);

	/* VP.INIT, then VP.ADDCX is refused for the vCPU's state */
	assert_status(tdh_vp_init(f.m, &f.out, tdvpr, 0), TDX_SUCCESS);
	assert_status(tdh_vp_addcx(f.m, &f.out, bringup_page(&f.b), tdvpr), TDX_VCPU_STATE_INCORRECT);

	/* after MR.FINALIZE no vCPU can be created or grown */
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_status(tdh_vp_create(f.m, &f.out, page, f.b.tdr), TDX_OP_STATE_INCORRECT);
	assert_int_equal(pamt_peek_type(f.pm, page, PAMT_4K), PT_NDA);
	assert_status(tdh_vp_addcx(f.m, &f.out, page, tdvpr), TDX_OP_STATE_INCORRECT);
	fx_fini(&f);
}

static void test_vp_init(void **state)
{
	(void)state;
	BANNER("VP.INIT: TDCX_NUM_INCORRECT, VCPU_STATE_INCORRECT, MAX_VCPUS_EXCEEDED; MR.FINALIZE NO_VCPUS");
	struct fx f;
	struct td_params p;
	fx_bare(&f, NULL);
	td_start(&f, 1, true, TDX_TDCS_PAGES);
	f.o.max_vcpus = 2;
	bringup_td_params(&f.o, &p);
	assert_status(td_init(&f, &p), TDX_SUCCESS);

	/* no vCPU at all, then a vCPU that is created but not initialized */
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_NO_VCPUS);
	int v0 = vcpu_create(&f, 3);
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[v0], 0), TDX_TDCX_NUM_INCORRECT);
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_NO_VCPUS);
	for (int k = 0; k < 2; k++)
		assert_status(tdh_vp_addcx(f.m, &f.out, bringup_page(&f.b), f.b.tdvpr[v0]), TDX_SUCCESS);
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_NO_VCPUS);
	/* VP.INIT's TDVPR operand is RCX */
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdr, 0), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[v0], 0), TDX_SUCCESS);
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[v0], 0), TDX_VCPU_STATE_INCORRECT);

	/* max_vcpus = 2: the third VP.INIT is refused, and stays refused */
	int v1 = vcpu_create(&f, TDX_TDVPS_PAGES - 1);
	int v2 = vcpu_create(&f, TDX_TDVPS_PAGES - 1);
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[v1], 0), TDX_SUCCESS);
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[v2], 0), TDX_MAX_VCPUS_EXCEEDED);
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[v2], 0), TDX_MAX_VCPUS_EXCEEDED);

	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_int_equal(tdx_td_op_state(f.b.td), OP_STATE_RUNNABLE);
	uint8_t mrtd[TDX_MRTD_BYTES];
	assert_true(tdx_td_mrtd(f.b.td, mrtd));
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_OP_STATE_INCORRECT);
	/* VP.INIT is build-time only: the op state is checked before the vCPU */
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[v2], 0), TDX_OP_STATE_INCORRECT);
	/* the vCPU that never initialized cannot run */
	assert_status(tdh_vp_enter(f.m, &f.out, f.b.tdvpr[v2]), TDX_VCPU_STATE_INCORRECT);
	fx_fini(&f);
}

static void test_vp_enter(void **state)
{
	(void)state;
	BANNER("VP.ENTER: OP_STATE_INCORRECT before finalize, reserved RCX bits, already inside");
	struct fx f;
	fx_init(&f, NULL);
	uint64_t tdvpr = f.b.tdvpr[0];
	assert_status(tdh_vp_enter(f.m, &f.out, tdvpr), TDX_OP_STATE_INCORRECT);
	assert_false(tdx_vcpu_in_td(f.b.vcpu[0]));
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);

	/* bits 11:0 and 63:54 of RCX are reserved */
	const uint64_t rsvd[] = { BIT64(0), BIT64(5), BIT64(11), BIT64(54), BIT64(60), BIT64(63) };
	for (size_t i = 0; i < sizeof(rsvd) / sizeof(rsvd[0]); i++) {
		assert_status(tdh_vp_enter(f.m, &f.out, tdvpr | rsvd[i]), TDX_OPERAND_INVALID | OPND_RCX);
		assert_false(tdx_vcpu_in_td(f.b.vcpu[0]));
	}
	/* reserved bits are checked before the TDVPR page */
	assert_status(tdh_vp_enter(f.m, &f.out, f.b.tdr | 1), TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_vp_enter(f.m, &f.out, f.b.tdr), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);

	fx_enter(&f, 0);
	assert_true(tdx_vcpu_in_td(f.b.vcpu[0]));
	assert_status(tdh_vp_enter(f.m, &f.out, tdvpr), TDX_VCPU_STATE_INCORRECT);
	assert_true(tdx_vcpu_in_td(f.b.vcpu[0]));
	fx_leave(&f, 0);
	fx_enter(&f, 0);
	fx_leave(&f, 0);
	fx_fini(&f);
}

static void test_vp_enter_l1_flags(void **state)
{
	(void)state;
	BANNER("VP.ENTER: RESUME_L1 (bit 53) without L2 VMs and HOST_RECOVERABILITY_HINT (bit 52) "
	       "after a fault exit are OPERAND_INVALID|RCX");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t tdvpr = f.b.tdvpr[0];
	/* curr_vm is 0 (the TD has no L2 VM): RESUME_L1 is invalid */
	uint64_t st53 = tdh_vp_enter(f.m, &f.out, tdvpr | BIT64(53));
	fx_leave(&f, 0);
	/* last_td_exit is ASYNC_FAULT after VP.INIT: the hint is invalid */
	uint64_t st52 = tdh_vp_enter(f.m, &f.out, tdvpr | BIT64(52));
	fx_leave(&f, 0);
	fx_fini(&f);	/* before asserting: a failure must not leak the module */
	assert_status(st53, TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(st52, TDX_OPERAND_INVALID | OPND_RCX);
}

static void test_vp_flush(void **state)
{
	(void)state;
	BANNER("VP.FLUSH: OPERAND_BUSY|RCX while inside, VCPU_NOT_ASSOCIATED, TDCX_NUM_INCORRECT");
	struct fx f;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.nvcpus = 2;
	fx_init(&f, &o);
	/* VP.FLUSH works in the INITIALIZED op state (no op-state check) */
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[1]), TDX_SUCCESS);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[1]), TDX_VCPU_NOT_ASSOCIATED);
	/* a vCPU created but incomplete, then complete but not initialized */
	int v = vcpu_create(&f, 2);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[v]), TDX_TDCX_NUM_INCORRECT);
	for (int k = 2; k < TDX_TDVPS_PAGES - 1; k++)
		assert_status(tdh_vp_addcx(f.m, &f.out, bringup_page(&f.b), f.b.tdvpr[v]), TDX_SUCCESS);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[v]), TDX_VCPU_NOT_ASSOCIATED);
	/* its TDVPR operand is RCX */
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdr), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);

	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	fx_enter(&f, 0);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_OPERAND_BUSY | OPND_RCX);
	fx_leave(&f, 0);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_SUCCESS);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_VCPU_NOT_ASSOCIATED);
	/* entering again associates it again */
	fx_enter(&f, 0);
	fx_leave(&f, 0);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_SUCCESS);
	/* vCPU 1 was flushed before finalize and has not entered since */
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[1]), TDX_VCPU_NOT_ASSOCIATED);
	fx_fini(&f);
}

/* ---------------------------------------------------------------------------
 * Teardown leaves
 */

static void test_vpflushdone(void **state)
{
	(void)state;
	BANNER("MNG.VPFLUSHDONE: FLUSHVP_NOT_DONE while a vCPU is associated; then the TD is blocked");
	struct fx f;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.nvcpus = 2;
	o.hkid = 7;
	fx_init_runnable(&f, &o);
	/* VP.INIT associated both vCPUs even though they never entered */
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_FLUSHVP_NOT_DONE);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_SUCCESS);
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_FLUSHVP_NOT_DONE);
	fx_enter(&f, 0);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[1]), TDX_SUCCESS);
	/* vCPU 0 is inside the TD again, holding the TDR shared: VPFLUSHDONE's
	 * exclusive TDR lock fails first */
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_OPERAND_BUSY | OPND_RCX);
	fx_leave(&f, 0);
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_FLUSHVP_NOT_DONE);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_SUCCESS);
	/* TDR operand is RCX */
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdcx[0]),
		      TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, f.b.tdr), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_int_equal(tdx_td_lifecycle(f.b.td), TD_BLOCKED);

	/* a blocked TD: its keys are no longer configured */
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_status(tdh_mng_key_config(f.m, &f.out, f.b.tdr), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_status(tdh_vp_enter(f.m, &f.out, f.b.tdvpr[0]), TDX_TD_KEYS_NOT_CONFIGURED);
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_TD_KEYS_NOT_CONFIGURED);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0, 0), f.b.tdr, bringup_page(&f.b)),
		      TDX_TD_KEYS_NOT_CONFIGURED);
	assert_status(tdh_mem_track(f.m, &f.out, f.b.tdr), TDX_TD_KEYS_NOT_CONFIGURED);
	assert_status(tdh_mng_addcx(f.m, &f.out, bringup_page(&f.b), f.b.tdr),
		      TDX_TD_KEYS_NOT_CONFIGURED);
	/* its key is not free until KEY.FREEID */
	assert_status(tdh_mng_create(f.m, &f.out, bringup_page(&f.b), 7), TDX_HKID_NOT_FREE);
	/* nor can any page be reclaimed yet */
	struct tdx_regs r;
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.tdcx[1]), TDX_LIFECYCLE_STATE_INCORRECT);
	fx_fini(&f);
}

/* A TD with no TDCS through VPFLUSHDONE (key id @hkid); returns its TDR. */
static uint64_t blocked_td(struct fx *f, uint64_t hkid)
{
	uint64_t tdr = bringup_page(&f->b);
	assert_status(tdh_mng_create(f->m, &f->out, tdr, hkid), TDX_SUCCESS);
	assert_status(tdh_mng_key_config(f->m, &f->out, tdr), TDX_SUCCESS);
	assert_status(tdh_mng_vpflushdone(f->m, &f->out, tdr), TDX_SUCCESS);
	return tdr;
}

static void test_cache_wb(void **state)
{
	(void)state;
	BANNER("PHYMEM.CACHE.WB: NO_HKID_READY, bad command, interrupted and resumed, RESUME_ERROR; "
	       "KEY.FREEID: WBCACHE_NOT_COMPLETE");
	struct fx f;
	fx_bare(&f, NULL);
	uint64_t st = tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_START);
	assert_status(st, TDX_NO_HKID_READY_TO_WBCACHE);
	assert_false(tdx_status_is_error(st));	/* a warning, not an error */
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, 2), TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, ~0ull), TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_RESUME), TDX_WBCACHE_RESUME_ERROR);

	/* TD A is blocked; its key needs a write-back before it can be freed */
	uint64_t a = blocked_td(&f, 1);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, a), TDX_WBCACHE_NOT_COMPLETE);
	tdx_module_set_host_interrupt(f.m, true);
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_START), TDX_INTERRUPTED_RESUMABLE);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, a), TDX_WBCACHE_NOT_COMPLETE);
	/* TD B is blocked while the write-back is half done: it is not covered by it */
	uint64_t b = blocked_td(&f, 2);
	tdx_module_set_host_interrupt(f.m, false);
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_RESUME), TDX_SUCCESS);
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_RESUME), TDX_WBCACHE_RESUME_ERROR);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, a), TDX_SUCCESS);
	assert_int_equal(tdx_td_lifecycle(tdx_td_by_tdr(f.m, a)), TD_TEARDOWN);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, b), TDX_WBCACHE_NOT_COMPLETE);
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_START), TDX_SUCCESS);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, b), TDX_SUCCESS);
	/* KEY.FREEID twice: the TD is in TEARDOWN, not BLOCKED */
	assert_status(tdh_mng_key_freeid(f.m, &f.out, b), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_START), TDX_NO_HKID_READY_TO_WBCACHE);

	/* with an interrupt always pending, RESUME still makes progress to the end */
	uint64_t c = blocked_td(&f, 3);
	tdx_module_set_host_interrupt(f.m, true);
	st = tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_START);
	assert_status(st, TDX_INTERRUPTED_RESUMABLE);
	int calls = 1;
	while (st == TDX_INTERRUPTED_RESUMABLE && calls < 1000) {
		st = tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_RESUME);
		calls++;
	}
	assert_status(st, TDX_SUCCESS);
	tdx_module_set_host_interrupt(f.m, false);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, c), TDX_SUCCESS);

	/* all three keys can be assigned again */
	for (uint64_t k = 1; k <= 3; k++)
		assert_status(tdh_mng_create(f.m, &f.out, bringup_page(&f.b), k), TDX_SUCCESS);
	fx_fini(&f);
}

static void test_reclaim_wbinvd(void **state)
{
	(void)state;
	BANNER("PHYMEM.PAGE.RECLAIM outputs and errors; PHYMEM.PAGE.WBINVD");
	struct fx f;
	struct tdx_regs r;
	uint64_t sept[16];
	int nsept = 0;
	fx_init_runnable(&f, NULL);
	path_rec(&f, 0, TDX_LEVEL_4K, sept, &nsept);
	path_rec(&f, SZ_2M, TDX_LEVEL_2M, sept, &nsept);
	uint64_t p4k = bringup_page(&f.b);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0, 0), f.b.tdr, p4k), TDX_SUCCESS);
	uint64_t p2m = bringup_page_2m(&f.b);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(SZ_2M, 1), f.b.tdr, p2m), TDX_SUCCESS);
	uint64_t free_page = bringup_page(&f.b);

	/* operand checks */
	memset(&r, 0xa5, sizeof(r));
	assert_status(tdh_phymem_page_reclaim(f.m, &r, free_page), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	assert_int_equal(r.rcx, 0);
	assert_int_equal(r.rdx, 0);
	assert_int_equal(r.r8, 0);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.tdr + 0x40), TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, BIT64(46)), TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.shared_page),
		      TDX_OPERAND_ADDR_RANGE_ERROR | OPND_RCX);

	/* a live TD: every page is refused, with the page's metadata in the outputs */
	memset(&r, 0xa5, sizeof(r));
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.tdcx[2]), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_int_equal(r.rcx, PT_TDCX);
	assert_int_equal(r.rdx, f.b.tdr);
	assert_int_equal(r.r8, PAMT_4K);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, p4k), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_int_equal(r.rcx, PT_REG);
	assert_int_equal(r.rdx, f.b.tdr);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.tdr), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_int_equal(r.rcx, PT_TDR);
	assert_int_equal(r.rdx, 0);
	assert_int_equal(r.r8, PAMT_4K);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.tdvpr[0]), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_int_equal(r.rcx, PT_TDVPR);

	/* WBINVD wants a free page */
	assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, p4k), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, f.b.tdr), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, p2m + SZ_4K),
		      TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, free_page + 8), TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, f.b.shared_page),
		      TDX_OPERAND_ADDR_RANGE_ERROR | OPND_RCX);
	assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, free_page), TDX_SUCCESS);

	/* release the key without removing the private pages (KVM's fast path) */
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_SUCCESS);
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, p4k), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_START), TDX_SUCCESS);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, p4k), TDX_LIFECYCLE_STATE_INCORRECT);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, f.b.tdr), TDX_SUCCESS);

	/* the TDR goes last */
	memset(&r, 0xa5, sizeof(r));
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.tdr), TDX_TD_ASSOCIATED_PAGES_EXIST);
	assert_int_equal(r.rcx, PT_TDR);
	assert_int_equal(r.rdx, 0);
	assert_int_equal(r.r8, PAMT_4K);
	/* a 2M page is reclaimed at its 2M address; a 4K address inside it is invalid */
	memset(&r, 0xa5, sizeof(r));
	assert_status(tdh_phymem_page_reclaim(f.m, &r, p2m + 5 * SZ_4K), TDX_OPERAND_INVALID | OPND_RCX);
	assert_int_equal(r.rcx, PT_REG);
	assert_int_equal(r.rdx, f.b.tdr);
	assert_int_equal(r.r8, PAMT_2M);
	reclaim_ok(&f, p2m, PT_REG, f.b.tdr, PAMT_2M);
	reclaim_ok(&f, p4k, PT_REG, f.b.tdr, PAMT_4K);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, p4k), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	for (int i = 0; i < nsept; i++)
		reclaim_ok(&f, sept[i], PT_EPT, f.b.tdr, PAMT_4K);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.tdr), TDX_TD_ASSOCIATED_PAGES_EXIST);
	reclaim_control_pages(&f, TDX_TDCS_PAGES);

	assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, p4k), TDX_SUCCESS);
	for (uint64_t q = p2m; q < p2m + SZ_2M; q += SZ_4K)
		assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, q), TDX_SUCCESS);
	assert_all_pages_free(&f);
	fx_fini(&f);
}

/* A private leaf the teardown test mapped. */
struct leaf {
	uint64_t gpa;
	int level;
	uint64_t hpa;
};

static void test_full_teardown_kvm_order(void **state)
{
	(void)state;
	BANNER("full teardown in KVM's order of a RUNNABLE TD with private pages; key reused");
	struct fx f;
	struct bringup_opts o;
	uint64_t sept[32];
	int nsept = 0;
	struct leaf lv[8];
	int nl = 0;
	enum tdg_outcome oc;
	const uint64_t hkid = 5;

	bringup_default_opts(&o);
	o.nvcpus = 2;
	o.hkid = hkid;
	fx_init(&f, &o);

	/* build time: two measured pages */
	for (uint64_t gpa = 0; gpa < 2 * SZ_4K; gpa += SZ_4K) {
		path_rec(&f, gpa, TDX_LEVEL_4K, sept, &nsept);
		uint64_t hpa = bringup_page(&f.b);
		assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(gpa, 0), f.b.tdr, hpa,
					       f.b.shared_page), TDX_SUCCESS);
		assert_status(tdh_mr_extend(f.m, &f.out, gpa, f.b.tdr), TDX_SUCCESS);
		lv[nl++] = (struct leaf){ gpa, TDX_LEVEL_4K, hpa };
	}
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);

	/* run time: 4K accepted, 4K left pending, 2M accepted, 4K in another 1G region */
	const struct { uint64_t gpa; int level; bool accept; } aug[] = {
		{ 0x10000, TDX_LEVEL_4K, true },
		{ 0x11000, TDX_LEVEL_4K, false },
		{ 0x400000, TDX_LEVEL_2M, true },
		{ SZ_1G + 0x3000, TDX_LEVEL_4K, true },
	};
	for (size_t i = 0; i < sizeof(aug) / sizeof(aug[0]); i++) {
		path_rec(&f, aug[i].gpa, aug[i].level, sept, &nsept);
		uint64_t hpa = aug[i].level ? bringup_page_2m(&f.b) : bringup_page(&f.b);
		assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(aug[i].gpa, aug[i].level),
					       f.b.tdr, hpa), TDX_SUCCESS);
		if (aug[i].accept) {
			assert_status(fx_accept(&f, (int)(i & 1), aug[i].gpa, aug[i].level, &oc),
				      TDX_SUCCESS);
			assert_int_equal(oc, TDG_RETURN);
		}
		lv[nl++] = (struct leaf){ aug[i].gpa, aug[i].level, hpa };
	}
	/* 3 S-EPT pages for GPA 0 (PDPT, PD, PT) and 2 more (PD, PT) for GPA 1G */
	assert_int_equal(nsept, 5);
	fx_enter(&f, 1);
	fx_leave(&f, 1);

	/* child count: 4K units of every page the TD owns, the TDR excluded */
	uint64_t ctl = TDX_TDCS_PAGES + 2 * TDX_TDVPS_PAGES + (uint64_t)nsept;
	assert_int_equal(tdx_td_child_count(f.b.td), ctl + 2 + 1 + 1 + 512 + 1);

	/* 1. every private leaf, vCPUs out: BLOCK, TRACK, REMOVE (then WBINVD the page) */
	for (int i = 0; i < nl; i++) {
		uint64_t info = tdx_gpa_info(lv[i].gpa, lv[i].level);
		assert_false(tdx_vcpu_in_td(f.b.vcpu[0]) || tdx_vcpu_in_td(f.b.vcpu[1]));
		/* a RUNNABLE TD's leaf must be blocked and tracked first */
		assert_status(tdh_mem_page_remove(f.m, &f.out, info, f.b.tdr),
			      TDX_GPA_RANGE_NOT_BLOCKED | OPND_RCX);
		assert_status(tdh_mem_range_block(f.m, &f.out, info, f.b.tdr), TDX_SUCCESS);
		assert_status(tdh_mem_page_remove(f.m, &f.out, info, f.b.tdr),
			      TDX_TLB_TRACKING_NOT_DONE | OPND_RCX);
		assert_status(tdh_mem_track(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
		assert_status(tdh_mem_page_remove(f.m, &f.out, info, f.b.tdr), TDX_SUCCESS);
		assert_int_equal(f.out.rcx, lv[i].hpa);
		assert_int_equal(pamt_peek_type(f.pm, lv[i].hpa, (enum pamt_size)lv[i].level), PT_NDA);
		assert_int_equal(fx_pub_state(&f, lv[i].gpa, lv[i].level), SEPT_PUB_FREE);
		for (uint64_t q = 0; q < tdx_level_size(lv[i].level); q += SZ_4K)
			assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, lv[i].hpa + q), TDX_SUCCESS);
	}
	assert_int_equal(tdx_td_child_count(f.b.td), ctl);

	/* 2. VP.FLUSH each vCPU, VPFLUSHDONE */
	for (int i = 0; i < f.b.nvcpus; i++)
		assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[i]), TDX_SUCCESS);
	assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	/* 3. CACHE.WB, KEY.FREEID */
	assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_START), TDX_SUCCESS);
	assert_status(tdh_mng_key_freeid(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_int_equal(tdx_td_lifecycle(f.b.td), TD_TEARDOWN);

	/* 4. RECLAIM the S-EPT pages, the vCPU pages, the TDCS pages; the TDR last */
	struct tdx_regs r;
	assert_status(tdh_phymem_page_reclaim(f.m, &r, f.b.tdr), TDX_TD_ASSOCIATED_PAGES_EXIST);
	for (int i = 0; i < nsept; i++)
		reclaim_ok(&f, sept[i], PT_EPT, f.b.tdr, PAMT_4K);
	uint64_t tdr = f.b.tdr;
	uint64_t tdcx[TDX_TDCS_PAGES];
	memcpy(tdcx, f.b.tdcx, sizeof(tdcx));
	reclaim_control_pages(&f, TDX_TDCS_PAGES);
	assert_null(tdx_td_by_tdr(f.m, tdr));
	for (uint64_t p = f.b.base; p < f.b.next; p += SZ_4K)
		assert_status(tdh_phymem_page_wbinvd(f.m, &f.out, p), TDX_SUCCESS);
	assert_all_pages_free(&f);

	/* 5. the key and the pages can be used for a new TD */
	assert_status(tdh_mng_create(f.m, &f.out, tdr, hkid), TDX_SUCCESS);
	assert_status(tdh_mng_key_config(f.m, &f.out, tdr), TDX_SUCCESS);
	for (int i = 0; i < TDX_TDCS_PAGES; i++)
		assert_status(tdh_mng_addcx(f.m, &f.out, tdcx[i], tdr), TDX_SUCCESS);
	fx_fini(&f);
}

static void test_teardown_partial_builds(void **state)
{
	(void)state;
	BANNER("teardown of a TD abandoned at each build stage (KVM's error paths)");
	struct fx f;
	struct td_params p;
	fx_bare(&f, NULL);
	bringup_td_params(&f.o, &p);
	for (int stage = 0; stage < 5; stage++) {
		uint64_t hkid = 10 + (uint64_t)stage;
		int ntdcx = 0;
		memset(f.b.vcpu, 0, sizeof(f.b.vcpu));
		f.b.nvcpus = 0;
		switch (stage) {
		case 0:		/* MNG.CREATE only: keys not configured */
			td_start(&f, hkid, false, 0);
			break;
		case 1:		/* KEY.CONFIG and half the TDCS */
			td_start(&f, hkid, true, ntdcx = 3);
			break;
		case 2:		/* full TDCS, MNG.INIT failed: UNINITIALIZED */
			td_start(&f, hkid, true, ntdcx = TDX_TDCS_PAGES);
			p.max_vcpus = 0;
			assert_status(td_init(&f, &p), INV(OPND_MAX_VCPUS));
			p.max_vcpus = 1;
			break;
		case 3:		/* INITIALIZED with a vCPU that never initialized */
			td_start(&f, hkid, true, ntdcx = TDX_TDCS_PAGES);
			assert_status(td_init(&f, &p), TDX_SUCCESS);
			vcpu_create(&f, 2);
			break;
		case 4:		/* INITIALIZED with an initialized (associated) vCPU */
			td_start(&f, hkid, true, ntdcx = TDX_TDCS_PAGES);
			assert_status(td_init(&f, &p), TDX_SUCCESS);
			vcpu_create(&f, TDX_TDVPS_PAGES - 1);
			assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[0], 0), TDX_SUCCESS);
			assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr), TDX_FLUSHVP_NOT_DONE);
			assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_SUCCESS);
			break;
		}
		release_key(&f, f.b.tdr);
		reclaim_control_pages(&f, ntdcx);
		assert_all_pages_free(&f);
		/* the key is free again */
		assert_status(tdh_mng_create(f.m, &f.out, bringup_page(&f.b), hkid), TDX_SUCCESS);
		assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.next - SZ_4K), TDX_SUCCESS);
		assert_status(tdh_phymem_cache_wb(f.m, &f.out, TDX_CACHEWB_START), TDX_SUCCESS);
		assert_status(tdh_mng_key_freeid(f.m, &f.out, f.b.next - SZ_4K), TDX_SUCCESS);
		reclaim_ok(&f, f.b.next - SZ_4K, PT_TDR, 0, PAMT_4K);
	}
	fx_fini(&f);
}

/* ---------------------------------------------------------------------------
 * TD_FATAL
 */

static void set_fatal(struct fx *f)
{
	struct tdx_td *td = tdx_td_by_tdr(f->m, f->b.tdr);
	assert_non_null(td);
	td->fatal = true;	/* white box: a machine check in TD memory */
}

static void test_td_fatal(void **state)
{
	(void)state;
	BANNER("TD_FATAL: every leaf that checks the TD state refuses; teardown still works");
	struct fx f;
	struct tdx_regs r;
	uint64_t sept[8];
	int nsept = 0;

	/* a RUNNABLE TD with a pending page */
	fx_init_runnable(&f, NULL);
	path_rec(&f, 0, TDX_LEVEL_4K, sept, &nsept);
	uint64_t hpa = bringup_page(&f.b);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0, 0), f.b.tdr, hpa), TDX_SUCCESS);
	fx_enter(&f, 0);
	fx_leave(&f, 0);
	set_fatal(&f);
	uint64_t tdr = f.b.tdr, gi = tdx_gpa_info(0x1000, 0), p = bringup_page(&f.b);
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi, tdr, p), TDX_TD_FATAL);
	/* the TD state is checked before the GPA operand */
	assert_status(tdh_mem_page_aug(f.m, &f.out, gi | BIT64(3), tdr, p), TDX_TD_FATAL);
	assert_status(tdh_mem_sept_add(f.m, &f.out, tdx_gpa_info(SZ_1G, 2), tdr, p), TDX_TD_FATAL);
	assert_status(tdh_mem_range_block(f.m, &f.out, tdx_gpa_info(0, 0), tdr), TDX_TD_FATAL);
	assert_status(tdh_mem_range_unblock(f.m, &f.out, tdx_gpa_info(0, 0), tdr), TDX_TD_FATAL);
	assert_status(tdh_mem_page_remove(f.m, &f.out, tdx_gpa_info(0, 0), tdr), TDX_TD_FATAL);
	assert_status(tdh_mem_sept_remove(f.m, &f.out, tdx_gpa_info(0, 1), tdr), TDX_TD_FATAL);
	assert_status(tdh_mem_track(f.m, &f.out, tdr), TDX_TD_FATAL);
	assert_status(tdh_mem_sept_rd(f.m, &f.out, tdx_gpa_info(0, 0), tdr), TDX_TD_FATAL);
	assert_status(tdh_vp_enter(f.m, &f.out, f.b.tdvpr[0]), TDX_TD_FATAL);
	/* the fatal check comes before the op-state check */
	assert_status(tdh_mem_page_add(f.m, &f.out, gi, tdr, p, f.b.shared_page), TDX_TD_FATAL);
	assert_status(tdh_mr_extend(f.m, &f.out, 0, tdr), TDX_TD_FATAL);
	assert_status(tdh_mr_finalize(f.m, &f.out, tdr), TDX_TD_FATAL);
	assert_status(tdh_vp_create(f.m, &f.out, p, tdr), TDX_TD_FATAL);
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[0], 0), TDX_TD_FATAL);
	assert_status(tdh_mng_init(f.m, &f.out, tdr, f.b.shared_page), TDX_TD_FATAL);
	/* and before the lifecycle checks of KEY.CONFIG and MNG.ADDCX */
	assert_status(tdh_mng_key_config(f.m, &f.out, tdr), TDX_TD_FATAL);
	assert_status(tdh_mng_addcx(f.m, &f.out, p, tdr), TDX_TD_FATAL);
	assert_int_equal(pamt_peek_type(f.pm, p, PAMT_4K), PT_NDA);
	assert_int_equal(septe_state(*fx_entry(&f, 0, 0)), SEPT_PENDING);

	/* teardown: VP.FLUSH, VPFLUSHDONE, CACHE.WB, FREEID and RECLAIM do not check FATAL */
	assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_SUCCESS);
	release_key(&f, tdr);
	assert_status(tdh_phymem_page_reclaim(f.m, &r, tdr), TDX_TD_ASSOCIATED_PAGES_EXIST);
	reclaim_ok(&f, hpa, PT_REG, tdr, PAMT_4K);
	for (int i = 0; i < nsept; i++)
		reclaim_ok(&f, sept[i], PT_EPT, tdr, PAMT_4K);
	reclaim_control_pages(&f, TDX_TDCS_PAGES);
	assert_all_pages_free(&f);
	fx_fini(&f);

	/* an INITIALIZED TD with a vCPU still being built */
	fx_init(&f, NULL);
	int v = vcpu_create(&f, 2);
	set_fatal(&f);
	tdr = f.b.tdr;
	p = bringup_page(&f.b);
	assert_status(tdh_mem_sept_add(f.m, &f.out, tdx_gpa_info(0, 3), tdr, p), TDX_TD_FATAL);
	assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(0, 0), tdr, p, f.b.shared_page),
		      TDX_TD_FATAL);
	assert_status(tdh_mr_finalize(f.m, &f.out, tdr), TDX_TD_FATAL);
	assert_status(tdh_vp_create(f.m, &f.out, p, tdr), TDX_TD_FATAL);
	assert_status(tdh_vp_addcx(f.m, &f.out, p, f.b.tdvpr[v]), TDX_TD_FATAL);
	assert_status(tdh_vp_init(f.m, &f.out, f.b.tdvpr[v], 0), TDX_TD_FATAL);
	assert_int_equal(pamt_peek_type(f.pm, p, PAMT_4K), PT_NDA);
	fx_fini(&f);
}

/* ---------------------------------------------------------------------------
 * Op-state gates as data (lifecycle-leaves.md 0.8, module-abi.md section 4)
 */

#define ST_U (1u << OP_STATE_UNINITIALIZED)
#define ST_I (1u << OP_STATE_INITIALIZED)
#define ST_R (1u << OP_STATE_RUNNABLE)

static const struct gate {
	unsigned leaf;
	const char *name;
	unsigned allowed;
} gates[] = {
	{ TDH_MEM_PAGE_ADD, "MEM.PAGE.ADD", ST_I },
	{ TDH_MEM_SEPT_ADD, "MEM.SEPT.ADD", ST_I | ST_R },
	{ TDH_MEM_PAGE_AUG, "MEM.PAGE.AUG", ST_I | ST_R },
	{ TDH_MEM_RANGE_BLOCK, "MEM.RANGE.BLOCK", ST_I | ST_R },
	{ TDH_MEM_RANGE_UNBLOCK, "MEM.RANGE.UNBLOCK", ST_I | ST_R },
	{ TDH_MEM_PAGE_REMOVE, "MEM.PAGE.REMOVE", ST_I | ST_R },
	{ TDH_MEM_SEPT_REMOVE, "MEM.SEPT.REMOVE", ST_I | ST_R },
	{ TDH_MEM_TRACK, "MEM.TRACK", ST_I | ST_R },
	{ TDH_MR_EXTEND, "MR.EXTEND", ST_I },
	{ TDH_MR_FINALIZE, "MR.FINALIZE", ST_I },
	{ TDH_MEM_SEPT_RD, "MEM.SEPT.RD", ST_I | ST_R },
	{ TDH_VP_CREATE, "VP.CREATE", ST_I },
	{ TDH_VP_ADDCX, "VP.ADDCX", ST_I },
	{ TDH_VP_INIT, "VP.INIT", ST_I },
	{ TDH_VP_ENTER, "VP.ENTER", ST_R },
	{ TDH_VP_FLUSH, "VP.FLUSH", ST_U | ST_I | ST_R },
	{ TDH_MNG_INIT, "MNG.INIT", ST_U },
};

static const char *const state_names[] = { "UNINITIALIZED", "INITIALIZED", "RUNNABLE" };

/* A TD in op state @s with (except UNINITIALIZED) one initialized vCPU. */
static void fx_at_state(struct fx *f, enum td_op_state s)
{
	switch (s) {
	case OP_STATE_UNINITIALIZED:
		fx_bare(f, NULL);
		td_start(f, 1, true, TDX_TDCS_PAGES);	/* ADDCX x6, no MNG.INIT */
		break;
	case OP_STATE_INITIALIZED:
		fx_init(f, NULL);
		break;
	case OP_STATE_RUNNABLE:
		fx_init_runnable(f, NULL);
		break;
	}
	assert_int_equal(tdx_td_op_state(tdx_td_by_tdr(f->m, f->b.tdr)), s);
}

/*
 * Call @leaf with operands that pass every check made before the op-state
 * check.  False if the leaf needs a vCPU and the TD cannot have one yet.
 */
static bool gate_call(struct fx *f, unsigned leaf, uint64_t *st)
{
	struct tdx_regs *o = &f->out;
	uint64_t tdr = f->b.tdr, gi = tdx_gpa_info(0, 0);
	bool have_vcpu = f->b.nvcpus > 0;
	switch (leaf) {
	case TDH_MEM_PAGE_ADD:
		*st = tdh_mem_page_add(f->m, o, gi, tdr, bringup_page(&f->b), f->b.shared_page);
		return true;
	case TDH_MEM_SEPT_ADD:
		*st = tdh_mem_sept_add(f->m, o, tdx_gpa_info(0, 3), tdr, bringup_page(&f->b));
		return true;
	case TDH_MEM_PAGE_AUG:
		*st = tdh_mem_page_aug(f->m, o, gi, tdr, bringup_page(&f->b));
		return true;
	case TDH_MEM_RANGE_BLOCK:
		*st = tdh_mem_range_block(f->m, o, gi, tdr);
		return true;
	case TDH_MEM_RANGE_UNBLOCK:
		*st = tdh_mem_range_unblock(f->m, o, gi, tdr);
		return true;
	case TDH_MEM_PAGE_REMOVE:
		*st = tdh_mem_page_remove(f->m, o, gi, tdr);
		return true;
	case TDH_MEM_SEPT_REMOVE:
		*st = tdh_mem_sept_remove(f->m, o, tdx_gpa_info(0, 1), tdr);
		return true;
	case TDH_MEM_TRACK:
		*st = tdh_mem_track(f->m, o, tdr);
		return true;
	case TDH_MR_EXTEND:
		*st = tdh_mr_extend(f->m, o, 0, tdr);
		return true;
	case TDH_MR_FINALIZE:
		*st = tdh_mr_finalize(f->m, o, tdr);
		return true;
	case TDH_MEM_SEPT_RD:
		*st = tdh_mem_sept_rd(f->m, o, gi, tdr);
		return true;
	case TDH_VP_CREATE:
		*st = tdh_vp_create(f->m, o, bringup_page(&f->b), tdr);
		return true;
	case TDH_MNG_INIT: {
		struct td_params p;
		bringup_td_params(&f->o, &p);
		*st = td_init(f, &p);
		return true;
	}
	case TDH_VP_ADDCX:
		if (!have_vcpu)
			return false;
		*st = tdh_vp_addcx(f->m, o, bringup_page(&f->b), f->b.tdvpr[0]);
		return true;
	case TDH_VP_INIT:
		if (!have_vcpu)
			return false;
		*st = tdh_vp_init(f->m, o, f->b.tdvpr[0], 0);
		return true;
	case TDH_VP_ENTER:
		if (!have_vcpu)
			return false;
		*st = tdh_vp_enter(f->m, o, f->b.tdvpr[0]);
		fx_leave(f, 0);
		return true;
	case TDH_VP_FLUSH:
		if (!have_vcpu)
			return false;
		*st = tdh_vp_flush(f->m, o, f->b.tdvpr[0]);
		return true;
	}
	fail_msg("no call for leaf %u", leaf);
	return false;
}

static void test_op_state_gates(void **state)
{
	(void)state;
	BANNER("op-state gates: OP_STATE_INCORRECT exactly where the module's table says");
	int failures = 0, checked = 0;
	for (size_t g = 0; g < sizeof(gates) / sizeof(gates[0]); g++) {
		for (int s = OP_STATE_UNINITIALIZED; s <= OP_STATE_RUNNABLE; s++) {
			struct fx f;
			uint64_t st;
			fx_at_state(&f, (enum td_op_state)s);
			bool allowed = (gates[g].allowed >> s) & 1;
			if (gate_call(&f, gates[g].leaf, &st)) {
				checked++;
				bool refused = st == TDX_OP_STATE_INCORRECT;
				bool code_is = tdx_status_code(st) == TDX_OP_STATE_INCORRECT;
				if (allowed ? code_is : !refused) {
					print_error("%s in %s: %s|%#x, expected %s\n", gates[g].name,
						    state_names[s], tdx_status_name(st),
						    tdx_status_operand(st),
						    allowed ? "anything but OP_STATE_INCORRECT"
							    : "TDX_OP_STATE_INCORRECT");
					failures++;
				}
			}
			fx_fini(&f);
		}
	}
	/* vCPU leaves have no TDVPR in UNINITIALIZED: 4 pairs cannot be built */
	assert_int_equal(checked, (int)(3 * (sizeof(gates) / sizeof(gates[0]))) - 4);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mng_create),
		cmocka_unit_test(test_key_config),
		cmocka_unit_test(test_mng_addcx),
		cmocka_unit_test(test_mng_init_state),
		cmocka_unit_test(test_mng_init_params),
		cmocka_unit_test(test_mng_init_eptp_platform),
		cmocka_unit_test(test_vp_create_addcx),
		cmocka_unit_test(test_vp_init),
		cmocka_unit_test(test_vp_enter),
		cmocka_unit_test(test_vp_enter_l1_flags),
		cmocka_unit_test(test_vp_flush),
		cmocka_unit_test(test_vpflushdone),
		cmocka_unit_test(test_cache_wb),
		cmocka_unit_test(test_reclaim_wbinvd),
		cmocka_unit_test(test_full_teardown_kvm_order),
		cmocka_unit_test(test_teardown_partial_builds),
		cmocka_unit_test(test_td_fatal),
		cmocka_unit_test(test_op_state_gates),
	};
	return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
