/* SPDX-License-Identifier: MIT */
/*
 * Huge pages in the module: DEMOTE, PROMOTE, RELOCATE, ATTR.RD/WR,
 * interruption, the versioned leaves, TDG.VP.INFO, TDG.VM.RD/WR and the
 * proposed features (huge-pages.md sections 2 and 3).  The operation x
 * state table for the same leaves is in test_sept_table.c.
 */
#include <string.h>

#include "testlib.h"

#define GPA 0x80200000ull	/* 2M aligned */
#define GPA_1G 0xc0000000ull

/* The PAMT of the 2M range at @hpa: its 2M entry and its 512 4K entries. */
struct range_pamt {
	unsigned t2m, o2m;
	unsigned t4k[512], o4k[512];
	uint64_t e4k[512];
};

static void range_pamt(struct fx *f, uint64_t hpa, struct range_pamt *r)
{
	struct pamt_entry *e = pamt_entry_of(f->pm, hpa, PAMT_2M);
	r->t2m = e->type;
	r->o2m = e->owner;
	for (int i = 0; i < 512; i++) {
		e = pamt_entry_of(f->pm, hpa + (uint64_t)i * SZ_4K, PAMT_4K);
		r->t4k[i] = e->type;
		r->o4k[i] = e->owner;
		r->e4k[i] = e->bepoch;
	}
}

/* The page at @hpa belongs at exactly one size: never to two owners at once. */
static void assert_one_owner(struct fx *f, uint64_t hpa2m)
{
	struct range_pamt r;
	range_pamt(f, hpa2m, &r);
	for (int i = 0; i < 512; i++)
		assert_false(r.t2m != PT_NDA && r.t4k[i] != PT_NDA);
}

/* The S-EPT leaves of one 2M range at 4K (entry values without lock bits). */
static void range_leaves(struct fx *f, uint64_t gpa, uint64_t *v)
{
	for (int i = 0; i < 512; i++)
		v[i] = *fx_entry(f, gpa + (uint64_t)i * SZ_4K, 0) & ~(SEPTE_LOCK | SEPTE_HP);
}

/* Child @i of the table under the 2M entry at @gpa, even when that entry is blocked. */
static uint64_t *kid(struct fx *f, uint64_t gpa, int i)
{
	return physmem_page_words(f->pm, septe_hpa(*fx_entry(f, gpa, 1))) + i;
}

static void test_demote_promote_pamt(void **state)
{
	(void)state;
	BANNER("PAMT after DEMOTE and PROMOTE: types, owners, epochs, child counts; a round trip is exact");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t base = fx_huge_leaf(&f, GPA, 1, true);
	uint32_t id = f.b.td->id;
	uint64_t children = tdx_td_child_count(f.b.td);
	struct range_pamt big;
	range_pamt(&f, base, &big);
	assert_int_equal(big.t2m, PT_REG);
	assert_int_equal(big.o2m, id);
	assert_one_owner(&f, base);

	fx_block(&f, GPA, 1);
	fx_track(&f);
	uint64_t sept = bringup_page(&f.b);
	assert_status(tdh_mem_page_demote(f.m, &f.out, tdx_gpa_info(GPA, 1), f.b.tdr, sept, 0, 0),
		      TDX_SUCCESS);
	assert_int_equal(f.out.rcx, 0);
	assert_int_equal(f.out.rdx, 0);
	assert_int_equal(fx_pub_state(&f, GPA, 1), SEPT_PUB_NL_MAPPED);
	struct range_pamt small;
	range_pamt(&f, base, &small);
	assert_int_equal(small.t2m, PT_NDA);
	for (int i = 0; i < 512; i++) {
		assert_int_equal(small.t4k[i], PT_REG);
		assert_int_equal(small.o4k[i], id);
		assert_int_equal(small.e4k[i], 0);	/* block epoch 0 */
	}
	assert_one_owner(&f, base);
	assert_int_equal(pamt_peek_type(f.pm, sept, PAMT_4K), PT_EPT);
	assert_int_equal(pamt_entry_of(f.pm, sept, PAMT_4K)->owner, id);
	assert_int_equal(tdx_td_child_count(f.b.td), children + 1);
	uint64_t leaves[512];
	range_leaves(&f, GPA, leaves);
	for (int i = 0; i < 512; i++)
		assert_int_equal(leaves[i], septe_make(SEPT_MAPPED, base + (uint64_t)i * SZ_4K));

	/* and back: PROMOTE returns the S-EPT page and restores everything */
	fx_block(&f, GPA, 1);
	fx_track(&f);
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, tdx_gpa_info(GPA, 1), f.b.tdr),
		      TDX_SUCCESS);
	assert_int_equal(f.out.rcx, sept);
	assert_int_equal(pamt_peek_type(f.pm, sept, PAMT_4K), PT_NDA);
	assert_int_equal(tdx_td_child_count(f.b.td), children);
	assert_int_equal(fx_pub_state(&f, GPA, 1), SEPT_PUB_MAPPED);
	assert_int_equal(septe_hpa(*fx_entry(&f, GPA, 1)), base);
	struct range_pamt again;
	range_pamt(&f, base, &again);
	assert_int_equal(again.t2m, big.t2m);
	assert_int_equal(again.o2m, big.o2m);
	assert_memory_equal(again.t4k, big.t4k, sizeof(big.t4k));
	assert_memory_equal(again.o4k, big.o4k, sizeof(big.o4k));

	/* PROMOTE then DEMOTE: the S-EPT leaves come back exactly */
	fx_demote(&f, GPA, 1);
	uint64_t again_leaves[512];
	range_leaves(&f, GPA, again_leaves);
	assert_memory_equal(again_leaves, leaves, sizeof(leaves));
	fx_fini(&f);
}

