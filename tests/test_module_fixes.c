/* SPDX-License-Identifier: MIT */
/*
 * Where our module used to differ from the TDX module 1.5.01
 * (shared/reference/huge-pages.md section 4, items 1, 4, 6-11).  Each case
 * pins the real module's behaviour, read from intel/tdx-module branch
 * tdx_1.5 (the file and function are named in the case), and failed on the
 * simulator before its fix.
 */
#include <inttypes.h>
#include <string.h>

#include "testlib.h"
#include "../src/guest/guest.h"
#include "../src/host/simple_host.h"

#define GPA2M	0x80200000ull		/* 2M aligned private GPA */
#define GPA4K	(GPA2M + 0x7000)	/* a 4K page inside it */

/* RIP the zero-step cases fault at: any fixed value */
#define ZS_RIP	0x1000ull

/*
 * Make vCPU 0 take ZS_EPF_THRESHOLD + 1 EPT violations on @gpa at one RIP,
 * entering before each: the last one is logged, so the next VP.ENTER runs
 * the stepping filter.  The page must not be MAPPED (nor PENDING with #VE
 * enabled: that would be a #VE, not an exit).
 */
static void fault_until_logged(struct fx *f, uint64_t gpa)
{
	struct tdx_vcpu *v = f->b.vcpu[0];
	uint64_t hpa;
	for (int i = 0; i <= ZS_EPF_THRESHOLD; i++) {
		tdx_vcpu_set_rip(v, ZS_RIP);
		fx_enter(f, 0);
		assert_int_equal(tdx_guest_access(v, gpa, EXITQ_WRITE, &hpa), TDG_EXIT);
	}
	struct tdx_zero_step zs;
	tdx_vcpu_zero_step(v, &zs);
	assert_int_equal(zs.logged, 1);
}

/* ---- item 1: the zero-step filter counts PENDING as faulting ---- */

