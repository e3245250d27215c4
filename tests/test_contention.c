/* SPDX-License-Identifier: MIT */
/*
 * Contention inside the module.  A seam hook fires when a chosen lock is
 * taken and runs a second SEAMCALL or TDCALL at that instant, as another
 * logical processor would: the module must answer BUSY with the right
 * operand id, never block, and honour host priority on S-EPT entries.
 */
#include "testlib.h"

static struct {
	bool armed;
	enum seam_lock_class cls;
	enum seam_lock_mode mode;
	void (*action)(void);
	int fired;
} trig;

static struct fx F;
static uint64_t nested_status;
static enum tdg_outcome nested_outcome;

static void on_lock(void *ctx, enum seam_lock_class cls, const void *lock,
		    enum seam_lock_mode mode, bool acquire)
{
	(void)ctx;
	(void)lock;
	if (!trig.armed || !acquire || cls != trig.cls || mode != trig.mode)
		return;
	trig.armed = false;	/* the nested call takes locks too */
	trig.fired++;
	trig.action();
}

static const struct seam_hooks hooks = { .lock = on_lock };

/* While the next lock of @cls/@mode is being taken, run @action. */
static void arm(enum seam_lock_class cls, enum seam_lock_mode mode, void (*action)(void))
{
	trig.armed = true;
	trig.cls = cls;
	trig.mode = mode;
	trig.action = action;
	trig.fired = 0;
	seam_install(&hooks);
}

static void disarm(void)
{
	assert_int_equal(trig.fired, 1);
	seam_install(NULL);
}

#define GPA 0x200000ull

static void nested_aug(void)
{
	nested_status = tdh_mem_page_aug(F.m, &F.out, tdx_gpa_info(GPA + SZ_4K, 0), F.b.tdr,
					 bringup_page(&F.b));
}

static void test_tree_lock_exclusive(void **state)
{
	(void)state;
	BANNER("AUG while RANGE.BLOCK holds the S-EPT tree exclusive: OPERAND_BUSY|SEPT_TREE");
	fx_init_runnable(&F, NULL);
	fx_aug(&F, GPA, 0);
	fx_path(&F, GPA + SZ_4K, 0);
	arm(SEAM_LOCK_SEPT_TREE, SEAM_EXCLUSIVE, nested_aug);
	fx_block(&F, GPA, 0);
	disarm();
	assert_status(nested_status, TDX_OPERAND_BUSY | OPND_SEPT_TREE);
	nested_aug();	/* nothing held now */
	assert_status(nested_status, TDX_SUCCESS);
	fx_fini(&F);
}

static void nested_host_read(void)
{
	struct tdx_regs o;
	nested_status = tdh_mem_sept_rd(F.m, &o, tdx_gpa_info(GPA, 0), F.b.tdr);
}

static void test_tdr_exclusive(void **state)
{
	(void)state;
	BANNER("SEPT.RD while PAGE.ADD holds the TDR exclusive: OPERAND_BUSY|RDX");
	fx_init(&F, NULL);
	fx_path(&F, GPA, 0);
	arm(SEAM_LOCK_PAMT_TDR, SEAM_EXCLUSIVE, nested_host_read);
	fx_add(&F, GPA);
	disarm();
	assert_status(nested_status, TDX_OPERAND_BUSY | OPND_RDX);
	nested_host_read();
	assert_status(nested_status, TDX_SUCCESS);
	fx_fini(&F);
}

static void nested_enter(void)
{
	nested_status = tdh_vp_enter(F.m, &F.out, F.b.tdvpr[0]);
}

static void nested_track(void)
{
	nested_status = tdh_mem_track(F.m, &F.out, F.b.tdr);
}

static void test_epoch_lock(void **state)
{
	(void)state;
	BANNER("TRACK and VP.ENTER contend on the epoch lock: OPERAND_BUSY|TD_EPOCH both ways");
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.nvcpus = 2;
	fx_init_runnable(&F, &o);
	arm(SEAM_LOCK_EPOCH, SEAM_EXCLUSIVE, nested_enter);
	fx_track(&F);
	disarm();
	assert_status(nested_status, TDX_OPERAND_BUSY | OPND_TD_EPOCH);
	assert_false(tdx_vcpu_in_td(F.b.vcpu[0]));
	arm(SEAM_LOCK_EPOCH, SEAM_SHARED, nested_track);
	fx_enter(&F, 1);
	disarm();
	assert_status(nested_status, TDX_OPERAND_BUSY | OPND_TD_EPOCH);
	fx_leave(&F, 1);
	fx_fini(&F);
}

