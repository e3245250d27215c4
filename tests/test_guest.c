/* SPDX-License-Identifier: MIT */
/*
 * Guest programs on vCPU tasks: virtual time of a 2-vCPU program against a
 * hand computation, #VE versus EPT-violation exit, zero-step mitigation,
 * the TLB model.
 */
#include <inttypes.h>
#include <string.h>

#include "testlib.h"
#include "../src/engine/engine.h"
#include "../src/guest/guest.h"
#include "../src/host/simple_host.h"

struct vcpu_job {
	struct gvcpu g;
	void (*prog)(struct gvcpu *g, void *arg);
	void *arg;
	int rc;
};

static void vcpu_task(void *p)
{
	struct vcpu_job *j = p;
	j->rc = gvcpu_run(&j->g, j->prog, j->arg);
}

static struct engine *engine_for(enum sched_kind k, const struct cost_table *costs)
{
	struct engine_config c = { .sched = k, .seed = 1, .stack_size = 256 * 1024, .costs = costs };
	struct engine *e = engine_create(&c);
	assert_non_null(e);
	return e;
}

/* ---- virtual time ---- */

static void accept_write_read(struct gvcpu *g, void *arg)
{
	uint64_t gpa = (uint64_t)(uintptr_t)arg;
	assert_status(guest_accept(g, gpa, 0), TDX_SUCCESS);
	guest_write64(g, gpa + 8, 42);
	assert_int_equal(guest_read64(g, gpa + 8), 42);
}

static void test_virtual_time_two_vcpus(void **state)
{
	(void)state;
	BANNER("virtual time of a 2-vCPU accept/write/read program equals the hand-computed value");
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.nvcpus = 2;
	struct fx f;
	fx_init_runnable(&f, &o);
	struct simple_host h;
	simple_host_init(&h, &f.b);
	struct cost_table ct;
	memset(&ct, 0, sizeof(ct));
	ct.ns[SEAM_COST_TD_ENTRY] = 1000;
	ct.ns[SEAM_COST_TD_EXIT] = 2000;
	ct.ns[SEAM_COST_TDCALL] = 300;
	ct.ns[SEAM_COST_EPT_VIOLATION] = 5000;
	ct.ns[SEAM_COST_SEAMCALL + TDH_MEM_SEPT_ADD] = 700;
	ct.ns[SEAM_COST_SEAMCALL + TDH_MEM_PAGE_AUG] = 1100;
	ct.ns[SEAM_COST_ZERO_4K] = 250;
	ct.ns[SEAM_COST_GUEST_ACCESS] = 7;
	struct engine *e = engine_for(SCHED_TIMED, &ct);
	/* GPAs in different 512 GiB regions: no shared S-EPT entry, no contention */
	static struct vcpu_job j[2];
	const uint64_t gpa[2] = { 0x1000, 512ull << 30 };
	for (int i = 0; i < 2; i++) {
		gvcpu_init(&j[i].g, f.m, f.b.tdvpr[i], i, &h.ops);
		j[i].prog = accept_write_read;
		j[i].arg = (void *)(uintptr_t)gpa[i];
		engine_spawn(e, "vcpu", vcpu_task, &j[i]);
	}
	assert_int_equal(engine_run(e), ENGINE_OK);
	/*
	 * Per vCPU: VP.ENTER (1000); ACCEPT TDCALL (300) finds no table: exit
	 * (2000); host EPT violation (5000), SEPT.ADD at levels 3, 2, 1
	 * (3 x 700), AUG (1100); VP.ENTER (1000); ACCEPT (300) zeroing 4K (250);
	 * write and read (2 x 7); the final exit (2000).
	 */
	const uint64_t want = 1000 + 300 + 2000 + 5000 + 3 * 700 + 1100 + 1000 + 300 + 250 + 14 + 2000;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(j[i].rc, 0);
		assert_int_equal(engine_task_clock(e, i), want);
	}
	assert_int_equal(engine_elapsed_ns(e), want);
	print_message("  each vCPU: %" PRIu64 " ns of virtual time (parallel, so elapsed is the same)\n",
		      want);
	engine_destroy(e);
	fx_fini(&f);
}

/* ---- #VE versus EPT-violation exit ---- */