static void test_zs_pending_faults(void **state)
{
	(void)state;
	BANNER("item 1: zero-step, SEPT_VE_DISABLE=0: a logged GPA the host AUGed (PENDING) "
	       "still faults, VP.ENTER refuses (td_exit_stepping.c is_epf_expected)");
	struct fx f;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.sept_ve_disable = false;
	fx_init_runnable(&f, &o);
	fx_path(&f, GPA4K, 0);
	fault_until_logged(&f, GPA4K);	/* FREE: TD exits */
	fx_aug(&f, GPA4K, 0);		/* the host maps it: PENDING */
	tdx_vcpu_set_rip(f.b.vcpu[0], ZS_RIP);
	assert_int_equal(tdh_vp_enter(f.m, &f.out, f.b.tdvpr[0]), EXIT_REASON_EPT_VIOLATION);
	assert_false(tdx_vcpu_in_td(f.b.vcpu[0]));
	assert_int_equal(f.out.r8, GPA4K);
	/* MAPPED is the only state that lets it in */
	uint64_t st = ~0ull;
	f.b.vcpu[0]->nepf = 0;		/* white box: let the guest accept it */
	fx_enter(&f, 0);
	assert_int_equal(tdg_mem_page_accept(f.b.vcpu[0], tdx_gpa_info(GPA4K, 0), &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	fx_leave(&f, 0);
	f.b.vcpu[0]->nepf = 1;		/* the log as it was */
	tdx_vcpu_set_rip(f.b.vcpu[0], ZS_RIP);
	fx_enter(&f, 0);
	fx_leave(&f, 0);
	fx_fini(&f);
}

/* ---- item 4: EPT-violation exit qualifications ---- */

static void test_exitq_layout(void **state)
{
	(void)state;
	BANNER("item 4: TD exits clear exit-qualification bits 12:7; ACCEPT's exit is a write "
	       "plus the entry's RWX, EEQ bit 46 = walk stopped at a leaf; zero-step's is 0x2 "
	       "(td_other_exits.c, tdh_vp_enter.c)");
	struct fx f;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.sept_ve_disable = false;
	fx_init_runnable(&f, &o);
	struct tdx_vcpu *v = f.b.vcpu[0];
	const struct tdx_regs *x = tdx_vcpu_exit_regs(v);
	uint64_t st, hpa;

	/* ACCEPT of a FREE 4K entry: stopped at level 0, not a leaf, RWX 0 */
	fx_path(&f, GPA4K, 0);
	fx_enter(&f, 0);
	assert_int_equal(tdg_mem_page_accept(v, tdx_gpa_info(GPA4K, 0), &st), TDG_EXIT);
	assert_int_equal(x->rax, EXIT_REASON_EPT_VIOLATION);
	assert_int_equal(x->rcx, EXITQ_WRITE);
	assert_int_equal(x->rdx, EEQ_TYPE_ACCEPT);	/* levels 0, state FREE, no leaf */
	assert_int_equal(x->r8, GPA4K);

	/* 4K ACCEPT inside a PENDING 2M leaf: stopped above, at a leaf */
	uint64_t g2 = GPA2M + SZ_2M;
	fx_aug(&f, g2, 1);
	fx_enter(&f, 0);
	assert_int_equal(tdg_mem_page_accept(v, tdx_gpa_info(g2 + 0x5000, 0), &st), TDG_EXIT);
	assert_int_equal(x->rcx, EXITQ_WRITE);		/* PENDING grants no access */
	assert_int_equal(x->rdx, EEQ_TYPE_ACCEPT | (0ull << EEQ_ACCEPT_REQ_LEVEL_SHIFT) |
				 (1ull << EEQ_ACCEPT_ERR_LEVEL_SHIFT) |
				 ((uint64_t)SEPT_PUB_PENDING << EEQ_ACCEPT_ERR_STATE_SHIFT) |
				 EEQ_ACCEPT_ERR_IS_LEAF);
	assert_int_equal(x->r8, g2 + 0x5000);

	/* the entry's RWX in bits 5:3: white box, an NL_MAPPED entry the walk
	 * cannot pass (no real path leads an ACCEPT exit there) */
	fx_enter(&f, 0);
	td_exit_accept_violation(v, EEQ_TYPE_ATTR_WR, GPA4K + 0x123, 0,
				 septe_make(SEPT_NL_MAPPED, 0x1234000), 1);
	assert_int_equal(x->rcx, EXITQ_WRITE | EXITQ_GPA_READABLE | EXITQ_GPA_WRITABLE |
				 EXITQ_GPA_EXECUTABLE);
	assert_int_equal(x->rdx, EEQ_TYPE_ATTR_WR | (1ull << EEQ_ACCEPT_ERR_LEVEL_SHIFT) |
				 ((uint64_t)SEPT_PUB_NL_MAPPED << EEQ_ACCEPT_ERR_STATE_SHIFT));
	assert_int_equal(x->r8, GPA4K);

	/* a guest write to a FREE page: the access bits only, bit 7 cleared */
	fx_enter(&f, 0);
	assert_int_equal(tdx_guest_access(v, GPA4K + 0x18, EXITQ_WRITE, &hpa), TDG_EXIT);
	assert_int_equal(x->rcx, EXITQ_WRITE);
	assert_int_equal(x->rdx, EEQ_TYPE_NONE);
	/* a shared GPA's EPT violation too */
	fx_enter(&f, 0);
	tdx_td_exit_shared_ept(v, GPA4K | tdx_td_shared_bit(f.b.td), EXITQ_READ);
	assert_int_equal(x->rcx, EXITQ_READ);
	/* the #VE keeps the CPU's qualification (guest linear address valid) */
	fx_enter(&f, 0);
	assert_int_equal(tdx_guest_access(v, g2 + 0x10, EXITQ_READ, &hpa), TDG_VE);
	assert_int_equal(tdx_vcpu_ve(v)->exit_qual, EXITQ_READ | EXITQ_GLA_VALID);
	fx_leave(&f, 0);
	fx_fini(&f);

	/* the zero-step filter's synthesized exit: 0x2 */
	fx_init_runnable(&f, NULL);
	fx_path(&f, GPA4K, 0);
	fault_until_logged(&f, GPA4K);
	tdx_vcpu_set_rip(f.b.vcpu[0], ZS_RIP);
	assert_int_equal(tdh_vp_enter(f.m, &f.out, f.b.tdvpr[0]), EXIT_REASON_EPT_VIOLATION);
	assert_int_equal(f.out.rcx, 0x2);
	assert_int_equal(tdx_vcpu_exit_regs(f.b.vcpu[0])->rcx, 0x2);
	fx_fini(&f);
}

/* ---- item 6: the architectural view of S-EPT entries ---- */

/* SEPT.RD at @gpa/@level: asserts success, returns RCX (the arch entry). */
static uint64_t sept_rd(struct fx *f, uint64_t gpa, int level)
{
	assert_status(tdh_mem_sept_rd(f->m, &f->out, tdx_gpa_info(gpa, level), f->b.tdr),
		      TDX_SUCCESS);
	return f->out.rcx;
}

static void test_arch_entry_view(void **state)
{
	(void)state;
	BANNER("item 6: SEPT.RD's entry: non-leaf RWX/PS only (NL_MAPPED 7, NL_BLOCKED 0), "
	       "leaves with suppress-#VE and PS at every level "
	       "(sept_manager.c set_arch_septe_details_in_vmm_regs)");
	const uint64_t leaf = EPTE_MT_WB | EPTE_IPAT | EPTE_LEAF | EPTE_SVE;
	const uint64_t rwx = EPTE_R | EPTE_W | EPTE_X;
	struct fx f;
	fx_init(&f, NULL);
	uint64_t added = fx_add(&f, GPA4K);		/* MAPPED 4K */
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	uint64_t g2 = GPA2M + SZ_2M;
	uint64_t p2m = fx_aug(&f, g2, 1);		/* PENDING 2M */
	uint64_t p4k = fx_aug(&f, GPA4K + SZ_4K, 0);	/* PENDING 4K, to block */

	assert_int_equal(sept_rd(&f, GPA4K, 0), added | rwx | leaf);
	assert_int_equal(sept_rd(&f, g2, 1), p2m | leaf);
	assert_int_equal(sept_rd(&f, GPA4K + SZ_4K, 0), p4k | leaf);
	assert_int_equal(sept_rd(&f, GPA4K + 2 * SZ_4K, 0), EPTE_SVE);	/* FREE */
	/* the tables above the 4K leaves: no address */
	assert_int_equal(sept_rd(&f, GPA2M, 1), rwx);
	assert_int_equal(f.out.rdx, tdx_sept_info(1, SEPT_PUB_NL_MAPPED));
	/* blocked leaves lose their RWX but stay leaves */
	fx_block(&f, GPA4K, 0);
	assert_int_equal(sept_rd(&f, GPA4K, 0), added | leaf);
	fx_block(&f, GPA4K + SZ_4K, 0);
	assert_int_equal(sept_rd(&f, GPA4K + SZ_4K, 0), p4k | leaf);
	/* a blocked table: nothing at all */
	fx_block(&f, GPA2M, 1);
	assert_int_equal(sept_rd(&f, GPA2M, 1), 0);
	assert_int_equal(f.out.rdx, tdx_sept_info(1, SEPT_PUB_NL_BLOCKED));
	/* the same view in an error's details: EPT_WALK_FAILED below the blocked table */
	assert_status(tdh_mem_sept_rd(f.m, &f.out, tdx_gpa_info(GPA4K, 0), f.b.tdr),
		      err(TDX_EPT_WALK_FAILED, OPND_RCX));
	assert_int_equal(f.out.rcx, 0);
	fx_fini(&f);
}

/* ---- item 7: PAGE.REMOVE and SEPT.REMOVE lock only the page's own PAMT entry ---- */

/* The 2M (or 1G) PAMT entry over @hpa: what another operation's walk holds. */
static seam_sharex_t *pamt_parent_lock(struct fx *f, uint64_t hpa, enum pamt_size size)
{
	struct phys_1g *g = physmem_chunk1g(f->pm, hpa, true);
	return size == PAMT_1G ? &g->pamt1g.lock : &g->pamt2m[(hpa >> 21) & 511].lock;
}

static void test_remove_locks_own_entry(void **state)
{
	(void)state;
	BANNER("item 7: PAGE.REMOVE / SEPT.REMOVE lock only the page's own PAMT entry: a "
	       "holder of its 2M or 1G entry does not make them busy "
	       "(pamt_manager.c pamt_implicit_get_and_lock)");
	static const enum seam_lock_mode modes[] = { SEAM_SHARED, SEAM_EXCLUSIVE };
	const uint64_t g = 0x80600000ull;	/* a 2M GPA range of its own */
	for (unsigned i = 0; i < 2; i++) {
		struct fx f;
		fx_init(&f, NULL);	/* INITIALIZED: removal needs no BLOCK */
		/*
		 * Every page from the top of the TDMR (bringup_page_2m): 2M and 1G
		 * regions the TDR is not in, whose walk holds its own 1G entry.
		 */
		uint64_t table = bringup_page_2m(&f.b);	/* the S-EPT page for g's 4K leaves */
		uint64_t p4k = bringup_page_2m(&f.b);	/* a 4K page at the start of a 2M chunk */
		fx_path(&f, g, 1);
		assert_status(tdh_mem_sept_add(f.m, &f.out, tdx_gpa_info(g, 1), f.b.tdr, table),
			      TDX_SUCCESS);
		assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(g, 0), f.b.tdr, p4k,
					       f.b.shared_page), TDX_SUCCESS);
		uint64_t g2 = GPA2M + SZ_2M;
		uint64_t p2m = fx_aug(&f, g2, 1);

		/* someone holds the 2M entry over the 4K page: REMOVE still goes */
		seam_sharex_t *l = pamt_parent_lock(&f, p4k, PAMT_2M);
		assert_true(seam_sharex_try(l, modes[i], SEAM_LOCK_PAMT_PAGE));
		assert_status(tdh_mem_page_remove(f.m, &f.out, tdx_gpa_info(g, 0), f.b.tdr),
			      TDX_SUCCESS);
		assert_int_equal(f.out.rcx, p4k);
		seam_sharex_release(l, modes[i], SEAM_LOCK_PAMT_PAGE);

		/* ... and the 1G entry over the 2M page */
		l = pamt_parent_lock(&f, p2m, PAMT_1G);
		assert_true(seam_sharex_try(l, modes[i], SEAM_LOCK_PAMT_PAGE));
		assert_status(tdh_mem_page_remove(f.m, &f.out, tdx_gpa_info(g2, 1), f.b.tdr),
			      TDX_SUCCESS);
		assert_int_equal(f.out.rcx, p2m);
		seam_sharex_release(l, modes[i], SEAM_LOCK_PAMT_PAGE);

		/* SEPT.REMOVE of the now empty table, its 2M and 1G entries held */
		seam_sharex_t *l1g = pamt_parent_lock(&f, table, PAMT_1G);
		l = pamt_parent_lock(&f, table, PAMT_2M);
		assert_true(seam_sharex_try(l1g, modes[i], SEAM_LOCK_PAMT_PAGE));
		assert_true(seam_sharex_try(l, modes[i], SEAM_LOCK_PAMT_PAGE));
		assert_status(tdh_mem_sept_remove(f.m, &f.out, tdx_gpa_info(g, 1), f.b.tdr),
			      TDX_SUCCESS);
		assert_int_equal(f.out.rcx, table);
		seam_sharex_release(l, modes[i], SEAM_LOCK_PAMT_PAGE);
		seam_sharex_release(l1g, modes[i], SEAM_LOCK_PAMT_PAGE);

		/* the page's own entry is still what REMOVE waits for */
		uint64_t p = fx_add(&f, GPA4K);
		struct pamt_lock pl;
		assert_status(pamt_lock_implicit(f.m, p, PAMT_4K, SEAM_SHARED, &pl), TDX_SUCCESS);
		assert_status(tdh_mem_page_remove(f.m, &f.out, tdx_gpa_info(GPA4K, 0), f.b.tdr),
			      err(TDX_OPERAND_BUSY, OPND_RCX));
		pamt_unwalk(&pl);
		fx_fini(&f);
	}
}