static void test_demote_1g(void **state)
{
	(void)state;
	BANNER("1G PENDING leaf: DEMOTE gives 512 2M PENDING children stepped by 2M, PROMOTE merges them");
	struct fx f;
	fx_init(&f, NULL);	/* INITIALIZED: no BLOCK/TRACK needed */
	uint64_t base = fx_huge_leaf(&f, GPA_1G, 2, false);
	uint64_t children = tdx_td_child_count(f.b.td);
	assert_int_equal(fx_pub_state(&f, GPA_1G, 2), SEPT_PUB_PENDING);
	assert_int_equal(pamt_peek_type(f.pm, base, PAMT_1G), PT_REG);
	fx_demote(&f, GPA_1G, 2);
	assert_int_equal(tdx_td_child_count(f.b.td), children + 1);
	assert_int_equal(pamt_peek_type(f.pm, base, PAMT_1G), PT_NDA);
	for (int i = 0; i < 512; i += 73) {
		uint64_t g = GPA_1G + (uint64_t)i * SZ_2M;
		assert_int_equal(fx_pub_state(&f, g, 1), SEPT_PUB_PENDING);
		assert_int_equal(septe_hpa(*fx_entry(&f, g, 1)), base + (uint64_t)i * SZ_2M);
		assert_int_equal(pamt_peek_type(f.pm, base + (uint64_t)i * SZ_2M, PAMT_2M), PT_REG);
	}
	assert_status(tdh_mem_page_promote(f.m, &f.out, 1, tdx_gpa_info(GPA_1G, 2), f.b.tdr),
		      TDX_SUCCESS);
	/* version 1: the freed L2 S-EPT pages, none without L2 VMs */
	assert_int_equal(f.out.r9, TDX_NULL_PA);
	assert_int_equal(f.out.r11, TDX_NULL_PA);
	assert_int_equal(pamt_peek_type(f.pm, base, PAMT_1G), PT_REG);
	assert_int_equal(tdx_td_child_count(f.b.td), children);
	fx_fini(&f);
}

/* The guest's view of @gpa: translate through the S-EPT (a TLB miss) and load. */
static uint64_t guest_load(struct fx *f, uint64_t gpa)
{
	uint64_t hpa = 0;
	fx_enter(f, 0);
	assert_int_equal(tdx_guest_access(f->b.vcpu[0], gpa, EXITQ_READ, &hpa), TDG_RETURN);
	fx_leave(f, 0);
	return physmem_read64(f->pm, hpa);
}

static void test_content_survives(void **state)
{
	(void)state;
	BANNER("512 distinct values survive PROMOTE, DEMOTE and RELOCATE, read back through the guest");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t base = fx_huge_leaf(&f, GPA, 1, true);
	/* PROMOTE kept the accepted (zeroed) contents; now write through the leaf */
	for (int i = 0; i < 512; i++) {
		uint64_t hpa = 0;
		fx_enter(&f, 0);
		assert_int_equal(tdx_guest_access(f.b.vcpu[0], GPA + (uint64_t)i * SZ_4K + 8 * (i % 7),
						  EXITQ_WRITE, &hpa), TDG_RETURN);
		physmem_write64(f.pm, hpa, 0xc0de0000ull + (uint64_t)i);
		fx_leave(&f, 0);
	}
	fx_demote(&f, GPA, 1);
	fx_block(&f, GPA, 1);
	fx_track(&f);
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, tdx_gpa_info(GPA, 1), f.b.tdr),
		      TDX_SUCCESS);
	fx_demote(&f, GPA, 1);
	/* move page 7 elsewhere */
	uint64_t g7 = GPA + 7 * SZ_4K, target = bringup_page(&f.b);
	fx_block(&f, g7, 0);
	fx_track(&f);
	assert_status(tdh_mem_page_relocate(f.m, &f.out, tdx_gpa_info(g7, 0), f.b.tdr, target),
		      TDX_SUCCESS);
	assert_int_equal(f.out.rcx, base + 7 * SZ_4K);
	for (int i = 0; i < 512; i++)
		assert_int_equal(guest_load(&f, GPA + (uint64_t)i * SZ_4K + 8 * (i % 7)),
				 0xc0de0000ull + (uint64_t)i);
	assert_int_equal(septe_hpa(*fx_entry(&f, g7, 0)), target);
	/* the old page went back to the host; the range may no longer be promoted */
	assert_int_equal(pamt_peek_type(f.pm, base + 7 * SZ_4K, PAMT_4K), PT_NDA);
	fx_block(&f, GPA, 1);
	fx_track(&f);
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, tdx_gpa_info(GPA, 1), f.b.tdr),
		      TDX_EPT_INVALID_PROMOTE_CONDITIONS | OPND_RCX);
	assert_int_equal(f.out.rdx, tdx_sept_info(1, SEPT_PUB_NL_BLOCKED));
	fx_fini(&f);
}

