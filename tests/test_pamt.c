/* SPDX-License-Identifier: MIT */
/*
 * PAMT: a physical page has one use and one owner.  Pages already in use as
 * TDR, TDCS, TDVPR, S-EPT or private memory (including a 4K page inside an
 * AUG'd 2M page) are refused with PAGE_METADATA_INCORRECT.
 */
#include "testlib.h"

static uint64_t aug4k(struct fx *f, struct bringup *b, uint64_t gpa, uint64_t hpa)
{
	return tdh_mem_page_aug(f->m, &f->out, tdx_gpa_info(gpa, 0), b->tdr, hpa);
}

static void test_in_use_pages(void **state)
{
	(void)state;
	BANNER("AUG, SEPT.ADD and ADDCX refuse pages in use as TDR/TDCX/TDVPR/S-EPT/private");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t gpa = 0x300000;
	fx_path(&f, gpa, 0);
	uint64_t sept_page = 0;
	{
		/* the level-1 entry of gpa points at an S-EPT page */
		int lvl;
		uint64_t cur;
		sept_walk(f.b.td, gpa, 1, &lvl, &cur);
		sept_page = septe_hpa(cur);
	}
	uint64_t priv = fx_aug(&f, 0x500000, 0);
	/*
	 * The TDR itself: the call holds its PAMT entry shared as the TD
	 * operand, so taking it again as the target collides with that lock
	 * first (as in the real module): OPERAND_BUSY, and nothing changes.
	 */
	assert_status(aug4k(&f, &f.b, gpa, f.b.tdr), TDX_OPERAND_BUSY | OPND_R8);
	assert_status(tdh_mng_create(f.m, &f.out, f.b.tdr, 9), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	const uint64_t used[] = { f.b.tdcx[0], f.b.tdcx[TDX_TDCS_SEPT_ROOT_IDX],
				  f.b.tdvpr[0], sept_page, priv };
	for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++) {
		assert_status(aug4k(&f, &f.b, gpa, used[i]), TDX_PAGE_METADATA_INCORRECT | OPND_R8);
		assert_status(tdh_mem_sept_add(f.m, &f.out, tdx_gpa_info(0x40000000, 2), f.b.tdr,
					       used[i]), TDX_PAGE_METADATA_INCORRECT | OPND_R8);
		assert_status(tdh_mng_create(f.m, &f.out, used[i], 9),
			      TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	}
	assert_int_equal(fx_pub_state(&f, gpa, 0), SEPT_PUB_FREE);
	fx_fini(&f);
}

static void test_inside_2m(void **state)
{
	(void)state;
	BANNER("a 4K page inside an AUG'd 2M page is found at 2M and refused; 2M over a used 4K too");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t big = fx_aug(&f, 0x40000000, 1);
	fx_path(&f, 0x300000, 0);
	for (uint64_t off = 0; off < SZ_2M; off += 0x7f000)
		assert_status(aug4k(&f, &f.b, 0x300000, big + off), TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	/* MNG.CREATE of a TDR there, and a 2M AUG whose range holds a used 4K page */
	assert_status(tdh_mng_create(f.m, &f.out, big + SZ_4K, 9), TDX_PAGE_METADATA_INCORRECT | OPND_RCX);
	uint64_t big2 = bringup_page_2m(&f.b);
	assert_status(aug4k(&f, &f.b, 0x300000, big2 + 5 * SZ_4K), TDX_SUCCESS);
	fx_path(&f, 0x80000000, 1);
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0x80000000, 1), f.b.tdr, big2),
		      TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	/* a misaligned 2M page is an invalid operand, not a metadata error */
	assert_status(tdh_mem_page_aug(f.m, &f.out, tdx_gpa_info(0x80000000, 1), f.b.tdr,
				       big2 + SZ_4K), TDX_OPERAND_INVALID | OPND_R8);
	fx_fini(&f);
}

