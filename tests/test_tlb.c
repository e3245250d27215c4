/* SPDX-License-Identifier: MIT */
/* TLB tracking: epochs, refcounts, BLOCK -> TRACK -> exit -> REMOVE. */
#include "testlib.h"

#define GPA 0x200000ull

static uint64_t remove4k(struct fx *f, uint64_t gpa)
{
	return tdh_mem_page_remove(f->m, &f->out, tdx_gpa_info(gpa, 0), f->b.tdr);
}

/* a RUNNABLE TD with an accepted 4K page at GPA and @n vCPUs */
static void setup(struct fx *f, int n)
{
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.nvcpus = n;
	fx_init_runnable(f, &o);
	fx_aug(f, GPA, 0);
	enum tdg_outcome r;
	assert_status(fx_accept(f, 0, GPA, 0, &r), TDX_SUCCESS);
}

static void test_remove_needs_block(void **state)
{
	(void)state;
	BANNER("REMOVE of a MAPPED page in a runnable TD without BLOCK: GPA_RANGE_NOT_BLOCKED");
	struct fx f;
	setup(&f, 1);
	assert_status(remove4k(&f, GPA), TDX_GPA_RANGE_NOT_BLOCKED | OPND_RCX);
	assert_int_equal(fx_pub_state(&f, GPA, 0), SEPT_PUB_MAPPED);
	fx_fini(&f);
}

static void test_remove_without_track(void **state)
{
	(void)state;
	BANNER("REMOVE after BLOCK without TRACK: TLB_TRACKING_NOT_DONE");
	struct fx f;
	setup(&f, 1);
	fx_block(&f, GPA, 0);
	assert_status(remove4k(&f, GPA), TDX_TLB_TRACKING_NOT_DONE | OPND_RCX);
	fx_track(&f);
	assert_status(remove4k(&f, GPA), TDX_SUCCESS);
	assert_int_equal(fx_pub_state(&f, GPA, 0), SEPT_PUB_FREE);
	fx_fini(&f);
}

static void test_vcpu_in_old_epoch(void **state)
{
	(void)state;
	BANNER("TRACK while a vCPU is inside the older epoch: not done until it exits");
	struct fx f;
	setup(&f, 2);
	fx_enter(&f, 1);		/* vCPU 1 runs in epoch 1 */
	fx_block(&f, GPA, 0);		/* block epoch 1 */
	fx_track(&f);			/* epoch 2 */
	assert_status(remove4k(&f, GPA), TDX_TLB_TRACKING_NOT_DONE | OPND_RCX);
	fx_enter(&f, 0);		/* a vCPU entering the new epoch does not matter */
	assert_status(remove4k(&f, GPA), TDX_TLB_TRACKING_NOT_DONE | OPND_RCX);
	fx_leave(&f, 1);		/* the kick: vCPU 1 exits */
	assert_status(remove4k(&f, GPA), TDX_SUCCESS);
	fx_leave(&f, 0);
	fx_fini(&f);
}

static void test_previous_epoch_busy(void **state)
{
	(void)state;
	BANNER("TRACK while the previous epoch still has vCPUs: PREVIOUS_TLB_EPOCH_BUSY");
	struct fx f;
	setup(&f, 1);
	fx_enter(&f, 0);		/* in epoch 1 */
	fx_track(&f);			/* -> 2; epoch 1 still has a vCPU */
	assert_int_equal(tdx_td_epoch(f.b.td), 2);
	assert_status(tdh_mem_track(f.m, &f.out, f.b.tdr), TDX_PREVIOUS_TLB_EPOCH_BUSY);
	assert_int_equal(tdx_td_epoch(f.b.td), 2);
	fx_leave(&f, 0);
	fx_track(&f);
	assert_int_equal(tdx_td_epoch(f.b.td), 3);
	fx_fini(&f);
}

static void test_two_epochs_is_tracked(void **state)
{
	(void)state;
	BANNER("a block two epochs old is tracked; UNBLOCK and SEPT.REMOVE obey tracking too");
	struct fx f;
	setup(&f, 1);
	fx_block(&f, GPA, 0);
	assert_status(tdh_mem_range_unblock(f.m, &f.out, tdx_gpa_info(GPA, 0), f.b.tdr),
		      TDX_TLB_TRACKING_NOT_DONE | OPND_SEPT_TREE);
	fx_track(&f);
	fx_track(&f);
	assert_status(tdh_mem_range_unblock(f.m, &f.out, tdx_gpa_info(GPA, 0), f.b.tdr),
		      TDX_SUCCESS);
	assert_int_equal(fx_pub_state(&f, GPA, 0), SEPT_PUB_MAPPED);
	/* S-EPT page removal: empty the table, block the non-leaf, track */
	fx_block(&f, GPA, 0);
	fx_track(&f);
	assert_status(remove4k(&f, GPA), TDX_SUCCESS);
	assert_status(tdh_mem_sept_remove(f.m, &f.out, tdx_gpa_info(GPA & ~(SZ_2M - 1), 1), f.b.tdr),
		      TDX_GPA_RANGE_NOT_BLOCKED | OPND_RCX);
	fx_block(&f, GPA & ~(SZ_2M - 1), 1);
	assert_status(tdh_mem_sept_remove(f.m, &f.out, tdx_gpa_info(GPA & ~(SZ_2M - 1), 1), f.b.tdr),
		      TDX_TLB_TRACKING_NOT_DONE | OPND_RCX);
	fx_track(&f);
	assert_status(tdh_mem_sept_remove(f.m, &f.out, tdx_gpa_info(GPA & ~(SZ_2M - 1), 1), f.b.tdr),
		      TDX_SUCCESS);
	assert_int_equal(fx_pub_state(&f, GPA & ~(SZ_2M - 1), 1), SEPT_PUB_FREE);
	fx_fini(&f);
}