/*
 * A guest TLB entry as the guest layer keeps one: valid while the vCPU's
 * TLB generation is unchanged.  A valid entry must point at a page the TD
 * still owns (guest.c's check_stale()).
 */
struct tlbe {
	uint64_t hpa, gen;
};

static bool tlb_stale(struct fx *f, const struct tlbe *t)
{
	return tdx_vcpu_tlb_generation(f->b.vcpu[0]) == t->gen &&
	       tdx_hpa_owner(f->m, t->hpa) != f->b.td;
}

static void test_tlb_never_stale(void **state)
{
	(void)state;
	BANNER("a cached 2M translation never outlives its page across BLOCK, TRACK, DEMOTE, RELOCATE");
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.nvcpus = 1;
	for (int skip_track = 0; skip_track < 2; skip_track++) {
		struct fx f;
		fx_init_runnable(&f, &o);
		uint64_t base = fx_huge_leaf(&f, GPA, 1, true);
		uint64_t g = GPA + 9 * SZ_4K, hpa = 0;
		fx_enter(&f, 0);	/* the vCPU stays in the TD: its TLB keeps the entry */
		assert_int_equal(tdx_guest_access(f.b.vcpu[0], g, EXITQ_READ, &hpa), TDG_RETURN);
		struct tlbe t = { hpa & ~0xfffull, tdx_vcpu_tlb_generation(f.b.vcpu[0]) };
		assert_int_equal(t.hpa, base + 9 * SZ_4K);
		fx_block(&f, GPA, 1);
		fx_track(&f);
		/* the vCPU is still in the old epoch: nothing may be split yet */
		assert_status(tdh_mem_page_demote(f.m, &f.out, tdx_gpa_info(GPA, 1), f.b.tdr,
						  bringup_page(&f.b), 0, 0),
			      TDX_TLB_TRACKING_NOT_DONE | OPND_RCX);
		if (skip_track) {
			/*
			 * A module that did not check tracking (white box: the
			 * epoch moved on behind the vCPU's back): the page can
			 * be given away under the live translation, and the
			 * stale-translation check must see it.
			 */
			f.b.td->td_epoch += 2;
		} else {
			fx_leave(&f, 0);	/* the kick */
			fx_enter(&f, 0);	/* re-entry in the new epoch flushes */
		}
		assert_status(tdh_mem_page_demote(f.m, &f.out, tdx_gpa_info(GPA, 1), f.b.tdr,
						  bringup_page(&f.b), 0, 0), TDX_SUCCESS);
		assert_false(tlb_stale(&f, &t));	/* DEMOTE keeps the page in the TD */
		assert_status(tdh_mem_range_block(f.m, &f.out, tdx_gpa_info(g, 0), f.b.tdr),
			      TDX_SUCCESS);
		if (skip_track) {
			f.b.td->td_epoch += 2;
		} else {
			fx_track(&f);
			fx_leave(&f, 0);
			fx_enter(&f, 0);
		}
		assert_status(tdh_mem_page_relocate(f.m, &f.out, tdx_gpa_info(g, 0), f.b.tdr,
						    bringup_page(&f.b)), TDX_SUCCESS);
		assert_int_equal(tlb_stale(&f, &t), skip_track);
		fx_leave(&f, 0);
		fx_fini(&f);
	}
}

static void test_interrupted_restartable(void **state)
{
	(void)state;
	BANNER("DEMOTE/PROMOTE with a host interrupt pending: INTERRUPTED_RESTARTABLE, nothing committed, retry works");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t base = fx_huge_leaf(&f, GPA, 1, false);
	fx_block(&f, GPA, 1);
	fx_track(&f);
	uint64_t before = *fx_entry(&f, GPA, 1), children = tdx_td_child_count(f.b.td);
	uint64_t sept = bringup_page(&f.b), info = tdx_gpa_info(GPA, 1);

	/* another CPU's interrupt does not stop this one (CPU 0 here) */
	assert_int_equal(tdx_module_post_host_interrupt(f.m, 1, true), 0);
	assert_int_equal(tdx_module_post_host_interrupt(f.m, TDX_MAX_LOGICAL_CPUS, true), -1);
	assert_int_equal(tdx_module_post_host_interrupt(f.m, -1, true), -1);
	assert_int_equal(tdx_module_post_host_interrupt(f.m, 0, true), 0);
	struct tdx_regs r = { .rax = TDH_MEM_PAGE_DEMOTE, .rcx = info, .rdx = f.b.tdr, .r8 = sept };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_INTERRUPTED_RESTARTABLE);
	assert_int_equal(r.rcx, info);		/* restored for the retry */
	assert_int_equal(r.rdx, f.b.tdr);
	assert_int_equal(*fx_entry(&f, GPA, 1), before);
	assert_int_equal(pamt_peek_type(f.pm, sept, PAMT_4K), PT_NDA);
	assert_int_equal(pamt_peek_type(f.pm, base, PAMT_2M), PT_REG);
	assert_int_equal(tdx_td_child_count(f.b.td), children);
	tdx_module_post_host_interrupt(f.m, 0, false);
	r = (struct tdx_regs){ .rax = TDH_MEM_PAGE_DEMOTE, .rcx = info, .rdx = f.b.tdr, .r8 = sept };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_SUCCESS);
	assert_int_equal(fx_pub_state(&f, GPA + 5 * SZ_4K, 0), SEPT_PUB_PENDING);

	/* PROMOTE: the same, with every child lock let go */
	fx_block(&f, GPA, 1);
	fx_track(&f);
	before = *fx_entry(&f, GPA, 1);
	tdx_module_set_host_interrupt(f.m, true);
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, info, f.b.tdr),
		      TDX_INTERRUPTED_RESTARTABLE);
	assert_int_equal(f.out.rcx, info);
	assert_int_equal(*fx_entry(&f, GPA, 1), before);
	for (int i = 0; i < 512; i++)
		assert_int_equal(*kid(&f, GPA, i) & SEPTE_LOCK, 0);
	assert_int_equal(pamt_peek_type(f.pm, base, PAMT_2M), PT_NDA);
	tdx_module_set_host_interrupt(f.m, false);
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, info, f.b.tdr), TDX_SUCCESS);
	fx_fini(&f);

	/* enhanced demote interruptibility: DEMOTE never stops */
	struct tdx_module_config cfg;
	tdx_module_default_config(&cfg);
	cfg.enhanced_demote_interruptibility = true;
	fx_init_cfg(&f, &cfg, NULL);
	fx_huge_leaf(&f, GPA, 1, false);
	tdx_module_set_host_interrupt(f.m, true);
	fx_demote(&f, GPA, 1);
	fx_fini(&f);
}