static void test_two_tds(void **state)
{
	(void)state;
	BANNER("no page can belong to two TDs");
	struct fx f;
	fx_init_runnable(&f, NULL);
	/* a second TD in the same module, allocating from higher up the TDMR */
	struct bringup b2 = f.b;
	b2.next = f.b.next + 256 * SZ_2M;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.hkid = 2;
	assert_int_equal(bringup_td(&b2, &o), 0);
	assert_status(tdh_mr_finalize(f.m, &f.out, b2.tdr), TDX_SUCCESS);
	uint64_t gpa = 0x600000;
	uint64_t p = fx_aug(&f, gpa, 0);		/* TD 1 owns p */
	assert_int_equal(bringup_sept_path(&b2, gpa, 0), 0);
	assert_status(aug4k(&f, &b2, gpa, p), TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	/* TD 2's own pages are refused to TD 1, and TD 1's TDR is not TD 2's */
	assert_status(aug4k(&f, &f.b, gpa + SZ_4K, b2.tdr), TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	assert_status(aug4k(&f, &f.b, gpa + SZ_4K, b2.tdcx[1]), TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	/* after TD 1 removes it, TD 2 may take it */
	fx_block(&f, gpa, 0);
	fx_track(&f);
	assert_status(tdh_mem_page_remove(f.m, &f.out, tdx_gpa_info(gpa, 0), f.b.tdr), TDX_SUCCESS);
	assert_int_equal(f.out.rcx, p);
	assert_status(aug4k(&f, &b2, gpa, p), TDX_SUCCESS);
	assert_int_equal(pamt_entry_of(f.pm, p, PAMT_4K)->owner, b2.td->id);
	/* the same key id cannot be used twice */
	assert_status(tdh_mng_create(f.m, &f.out, bringup_page(&b2), 2), TDX_HKID_NOT_FREE);
	fx_fini(&f);
}

/*
 * Randomised: two TDs AUG and REMOVE random pages from one small pool; the
 * PAMT must always agree with an independent owner map, and a page is
 * never mapped by both.
 */
static void test_random_ownership(void **state)
{
	(void)state;
	BANNER("random AUG/REMOVE by two TDs over one page pool keeps single ownership");
	uint64_t rs = test_seed();
	struct fx f;
	fx_init(&f, NULL);		/* INITIALIZED: REMOVE needs no BLOCK */
	struct bringup b2 = f.b;
	b2.next = f.b.next + 256 * SZ_2M;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.hkid = 2;
	assert_int_equal(bringup_td(&b2, &o), 0);
	struct bringup *td[2] = { &f.b, &b2 };
	enum { POOL = 16, SLOTS = 16 };
	uint64_t pool[POOL];
	int owner[POOL];			/* -1 free, else TD index */
	int slot_page[2][SLOTS];		/* page index mapped at slot, -1 none */
	for (int i = 0; i < POOL; i++) {
		pool[i] = bringup_page(&b2);
		owner[i] = -1;
	}
	for (int t = 0; t < 2; t++)
		for (int s = 0; s < SLOTS; s++) {
			slot_page[t][s] = -1;
			assert_int_equal(bringup_sept_path(td[t], (uint64_t)s * SZ_4K, 0), 0);
		}
	for (int step = 0; step < 5000; step++) {
		int t = (int)(test_rand(&rs) % 2);
		int s = (int)(test_rand(&rs) % SLOTS);
		int p = (int)(test_rand(&rs) % POOL);
		uint64_t gpa = (uint64_t)s * SZ_4K;
		if (slot_page[t][s] < 0) {
			uint64_t st = aug4k(&f, td[t], gpa, pool[p]);
			if (owner[p] < 0) {
				assert_status(st, TDX_SUCCESS);
				owner[p] = t;
				slot_page[t][s] = p;
			} else {
				assert_status(st, TDX_PAGE_METADATA_INCORRECT | OPND_R8);
			}
		} else {
			assert_status(tdh_mem_page_remove(f.m, &f.out, tdx_gpa_info(gpa, 0), td[t]->tdr),
				      TDX_SUCCESS);
			assert_int_equal(f.out.rcx, pool[slot_page[t][s]]);
			owner[slot_page[t][s]] = -1;
			slot_page[t][s] = -1;
		}
		for (int i = 0; i < POOL; i++) {
			const struct pamt_entry *e = pamt_entry_of(f.pm, pool[i], PAMT_4K);
			if (owner[i] < 0)
				assert_int_equal(e->type, PT_NDA);
			else
				assert_int_equal(e->owner, td[owner[i]]->td->id);
		}
	}
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_use_pages),
		cmocka_unit_test(test_inside_2m),
		cmocka_unit_test(test_two_tds),
		cmocka_unit_test(test_random_ownership),
	};
	return cmocka_run_group_tests_name("pamt", tests, NULL, NULL);
}