/* ---- item 8: VP.ENTER holds the tree lock to the end; the log keeps offsets ---- */

/* Lock events seen through a seam hook (the direct driver has none). */
static struct lock_ev {
	enum seam_lock_class cls;
	bool acquire;
} lock_evs[64];
static int nlock_evs;

static void record_lock(void *ctx, enum seam_lock_class cls, const void *lock,
			enum seam_lock_mode mode, bool acquire)
{
	(void)ctx, (void)lock, (void)mode;
	if (nlock_evs < 64)
		lock_evs[nlock_evs++] = (struct lock_ev){ cls, acquire };
}

static int last_release(enum seam_lock_class cls)
{
	int at = -1;
	for (int i = 0; i < nlock_evs; i++)
		if (lock_evs[i].cls == cls && !lock_evs[i].acquire)
			at = i;
	return at;
}

static void test_enter_keeps_tree_lock(void **state)
{
	(void)state;
	BANNER("item 8: a VP.ENTER whose logged GPAs no longer fault keeps the S-EPT tree lock "
	       "exclusive until just before entry, after the op-state lock "
	       "(tdh_vp_enter.c, td_entry_stepping_filter)");
	struct fx f;
	fx_init_runnable(&f, NULL);
	fx_path(&f, GPA4K, 0);
	fault_until_logged(&f, GPA4K);
	fx_aug(&f, GPA4K, 0);
	/* white box: the page became MAPPED (the guest accepted it elsewhere) */
	uint64_t *e = fx_entry(&f, GPA4K, 0);
	*e = septe_make(SEPT_MAPPED, septe_hpa(*e));
	static const struct seam_hooks hooks = { .lock = record_lock };
	nlock_evs = 0;
	seam_install(&hooks);
	tdx_vcpu_set_rip(f.b.vcpu[0], ZS_RIP);
	uint64_t st = tdh_vp_enter(f.m, &f.out, f.b.tdvpr[0]);
	seam_install(NULL);
	assert_status(st, TDX_SUCCESS);
	int tree = last_release(SEAM_LOCK_SEPT_TREE);
	int op = last_release(SEAM_LOCK_OP_STATE);
	assert_true(tree >= 0 && op >= 0);
	assert_true(tree > op);
	/* nothing is released after it: it is the last thing VP.ENTER does */
	assert_int_equal(tree, nlock_evs - 1);
	fx_leave(&f, 0);
	fx_fini(&f);
}