static void test_demote_promote_operands(void **state)
{
	(void)state;
	BANNER("DEMOTE/PROMOTE/RELOCATE operands: RDX, level, R8 checks, busy PAMT, busy child, promote conditions");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t base = fx_huge_leaf(&f, GPA, 1, true);
	uint64_t info = tdx_gpa_info(GPA, 1), p = bringup_page(&f.b);
	fx_block(&f, GPA, 1);
	fx_track(&f);
	/* RDX: reserved bits; bit 0 (L2 add mode) is accepted and means nothing here */
	assert_status(tdh_mem_page_demote(f.m, &f.out, info, f.b.tdr | BIT64(5), p, 0, 0),
		      TDX_OPERAND_INVALID | OPND_RDX);
	assert_status(tdh_mem_page_demote(f.m, &f.out, tdx_gpa_info(GPA, 0), f.b.tdr, p, 0, 0),
		      TDX_OPERAND_INVALID | OPND_RCX);
	/* R8: alignment, TDMR, type (a TD page), then busy */
	assert_status(tdh_mem_page_demote(f.m, &f.out, info, f.b.tdr, p + 8, 0, 0),
		      TDX_OPERAND_INVALID | OPND_R8);
	assert_status(tdh_mem_page_demote(f.m, &f.out, info, f.b.tdr, f.b.shared_page, 0, 0),
		      TDX_OPERAND_ADDR_RANGE_ERROR | OPND_R8);
	assert_status(tdh_mem_page_demote(f.m, &f.out, info, f.b.tdr, f.b.tdcx[0], 0, 0),
		      TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	assert_status(tdh_mem_page_demote(f.m, &f.out, info, f.b.tdr, base + SZ_4K, 0, 0),
		      TDX_PAGE_METADATA_INCORRECT | OPND_R8);	/* inside the 2M page */
	struct pamt_entry *pe = pamt_entry_of(f.pm, p, PAMT_4K);
	pe->lock.v = SEAM_SHAREX_EXCL;
	assert_status(tdh_mem_page_demote(f.m, &f.out, info, f.b.tdr, p, 0, 0),
		      TDX_OPERAND_BUSY | OPND_R8);
	pe->lock.v = 0;
	/* the large page's PAMT entry held by someone else */
	struct pamt_entry *big = pamt_entry_of(f.pm, base, PAMT_2M);
	big->lock.v = 1;
	assert_status(tdh_mem_page_demote(f.m, &f.out, info, f.b.tdr, p, 0, 0),
		      TDX_OPERAND_BUSY | OPND_RCX);
	big->lock.v = 0;
	assert_int_equal(pamt_peek_type(f.pm, p, PAMT_4K), PT_NDA);
	assert_status(tdh_mem_page_demote(f.m, &f.out, info, f.b.tdr, p, 0, 0), TDX_SUCCESS);

	/* PROMOTE: version, a busy child (host priority left on it), conditions */
	fx_block(&f, GPA, 1);
	fx_track(&f);
	assert_status(tdh_mem_page_promote(f.m, &f.out, 2, info, f.b.tdr),
		      TDX_OPERAND_INVALID | OPND_RAX);
	struct tdx_regs r = { .rax = TDH_MEM_PAGE_PROMOTE | (2u << 16), .rcx = info, .rdx = f.b.tdr };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_OPERAND_INVALID | OPND_RAX);
	uint64_t *k5 = kid(&f, GPA, 5);
	*k5 |= SEPTE_LOCK;
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, info, f.b.tdr), TDX_OPERAND_BUSY | OPND_RCX);
	assert_int_equal(f.out.rdx, tdx_sept_info(1, SEPT_PUB_NL_BLOCKED));
	assert_true(*k5 & SEPTE_HP);
	assert_int_equal(*kid(&f, GPA, 4) & SEPTE_LOCK, 0);
	*k5 &= ~(SEPTE_LOCK | SEPTE_HP);
	/* child 3 blocked: not all children equal */
	uint64_t *k3 = kid(&f, GPA, 3);
	uint64_t saved = *k3;
	*k3 = septe_make(SEPT_BLOCKED, septe_hpa(saved));
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, info, f.b.tdr),
		      TDX_EPT_INVALID_PROMOTE_CONDITIONS | OPND_RCX);
	*k3 = saved;
	/* the S-EPT page's own PAMT entry busy */
	uint64_t table = septe_hpa(*fx_entry(&f, GPA, 1));
	pamt_entry_of(f.pm, table, PAMT_4K)->lock.v = 1;
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, info, f.b.tdr), TDX_OPERAND_BUSY | OPND_RCX);
	pamt_entry_of(f.pm, table, PAMT_4K)->lock.v = 0;
	assert_status(tdh_mem_page_promote(f.m, &f.out, 0, info, f.b.tdr), TDX_SUCCESS);

	/* RELOCATE: its own page as target, a huge leaf, a busy page */
	fx_demote(&f, GPA, 1);
	uint64_t g = GPA + 2 * SZ_4K, gi = tdx_gpa_info(g, 0);
	fx_block(&f, g, 0);
	fx_track(&f);
	assert_status(tdh_mem_page_relocate(f.m, &f.out, gi, f.b.tdr, base + 2 * SZ_4K),
		      TDX_OPERAND_INVALID | OPND_R8);
	assert_status(tdh_mem_page_relocate(f.m, &f.out, info, f.b.tdr, p),
		      TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_mem_page_relocate(f.m, &f.out, gi, f.b.tdr, base + 3 * SZ_4K),
		      TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	pamt_entry_of(f.pm, base + 2 * SZ_4K, PAMT_4K)->lock.v = 1;
	assert_status(tdh_mem_page_relocate(f.m, &f.out, gi, f.b.tdr, bringup_page(&f.b)),
		      TDX_OPERAND_BUSY | OPND_RCX);
	pamt_entry_of(f.pm, base + 2 * SZ_4K, PAMT_4K)->lock.v = 0;
	fx_fini(&f);
}