static void ve_accept(struct gvcpu *g, const struct tdx_ve_info *ve)
{
	assert_int_equal(ve->exit_reason, EXIT_REASON_EPT_VIOLATION);
	assert_status(guest_accept(g, ve->gpa & ~0xfffull, 0), TDX_SUCCESS);
}

static void touch_first(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_set_ve_handler(g, ve_accept);
	guest_write64(g, 0x5000, 7);	/* no ACCEPT first */
	assert_int_equal(guest_read64(g, 0x5000), 7);
}

static int run_one(struct fx *f, struct simple_host *h, void (*prog)(struct gvcpu *, void *),
		   struct vcpu_job *j)
{
	struct engine *e = engine_for(SCHED_RR, NULL);
	gvcpu_init(&j->g, f->m, f->b.tdvpr[0], 0, &h->ops);
	j->prog = prog;
	j->arg = NULL;
	engine_spawn(e, "vcpu0", vcpu_task, j);
	assert_int_equal(engine_run(e), ENGINE_OK);
	engine_destroy(e);
	return j->rc;
}

static void test_ve_versus_exit(void **state)
{
	(void)state;
	BANNER("access before ACCEPT: #VE to the guest if PENDING_VE_DISABLE=0, VM killed if 1");
	static struct vcpu_job j;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.sept_ve_disable = false;
	struct fx f;
	fx_init_runnable(&f, &o);
	struct simple_host h;
	simple_host_init(&h, &f.b);
	assert_int_equal(run_one(&f, &h, touch_first, &j), 0);
	assert_int_equal(j.g.st.ves, 1);	/* the PENDING page raised one #VE */
	assert_int_equal(j.g.st.ept_exits, 1);	/* the FREE page raised one exit */
	fx_fini(&f);

	o.sept_ve_disable = true;
	fx_init_runnable(&f, &o);
	simple_host_init(&h, &f.b);
	assert_int_equal(run_one(&f, &h, touch_first, &j), -1);
	print_message("  %s\n", j.g.why);
	assert_non_null(strstr(j.g.why, "guest access before accepting"));
	assert_int_equal(j.g.st.ves, 0);
	assert_int_equal(tdx_vcpu_exit_regs(j.g.v)->rdx & EEQ_TYPE_MASK,
			 EEQ_TYPE_PENDING_EPT_VIOLATION);
	fx_fini(&f);
}

static void touch_no_handler(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_write64(g, 0x5000, 7);
}

static void test_unhandled_ve(void **state)
{
	(void)state;
	BANNER("a #VE without a handler is a guest panic");
	static struct vcpu_job j;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.sept_ve_disable = false;
	struct fx f;
	fx_init_runnable(&f, &o);
	struct simple_host h;
	simple_host_init(&h, &f.b);
	assert_int_equal(run_one(&f, &h, touch_no_handler, &j), -1);
	assert_non_null(strstr(j.g.why, "unhandled #VE"));
	assert_false(tdx_vcpu_in_td(j.g.v));
	fx_fini(&f);
}

/* ---- zero-step mitigation ---- */

/*
 * The faulting page of the zero-step tests: accepted (MAPPED) before the
 * run, then blocked and tracked, so the guest's write faults with no level
 * information until the host unblocks it.  A blocked page the host puts
 * back is the realistic zero-step case.  (These tests used to start from a
 * FREE page that the host AUGed at its 8th exit; the real module counts a
 * PENDING leaf as still faulting whatever SEPT_VE_DISABLE says, so that
 * host never gets the vCPU back in: test_zero_step_aug_never_enters.)
 */
#define ZS_GPA 0x7000ull

static struct {
	struct simple_host *sh;
	struct fx *f;
	int calls;
	int map_at;			/* the handler call that finally unblocks */
	struct tdx_zero_step zs[32];	/* state seen at each handler call */
	uint64_t refusals[32];
} stub;