static void test_epf_log_keeps_offset(void **state)
{
	(void)state;
	BANNER("item 8: logged GPAs keep their page offset (two offsets, two entries); the "
	       "synthesized exit's R8 is page aligned (td_ept_violation.c, td_exit_stepping.c)");
	struct fx f;
	fx_init_runnable(&f, NULL);
	fx_path(&f, GPA4K, 0);
	fault_until_logged(&f, GPA4K + 0x10);
	struct tdx_vcpu *v = f.b.vcpu[0];
	uint64_t hpa;
	/* the stepping filter refuses; the guest's next violation at the same RIP */
	tdx_vcpu_set_rip(v, ZS_RIP);
	assert_int_equal(tdh_vp_enter(f.m, &f.out, f.b.tdvpr[0]), EXIT_REASON_EPT_VIOLATION);
	assert_int_equal(f.out.r8, GPA4K);
	v->nepf = 0;	/* white box: enter anyway, the log is what we look at */
	fx_enter(&f, 0);
	v->nepf = 1;
	assert_int_equal(tdx_guest_access(v, GPA4K + 0x20, EXITQ_WRITE, &hpa), TDG_EXIT);
	struct tdx_zero_step zs;
	tdx_vcpu_zero_step(v, &zs);
	assert_int_equal(zs.logged, 2);
	assert_int_equal(v->epf_gpa[0], GPA4K + 0x10);
	assert_int_equal(v->epf_gpa[1], GPA4K + 0x20);
	/* the same GPA again is not logged twice */
	v->nepf = 0;
	fx_enter(&f, 0);
	v->nepf = 2;
	assert_int_equal(tdx_guest_access(v, GPA4K + 0x20, EXITQ_WRITE, &hpa), TDG_EXIT);
	tdx_vcpu_zero_step(v, &zs);
	assert_int_equal(zs.logged, 2);
	fx_fini(&f);
}