static void test_attr(void **state)
{
	(void)state;
	BANNER("ATTR.RD/WR: leaf level, 4K ATTR.WR over a 2M leaf exits with type 5, operands, entry lock");
	struct fx f;
	fx_init_runnable(&f, NULL);
	fx_aug(&f, GPA, 1);	/* a 2M PENDING leaf */
	struct tdx_vcpu *v = f.b.vcpu[0];
	uint64_t st, rcx, rdx;
	fx_enter(&f, 0);
	uint64_t g = GPA + 0x3456;
	assert_int_equal(tdg_mem_page_attr_rd(v, g, &st, &rcx, &rdx), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	assert_int_equal(rcx, GPA | 1 | ATTR_RCX_PENDING);	/* bits 11:0 of the input ignored */
	assert_int_equal(tdg_mem_page_attr_rd(v, g | BIT64(47), &st, &rcx, &rdx), TDG_RETURN);
	assert_status(st, TDX_OPERAND_INVALID | OPND_RCX);	/* shared */
	/* the guest's own demotion request */
	uint64_t gi = tdx_gpa_info(GPA + 0x3000, 0);
	assert_int_equal(tdg_mem_page_attr_wr(v, gi, 0, 0, &st, &rcx, &rdx), TDG_EXIT);
	const struct tdx_regs *x = tdx_vcpu_exit_regs(v);
	assert_int_equal(x->rax, EXIT_REASON_EPT_VIOLATION);
	assert_int_equal(x->rdx & 0xf, EEQ_TYPE_ATTR_WR);
	assert_int_equal((x->rdx >> 32) & 7, 0);	/* requested level */
	assert_int_equal((x->rdx >> 35) & 7, 1);	/* stopped at the 2M leaf */
	assert_int_equal((x->rdx >> 38) & 0xff, SEPT_PUB_PENDING);
	assert_int_equal(x->r8, GPA + 0x3000);
	fx_enter(&f, 0);
	/* at the leaf's level it is a success that changes nothing */
	assert_int_equal(tdg_mem_page_attr_wr(v, tdx_gpa_info(GPA, 1), 0, 0, &st, &rcx, &rdx),
			 TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	assert_int_equal(rcx, tdx_gpa_info(GPA, 1) | ATTR_RCX_PENDING);
	/* operands: VM 0's attributes, then its flags; another VM's bits too */
	assert_int_equal(tdg_mem_page_attr_wr(v, tdx_gpa_info(GPA, 1), 1, 1, &st, &rcx, &rdx),
			 TDG_RETURN);
	assert_status(st, TDX_OPERAND_INVALID | OPND_RDX);
	assert_int_equal(tdg_mem_page_attr_wr(v, tdx_gpa_info(GPA, 1), BIT64(16), 1, &st, &rcx,
					      &rdx), TDG_RETURN);
	assert_status(st, TDX_OPERAND_INVALID | OPND_R8);
	assert_int_equal(tdg_mem_page_attr_wr(v, tdx_gpa_info(GPA + SZ_4K, 1), 0, 0, &st, &rcx,
					      &rdx), TDG_RETURN);
	assert_status(st, TDX_OPERAND_INVALID | OPND_RCX);	/* misaligned for 2M */
	/* entry lock: plain contention, then host priority */
	uint64_t *e = fx_entry(&f, GPA, 1);
	*e |= SEPTE_LOCK;
	assert_int_equal(tdg_mem_page_attr_rd(v, GPA, &st, &rcx, &rdx), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	*e &= ~SEPTE_LOCK;
	*e |= SEPTE_HP;		/* a host call lost this entry */
	assert_int_equal(tdg_mem_page_attr_wr(v, tdx_gpa_info(GPA, 1), 0, 0, &st, &rcx, &rdx),
			 TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);	/* reported as plain busy */
	assert_int_equal(*e & SEPTE_LOCK, 0);
	/* a host call that takes the entry clears the bit; the guest then gets through */
	fx_leave(&f, 0);
	fx_block(&f, GPA, 1);
	assert_int_equal(*e & SEPTE_HP, 0);
	fx_enter(&f, 0);
	assert_int_equal(tdg_mem_page_attr_rd(v, GPA, &st, &rcx, &rdx), TDG_EXIT);	/* blocked */
	assert_int_equal(tdx_vcpu_exit_regs(v)->rdx, 0);
	fx_fini(&f);
}

struct hjob {
	struct fx *f;
	int outcome;	/* 0: the guest read the leaf, 1: it exited (blocked) */
};

static void hc_guest(void *arg)
{
	struct hjob *j = arg;
	uint64_t st, rcx, rdx;
	fx_enter(j->f, 0);
	enum tdg_outcome o;
	do
		o = tdg_mem_page_attr_rd(j->f->b.vcpu[0], GPA, &st, &rcx, &rdx);
	while (o == TDG_RETURN && tdx_status_code(st) == TDX_OPERAND_BUSY);
	task_check(o == TDG_EXIT || st == TDX_SUCCESS);
	j->outcome = o == TDG_EXIT;
	if (o == TDG_RETURN)
		fx_leave(j->f, 0);
}

static void hc_host(void *arg)
{
	struct hjob *j = arg;
	uint64_t st;
	do
		st = tdh_mem_range_block(j->f->m, &j->f->out, tdx_gpa_info(GPA, 1), j->f->b.tdr);
	while (tdx_status_code(st) == TDX_OPERAND_BUSY);
	task_check_eq(st, TDX_SUCCESS);
}

static void test_attr_host_contention(void **state)
{
	(void)state;
	BANNER("ATTR.RD against RANGE.BLOCK under the engine: the entry lock orders them, either way is exact");
	int outcomes[2] = { 0, 0 };
	for (uint64_t seed = 1; seed <= 64; seed++) {
		struct fx f;
		fx_init_runnable(&f, NULL);
		fx_aug(&f, GPA, 1);
		struct engine_config ec = { .sched = SCHED_RANDOM, .seed = seed };
		struct engine *eng = engine_create(&ec);
		assert_non_null(eng);
		struct hjob j = { &f, -1 };
		engine_spawn(eng, "vcpu0", hc_guest, &j);
		engine_spawn(eng, "host", hc_host, &j);
		assert_int_equal(engine_run(eng), ENGINE_OK);
		engine_destroy(eng);
		assert_true(j.outcome == 0 || j.outcome == 1);
		outcomes[j.outcome]++;
		assert_int_equal(fx_pub_state(&f, GPA, 1), SEPT_PUB_PENDING_BLOCKED);
		fx_fini(&f);
	}
	print_message("    guest first: %d, host first: %d\n", outcomes[0], outcomes[1]);
	assert_true(outcomes[0] > 0 && outcomes[1] > 0);
}

static void test_vp_info_vm_rd_wr(void **state)
{
	(void)state;
	BANNER("TDG.VP.INFO outputs; TDG.VM.RD/WR of TD_CTLS and CONFIG_FLAGS with their errors");
	for (int flexible = 0; flexible < 2; flexible++) {
		struct bringup_opts o;
		bringup_default_opts(&o);
		o.nvcpus = 2;
		o.max_vcpus = 3;
		o.sept_ve_disable = true;
		o.flexible_pending_ve = flexible;
		struct fx f;
		fx_init_runnable(&f, &o);
		struct tdx_vcpu *v = f.b.vcpu[1];
		fx_enter(&f, 1);
		struct tdx_regs r;
		assert_status(tdg_vp_info(v, &r), TDX_SUCCESS);
		assert_int_equal(r.rcx, 48);
		assert_int_equal(r.rdx, TD_ATTR_SEPT_VE_DISABLE);
		assert_int_equal(r.r8, 2 | (3ull << 32));
		assert_int_equal(r.r9, 1);
		assert_int_equal(r.r10, 1);
		assert_int_equal(r.r11, 0);
		uint64_t val, old;
		assert_status(tdg_vm_rd(v, 0, MD_TDCS_TD_CTLS, &val), TDX_SUCCESS);
		assert_int_equal(val, TD_CTLS_PENDING_VE_DISABLE);
		assert_status(tdg_vm_rd(v, 0, MD_TDCS_CONFIG_FLAGS, &val), TDX_SUCCESS);
		assert_int_equal(val, flexible ? TD_CONFIG_FLEXIBLE_PENDING_VE : 0);
		assert_status(tdg_vm_rd(v, 1, MD_TDCS_TD_CTLS, &val), TDX_OPERAND_INVALID | OPND_RCX);
		assert_int_equal(val, 0);
		assert_status(tdg_vm_rd(v, 0, 0x1110000300000099ull, &val),
			      TDX_METADATA_FIELD_ID_INCORRECT);
		assert_status(tdg_vm_rd(v, 0, MD_TDCS_TD_CTLS | BIT64(24), &val),
			      TDX_METADATA_FIELD_ID_INCORRECT);
		assert_status(tdg_vm_wr(v, 0, MD_TDCS_CONFIG_FLAGS, 0, ~0ull, &old),
			      TDX_METADATA_FIELD_NOT_WRITABLE);
		assert_status(tdg_vm_wr(v, 0, MD_TDCS_TD_CTLS, 0, 2, &old),
			      TDX_METADATA_FIELD_NOT_WRITABLE);
		assert_status(tdg_vm_wr(v, 0, MD_TDCS_TD_CTLS, 3, 3, &old),
			      TDX_METADATA_FIELD_VALUE_NOT_VALID);	/* bit 1 is not the guest's */
		/* the same value is always fine */
		assert_status(tdg_vm_wr(v, 0, MD_TDCS_TD_CTLS, 1, 1, &old), TDX_SUCCESS);
		assert_int_equal(old, 1);
		/* turning pending-#VE on needs FLEXIBLE_PENDING_VE */
		uint64_t want = flexible ? TDX_SUCCESS : TDX_METADATA_FIELD_VALUE_NOT_VALID;
		assert_status(tdg_vm_wr(v, 0, MD_TDCS_TD_CTLS, 0, 1, &old), want);
		assert_int_equal(old, flexible ? 1 : 0);
		fx_leave(&f, 1);
		/* what it changes: a PENDING page faults into the guest (#VE) or to the host */
		fx_aug(&f, GPA, 0);
		fx_enter(&f, 1);
		uint64_t hpa;
		assert_int_equal(tdx_guest_access(v, GPA, EXITQ_READ, &hpa),
				 flexible ? TDG_VE : TDG_EXIT);
		if (flexible)
			fx_leave(&f, 1);
		fx_fini(&f);
	}
}

static void test_explicit_demotion_attribute(void **state)
{
	(void)state;
	BANNER("proposed SEPT_EXPLICIT_DEMOTION: refused by MNG.INIT unless the module supports it; VP.INFO shows it");
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.extra_attributes = TD_ATTR_SEPT_EXPLICIT_DEMOTION;
	struct tdx_module_config cfg;
	tdx_module_default_config(&cfg);
	struct tdx_module *m = tdx_module_create(&cfg);
	struct bringup b;
	bringup_init(&b, m);
	assert_int_equal(bringup_td(&b, &o), -1);
	assert_status(b.last_status, TDX_OPERAND_INVALID | OPND_ATTRIBUTES);
	tdx_module_destroy(m);

	cfg.sept_explicit_demotion = true;
	struct fx f;
	fx_init_cfg(&f, &cfg, &o);
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	fx_enter(&f, 0);
	struct tdx_regs r;
	assert_status(tdg_vp_info(f.b.vcpu[0], &r), TDX_SUCCESS);
	assert_true(r.rdx & TD_ATTR_SEPT_EXPLICIT_DEMOTION);
	fx_leave(&f, 0);
	fx_fini(&f);
}

static void test_nonblocking_resize(void **state)
{
	(void)state;
	BANNER("proposed non-blocking resize: DEMOTE of an unblocked leaf, translation kept, no tracking");
	for (int feature = 0; feature < 2; feature++) {
		struct tdx_module_config cfg;
		tdx_module_default_config(&cfg);
		cfg.nonblocking_resize = feature;
		struct fx f;
		fx_init_cfg(&f, &cfg, NULL);
		assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
		uint64_t base = fx_huge_leaf(&f, GPA, 1, true);
		fx_enter(&f, 0);	/* a vCPU is running in the TD */
		uint64_t st = tdh_mem_page_demote(f.m, &f.out, tdx_gpa_info(GPA, 1), f.b.tdr,
						  bringup_page(&f.b), 0, 0);
		if (!feature) {
			assert_status(st, TDX_GPA_RANGE_NOT_BLOCKED | OPND_RCX);
			fx_leave(&f, 0);
			fx_fini(&f);
			continue;
		}
		assert_status(st, TDX_SUCCESS);
		uint64_t hpa;
		assert_int_equal(tdx_guest_access(f.b.vcpu[0], GPA + 0x5008, EXITQ_READ, &hpa),
				 TDG_RETURN);
		/* a guest TDCALL holding a child's entry: BUSY, never a blocked range */
		uint64_t g1g = GPA_1G;
		fx_leave(&f, 0);
		fx_huge_leaf(&f, g1g, 1, false);
		fx_enter(&f, 0);
		uint64_t *e1 = fx_entry(&f, g1g, 1);
		*e1 |= SEPTE_LOCK;	/* as an ACCEPT in progress holds it */
		uint64_t before = *e1;
		assert_status(tdh_mem_page_demote(f.m, &f.out, tdx_gpa_info(g1g, 1), f.b.tdr,
						  bringup_page(&f.b), 0, 0), TDX_OPERAND_BUSY | OPND_RCX);
		assert_int_equal(*e1, before | SEPTE_HP);	/* guests now back off */
		*e1 &= ~(SEPTE_LOCK | SEPTE_HP);
		assert_status(tdh_mem_page_demote(f.m, &f.out, tdx_gpa_info(g1g, 1), f.b.tdr,
						  bringup_page(&f.b), 0, 0), TDX_SUCCESS);
		assert_int_equal(fx_pub_state(&f, g1g + 0x7000, 0), SEPT_PUB_PENDING);
		assert_int_equal(hpa, base + 0x5008);	/* the same page as before */
		assert_int_equal(fx_pub_state(&f, GPA + 0x5000, 0), SEPT_PUB_MAPPED);
		fx_leave(&f, 0);
		fx_fini(&f);
	}
}

static void test_versions(void **state)
{
	(void)state;
	BANNER("versioned leaves: SEPT.ADD v0 leaves R8..R11, v1 reports; SEPT.REMOVE v1; others refuse v1");
	struct fx f;
	fx_init(&f, NULL);
	fx_path(&f, GPA, 1);
	uint64_t p = bringup_page(&f.b), info = tdx_gpa_info(GPA, 1);
	struct tdx_regs r = { .rax = TDH_MEM_SEPT_ADD, .rcx = info, .rdx = f.b.tdr, .r8 = p,
			      .r9 = 9, .r10 = 10, .r11 = 11 };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_SUCCESS);
	assert_int_equal(r.r8, p);
	assert_int_equal(r.r9, 9);
	assert_int_equal(r.r11, 11);
	/* version 1, existing table, ALLOW_EXISTING: bit 63 */
	uint64_t p2 = bringup_page(&f.b);
	r = (struct tdx_regs){ .rax = TDH_MEM_SEPT_ADD | (1u << 16), .rcx = info,
			       .rdx = f.b.tdr | TDR_HANDLE_ALLOW_EXISTING, .r8 = p2,
			       .r9 = TDX_NULL_PA, .r10 = TDX_NULL_PA, .r11 = TDX_NULL_PA };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_SUCCESS);
	assert_int_equal(r.r8, p2 | SEPT_ADD_R8_EXISTED);
	assert_int_equal(r.r9, TDX_NULL_PA);
	/* version 1 with an L2 page for an L2 VM the TD does not have */
	r.r9 = p2;
	r.rax = TDH_MEM_SEPT_ADD | (1u << 16);
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_OPERAND_INVALID | OPND_R9);
	/* version 1 without a page: fine for an existing table only */
	assert_status(tdh_mem_sept_add_v1(f.m, &f.out, info, f.b.tdr, TDX_NULL_PA), TDX_SUCCESS);
	assert_int_equal(f.out.r8, TDX_NULL_PA);
	uint64_t free_info = tdx_gpa_info(GPA + SZ_2M, 1);
	assert_status(tdh_mem_sept_add_v1(f.m, &f.out, free_info, f.b.tdr, TDX_NULL_PA),
		      TDX_EPT_ENTRY_STATE_INCORRECT | OPND_RCX);
	assert_status(tdh_mem_sept_add(f.m, &f.out, free_info, f.b.tdr, TDX_NULL_PA),
		      TDX_OPERAND_INVALID | OPND_R8);
	/* SEPT.REMOVE version 1 reports no L2 pages */
	assert_status(tdh_mem_sept_remove_v1(f.m, &f.out, info, f.b.tdr), TDX_SUCCESS);
	assert_int_equal(f.out.rcx, p);
	assert_int_equal(f.out.r9, TDX_NULL_PA);
	assert_int_equal(f.out.r10, TDX_NULL_PA);
	/* leaves without versions, and version 2 */
	static const unsigned nover[] = { TDH_MEM_PAGE_AUG, TDH_MEM_PAGE_DEMOTE,
					  TDH_MEM_PAGE_RELOCATE, TDH_MEM_RANGE_BLOCK };
	for (size_t i = 0; i < sizeof(nover) / sizeof(nover[0]); i++) {
		r = (struct tdx_regs){ .rax = nover[i] | (1u << 16), .rcx = info, .rdx = f.b.tdr };
		tdx_seamcall(f.m, &r);
		assert_status(r.rax, TDX_OPERAND_INVALID | OPND_RAX);
	}
	r = (struct tdx_regs){ .rax = TDH_MEM_SEPT_ADD | (2u << 16), .rcx = info, .rdx = f.b.tdr };
	tdx_seamcall(f.m, &r);
	assert_status(r.rax, TDX_OPERAND_INVALID | OPND_RAX);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demote_promote_pamt),
		cmocka_unit_test(test_demote_1g),
		cmocka_unit_test(test_content_survives),
		cmocka_unit_test(test_tlb_never_stale),
		cmocka_unit_test(test_interrupted_restartable),
		cmocka_unit_test(test_demote_promote_operands),
		cmocka_unit_test(test_attr),
		cmocka_unit_test(test_attr_host_contention),
		cmocka_unit_test(test_vp_info_vm_rd_wr),
		cmocka_unit_test(test_explicit_demotion_attribute),
		cmocka_unit_test(test_nonblocking_resize),
		cmocka_unit_test(test_versions),
	};
	return cmocka_run_group_tests_name("huge pages (module)", tests, NULL, NULL);
}