static int stubborn_exit(struct gvcpu *g)
{
	int n = stub.calls++;
	if (n < 32) {
		tdx_vcpu_zero_step(g->v, &stub.zs[n]);
		stub.refusals[n] = g->st.zero_step_refusals;
	}
	if (stub.calls == stub.map_at) {
		/* finally put the page back: the tracking was done before the run */
		struct tdx_regs out;
		task_check_eq(tdh_mem_range_unblock(stub.f->m, &out, tdx_gpa_info(ZS_GPA, 0),
						    stub.f->b.tdr), TDX_SUCCESS);
		return 0;
	}
	if (stub.calls > stub.map_at)
		return simple_host_handle_exit(g);	/* later faults: map at once */
	return 0;					/* re-enter without fixing anything */
}

/*
 * Run @prog on a runnable TD with #VE for pending pages, ZS_GPA blocked,
 * under a host that unblocks it only at its 8th exit and maps any other
 * fault by AUG (and answers TDVMCALLs with @vmcall if not NULL).  The run
 * must end cleanly; the caller destroys the engine and @f.
 */
static struct engine *zs_run(struct fx *f, struct simple_host *h, struct vcpu_job *j,
			     void (*prog)(struct gvcpu *g, void *arg),
			     uint64_t (*vmcall)(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1))
{
	static struct gvcpu_host ops;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.sept_ve_disable = false;	/* the host's AUG then ends in a #VE, not an exit */
	fx_init_runnable(f, &o);
	fx_aug(f, ZS_GPA, 0);
	assert_status(fx_accept(f, 0, ZS_GPA, 0, NULL), TDX_SUCCESS);
	fx_block(f, ZS_GPA, 0);
	fx_track(f);
	simple_host_init(h, &f->b);
	ops = h->ops;
	ops.handle_exit = stubborn_exit;
	if (vmcall)
		ops.vmcall = vmcall;
	memset(&stub, 0, sizeof(stub));
	stub.sh = h;
	stub.f = f;
	stub.map_at = 8;
	struct engine *e = engine_for(SCHED_RR, NULL);
	gvcpu_init(&j->g, f->m, f->b.tdvpr[0], 0, &ops);
	j->prog = prog;
	engine_spawn(e, "vcpu0", vcpu_task, j);
	assert_int_equal(engine_run(e), ENGINE_OK);
	assert_int_equal(j->rc, 0);
	return e;
}

static void one_access(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_set_ve_handler(g, ve_accept);
	guest_write64(g, ZS_GPA, 1);
	/* forward progress: a fault at a new RIP starts counting afresh */
	guest_write64(g, 0x9000, 2);
}

static void test_zero_step(void **state)
{
	(void)state;
	BANNER("zero-step: 6 EPT violations at one RIP are tolerated, the 7th is logged and "
	       "VP.ENTER refuses entry while it would still fault");
	static struct vcpu_job j;
	struct fx f;
	struct simple_host h;
	struct engine *e = zs_run(&f, &h, &j, one_access, NULL);
	/* handler calls 1..6: counting, no filter yet */
	for (int n = 0; n < 6; n++) {
		assert_int_equal(stub.zs[n].epf_count, n + 1);
		assert_int_equal(stub.zs[n].logged, 0);
		assert_int_equal(stub.zs[n].filter_runs, 0);
	}
	/* call 7: the 7th violation is logged, still no filter run */
	assert_int_equal(stub.zs[6].epf_count, 6);
	assert_int_equal(stub.zs[6].logged, 1);
	assert_int_equal(stub.zs[6].filter_runs, 0);
	/* call 8: the next VP.ENTER ran the filter and refused to enter */
	assert_int_equal(stub.zs[7].filter_runs, 1);
	assert_int_equal(stub.zs[7].refused, 1);
	assert_int_equal(stub.refusals[7], 1);
	/* call 8 also unblocks: the next filter run passes (the page no longer faults) */
	struct tdx_zero_step end;
	tdx_vcpu_zero_step(j.g.v, &end);
	assert_int_equal(end.refused, 1);
	assert_int_equal(end.filter_runs, 2);
	assert_int_equal(j.g.st.zero_step_refusals, 1);
	/* the second access, at a new RIP, restarted the count (map_at passed: mapped at once) */
	assert_int_equal(stub.calls, 9);
	assert_int_equal(stub.zs[8].epf_count, 1);
	assert_int_equal(stub.zs[8].logged, 0);
	/* and the program's last exit, after more progress, left nothing behind */
	assert_int_equal(end.epf_count, 0);
	assert_int_equal(end.logged, 0);
	engine_destroy(e);
	fx_fini(&f);
}