static void test_sept_remove_not_empty(void **state)
{
	(void)state;
	BANNER("SEPT.REMOVE of a table that still maps a page: EPT_PAGE_NOT_FREE, nothing changes");
	struct fx f;
	fx_init(&f, NULL);		/* INITIALIZED: no blocking needed */
	fx_add(&f, GPA + 511 * SZ_4K);	/* the last entry of the table */
	assert_status(tdh_mem_sept_remove(f.m, &f.out, tdx_gpa_info(GPA, 1), f.b.tdr),
		      TDX_EPT_PAGE_NOT_FREE | OPND_RCX);
	assert_int_equal(f.out.rdx, tdx_sept_info(1, SEPT_PUB_NL_MAPPED));
	assert_int_equal(fx_pub_state(&f, GPA, 1), SEPT_PUB_NL_MAPPED);
	assert_status(tdh_mem_page_remove(f.m, &f.out, tdx_gpa_info(GPA + 511 * SZ_4K, 0), f.b.tdr),
		      TDX_SUCCESS);
	assert_status(tdh_mem_sept_remove(f.m, &f.out, tdx_gpa_info(GPA, 1), f.b.tdr), TDX_SUCCESS);
	assert_int_equal(fx_pub_state(&f, GPA, 1), SEPT_PUB_FREE);
	fx_fini(&f);
}

static void test_enter_flushes_on_epoch_change(void **state)
{
	(void)state;
	BANNER("VP.ENTER flushes the vCPU's TLB only when the TD epoch moved");
	struct fx f;
	setup(&f, 1);
	struct tdx_vcpu *v = f.b.vcpu[0];
	fx_enter(&f, 0);
	fx_leave(&f, 0);
	uint64_t n = v->tlb_flushes;
	fx_enter(&f, 0);		/* same epoch */
	fx_leave(&f, 0);
	assert_int_equal(v->tlb_flushes, n);
	fx_track(&f);
	fx_enter(&f, 0);
	fx_leave(&f, 0);
	assert_int_equal(v->tlb_flushes, n + 1);
	fx_fini(&f);
}

/*
 * Randomised: vCPUs enter and leave, the host blocks, tracks and tries to
 * remove; an independent model of epochs and refcounts predicts whether
 * each REMOVE may succeed.
 */
static void test_random_epochs(void **state)
{
	(void)state;
	BANNER("random enter/exit/block/track/remove against an independent epoch model");
	uint64_t rs = test_seed();
	struct fx f;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.nvcpus = 3;
	fx_init_runnable(&f, &o);
	enum { NPAGES = 8 };
	uint64_t model_epoch = 1;
	uint64_t vepoch[3] = { 0 };	/* epoch each inside vCPU entered in */
	bool inside[3] = { false };
	int block_epoch[NPAGES];
	int pstate[NPAGES];		/* 0 free, 1 mapped(pending), 2 blocked */
	for (int i = 0; i < NPAGES; i++)
		pstate[i] = 0;
	for (int step = 0; step < 4000; step++) {
		int p = (int)(test_rand(&rs) % NPAGES);
		uint64_t gpa = 0x40000000ull + (uint64_t)p * SZ_4K;
		int v = (int)(test_rand(&rs) % 3);
		switch (test_rand(&rs) % 6) {
		case 0:
			if (!inside[v]) {
				fx_enter(&f, v);
				inside[v] = true;
				vepoch[v] = model_epoch;
			}
			break;
		case 1:
			if (inside[v]) {
				fx_leave(&f, v);
				inside[v] = false;
			}
			break;
		case 2:
			if (pstate[p] == 0) {
				fx_aug(&f, gpa, 0);
				pstate[p] = 1;
			}
			break;
		case 3:
			if (pstate[p] == 1) {
				fx_block(&f, gpa, 0);
				pstate[p] = 2;
				block_epoch[p] = (int)model_epoch;
			}
			break;
		case 4: {
			bool prev_busy = false;
			for (int i = 0; i < 3; i++)
				prev_busy |= inside[i] && vepoch[i] == model_epoch - 1;
			uint64_t st = tdh_mem_track(f.m, &f.out, f.b.tdr);
			assert_status(st, prev_busy ? TDX_PREVIOUS_TLB_EPOCH_BUSY : TDX_SUCCESS);
			if (!prev_busy)
				model_epoch++;
			break;
		}
		case 5:
			if (pstate[p] == 2) {
				uint64_t b = (uint64_t)block_epoch[p];
				bool tracked = b + 1 < model_epoch;
				if (b + 1 == model_epoch) {
					tracked = true;
					for (int i = 0; i < 3; i++)
						if (inside[i] && vepoch[i] == b)
							tracked = false;
				}
				uint64_t st = remove4k(&f, gpa);
				assert_status(st, tracked ? TDX_SUCCESS
							  : TDX_TLB_TRACKING_NOT_DONE | OPND_RCX);
				if (tracked)
					pstate[p] = 0;
			}
			break;
		}
		assert_int_equal(tdx_td_epoch(f.b.td), model_epoch);
	}
	for (int i = 0; i < 3; i++)
		if (inside[i])
			fx_leave(&f, i);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_needs_block),
		cmocka_unit_test(test_remove_without_track),
		cmocka_unit_test(test_vcpu_in_old_epoch),
		cmocka_unit_test(test_previous_epoch_busy),
		cmocka_unit_test(test_two_epochs_is_tracked),
		cmocka_unit_test(test_sept_remove_not_empty),
		cmocka_unit_test(test_enter_flushes_on_epoch_change),
		cmocka_unit_test(test_random_epochs),
	};
	return cmocka_run_group_tests_name("tlb tracking", tests, NULL, NULL);
}