/* ---- item 9: VP.ENTER associates before checking its flags ---- */

static void test_enter_associates_first(void **state)
{
	(void)state;
	BANNER("item 9: VP.ENTER refused for HOST_RECOVERABILITY_HINT or RESUME_L1 has already "
	       "associated the vCPU (tdh_vp_enter.c: check_and_associate_vcpu comes first)");
	static const uint64_t flags[] = { VP_ENTER_HOST_RECOVERABILITY_HINT, VP_ENTER_RESUME_L1 };
	for (unsigned i = 0; i < 2; i++) {
		struct fx f;
		fx_init_runnable(&f, NULL);
		struct tdx_vcpu *v = f.b.vcpu[0];
		/* VP.INIT associated it: flush it off first */
		assert_status(tdh_vp_flush(f.m, &f.out, f.b.tdvpr[0]), TDX_SUCCESS);
		assert_false(v->associated);
		assert_int_equal(f.b.td->num_assoc_vcpus, 0);
		assert_status(tdh_vp_enter(f.m, &f.out, f.b.tdvpr[0] | flags[i]),
			      err(TDX_OPERAND_INVALID, OPND_RCX));
		assert_false(tdx_vcpu_in_td(v));
		assert_true(v->associated);
		assert_int_equal(f.b.td->num_assoc_vcpus, 1);
		/* so tearing the TD down needs VP.FLUSH of this vCPU */
		assert_status(tdh_mng_vpflushdone(f.m, &f.out, f.b.tdr),
			      TDX_FLUSHVP_NOT_DONE);
		fx_fini(&f);
	}
}