/*
 * Any exit after forward progress resets the tracking, not only a new EPT
 * violation (tdx_1.5 runs vmexit_stepping_filter() on every VM exit).  A
 * log that outlived the progress would keep refusing entries for a GPA the
 * guest no longer touches; with a VMM converting that GPA back and forth
 * that was a livelock (found by test_host_run's everything-at-once test).
 */
static struct tdx_zero_step zs_at_vmcall;

static uint64_t zs_vmcall(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1)
{
	(void)fn, (void)a0, (void)a1;
	tdx_vcpu_zero_step(g->v, &zs_at_vmcall);
	return 0;
}

static void access_then_vmcall(struct gvcpu *g, void *arg)
{
	(void)arg;
	guest_set_ve_handler(g, ve_accept);
	guest_write64(g, ZS_GPA, 1);	/* 7 violations at one RIP: logged */
	guest_vmcall(g, 0x10000, 0, 0);	/* the next instruction exits to the VMM */
}

static void test_zero_step_progress(void **state)
{
	(void)state;
	BANNER("zero-step: after forward progress any exit, here a TDVMCALL, forgets the log");
	static struct vcpu_job j;
	struct fx f;
	struct simple_host h;
	memset(&zs_at_vmcall, 0xff, sizeof(zs_at_vmcall));
	struct engine *e = zs_run(&f, &h, &j, access_then_vmcall, zs_vmcall);
	/* the write was logged before it went through */
	assert_int_equal(stub.zs[6].logged, 1);
	assert_int_equal(j.g.st.zero_step_refusals, 1);
	/* at the TDVMCALL, one instruction later, nothing is logged or counted */
	assert_int_equal(zs_at_vmcall.logged, 0);
	assert_int_equal(zs_at_vmcall.epf_count, 0);
	engine_destroy(e);
	fx_fini(&f);
}

/*
 * With SEPT_VE_DISABLE 0, a logged GPA that the host maps by AUG is PENDING
 * and still faults for the stepping filter (td_exit_stepping.c,
 * is_epf_expected: the CPU's walk has no convertible violation), so VP.ENTER
 * refuses entry for good: the guest cannot run to accept, nor make progress
 * to clear the log.  The simulator used to let the vCPU in (the #VE would
 * follow) after one refusal; on the real module this host livelocks.
 */
static int aug_at_8th_exit(struct gvcpu *g)
{
	if (++stub.calls >= 8)
		return simple_host_handle_exit(g);
	return 0;
}

static void test_zero_step_aug_never_enters(void **state)
{
	(void)state;
	BANNER("zero-step, SEPT_VE_DISABLE=0: a logged GPA the host AUGs is PENDING and keeps "
	       "VP.ENTER refusing (the run hits the step bound)");
	static struct vcpu_job j;
	static struct gvcpu_host ops;
	struct fx f;
	struct simple_host h;
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.sept_ve_disable = false;
	fx_init_runnable(&f, &o);
	simple_host_init(&h, &f.b);
	ops = h.ops;
	ops.handle_exit = aug_at_8th_exit;
	memset(&stub, 0, sizeof(stub));
	struct engine_config c = { .sched = SCHED_RR, .seed = 1, .stack_size = 256 * 1024,
				   .step_bound = 20000 };
	struct engine *e = engine_create(&c);
	assert_non_null(e);
	gvcpu_init(&j.g, f.m, f.b.tdvpr[0], 0, &ops);
	j.prog = one_access;
	engine_spawn(e, "vcpu0", vcpu_task, &j);
	assert_int_equal(engine_run(e), ENGINE_STEP_BOUND);
	print_message("  %" PRIu64 " refusals, %d handler calls, no #VE\n",
		      j.g.st.zero_step_refusals, stub.calls);
	assert_int_equal(j.g.st.ves, 0);		/* the guest never got back in */
	assert_true(j.g.st.zero_step_refusals > 100);
	assert_int_equal(h.maps, 1);			/* the one AUG; later ones find it PENDING */
	assert_int_equal(fx_pub_state(&f, ZS_GPA, 0), SEPT_PUB_PENDING);
	engine_destroy(e);
	fx_fini(&f);
}