static void test_op_state_lock(void **state)
{
	(void)state;
	BANNER("a host call while the op-state lock is held exclusive: OPERAND_BUSY|OP_STATE");
	fx_init_runnable(&F, NULL);
	fx_path(&F, GPA, 0);
	struct tdx_td *td = F.b.td;
	/* no 1.5 memory leaf takes it exclusive (migration leaves do): hold it by hand */
	assert_true(seam_sharex_try(&td->op_state_lock, SEAM_EXCLUSIVE, SEAM_LOCK_OP_STATE));
	assert_status(tdh_mem_page_aug(F.m, &F.out, tdx_gpa_info(GPA, 0), F.b.tdr,
				       bringup_page(&F.b)), TDX_OPERAND_BUSY | OPND_OP_STATE);
	seam_sharex_release(&td->op_state_lock, SEAM_EXCLUSIVE, SEAM_LOCK_OP_STATE);
	fx_aug(&F, GPA, 0);
	fx_fini(&F);
}

static uint64_t same_page;

static void nested_aug_same_page(void)
{
	nested_status = tdh_mem_page_aug(F.m, &F.out, tdx_gpa_info(GPA + SZ_4K, 0), F.b.tdr,
					 same_page);
}

static void test_pamt_page_lock(void **state)
{
	(void)state;
	BANNER("two AUGs racing for one physical page: OPERAND_BUSY|R8, then METADATA_INCORRECT|R8");
	fx_init_runnable(&F, NULL);
	fx_path(&F, GPA, 0);
	same_page = bringup_page(&F.b);
	arm(SEAM_LOCK_PAMT_PAGE, SEAM_EXCLUSIVE, nested_aug_same_page);
	assert_status(tdh_mem_page_aug(F.m, &F.out, tdx_gpa_info(GPA, 0), F.b.tdr, same_page),
		      TDX_SUCCESS);
	disarm();
	assert_status(nested_status, TDX_OPERAND_BUSY | OPND_R8);
	nested_aug_same_page();
	assert_status(nested_status, TDX_PAGE_METADATA_INCORRECT | OPND_R8);
	fx_fini(&F);
}

static void nested_guest_accept(void)
{
	nested_outcome = tdg_mem_page_accept(F.b.vcpu[0], tdx_gpa_info(GPA, 0), &nested_status);
}

static void test_accept_vs_host_entry(void **state)
{
	(void)state;
	BANNER("guest ACCEPT while a host call holds the entry: OPERAND_BUSY|RCX, no exit");
	fx_init_runnable(&F, NULL);
	fx_aug(&F, GPA, 0);
	fx_enter(&F, 0);
	arm(SEAM_LOCK_SEPT_ENTRY, SEAM_EXCLUSIVE, nested_guest_accept);
	assert_int_equal(fx_pub_state(&F, GPA, 0), SEPT_PUB_PENDING);	/* SEPT.RD locks it */
	disarm();
	assert_int_equal(nested_outcome, TDG_RETURN);
	assert_status(nested_status, TDX_OPERAND_BUSY | OPND_RCX);
	assert_true(tdx_vcpu_in_td(F.b.vcpu[0]));
	nested_guest_accept();
	assert_status(nested_status, TDX_SUCCESS);
	fx_leave(&F, 0);
	fx_fini(&F);
}