/* ---- item 10: PAGE.ADD's source check is not a PAMT check ---- */

static void test_page_add_any_source(void **state)
{
	(void)state;
	BANNER("item 10: PAGE.ADD takes any aligned source below MAX_PA, TD pages included "
	       "(tdh_mem_page_add.c: shared_hpa_check_with_pwr_2_alignment, no PAMT type)");
	struct fx f;
	fx_init(&f, NULL);
	uint64_t added = fx_add(&f, 0x1000);
	physmem_write64(f.pm, added + 0x100, 0x1234);
	const uint64_t src[] = { added, f.b.tdr, f.b.tdcx[0], f.b.tdvpr[0] };
	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
		uint64_t gpa = 0x10000 + i * SZ_4K;
		fx_path(&f, gpa, 0);
		uint64_t t = bringup_page(&f.b);
		assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(gpa, 0), f.b.tdr, t, src[i]),
			      TDX_SUCCESS);
		assert_int_equal(pamt_peek_type(f.pm, t, PAMT_4K), PT_REG);
	}
	/* the bytes were copied (the simulator has no keys to scramble them) */
	assert_int_equal(physmem_read64(f.pm, septe_hpa(*fx_entry(&f, 0x10000, 0)) + 0x100), 0x1234);
	/* what is still refused: misaligned, above MAX_PA */
	fx_path(&f, 0x20000, 0);
	uint64_t t = bringup_page(&f.b);
	assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(0x20000, 0), f.b.tdr, t, added + 8),
		      err(TDX_OPERAND_INVALID, OPND_R9));
	assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(0x20000, 0), f.b.tdr, t,
				       BIT64(50)), err(TDX_OPERAND_INVALID, OPND_R9));
	fx_fini(&f);
}

/* ---- item 11: VE_INFO.VALID, TDG.VP.VEINFO.GET and #DF ---- */

static void test_ve_info_valid_df(void **state)
{
	(void)state;
	BANNER("item 11: a #VE sets VE_INFO.VALID, VEINFO.GET returns the info and clears it "
	       "(NO_VALID_VE_INFO when clear), a #VE while it is set is #DF "
	       "(tdg_vp_veinfo_get.c, td_other_exits.c tdx_inject_ve)");
	struct fx f;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.sept_ve_disable = false;
	fx_init_runnable(&f, &o);
	fx_aug(&f, GPA4K, 0);
	fx_aug(&f, GPA4K + SZ_4K, 0);
	struct tdx_vcpu *v = f.b.vcpu[0];
	struct tdx_regs r;
	uint64_t hpa;
	fx_enter(&f, 0);
	/* nothing yet */
	memset(&r, 0xff, sizeof(r));
	assert_status(tdg_vp_veinfo_get(v, &r), TDX_NO_VALID_VE_INFO);
	assert_true(!r.rcx && !r.rdx && !r.r8 && !r.r9 && !r.r10);
	assert_int_equal(tdx_guest_access(v, GPA4K + 0x18, EXITQ_READ, &hpa), TDG_VE);
	/* the guest touches another pending page before reading it: #DF */
	assert_int_equal(tdx_guest_access(v, GPA4K + SZ_4K, EXITQ_WRITE, &hpa), TDG_DF);
	assert_true(tdx_vcpu_in_td(v));
	assert_int_equal(tdx_vcpu_ve(v)->gpa, GPA4K + 0x18);	/* VE_INFO untouched */
	assert_status(tdg_vp_veinfo_get(v, &r), TDX_SUCCESS);
	assert_int_equal(r.rcx, EXIT_REASON_EPT_VIOLATION);
	assert_int_equal(r.rdx, EXITQ_READ | EXITQ_GLA_VALID);
	assert_int_equal(r.r9, GPA4K + 0x18);
	assert_int_equal(r.r8, 0);
	assert_int_equal(r.r10, 0);
	assert_status(tdg_vp_veinfo_get(v, &r), TDX_NO_VALID_VE_INFO);
	/* read: the next #VE is a #VE again */
	assert_int_equal(tdx_guest_access(v, GPA4K + SZ_4K, EXITQ_WRITE, &hpa), TDG_VE);
	assert_status(tdg_vp_veinfo_get(v, &r), TDX_SUCCESS);
	assert_int_equal(r.r9, GPA4K + SZ_4K);
	fx_leave(&f, 0);
	fx_fini(&f);
}