/* ---- the TLB model ---- */

static struct fx *tlb_fx;

/* ACCEPT exits are mapped by the simple host; other EPT violations unblock. */
static int tlb_exit(struct gvcpu *g)
{
	const struct tdx_regs *x = tdx_vcpu_exit_regs(g->v);
	if (x->rax != EXIT_REASON_EPT_VIOLATION)
		return 0;
	if ((x->rdx & EEQ_TYPE_MASK) == EEQ_TYPE_ACCEPT)
		return simple_host_handle_exit(g);
	assert_status(tdh_mem_range_unblock(tlb_fx->m, &tlb_fx->out, tdx_gpa_info(x->r8, 0),
					    tlb_fx->b.tdr), TDX_SUCCESS);
	return 0;
}

static void tlb_prog(struct gvcpu *g, void *arg)
{
	(void)arg;
	uint64_t gpa = 0x3000;
	assert_status(guest_accept(g, gpa, 0), TDX_SUCCESS);
	guest_write64(g, gpa, 1);			/* fills the TLB */
	/* meanwhile the host blocks the page: the cached translation still works */
	fx_block(tlb_fx, gpa, 0);
	guest_write64(g, gpa, 2);
	assert_int_equal(g->st.ept_exits, 1);		/* only the ACCEPT's */
	/* the host tracks and the vCPU exits and re-enters: the TLB is flushed */
	fx_track(tlb_fx);
	assert_int_equal(guest_vmcall(g, 0x1234, 0, 0), TDVMCALL_STATUS_INVALID_OPERAND);
	guest_write64(g, gpa, 3);			/* walks: BLOCKED -> exit, unblock, retry */
	assert_int_equal(g->st.ept_exits, 2);
	assert_int_equal(guest_read64(g, gpa), 3);
}

static void test_tlb_model(void **state)
{
	(void)state;
	BANNER("TLB: a blocked page stays usable through the TLB until a new-epoch entry flushes it");
	static struct vcpu_job j;
	struct fx f;
	fx_init_runnable(&f, NULL);
	tlb_fx = &f;
	struct simple_host h;
	simple_host_init(&h, &f.b);
	struct gvcpu_host ops = h.ops;
	ops.handle_exit = tlb_exit;
	struct engine *e = engine_for(SCHED_RR, NULL);
	gvcpu_init(&j.g, f.m, f.b.tdvpr[0], 0, &ops);
	j.prog = tlb_prog;
	engine_spawn(e, "vcpu0", vcpu_task, &j);
	assert_int_equal(engine_run(e), ENGINE_OK);
	assert_int_equal(j.rc, 0);
	assert_true(j.g.st.tlb_hits >= 2);
	engine_destroy(e);
	fx_fini(&f);
}

/*
 * The same model over a 2M page split and moved: the cached 4K translation
 * inside a 2M leaf must be gone before DEMOTE and RELOCATE can give its
 * page away.  @skip_track models a module that did not insist on tracking
 * (white box: the TD epoch moves on behind the running vCPU's back); the
 * guest layer's stale-translation check must then catch the next access.
 */
#define HUGE_TLB_GPA 0x80200000ull
static bool huge_tlb_skip;

static void huge_tlb_wait(struct gvcpu *g, uint64_t gpa, int level)
{
	if (!huge_tlb_skip) {
		guest_vmcall(g, 0x1234, 0, 0);	/* the kick: exit, re-enter in the new epoch */
		return;
	}
	/* the block epoch made to look two epochs old: "tracked" with the vCPU still in */
	uint64_t hpa = septe_hpa(*fx_entry(tlb_fx, gpa, level));
	assert_true(tdx_td_epoch(tlb_fx->b.td) >= 2);
	pamt_entry_of(tlb_fx->pm, hpa, (enum pamt_size)level)->bepoch = 0;
}