static void test_host_priority(void **state)
{
	(void)state;
	BANNER("host loses the entry to a guest: BUSY|RCX and host priority; the guest backs off");
	fx_init_runnable(&F, NULL);
	fx_aug(&F, GPA, 0);
	fx_enter(&F, 0);
	uint64_t *e = fx_entry(&F, GPA, 0);
	/*
	 * The guest's ACCEPT takes the entry lock; at that instant a host call
	 * tries, fails, and sets the host-priority bit.  The guest checks the
	 * bit right after locking (as the module's guest-side lock does), so it
	 * releases the entry and reports BUSY instead of accepting.
	 */
	arm(SEAM_LOCK_SEPT_ENTRY, SEAM_EXCLUSIVE, nested_host_read);
	uint64_t st;
	assert_int_equal(tdg_mem_page_accept(F.b.vcpu[0], tdx_gpa_info(GPA, 0), &st), TDG_RETURN);
	disarm();
	assert_status(nested_status, TDX_OPERAND_BUSY | OPND_RCX);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	assert_true(*e & SEPTE_HP);
	assert_false(*e & SEPTE_LOCK);
	assert_int_equal(septe_state(*e), SEPT_PENDING);	/* read without a host call */
	/* the guest keeps yielding while the host's claim stands */
	assert_int_equal(tdg_mem_page_accept(F.b.vcpu[0], tdx_gpa_info(GPA, 0), &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	/* the host retries and wins, which clears the bit; then the guest gets in */
	nested_host_read();
	assert_status(nested_status, TDX_SUCCESS);
	assert_false(*e & SEPTE_HP);
	assert_int_equal(tdg_mem_page_accept(F.b.vcpu[0], tdx_gpa_info(GPA, 0), &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	assert_int_equal(tdg_mem_page_accept(F.b.vcpu[0], tdx_gpa_info(GPA, 0), &st), TDG_RETURN);
	assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | TDX_LEVEL_4K);
	fx_leave(&F, 0);
	fx_fini(&F);
}

static void test_hp_timeout(void **state)
{
	(void)state;
	BANNER("a guest that keeps losing to the host exits with HOST_PRIORITY_BUSY_TIMEOUT");
	fx_init_runnable(&F, NULL);
	fx_aug(&F, GPA, 0);
	fx_enter(&F, 0);
	uint64_t *e = fx_entry(&F, GPA, 0);
	*e |= SEPTE_HP;			/* a host call lost the entry and will retry */
	uint64_t st;
	seam_direct_clock_ns = 1000;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(tdg_mem_page_accept(F.b.vcpu[0], tdx_gpa_info(GPA, 0), &st),
				 TDG_RETURN);
		assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
		seam_direct_clock_ns += TDX_HP_LOCK_TIMEOUT_NS / 10;
	}
	seam_direct_clock_ns += TDX_HP_LOCK_TIMEOUT_NS;
	assert_int_equal(tdg_mem_page_accept(F.b.vcpu[0], tdx_gpa_info(GPA, 0), &st), TDG_EXIT);
	assert_status(tdx_vcpu_exit_regs(F.b.vcpu[0])->rax, TDX_HOST_PRIORITY_BUSY_TIMEOUT);
	assert_false(tdx_vcpu_in_td(F.b.vcpu[0]));
	seam_direct_clock_ns = 0;
	fx_fini(&F);
}

static void nested_remove(void)
{
	nested_status = tdh_mem_page_remove(F.m, &F.out, tdx_gpa_info(GPA, 0), F.b.tdr);
}

static void test_host_vs_host_entry(void **state)
{
	(void)state;
	BANNER("two host calls on one entry under the shared tree lock: the second gets BUSY|RCX");
	fx_init(&F, NULL);
	fx_aug(&F, GPA, 0);
	arm(SEAM_LOCK_SEPT_ENTRY, SEAM_EXCLUSIVE, nested_remove);
	assert_int_equal(fx_pub_state(&F, GPA, 0), SEPT_PUB_PENDING);
	disarm();
	assert_status(nested_status, TDX_OPERAND_BUSY | OPND_RCX);
	nested_remove();	/* INITIALIZED: no blocking needed */
	assert_status(nested_status, TDX_SUCCESS);
	fx_fini(&F);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_lock_exclusive),
		cmocka_unit_test(test_tdr_exclusive),
		cmocka_unit_test(test_epoch_lock),
		cmocka_unit_test(test_op_state_lock),
		cmocka_unit_test(test_pamt_page_lock),
		cmocka_unit_test(test_accept_vs_host_entry),
		cmocka_unit_test(test_host_priority),
		cmocka_unit_test(test_hp_timeout),
		cmocka_unit_test(test_host_vs_host_entry),
	};
	return cmocka_run_group_tests_name("contention", tests, NULL, NULL);
}