/* The guest layer's #VE handler gets what VEINFO.GET returned, VE_INFO freed. */
static struct {
	uint64_t gpa[4];
	uint64_t after[4];	/* VEINFO.GET's status inside the handler */
	int n;
} seen_ve;

static void ve_record_accept(struct gvcpu *g, const struct tdx_ve_info *ve)
{
	struct tdx_regs r;
	if (seen_ve.n < 4) {
		seen_ve.gpa[seen_ve.n] = ve->gpa;
		seen_ve.after[seen_ve.n] = tdg_vp_veinfo_get(g->v, &r);
		seen_ve.n++;
	}
	task_check_eq(guest_accept(g, ve->gpa & ~0xfffull, 0), TDX_SUCCESS);
}

static void touch_two(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_set_ve_handler(g, ve_record_accept);
	guest_write64(g, GPA4K + 0x28, 1);
	guest_write64(g, GPA4K + SZ_4K + 0x30, 2);
	task_check_eq(guest_read64(g, GPA4K + 0x28), 1);
}

struct ve_job {
	struct gvcpu g;
	int rc;
};

static void ve_task(void *p)
{
	struct ve_job *j = p;
	j->rc = gvcpu_run(&j->g, touch_two, NULL);
}

static void test_guest_reads_ve_info(void **state)
{
	(void)state;
	BANNER("item 11: the guest layer calls VEINFO.GET before its #VE handler, as Linux "
	       "does: two #VEs in a row, no #DF, the handler sees VE_INFO already free");
	static struct ve_job j;
	struct fx f;
	struct simple_host h;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.sept_ve_disable = false;
	fx_init_runnable(&f, &o);
	fx_aug(&f, GPA4K, 0);
	fx_aug(&f, GPA4K + SZ_4K, 0);
	simple_host_init(&h, &f.b);
	memset(&seen_ve, 0, sizeof(seen_ve));
	struct engine_config c = { .sched = SCHED_RR, .seed = 1, .stack_size = 256 * 1024 };
	struct engine *e = engine_create(&c);
	assert_non_null(e);
	gvcpu_init(&j.g, f.m, f.b.tdvpr[0], 0, &h.ops);
	engine_spawn(e, "vcpu0", ve_task, &j);
	assert_int_equal(engine_run(e), ENGINE_OK);
	assert_int_equal(j.rc, 0);
	assert_int_equal(j.g.st.ves, 2);
	assert_int_equal(seen_ve.n, 2);
	assert_int_equal(seen_ve.gpa[0], GPA4K + 0x28);
	assert_int_equal(seen_ve.gpa[1], GPA4K + SZ_4K + 0x30);
	assert_status(seen_ve.after[0], TDX_NO_VALID_VE_INFO);
	assert_status(seen_ve.after[1], TDX_NO_VALID_VE_INFO);
	engine_destroy(e);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zs_pending_faults),
		cmocka_unit_test(test_exitq_layout),
		cmocka_unit_test(test_arch_entry_view),
		cmocka_unit_test(test_remove_locks_own_entry),
		cmocka_unit_test(test_enter_keeps_tree_lock),
		cmocka_unit_test(test_epf_log_keeps_offset),
		cmocka_unit_test(test_enter_associates_first),
		cmocka_unit_test(test_page_add_any_source),
		cmocka_unit_test(test_ve_info_valid_df),
		cmocka_unit_test(test_guest_reads_ve_info),
	};
	return cmocka_run_group_tests_name("module fixes (1.5.01 behaviour)", tests, NULL, NULL);
}