static void huge_tlb_prog(struct gvcpu *g, void *arg)
{
	(void)arg;
	uint64_t gpa = HUGE_TLB_GPA + 9 * SZ_4K;
	guest_write64(g, gpa, 7);			/* fills the TLB through the 2M leaf */
	fx_block(tlb_fx, HUGE_TLB_GPA, 1);
	fx_track(tlb_fx);
	huge_tlb_wait(g, HUGE_TLB_GPA, 1);
	assert_status(tdh_mem_page_demote(tlb_fx->m, &tlb_fx->out, tdx_gpa_info(HUGE_TLB_GPA, 1),
					  tlb_fx->b.tdr, bringup_page(&tlb_fx->b), 0, 0),
		      TDX_SUCCESS);
	assert_int_equal(guest_read64(g, gpa), 7);	/* DEMOTE keeps the page */
	fx_block(tlb_fx, gpa, 0);
	if (!huge_tlb_skip)
		fx_track(tlb_fx);
	huge_tlb_wait(g, gpa, 0);
	assert_status(tdh_mem_page_relocate(tlb_fx->m, &tlb_fx->out, tdx_gpa_info(gpa, 0),
					    tlb_fx->b.tdr, bringup_page(&tlb_fx->b)), TDX_SUCCESS);
	/* the old page is the host's now; the value moved with the mapping */
	assert_int_equal(guest_read64(g, gpa), 7);
}

static void test_tlb_huge_split_and_move(void **state)
{
	(void)state;
	BANNER("TLB: a translation cached through a 2M leaf never outlives DEMOTE + RELOCATE; skipping TRACK is caught");
	for (int skip = 0; skip < 2; skip++) {
		static struct vcpu_job j;
		struct fx f;
		fx_init_runnable(&f, NULL);
		tlb_fx = &f;
		huge_tlb_skip = skip;
		fx_huge_leaf(&f, HUGE_TLB_GPA, 1, true);
		struct simple_host h;
		simple_host_init(&h, &f.b);
		struct gvcpu_host ops = h.ops;
		ops.handle_exit = tlb_exit;
		struct engine *e = engine_for(SCHED_RR, NULL);
		gvcpu_init(&j.g, f.m, f.b.tdvpr[0], 0, &ops);
		j.prog = huge_tlb_prog;
		engine_spawn(e, "vcpu0", vcpu_task, &j);
		enum engine_outcome out = engine_run(e);
		if (skip) {
			/* the TLB invariant (3), checked at every hit */
			assert_int_equal(out, ENGINE_INVARIANT);
			assert_non_null(strstr(engine_report(e), "invariant 3 (TLB)"));
			assert_non_null(strstr(engine_report(e), "stale TLB entry"));
		} else {
			assert_int_equal(out, ENGINE_OK);
			assert_int_equal(j.rc, 0);
		}
		engine_destroy(e);
		fx_fini(&f);
	}
}

/* ---- determinism of a TD program ---- */

static void racy_accepts(struct gvcpu *g, void *arg)
{
	(void)arg;
	/* both vCPUs accept the same pages, at 2M and at 4K, in different orders */
	for (int i = 0; i < 4; i++) {
		uint64_t gpa = 0x40000000ull + (uint64_t)((i + g->index * 2) % 4) * SZ_2M;
		uint64_t st = guest_accept(g, gpa + (g->index ? SZ_4K : 0), g->index ? 0 : 1);
		engine_trace(st);
		/* like Linux: where 2M did not fit, accept the 4K page it uses */
		uint64_t page = gpa + (g->index ? SZ_4K : 0);
		st = guest_accept(g, page, 0);
		assert_true(st == TDX_SUCCESS || tdx_status_code(st) == TDX_PAGE_ALREADY_ACCEPTED);
		guest_write64(g, page + 64 * (uint64_t)g->index, (uint64_t)i);
	}
}

static bool racy_give_up;
static enum engine_outcome racy_outcome;
static char racy_report[512];
static uint64_t racy_accept_busy;	/* the most BUSY retries of one vCPU */

static uint64_t run_racy(uint64_t seed, const char *replay, char *sched, size_t len)
{
	struct bringup_opts o;
	bringup_default_opts(&o);
	o.nvcpus = 2;
	struct fx f;
	fx_init_runnable(&f, &o);
	struct simple_host h;
	simple_host_init(&h, &f.b);
	h.give_up_on_busy = racy_give_up;
	struct engine_config c = { .sched = replay ? SCHED_REPLAY : SCHED_RANDOM, .seed = seed,
				   .replay = replay, .stack_size = 256 * 1024,
				   .step_bound = racy_give_up ? 200000 : 0 };
	struct engine *e = engine_create(&c);
	assert_non_null(e);
	static struct vcpu_job j[2];
	for (int i = 0; i < 2; i++) {
		gvcpu_init(&j[i].g, f.m, f.b.tdvpr[i], i, &h.ops);
		j[i].prog = racy_accepts;
		engine_spawn(e, "vcpu", vcpu_task, &j[i]);
	}
	enum engine_outcome out = engine_run(e);
	racy_outcome = out;
	snprintf(racy_report, sizeof(racy_report), "%s", engine_report(e));
	racy_accept_busy = j[0].g.st.accept_busy > j[1].g.st.accept_busy ? j[0].g.st.accept_busy
									     : j[1].g.st.accept_busy;
	if (racy_give_up) {
		if (sched)
			snprintf(sched, len, "%s", engine_schedule(e));
		engine_destroy(e);
		fx_fini(&f);
		return 0;
	}
	if (out != ENGINE_OK || j[0].rc || j[1].rc) {
		engine_print_report(e, stderr);
		for (int i = 0; i < 2; i++) {
			const struct tdx_regs *x = tdx_vcpu_exit_regs(j[i].g.v);
			print_error("vCPU %d: '%s' exits %" PRIu64 " accepts %" PRIu64 " busy %" PRIu64
				    " last exit rax %#" PRIx64 " rdx %#" PRIx64 " r8 %#" PRIx64 "\n", i,
				    j[i].g.why, j[i].g.st.exits, j[i].g.st.accepts, j[i].g.st.accept_busy,
				    x->rax, x->rdx, x->r8);
		}
		fail();
	}
	uint64_t hash = engine_trace_hash(e);
	if (sched)
		snprintf(sched, len, "%s", engine_schedule(e));
	engine_destroy(e);
	fx_fini(&f);
	return hash;
}

static void test_td_determinism(void **state)
{
	(void)state;
	BANNER("a 2-vCPU TD program racing on ACCEPT: same seed, same trace; the schedule replays");
	uint64_t base = test_seed();
	int distinct = 0;
	uint64_t prev = 0;
	static char sched[1 << 16];
	for (uint64_t s = base; s < base + 50; s++) {
		uint64_t h1 = run_racy(s, NULL, sched, sizeof(sched));
		assert_int_equal(run_racy(s, NULL, NULL, 0), h1);
		assert_int_equal(run_racy(0, sched, NULL, 0), h1);
		distinct += h1 != prev;
		prev = h1;
	}
	assert_true(distinct > 25);
}

static void test_host_priority_promise(void **state)
{
	(void)state;
	BANNER("a host that does not retry after BUSY can leave an ACCEPT spinning on host priority");
	static char sched[1 << 16];
	uint64_t found = 0;
	racy_give_up = true;
	for (uint64_t s = 1; s <= 400 && !found; s++) {
		run_racy(s, NULL, sched, sizeof(sched));
		if (racy_outcome == ENGINE_STEP_BOUND)
			found = s;
		else
			assert_int_equal(racy_outcome, ENGINE_OK);
	}
	racy_give_up = false;
	print_message("  seed %" PRIu64 ": %s\n", found, racy_report);
	assert_true(found != 0);
	assert_non_null(strstr(racy_report, "possible livelock"));
	assert_true(racy_accept_busy > 10000);	/* it spun on a BUSY ACCEPT */
	/* the same interleaving of the retrying host completes */
	run_racy(found, NULL, NULL, 0);
	assert_int_equal(racy_outcome, ENGINE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_virtual_time_two_vcpus),
		cmocka_unit_test(test_ve_versus_exit),
		cmocka_unit_test(test_unhandled_ve),
		cmocka_unit_test(test_zero_step),
		cmocka_unit_test(test_zero_step_progress),
		cmocka_unit_test(test_zero_step_aug_never_enters),
		cmocka_unit_test(test_tlb_model),
		cmocka_unit_test(test_tlb_huge_split_and_move),
		cmocka_unit_test(test_td_determinism),
		cmocka_unit_test(test_host_priority_promise),
	};
	return cmocka_run_group_tests_name("guest", tests, NULL, NULL);
}
