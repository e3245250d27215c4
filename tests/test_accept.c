/* SPDX-License-Identifier: MIT */
/*
 * TDG.MEM.PAGE.ACCEPT and guest accesses to private memory: every outcome
 * of module-abi.md section 7 (and the host-priority rules of section 5).
 *
 * Expectations come from the reference: success zeroes the page(s);
 * PAGE_ALREADY_ACCEPTED / PAGE_SIZE_MISMATCH carry the level found in the
 * operand bits; anything the guest cannot accept is an EPT-violation TD exit
 * (RAX 48, RDX type ACCEPT with the requested level in bits 34:32, R8 the
 * page-aligned GPA); bad operands are OPERAND_INVALID|RCX; a 2M accept can
 * be interrupted and resumed; a held entry lock or the host-priority bit is
 * OPERAND_BUSY|RCX, and losing to the host for longer than the timeout
 * (1 s) exits with HOST_PRIORITY_BUSY_TIMEOUT.  As in the 1.5 module, the
 * timer keeps running across TD exits and VP.ENTER and only a TDCALL that
 * returns another status resets it; a successful commit of an entry clears
 * the host-priority bit, an error-path release keeps it.
 */
#include <string.h>

#include "testlib.h"

#define GPA2M	0x80200000ull		/* 2M aligned private GPA */
#define GPA4K	(GPA2M + 0x7000)	/* a 4K page inside it */

#define EXIT_EPT_VIOLATION	48ull
#define EEQ_ACCEPT		1u
#define EEQ_PENDING_EPT_VIOL	6u

/* ---- helpers ---- */

/* Fill @npages 4K pages at @hpa with a nonzero pattern (AUG does not zero). */
static void fill_nonzero(struct fx *f, uint64_t hpa, unsigned npages)
{
	uint8_t buf[4096];
	for (unsigned p = 0; p < npages; p++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(0x5a ^ (i * 7) ^ p) | 1;
		physmem_write(f->pm, hpa + p * SZ_4K, buf, sizeof(buf));
	}
}

/* Is the 4K page at @hpa all zero?  Reads the bytes, not just the tag. */
static bool page_zero(struct fx *f, uint64_t hpa)
{
	static const uint8_t zero[4096];
	uint8_t buf[4096];
	physmem_read(f->pm, hpa, buf, sizeof(buf));
	return memcmp(buf, zero, sizeof(buf)) == 0;
}

static unsigned count_zero_pages(struct fx *f, uint64_t hpa, unsigned npages)
{
	unsigned n = 0;
	for (unsigned p = 0; p < npages; p++)
		n += page_zero(f, hpa + p * SZ_4K);
	return n;
}

static enum tdg_outcome accept(struct fx *f, uint64_t gpa, int level, uint64_t *st)
{
	*st = ~0ull;
	return tdg_mem_page_accept(f->b.vcpu[0], tdx_gpa_info(gpa, level), st);
}

/* AUG a 4K page at @gpa whose content is nonzero; returns its HPA. */
static uint64_t aug_dirty_4k(struct fx *f, uint64_t gpa)
{
	fx_path(f, gpa, 0);
	uint64_t hpa = bringup_page(&f->b);
	fill_nonzero(f, hpa, 1);
	assert_status(tdh_mem_page_aug(f->m, &f->out, tdx_gpa_info(gpa, 0), f->b.tdr, hpa),
		      TDX_SUCCESS);
	assert_false(page_zero(f, hpa));	/* AUG does not zero */
	return hpa;
}

/* AUG a 2M page at @gpa whose 512 pages are nonzero; returns its HPA. */
static uint64_t aug_dirty_2m(struct fx *f, uint64_t gpa)
{
	fx_path(f, gpa, 1);
	uint64_t hpa = bringup_page_2m(&f->b);
	fill_nonzero(f, hpa, 512);
	assert_status(tdh_mem_page_aug(f->m, &f->out, tdx_gpa_info(gpa, 1), f->b.tdr, hpa),
		      TDX_SUCCESS);
	assert_int_equal(count_zero_pages(f, hpa, 512), 0);
	return hpa;
}

/*
 * The vCPU left the TD with an EPT-violation exit: RAX 48, R8 the GPA with
 * bits 11:0 clear, RDX type @eeq_type (for ACCEPT the requested level in
 * bits 34:32; type 0 carries no level information).  The exit released the
 * vCPU's TLB-epoch reference: two TRACKs in a row succeed (the second one
 * needs the refcount of the epoch the vCPU entered in to be 0).
 */
static void check_ept_exit(struct fx *f, enum tdg_outcome o, uint64_t gpa, unsigned eeq_type,
			   int req_level)
{
	assert_int_equal(o, TDG_EXIT);
	assert_false(tdx_vcpu_in_td(f->b.vcpu[0]));
	const struct tdx_regs *x = tdx_vcpu_exit_regs(f->b.vcpu[0]);
	assert_int_equal(x->rax, EXIT_EPT_VIOLATION);
	assert_int_equal(x->rdx & 0xf, eeq_type);
	if (eeq_type == EEQ_ACCEPT)
		assert_int_equal((x->rdx >> 32) & 7, (uint64_t)req_level);
	if (eeq_type == 0)
		assert_int_equal(x->rdx >> 32, 0);
	assert_int_equal(x->r8, gpa & ~0xfffull);
	fx_track(f);
	fx_track(f);
}

/* ---- success ---- */

static void test_accept_4k_zeroes(void **state)
{
	(void)state;
	BANNER("4K ACCEPT of a PENDING page: SUCCESS, page zeroed, entry MAPPED");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t hpa = aug_dirty_4k(&f, GPA4K);
	uint64_t st;
	fx_enter(&f, 0);
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	assert_true(tdx_vcpu_in_td(f.b.vcpu[0]));
	fx_leave(&f, 0);
	assert_true(page_zero(&f, hpa));
	assert_int_equal(fx_pub_state(&f, GPA4K, 0), SEPT_PUB_MAPPED);
	fx_fini(&f);
}

static void test_accept_2m_zeroes(void **state)
{
	(void)state;
	BANNER("2M ACCEPT of a PENDING page: SUCCESS, all 512 pages zeroed, entry MAPPED");
	struct fx f;
	fx_init_runnable(&f, NULL);
	uint64_t hpa = aug_dirty_2m(&f, GPA2M);
	enum tdg_outcome o;
	assert_status(fx_accept(&f, 0, GPA2M, 1, &o), TDX_SUCCESS);
	assert_int_equal(o, TDG_RETURN);
	assert_int_equal(count_zero_pages(&f, hpa, 512), 512);
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_MAPPED);
	fx_fini(&f);
}

/* ---- PAGE_ALREADY_ACCEPTED / PAGE_SIZE_MISMATCH ---- */

static void test_already_accepted(void **state)
{
	(void)state;
	BANNER("PAGE_ALREADY_ACCEPTED + level: same level (4K, 2M) and 4K inside a MAPPED 2M page");
	struct fx f;
	enum tdg_outcome o;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	/* 4K twice */
	fx_aug(&f, GPA4K, 0);
	assert_status(fx_accept(&f, 0, GPA4K, 0, &o), TDX_SUCCESS);
	st = fx_accept(&f, 0, GPA4K, 0, &o);
	assert_int_equal(o, TDG_RETURN);
	assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | 0);
	assert_false(tdx_status_is_error(st));		/* not an error */
	assert_int_equal(fx_pub_state(&f, GPA4K, 0), SEPT_PUB_MAPPED);
	/* 2M twice, at another 2M range */
	const uint64_t g2 = GPA2M + SZ_2M;
	fx_aug(&f, g2, 1);
	assert_status(fx_accept(&f, 0, g2, 1, &o), TDX_SUCCESS);
	st = fx_accept(&f, 0, g2, 1, &o);
	assert_int_equal(o, TDG_RETURN);
	assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | 1);
	assert_false(tdx_status_is_error(st));
	/* 4K inside the accepted 2M page: the walk stops above, at the 2M leaf */
	for (uint64_t off = 0; off < SZ_2M; off += 0x7f000) {
		st = fx_accept(&f, 0, g2 + off, 0, &o);
		assert_int_equal(o, TDG_RETURN);
		assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | 1);
	}
	assert_int_equal(fx_pub_state(&f, g2, 1), SEPT_PUB_MAPPED);
	fx_fini(&f);
}

static void test_size_mismatch(void **state)
{
	(void)state;
	BANNER("PAGE_SIZE_MISMATCH + level 1: 2M ACCEPT where 4K mappings exist (NL_MAPPED)");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	fx_aug(&f, GPA4K, 0);		/* 4K PENDING child: the 2M entry is NL_MAPPED */
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_NL_MAPPED);
	fx_enter(&f, 0);
	assert_int_equal(accept(&f, GPA2M, 1, &st), TDG_RETURN);
	assert_status(st, TDX_PAGE_SIZE_MISMATCH | 1);
	assert_true(tdx_status_is_error(st));
	assert_true(tdx_vcpu_in_td(f.b.vcpu[0]));
	/* nothing changed: the 4K child is still PENDING and can be accepted */
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	/* and the 2M accept over the (now MAPPED) 4K mapping is still a mismatch */
	assert_int_equal(accept(&f, GPA2M, 1, &st), TDG_RETURN);
	assert_status(st, TDX_PAGE_SIZE_MISMATCH | 1);
	fx_leave(&f, 0);
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_NL_MAPPED);
	fx_fini(&f);
}

/* ---- EPT-violation TD exits (type ACCEPT) ---- */

static void test_exit_4k_in_pending_2m(void **state)
{
	(void)state;
	BANNER("4K ACCEPT inside a PENDING 2M page: EPT-violation exit, type ACCEPT, level 0");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	fx_aug(&f, GPA2M, 1);
	fx_enter(&f, 0);
	enum tdg_outcome o = accept(&f, GPA4K, 0, &st);
	check_ept_exit(&f, o, GPA4K, EEQ_ACCEPT, 0);
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_PENDING);
	/* the vCPU can enter again; the 2M accept the host would ask for works */
	fx_enter(&f, 0);
	assert_int_equal(accept(&f, GPA2M, 1, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	fx_leave(&f, 0);
	fx_fini(&f);
}

static void test_exit_free(void **state)
{
	(void)state;
	BANNER("ACCEPT of a FREE entry (4K and 2M): exit type ACCEPT with the requested level; "
	       "re-executed after the host AUGs it, it succeeds");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	for (int level = 0; level <= 1; level++) {
		uint64_t gpa = level ? GPA2M + SZ_2M : GPA4K;
		fx_path(&f, gpa, level);
		assert_int_equal(fx_pub_state(&f, gpa, level), SEPT_PUB_FREE);
		fx_enter(&f, 0);
		enum tdg_outcome o = accept(&f, gpa, level, &st);
		check_ept_exit(&f, o, gpa, EEQ_ACCEPT, level);
		assert_int_equal(fx_pub_state(&f, gpa, level), SEPT_PUB_FREE);
		/* the host maps what the exit asked for; the guest's ACCEPT runs again */
		fx_aug(&f, gpa, level);
		fx_enter(&f, 0);
		assert_int_equal(accept(&f, gpa, level, &st), TDG_RETURN);
		assert_status(st, TDX_SUCCESS);
		fx_leave(&f, 0);
		assert_int_equal(fx_pub_state(&f, gpa, level), SEPT_PUB_MAPPED);
	}
	fx_fini(&f);
}

static void test_exit_missing_table(void **state)
{
	(void)state;
	BANNER("ACCEPT where the S-EPT table is missing: exit type ACCEPT with the requested level");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	/* nothing below the root at all */
	for (int level = 0; level <= 1; level++) {
		uint64_t gpa = level ? GPA2M : GPA4K;
		fx_enter(&f, 0);
		check_ept_exit(&f, accept(&f, gpa, level, &st), gpa, EEQ_ACCEPT, level);
	}
	/* the PD exists but not the PT: a 4K accept stops at the FREE 2M entry */
	const uint64_t g = GPA2M + 4 * SZ_2M + 0x3000;
	fx_path(&f, g, 1);
	fx_enter(&f, 0);
	check_ept_exit(&f, accept(&f, g, 0, &st), g, EEQ_ACCEPT, 0);
	fx_fini(&f);
}

static void test_exit_blocked(void **state)
{
	(void)state;
	BANNER("ACCEPT of BLOCKED / PENDING_BLOCKED entries (4K and 2M): exit type ACCEPT");
	struct fx f;
	uint64_t st;
	enum tdg_outcome o;
	fx_init_runnable(&f, NULL);
	/* BLOCKED 4K (accepted, then blocked) */
	const uint64_t a = GPA4K;
	fx_aug(&f, a, 0);
	assert_status(fx_accept(&f, 0, a, 0, &o), TDX_SUCCESS);
	fx_block(&f, a, 0);
	fx_enter(&f, 0);
	check_ept_exit(&f, accept(&f, a, 0, &st), a, EEQ_ACCEPT, 0);
	assert_int_equal(fx_pub_state(&f, a, 0), SEPT_PUB_BLOCKED);
	/* PENDING_BLOCKED 4K */
	const uint64_t b = GPA4K + SZ_4K;
	fx_aug(&f, b, 0);
	fx_block(&f, b, 0);
	fx_enter(&f, 0);
	check_ept_exit(&f, accept(&f, b, 0, &st), b, EEQ_ACCEPT, 0);
	assert_int_equal(fx_pub_state(&f, b, 0), SEPT_PUB_PENDING_BLOCKED);
	/* BLOCKED 2M */
	const uint64_t c = GPA2M + SZ_2M;
	fx_aug(&f, c, 1);
	assert_status(fx_accept(&f, 0, c, 1, &o), TDX_SUCCESS);
	fx_block(&f, c, 1);
	fx_enter(&f, 0);
	check_ept_exit(&f, accept(&f, c, 1, &st), c, EEQ_ACCEPT, 1);
	/* PENDING_BLOCKED 2M, and a 4K accept inside it (walk stops above) */
	const uint64_t d = GPA2M + 2 * SZ_2M;
	fx_aug(&f, d, 1);
	fx_block(&f, d, 1);
	fx_enter(&f, 0);
	check_ept_exit(&f, accept(&f, d, 1, &st), d, EEQ_ACCEPT, 1);
	fx_enter(&f, 0);
	check_ept_exit(&f, accept(&f, d + 0x5000, 0, &st), d + 0x5000, EEQ_ACCEPT, 0);
	assert_int_equal(fx_pub_state(&f, d, 1), SEPT_PUB_PENDING_BLOCKED);
	/* after unblocking (tracking is done: check_ept_exit TRACKed) it accepts */
	assert_status(tdh_mem_range_unblock(f.m, &f.out, tdx_gpa_info(d, 1), f.b.tdr),
		      TDX_SUCCESS);
	assert_status(fx_accept(&f, 0, d, 1, &o), TDX_SUCCESS);
	assert_int_equal(o, TDG_RETURN);
	fx_fini(&f);
}

/* ---- operand checks ---- */

/*
 * fx_init_runnable over a module whose MAX_PA is @max_pa: a 5-level TD
 * needs MAX_PA >= 49 (module-abi.md section 9), the default config has 46.
 */
static void fx_init_runnable_max_pa(struct fx *f, const struct bringup_opts *o, unsigned max_pa)
{
	struct tdx_module_config cfg;
	tdx_module_default_config(&cfg);
	cfg.max_pa = max_pa;
	memset(f, 0, sizeof(*f));
	f->m = tdx_module_create(&cfg);
	assert_non_null(f->m);
	f->pm = tdx_module_physmem(f->m);
	bringup_init(&f->b, f->m);
	f->o = *o;
	if (bringup_td(&f->b, &f->o)) {
		print_error("bringup failed at %s: %s\n", f->b.last_leaf,
			    tdx_status_name(f->b.last_status));
		fail();
	}
	assert_status(tdh_mr_finalize(f->m, &f->out, f->b.tdr), TDX_SUCCESS);
}

static void test_operand_invalid(void **state)
{
	(void)state;
	BANNER("OPERAND_INVALID|RCX: level 2/7, reserved bits, misaligned 2M, shared bit, "
	       "bits above the GPA width");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	fx_aug(&f, GPA2M, 1);		/* a PENDING page the bad operands point near */
	const uint64_t bad[] = {
		tdx_gpa_info(2 * SZ_1G, 2),			/* 1G: not supported */
		(2 * SZ_1G) | 7,				/* level 7 */
		tdx_gpa_info(GPA4K, 0) | BIT64(3),		/* reserved 11:3 */
		tdx_gpa_info(GPA4K, 0) | BIT64(11),
		tdx_gpa_info(GPA4K, 0) | BIT64(52),		/* reserved 63:52 */
		tdx_gpa_info(GPA4K, 0) | BIT64(63),
		tdx_gpa_info(GPA2M + SZ_4K, 1),			/* 2M, not 2M aligned */
		tdx_gpa_info(GPA2M | BIT64(47), 1),		/* shared (GPAW 0) */
		tdx_gpa_info(GPA4K | BIT64(47), 0),
		tdx_gpa_info(GPA4K | BIT64(48), 0),		/* above the 48-bit GPA */
		tdx_gpa_info(GPA4K | BIT64(51), 0),
	};
	fx_enter(&f, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st = ~0ull;
		assert_int_equal(tdg_mem_page_accept(f.b.vcpu[0], bad[i], &st), TDG_RETURN);
		assert_status(st, TDX_OPERAND_INVALID | OPND_RCX);
		assert_true(tdx_vcpu_in_td(f.b.vcpu[0]));
	}
	fx_leave(&f, 0);
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_PENDING);
	fx_fini(&f);

	/* GPAW 1 (5-level): the shared bit is 51; bit 47 is an ordinary private bit */
	struct bringup_opts opts;
	bringup_default_opts(&opts);
	opts.levels = 5;
	opts.gpaw = true;
	fx_init_runnable_max_pa(&f, &opts, 52);
	assert_int_equal(tdx_td_shared_bit(f.b.td), BIT64(51));
	fx_enter(&f, 0);
	assert_int_equal(tdg_mem_page_accept(f.b.vcpu[0], tdx_gpa_info(GPA4K | BIT64(51), 0), &st),
			 TDG_RETURN);
	assert_status(st, TDX_OPERAND_INVALID | OPND_RCX);
	const uint64_t g47 = GPA4K | BIT64(47);
	check_ept_exit(&f, accept(&f, g47, 0, &st), g47, EEQ_ACCEPT, 0);	/* no table */
	fx_fini(&f);
}

/* ---- interruption of a 2M accept ---- */

static void test_interrupted_2m(void **state)
{
	(void)state;
	BANNER("2M ACCEPT interrupted: TDG_INTERRUPTED, still PENDING, resumed it completes");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	uint64_t hpa = aug_dirty_2m(&f, GPA2M);
	struct tdx_vcpu *v = f.b.vcpu[0];
	fx_enter(&f, 0);
	tdx_vcpu_set_interrupt_pending(v, true);
	assert_int_equal(accept(&f, GPA2M, 1, &st), TDG_INTERRUPTED);
	assert_true(tdx_vcpu_in_td(v));		/* an interrupt is not a TD exit */
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_PENDING);
	unsigned z = count_zero_pages(&f, hpa, 512);
	assert_true(z >= 1);		/* it made progress ... */
	assert_true(z < 512);		/* ... but did not finish */
	/* the interrupt handled, the guest re-executes the TDCALL */
	tdx_vcpu_set_interrupt_pending(v, false);
	assert_int_equal(accept(&f, GPA2M, 1, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	assert_int_equal(count_zero_pages(&f, hpa, 512), 512);
	uint64_t got;
	assert_int_equal(tdx_guest_access(v, GPA2M + 0x1ff010, EXITQ_READ, &got), TDG_RETURN);
	assert_int_equal(got, hpa + 0x1ff010);
	fx_leave(&f, 0);
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_MAPPED);
	fx_fini(&f);
}

static void test_interrupted_2m_progress(void **state)
{
	(void)state;
	BANNER("2M ACCEPT with an interrupt always pending: each retry resumes, it finishes "
	       "within 512 TDCALLs");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	uint64_t hpa = aug_dirty_2m(&f, GPA2M);
	struct tdx_vcpu *v = f.b.vcpu[0];
	fx_enter(&f, 0);
	tdx_vcpu_set_interrupt_pending(v, true);
	unsigned calls = 0, prev_zero = 0;
	enum tdg_outcome o;
	do {
		o = accept(&f, GPA2M, 1, &st);
		calls++;
		unsigned z = count_zero_pages(&f, hpa, 512);
		assert_true(z > prev_zero);	/* forward progress on every call */
		prev_zero = z;
		assert_true(calls <= 512);
	} while (o == TDG_INTERRUPTED);
	assert_int_equal(o, TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	assert_true(calls > 1);
	assert_int_equal(prev_zero, 512);
	tdx_vcpu_set_interrupt_pending(v, false);
	fx_leave(&f, 0);
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_MAPPED);
	fx_fini(&f);
}

/* ---- busy and host priority ---- */

static void test_busy_entry_lock(void **state)
{
	(void)state;
	BANNER("entry lock held: OPERAND_BUSY|RCX, nothing changed; released: SUCCESS");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	uint64_t hpa = aug_dirty_4k(&f, GPA4K);
	uint64_t *e = fx_entry(&f, GPA4K, 0);
	fx_enter(&f, 0);
	*e |= SEPTE_LOCK;		/* someone else holds the entry */
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	assert_true(tdx_vcpu_in_td(f.b.vcpu[0]));
	assert_true(*e & SEPTE_LOCK);		/* still theirs */
	assert_false(page_zero(&f, hpa));
	/* 2M accept on a locked 2M entry too */
	*e &= ~SEPTE_LOCK;
	fx_aug(&f, GPA2M + SZ_2M, 1);
	uint64_t *e2 = fx_entry(&f, GPA2M + SZ_2M, 1);
	*e2 |= SEPTE_LOCK;
	assert_int_equal(accept(&f, GPA2M + SZ_2M, 1, &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	*e2 &= ~SEPTE_LOCK;
	/* released */
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	assert_true(page_zero(&f, hpa));
	assert_int_equal(accept(&f, GPA2M + SZ_2M, 1, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	fx_leave(&f, 0);
	fx_fini(&f);
}

static void test_host_priority(void **state)
{
	(void)state;
	BANNER("host priority: HP bit set -> guest OPERAND_BUSY|RCX; a host that loses the "
	       "entry lock sets it, a host that wins clears it");
	struct fx f;
	uint64_t st;
	fx_init_runnable(&f, NULL);
	fx_aug(&f, GPA4K, 0);
	uint64_t *e = fx_entry(&f, GPA4K, 0);

	/* white box: the HP bit alone makes the guest back off */
	fx_enter(&f, 0);
	*e |= SEPTE_HP;
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	assert_false(*e & SEPTE_LOCK);		/* the guest released the lock */
	assert_true(*e & SEPTE_HP);		/* backing off leaves it */
	*e &= ~SEPTE_HP;
	fx_leave(&f, 0);

	/* the real flow: the entry is held (another vCPU), the host loses */
	*e |= SEPTE_LOCK;
	assert_status(tdh_mem_range_block(f.m, &f.out, tdx_gpa_info(GPA4K, 0), f.b.tdr),
		      TDX_OPERAND_BUSY | OPND_RCX);
	assert_true(*e & SEPTE_HP);		/* section 4 step 6 */
	*e &= ~SEPTE_LOCK;			/* the other holder is done */
	fx_enter(&f, 0);
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);	/* the host has priority */
	fx_leave(&f, 0);
	assert_int_equal(fx_pub_state(&f, GPA4K, 0), SEPT_PUB_PENDING);
	/* the host retries and wins: HP cleared */
	fx_block(&f, GPA4K, 0);
	assert_false(*e & SEPTE_HP);
	fx_track(&f);
	assert_status(tdh_mem_range_unblock(f.m, &f.out, tdx_gpa_info(GPA4K, 0), f.b.tdr),
		      TDX_SUCCESS);
	enum tdg_outcome o;
	assert_status(fx_accept(&f, 0, GPA4K, 0, &o), TDX_SUCCESS);
	assert_int_equal(o, TDG_RETURN);
	fx_fini(&f);
}

static void test_hp_busy_timeout(void **state)
{
	(void)state;
	BANNER("guest losing to the host for longer than 1 s: TD exit HOST_PRIORITY_BUSY_TIMEOUT");
	struct fx f;
	uint64_t st;
	const uint64_t saved_clock = seam_direct_clock_ns;
	fx_init_runnable(&f, NULL);
	fx_aug(&f, GPA4K, 0);
	uint64_t *e = fx_entry(&f, GPA4K, 0);
	*e |= SEPTE_HP;
	struct tdx_vcpu *v = f.b.vcpu[0];
	const uint64_t t0 = 5000000000ull;
	seam_direct_clock_ns = t0;
	fx_enter(&f, 0);
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	/* still within the timeout: busy again, the guest stays in */
	for (uint64_t dt = 100000000ull; dt < TDX_HP_LOCK_TIMEOUT_NS; dt += 300000000ull) {
		seam_direct_clock_ns = t0 + dt;
		assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
		assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
		assert_true(tdx_vcpu_in_td(v));
	}
	seam_direct_clock_ns = t0 + TDX_HP_LOCK_TIMEOUT_NS - 1;
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	/* past it: the vCPU exits to the host */
	seam_direct_clock_ns = t0 + TDX_HP_LOCK_TIMEOUT_NS + 1;
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_EXIT);
	assert_false(tdx_vcpu_in_td(v));
	assert_int_equal(tdx_vcpu_exit_regs(v)->rax, TDX_HOST_PRIORITY_BUSY_TIMEOUT);
	fx_track(&f);
	fx_track(&f);
	/* the host finishes its work (clears HP); the guest re-enters and accepts */
	*e &= ~SEPTE_HP;
	fx_enter(&f, 0);
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	fx_leave(&f, 0);
	seam_direct_clock_ns = saved_clock;
	fx_fini(&f);
}

/*
 * Only losing to the HOST counts toward the timeout (module-abi.md section
 * 5: the guest gets OPERAND_BUSY_HOST_PRIORITY when the HP bit is set, and
 * times out if it "keeps losing" that way; intel/tdx-module 1.5
 * td_dispatcher: the timer runs only while the TDCALL status is
 * OPERAND_BUSY_HOST_PRIORITY and is reset by any other status).  A guest
 * that finds the entry lock held (plain OPERAND_BUSY, e.g. another vCPU
 * accepting it) never times out, and such a result restarts the timer.
 */
/* The fixture of the two cases below, freed by the teardown even on failure. */
static struct fx busy_fx;

static int busy_fx_teardown(void **state)
{
	(void)state;
	if (busy_fx.m)
		fx_fini(&busy_fx);
	return 0;
}

static void test_plain_busy_never_times_out(void **state)
{
	(void)state;
	BANNER("entry lock held (no HP bit) for 3 timeouts: always OPERAND_BUSY, never a TD exit");
	struct fx *const fp = &busy_fx;
	uint64_t st;
	const uint64_t saved_clock = seam_direct_clock_ns;
	const uint64_t T = TDX_HP_LOCK_TIMEOUT_NS;
	fx_init_runnable(fp, NULL);
	fx_aug(fp, GPA4K, 0);
	uint64_t *e = fx_entry(fp, GPA4K, 0);
	struct tdx_vcpu *v = fp->b.vcpu[0];
	const uint64_t t0 = 7000000000ull;
	seam_direct_clock_ns = t0;
	fx_enter(fp, 0);
	*e |= SEPTE_LOCK;
	enum tdg_outcome o = TDG_RETURN;
	for (uint64_t dt = 0; dt <= 3 * T && o == TDG_RETURN; dt += T / 2) {
		seam_direct_clock_ns = t0 + dt;
		o = accept(fp, GPA4K, 0, &st);
		if (o == TDG_RETURN)
			assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	}
	*e &= ~SEPTE_LOCK;
	seam_direct_clock_ns = saved_clock;
	if (o != TDG_RETURN)
		print_error("ACCEPT left the TD (RAX %#llx) while only the entry lock was held\n",
			    (unsigned long long)tdx_vcpu_exit_regs(v)->rax);
	assert_int_equal(o, TDG_RETURN);
	assert_true(tdx_vcpu_in_td(v));
	/* released: the accept goes through */
	assert_int_equal(accept(fp, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	fx_leave(fp, 0);
	fx_fini(fp);
}

static void test_plain_busy_restarts_hp_timer(void **state)
{
	(void)state;
	BANNER("HP busy, plain busy, HP busy: the plain busy restarts the host-priority timer");
	struct fx *const fp = &busy_fx;
	uint64_t st;
	const uint64_t saved_clock = seam_direct_clock_ns;
	const uint64_t T = TDX_HP_LOCK_TIMEOUT_NS;
	fx_init_runnable(fp, NULL);
	fx_aug(fp, GPA4K, 0);
	uint64_t *e = fx_entry(fp, GPA4K, 0);
	struct tdx_vcpu *v = fp->b.vcpu[0];
	const uint64_t t1 = 9000000000ull;
	seam_direct_clock_ns = t1;
	fx_enter(fp, 0);
	*e |= SEPTE_HP;
	assert_int_equal(accept(fp, GPA4K, 0, &st), TDG_RETURN);	/* timer starts */
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	*e = (*e & ~SEPTE_HP) | SEPTE_LOCK;
	seam_direct_clock_ns = t1 + T / 2;
	assert_int_equal(accept(fp, GPA4K, 0, &st), TDG_RETURN);	/* plain busy: reset */
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	*e = (*e & ~SEPTE_LOCK) | SEPTE_HP;
	seam_direct_clock_ns = t1 + T + T / 5;	/* > T after the first HP busy */
	enum tdg_outcome o = accept(fp, GPA4K, 0, &st);		/* timer restarts */
	if (o != TDG_RETURN) {
		print_error("ACCEPT timed out although a plain busy came in between\n");
		seam_direct_clock_ns = saved_clock;
	}
	assert_int_equal(o, TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	assert_true(tdx_vcpu_in_td(v));
	seam_direct_clock_ns = t1 + T + T / 5 + T / 2;
	assert_int_equal(accept(fp, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	seam_direct_clock_ns = t1 + 2 * T + T / 2;	/* > T after the restart */
	assert_int_equal(accept(fp, GPA4K, 0, &st), TDG_EXIT);
	assert_int_equal(tdx_vcpu_exit_regs(v)->rax, TDX_HOST_PRIORITY_BUSY_TIMEOUT);
	assert_false(tdx_vcpu_in_td(v));
	*e &= ~SEPTE_HP;
	seam_direct_clock_ns = saved_clock;
	fx_fini(fp);
}

/*
 * Host priority on commit (intel/tdx-module 1.5, sept_manager.c and the
 * leaves that use it): a host call that finds the entry locked sets the HP
 * bit (tdx_locks.h, sept_lock_acquire_host).  The holder's successful commit
 * writes a fresh value or the copy it read right after locking, with HP
 * clear, so it wipes that bit; only an error-path release (sept_lock_release,
 * which resets the lock bit alone) keeps it.  A seam hook plays the losing
 * host call at a chosen instant inside the holder's critical section.
 */
enum hk_when { HK_ACQUIRE, HK_RELEASE, HK_ZERO };

static struct {
	bool armed;
	enum hk_when when;
	enum seam_lock_class cls;
	enum seam_lock_mode mode;
	uint64_t (*call)(struct fx *f, uint64_t gpa, int level);	/* the loser */
	struct fx *f;
	uint64_t gpa;
	int level;
	uint64_t *entry;
	int fired;
	uint64_t status;	/* what the losing call returned */
	bool hp_seen;		/* the entry's HP bit right after it lost */
} hk;

static void hk_fire(void)
{
	hk.armed = false;	/* the nested call takes locks too */
	hk.fired++;
	hk.status = hk.call(hk.f, hk.gpa, hk.level);
	hk.hp_seen = *hk.entry & SEPTE_HP;
}

static void hk_lock(void *ctx, enum seam_lock_class cls, const void *lock,
		    enum seam_lock_mode mode, bool acquire)
{
	(void)ctx;
	(void)lock;
	if (hk.armed && hk.when != HK_ZERO && acquire == (hk.when == HK_ACQUIRE) &&
	    cls == hk.cls && mode == hk.mode)
		hk_fire();
}

static void hk_charge(void *ctx, enum seam_cost kind, uint64_t n)
{
	(void)ctx;
	(void)n;
	if (hk.armed && hk.when == HK_ZERO && kind == SEAM_COST_ZERO_4K)
		hk_fire();
}

static const struct seam_hooks hk_hooks = { .lock = hk_lock, .charge = hk_charge };

/*
 * At the next @when (an acquisition or release of a @cls/@mode lock, or the
 * first 4K zeroing), run @call on @gpa/@level, whose entry in @f is @entry.
 */
static void hk_arm(enum hk_when when, enum seam_lock_class cls, enum seam_lock_mode mode,
		   uint64_t (*call)(struct fx *, uint64_t, int), struct fx *f, uint64_t gpa,
		   int level)
{
	hk.armed = true;
	hk.when = when;
	hk.cls = cls;
	hk.mode = mode;
	hk.call = call;
	hk.f = f;
	hk.gpa = gpa;
	hk.level = level;
	hk.entry = fx_entry(f, gpa, level);
	hk.fired = 0;
	hk.status = ~0ull;
	hk.hp_seen = false;
	seam_install(&hk_hooks);
}

/* Uninstall the hook; the losing call ran once and lost the entry lock. */
static void hk_disarm(void)
{
	seam_install(NULL);
	assert_int_equal(hk.fired, 1);
	assert_status(hk.status, TDX_OPERAND_BUSY | OPND_RCX);
	assert_true(hk.hp_seen);
}

static uint64_t lose_block(struct fx *f, uint64_t gpa, int level)
{
	return tdh_mem_range_block(f->m, &f->out, tdx_gpa_info(gpa, level), f->b.tdr);
}

static uint64_t lose_sept_rd(struct fx *f, uint64_t gpa, int level)
{
	struct tdx_regs o;
	return tdh_mem_sept_rd(f->m, &o, tdx_gpa_info(gpa, level), f->b.tdr);
}

/* The fixture of the cases below, freed (and the hook and clock reset) even on failure. */
static struct fx hp_fx;
static uint64_t hp_saved_clock;

static int hp_fx_teardown(void **state)
{
	(void)state;
	seam_install(NULL);
	seam_direct_clock_ns = hp_saved_clock;
	if (hp_fx.m)
		fx_fini(&hp_fx);
	return 0;
}

static void test_commit_clears_hp(void **state)
{
	(void)state;
	BANNER("a host call loses the entry lock and sets HP; the holder's successful commit "
	       "clears it (ACCEPT, interrupted 2M ACCEPT, AUG, SEPT.ADD)");
	struct fx *const f = &hp_fx;
	hp_saved_clock = seam_direct_clock_ns;
	uint64_t st;
	fx_init_runnable(f, NULL);
	struct tdx_vcpu *v = f->b.vcpu[0];

	/* the guest holds the entry: BLOCK loses while ACCEPT zeroes the page */
	fx_aug(f, GPA4K, 0);
	uint64_t *e = fx_entry(f, GPA4K, 0);
	fx_enter(f, 0);
	hk_arm(HK_ZERO, 0, 0, lose_block, f, GPA4K, 0);
	assert_int_equal(accept(f, GPA4K, 0, &st), TDG_RETURN);
	hk_disarm();
	assert_status(st, TDX_SUCCESS);
	assert_int_equal(septe_state(*e), SEPT_MAPPED);
	assert_false(*e & SEPTE_LOCK);
	if (*e & SEPTE_HP)
		print_error("ACCEPT's commit kept the HP bit of the BLOCK that lost to it\n");
	assert_false(*e & SEPTE_HP);
	fx_block(f, GPA4K, 0);		/* the host's retry */

	/* an interrupted 2M ACCEPT commits its progress the same way */
	const uint64_t g2 = GPA2M + SZ_2M;
	fx_aug(f, g2, 1);
	uint64_t *e2 = fx_entry(f, g2, 1);
	tdx_vcpu_set_interrupt_pending(v, true);
	hk_arm(HK_ZERO, 0, 0, lose_block, f, g2, 1);
	assert_int_equal(accept(f, g2, 1, &st), TDG_INTERRUPTED);
	hk_disarm();
	tdx_vcpu_set_interrupt_pending(v, false);
	assert_int_equal(septe_state(*e2), SEPT_PENDING);
	assert_int_equal((*e2 & SEPTE_ACNT_MASK) >> SEPTE_ACNT_SHIFT, 1);
	assert_false(*e2 & SEPTE_LOCK);
	assert_false(*e2 & SEPTE_HP);
	assert_int_equal(accept(f, g2, 1, &st), TDG_RETURN);	/* resumes and completes */
	assert_status(st, TDX_SUCCESS);
	fx_leave(f, 0);

	/* a host call holds the entry: SEPT.RD loses while AUG locks the page */
	const uint64_t g3 = GPA4K + SZ_4K;
	fx_path(f, g3, 0);
	uint64_t *e3 = fx_entry(f, g3, 0);
	hk_arm(HK_ACQUIRE, SEAM_LOCK_PAMT_PAGE, SEAM_EXCLUSIVE, lose_sept_rd, f, g3, 0);
	assert_status(tdh_mem_page_aug(f->m, &f->out, tdx_gpa_info(g3, 0), f->b.tdr,
				       bringup_page(&f->b)), TDX_SUCCESS);
	hk_disarm();
	assert_int_equal(septe_state(*e3), SEPT_PENDING);
	assert_false(*e3 & SEPTE_LOCK);
	assert_false(*e3 & SEPTE_HP);

	/* ... and while SEPT.ADD locks the new S-EPT page */
	const uint64_t g4 = GPA2M + 2 * SZ_2M;
	fx_path(f, g4, 1);
	uint64_t *e4 = fx_entry(f, g4, 1);
	hk_arm(HK_ACQUIRE, SEAM_LOCK_PAMT_PAGE, SEAM_EXCLUSIVE, lose_sept_rd, f, g4, 1);
	assert_status(tdh_mem_sept_add(f->m, &f->out, tdx_gpa_info(g4, 1), f->b.tdr,
				       bringup_page(&f->b)), TDX_SUCCESS);
	hk_disarm();
	assert_int_equal(septe_state(*e4), SEPT_NL_MAPPED);
	assert_false(*e4 & SEPTE_LOCK);
	assert_false(*e4 & SEPTE_HP);

	/* with the bit gone the guest is not held off: ACCEPT of g3 goes through */
	enum tdg_outcome o;
	assert_status(fx_accept(f, 0, g3, 0, &o), TDX_SUCCESS);
	assert_int_equal(o, TDG_RETURN);
	fx_fini(f);
}

static void test_error_release_keeps_hp(void **state)
{
	(void)state;
	BANNER("an error-path release keeps the HP bit of a host call that lost meanwhile "
	       "(ACCEPT of a MAPPED page, PAGE.REMOVE of an unblocked page)");
	struct fx *const f = &hp_fx;
	hp_saved_clock = seam_direct_clock_ns;
	uint64_t st;
	fx_init_runnable(f, NULL);
	enum tdg_outcome o;
	fx_aug(f, GPA4K, 0);
	assert_status(fx_accept(f, 0, GPA4K, 0, &o), TDX_SUCCESS);
	uint64_t *e = fx_entry(f, GPA4K, 0);

	/* the guest: PAGE_ALREADY_ACCEPTED; SEPT.RD loses just before it unlocks */
	fx_enter(f, 0);
	hk_arm(HK_RELEASE, SEAM_LOCK_SEPT_ENTRY, SEAM_EXCLUSIVE, lose_sept_rd, f, GPA4K, 0);
	assert_int_equal(accept(f, GPA4K, 0, &st), TDG_RETURN);
	hk_disarm();
	assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | TDX_LEVEL_4K);
	assert_false(*e & SEPTE_LOCK);
	assert_true(*e & SEPTE_HP);
	/* the claim stands: the guest backs off until a host call takes the entry */
	assert_int_equal(accept(f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
	fx_leave(f, 0);
	assert_int_equal(fx_pub_state(f, GPA4K, 0), SEPT_PUB_MAPPED);
	assert_false(*e & SEPTE_HP);		/* that host call won: cleared */

	/* a host call: REMOVE fails (not blocked) after SEPT.RD lost to it */
	hk_arm(HK_ACQUIRE, SEAM_LOCK_PAMT_PAGE, SEAM_EXCLUSIVE, lose_sept_rd, f, GPA4K, 0);
	assert_status(tdh_mem_page_remove(f->m, &f->out, tdx_gpa_info(GPA4K, 0), f->b.tdr),
		      TDX_GPA_RANGE_NOT_BLOCKED | OPND_RCX);
	hk_disarm();
	assert_int_equal(septe_state(*e), SEPT_MAPPED);
	assert_false(*e & SEPTE_LOCK);
	assert_true(*e & SEPTE_HP);
	fx_fini(f);
}

/*
 * The host-priority busy timer (td_call in the module's tdx_td_dispatcher.c,
 * the block after its EXIT label): it starts at the first TDCALL that ends
 * in OPERAND_BUSY_HOST_PRIORITY and is reset only when a TDCALL returns to
 * the guest with another status.  An ACCEPT that exits to the host leaves
 * through an asynchronous TD exit that never reaches that block, and VP.ENTER
 * (tdh_vp_enter.c) does not touch the timer, so it keeps running across both.
 */
enum hp_gap { GAP_ACCEPT_ABOVE, GAP_ACCEPT_AT_LEVEL, GAP_OTHER_EXIT, GAP_NR };

static void test_hp_timer_survives_exit_and_enter(void **state)
{
	(void)state;
	BANNER("HP busy, then a TD exit (ACCEPT to the host, or any other) and VP.ENTER, then HP "
	       "busy more than 1 s after the first: HOST_PRIORITY_BUSY_TIMEOUT");
	static const char *const gap_name[GAP_NR] = {
		"an ACCEPT whose walk stops above the level", "an ACCEPT of a FREE entry",
		"a TDVMCALL-like TD exit",
	};
	struct fx *const f = &hp_fx;
	uint64_t st;
	const uint64_t T = TDX_HP_LOCK_TIMEOUT_NS;
	hp_saved_clock = seam_direct_clock_ns;
	fx_init_runnable(f, NULL);
	struct tdx_vcpu *v = f->b.vcpu[0];
	fx_aug(f, GPA4K, 0);
	uint64_t *e = fx_entry(f, GPA4K, 0);
	const uint64_t g_pending2m = GPA2M + SZ_2M;
	fx_aug(f, g_pending2m, 1);
	const uint64_t g_free = GPA4K + SZ_4K;	/* FREE, in GPA4K's table */
	*e |= SEPTE_HP;				/* a host call lost GPA4K and will retry */
	for (int gap = 0; gap < GAP_NR; gap++) {
		print_message("  between the two HP busy results: %s\n", gap_name[gap]);
		const uint64_t t0 = 11000000000ull + (uint64_t)gap * 10 * T;
		seam_direct_clock_ns = t0;
		fx_enter(f, 0);
		assert_int_equal(accept(f, GPA4K, 0, &st), TDG_RETURN);	/* timer starts */
		assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
		assert_true(v->hp_busy);
		seam_direct_clock_ns = t0 + T / 4;
		enum tdg_outcome o = TDG_EXIT;
		if (gap == GAP_ACCEPT_ABOVE)
			o = accept(f, g_pending2m + 0x3000, 0, &st);
		else if (gap == GAP_ACCEPT_AT_LEVEL)
			o = accept(f, g_free, 0, &st);
		else
			fx_leave(f, 0);
		assert_int_equal(o, TDG_EXIT);
		assert_false(tdx_vcpu_in_td(v));
		if (gap != GAP_OTHER_EXIT)
			assert_int_equal(tdx_vcpu_exit_regs(v)->rax, EXIT_EPT_VIOLATION);
		if (!v->hp_busy)
			print_error("the TD exit reset the host-priority timer\n");
		assert_true(v->hp_busy);
		seam_direct_clock_ns = t0 + T / 2;
		fx_enter(f, 0);
		if (!v->hp_busy)
			print_error("VP.ENTER reset the host-priority timer\n");
		assert_true(v->hp_busy);
		assert_int_equal(v->hp_busy_since_ns, t0);
		seam_direct_clock_ns = t0 + T + T / 5;	/* > T after the first HP busy */
		assert_int_equal(accept(f, GPA4K, 0, &st), TDG_EXIT);
		assert_int_equal(tdx_vcpu_exit_regs(v)->rax, TDX_HOST_PRIORITY_BUSY_TIMEOUT);
		assert_false(tdx_vcpu_in_td(v));
		assert_false(v->hp_busy);
	}
	fx_track(f);
	fx_track(f);
	*e &= ~SEPTE_HP;
	seam_direct_clock_ns = hp_saved_clock;
	fx_fini(f);
}

/* TDCALLs that return to the guest with a status other than HP busy. */
enum hp_other {
	OTHER_BAD_LEVEL, OTHER_SHARED_GPA, OTHER_SUCCESS, OTHER_ALREADY_ACCEPTED,
	OTHER_ALREADY_ACCEPTED_ABOVE, OTHER_SIZE_MISMATCH, OTHER_INTERRUPTED, OTHER_NR
};

static void test_hp_timer_reset_by_other_status(void **state)
{
	(void)state;
	BANNER("HP busy, a TDCALL returning any other status (operand error, SUCCESS, "
	       "ALREADY_ACCEPTED, SIZE_MISMATCH, interrupted), HP busy: the timer restarted");
	struct fx *const f = &hp_fx;
	uint64_t st;
	const uint64_t T = TDX_HP_LOCK_TIMEOUT_NS;
	hp_saved_clock = seam_direct_clock_ns;
	fx_init_runnable(f, NULL);
	struct tdx_vcpu *v = f->b.vcpu[0];
	enum tdg_outcome o;
	fx_aug(f, GPA4K, 0);
	uint64_t *e = fx_entry(f, GPA4K, 0);
	const uint64_t g_new = GPA4K + SZ_4K;		/* PENDING, accepted once */
	fx_aug(f, g_new, 0);
	const uint64_t g_mapped = GPA4K + 2 * SZ_4K;	/* MAPPED 4K */
	fx_aug(f, g_mapped, 0);
	assert_status(fx_accept(f, 0, g_mapped, 0, &o), TDX_SUCCESS);
	const uint64_t g_mapped2m = GPA2M + SZ_2M;	/* MAPPED 2M */
	fx_aug(f, g_mapped2m, 1);
	assert_status(fx_accept(f, 0, g_mapped2m, 1, &o), TDX_SUCCESS);
	const uint64_t g_pending2m = GPA2M + 2 * SZ_2M;	/* PENDING 2M, interrupted */
	fx_aug(f, g_pending2m, 1);
	const uint64_t t0 = 31000000000ull;
	seam_direct_clock_ns = t0;
	fx_enter(f, 0);
	*e |= SEPTE_HP;
	for (int k = 0; k < OTHER_NR; k++) {
		const uint64_t t = t0 + (uint64_t)k * 10 * T;
		seam_direct_clock_ns = t;
		assert_int_equal(accept(f, GPA4K, 0, &st), TDG_RETURN);	/* timer starts */
		assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
		assert_true(v->hp_busy);
		seam_direct_clock_ns = t + T / 2;
		o = TDG_RETURN;
		switch (k) {
		case OTHER_BAD_LEVEL:
			o = tdg_mem_page_accept(v, tdx_gpa_info(GPA4K, 2), &st);
			assert_status(st, TDX_OPERAND_INVALID | OPND_RCX);
			break;
		case OTHER_SHARED_GPA:
			o = accept(f, GPA4K | tdx_td_shared_bit(f->b.td), 0, &st);
			assert_status(st, TDX_OPERAND_INVALID | OPND_RCX);
			break;
		case OTHER_SUCCESS:
			o = accept(f, g_new, 0, &st);
			assert_status(st, TDX_SUCCESS);
			break;
		case OTHER_ALREADY_ACCEPTED:
			o = accept(f, g_mapped, 0, &st);
			assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | TDX_LEVEL_4K);
			break;
		case OTHER_ALREADY_ACCEPTED_ABOVE:
			o = accept(f, g_mapped2m + 0x5000, 0, &st);
			assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | TDX_LEVEL_2M);
			break;
		case OTHER_SIZE_MISMATCH:
			o = accept(f, GPA2M, 1, &st);
			assert_status(st, TDX_PAGE_SIZE_MISMATCH | TDX_LEVEL_2M);
			break;
		case OTHER_INTERRUPTED:
			tdx_vcpu_set_interrupt_pending(v, true);
			o = accept(f, g_pending2m, 1, &st);
			tdx_vcpu_set_interrupt_pending(v, false);
			assert_int_equal(o, TDG_INTERRUPTED);
			o = TDG_RETURN;
			break;
		}
		assert_int_equal(o, TDG_RETURN);
		assert_true(tdx_vcpu_in_td(v));
		if (v->hp_busy)
			print_error("case %d did not reset the host-priority timer\n", k);
		assert_false(v->hp_busy);
		seam_direct_clock_ns = t + T + T / 5;	/* > T after the first HP busy */
		assert_int_equal(accept(f, GPA4K, 0, &st), TDG_RETURN);	/* restarted */
		assert_status(st, TDX_OPERAND_BUSY | OPND_RCX);
		assert_true(v->hp_busy);
		assert_int_equal(v->hp_busy_since_ns, t + T + T / 5);
		/* end the run with a reset, as the next case starts the timer afresh */
		assert_int_equal(accept(f, g_mapped, 0, &st), TDG_RETURN);
		assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | TDX_LEVEL_4K);
	}
	*e &= ~SEPTE_HP;
	fx_leave(f, 0);
	seam_direct_clock_ns = hp_saved_clock;
	fx_fini(f);
}

/* ---- guest accesses ---- */

static void test_access_mapped(void **state)
{
	(void)state;
	BANNER("guest access to MAPPED 4K and 2M pages: TDG_RETURN with the HPA (+ offset)");
	struct fx f;
	enum tdg_outcome o;
	uint64_t hpa;
	fx_init_runnable(&f, NULL);
	uint64_t p4 = fx_aug(&f, GPA4K, 0);
	assert_status(fx_accept(&f, 0, GPA4K, 0, &o), TDX_SUCCESS);
	const uint64_t g2 = GPA2M + SZ_2M;
	uint64_t p2 = fx_aug(&f, g2, 1);
	assert_status(fx_accept(&f, 0, g2, 1, &o), TDX_SUCCESS);
	fx_enter(&f, 0);
	struct tdx_vcpu *v = f.b.vcpu[0];
	assert_int_equal(tdx_guest_access(v, GPA4K + 0x123, EXITQ_READ, &hpa), TDG_RETURN);
	assert_int_equal(hpa, p4 + 0x123);
	assert_int_equal(tdx_guest_access(v, GPA4K, EXITQ_WRITE, &hpa), TDG_RETURN);
	assert_int_equal(hpa, p4);
	assert_int_equal(tdx_guest_access(v, g2 + 0x12345, EXITQ_WRITE, &hpa), TDG_RETURN);
	assert_int_equal(hpa, p2 + 0x12345);
	assert_int_equal(tdx_guest_access(v, g2 + SZ_2M - 8, EXITQ_FETCH, &hpa), TDG_RETURN);
	assert_int_equal(hpa, p2 + SZ_2M - 8);
	assert_true(tdx_vcpu_in_td(v));
	fx_leave(&f, 0);
	fx_fini(&f);
}

static void test_access_pending_ve_disabled(void **state)
{
	(void)state;
	BANNER("guest access to a PENDING page, SEPT_VE_DISABLE=1: exit type PENDING_EPT_VIOLATION");
	struct fx f;
	uint64_t hpa = 0;
	fx_init_runnable(&f, NULL);
	assert_true(f.o.sept_ve_disable);
	fx_aug(&f, GPA4K, 0);
	fx_aug(&f, GPA2M + SZ_2M, 1);
	const uint64_t ga[] = { GPA4K + 0x10, GPA2M + SZ_2M + 0x12345 };
	for (size_t i = 0; i < 2; i++) {
		fx_enter(&f, 0);
		enum tdg_outcome o = tdx_guest_access(f.b.vcpu[0], ga[i], EXITQ_WRITE, &hpa);
		check_ept_exit(&f, o, ga[i], EEQ_PENDING_EPT_VIOL, 0);
		/* VMX exit qualification bit 1: a data write */
		assert_true(tdx_vcpu_exit_regs(f.b.vcpu[0])->rcx & EXITQ_WRITE);
	}
	fx_fini(&f);
}

static void test_access_pending_ve(void **state)
{
	(void)state;
	BANNER("guest access to a PENDING page, SEPT_VE_DISABLE=0: #VE, the vCPU stays in the TD");
	struct fx f;
	struct bringup_opts opts;
	uint64_t hpa = 0;
	bringup_default_opts(&opts);
	opts.sept_ve_disable = false;
	fx_init_runnable(&f, &opts);
	fx_aug(&f, GPA4K, 0);
	fx_aug(&f, GPA2M + SZ_2M, 1);
	struct tdx_vcpu *v = f.b.vcpu[0];
	const uint64_t ga[] = { GPA4K + 0x10, GPA2M + SZ_2M + 0x12345 };
	fx_enter(&f, 0);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(tdx_guest_access(v, ga[i], EXITQ_READ, &hpa), TDG_VE);
		assert_true(tdx_vcpu_in_td(v));
		const struct tdx_ve_info *ve = tdx_vcpu_ve(v);
		assert_int_equal(ve->exit_reason, EXIT_EPT_VIOLATION);
		assert_int_equal(ve->gpa, ga[i]);
		/* the #VE handler reads it first, or the next #VE is a #DF */
		struct tdx_regs r;
		assert_status(tdg_vp_veinfo_get(v, &r), TDX_SUCCESS);
		assert_int_equal(r.r9, ga[i]);
	}
	/* the #VE handler accepts, then the access goes through */
	uint64_t st;
	assert_int_equal(accept(&f, GPA4K, 0, &st), TDG_RETURN);
	assert_status(st, TDX_SUCCESS);
	assert_int_equal(tdx_guest_access(v, ga[0], EXITQ_READ, &hpa), TDG_RETURN);
	fx_leave(&f, 0);
	fx_fini(&f);
}

static void test_access_not_present(void **state)
{
	(void)state;
	BANNER("guest access to FREE / missing / BLOCKED / PENDING_BLOCKED: exit with EEQ type 0 "
	       "(also with SEPT_VE_DISABLE=0)");
	for (int ve_disable = 1; ve_disable >= 0; ve_disable--) {
		struct fx f;
		struct bringup_opts opts;
		enum tdg_outcome o;
		uint64_t hpa = 0;
		bringup_default_opts(&opts);
		opts.sept_ve_disable = ve_disable;
		fx_init_runnable(&f, &opts);
		const uint64_t g_free = GPA4K;
		const uint64_t g_missing = 5 * SZ_1G + 0x4321;
		const uint64_t g_blocked = GPA4K + SZ_4K;
		const uint64_t g_pb = GPA4K + 2 * SZ_4K;
		const uint64_t g_blocked2m = GPA2M + SZ_2M + 0x1234;
		fx_path(&f, g_free, 0);
		fx_aug(&f, g_blocked, 0);
		assert_status(fx_accept(&f, 0, g_blocked, 0, &o), TDX_SUCCESS);
		fx_block(&f, g_blocked, 0);
		fx_aug(&f, g_pb, 0);
		fx_block(&f, g_pb, 0);
		fx_aug(&f, g_blocked2m & ~(SZ_2M - 1), 1);
		assert_status(fx_accept(&f, 0, g_blocked2m & ~(SZ_2M - 1), 1, &o), TDX_SUCCESS);
		fx_block(&f, g_blocked2m & ~(SZ_2M - 1), 1);
		const uint64_t ga[] = { g_free, g_free + 0xabc, g_missing, g_blocked + 8, g_pb,
					g_blocked2m };
		for (size_t i = 0; i < sizeof(ga) / sizeof(ga[0]); i++) {
			fx_enter(&f, 0);
			o = tdx_guest_access(f.b.vcpu[0], ga[i], EXITQ_READ, &hpa);
			check_ept_exit(&f, o, ga[i], 0, 0);
		}
		fx_fini(&f);
	}
}

/* ---- the read-only S-EPT walk (tdx_td_sept_for_each_leaf, for tdxsim map) ---- */

struct leaves {
	struct tdx_sept_leaf l[16];
	int n;
	int stop_after;		/* return 1 at this many leaves (0: never) */
};

static int collect_leaf(void *arg, const struct tdx_sept_leaf *l)
{
	struct leaves *v = arg;
	if (v->n < 16)
		v->l[v->n] = *l;
	v->n++;
	return v->stop_after && v->n == v->stop_after;
}

static void test_sept_for_each_leaf(void **state)
{
	(void)state;
	BANNER("the read-only S-EPT walk: every leaf in GPA order with its level and state, "
	       "nothing for FREE entries, a nonzero return stops it");
	struct fx f;
	enum tdg_outcome o;
	fx_init_runnable(&f, NULL);
	struct leaves v = { .n = 0 };
	assert_int_equal(tdx_td_sept_for_each_leaf(tdx_td_by_tdr(f.m, f.b.tdr), collect_leaf, &v), 0);
	assert_int_equal(v.n, 0);	/* SEPT.ADDs alone map nothing */
	/* 2M MAPPED; then 4K: two MAPPED, one PENDING, one BLOCKED */
	const uint64_t g4 = GPA2M + SZ_2M;
	fx_aug(&f, GPA2M, 1);
	assert_status(fx_accept(&f, 0, GPA2M, 1, &o), TDX_SUCCESS);
	for (uint64_t p = 0; p < 4; p++)
		fx_aug(&f, g4 + p * SZ_4K, 0);
	assert_status(fx_accept(&f, 0, g4, 0, &o), TDX_SUCCESS);
	assert_status(fx_accept(&f, 0, g4 + SZ_4K, 0, &o), TDX_SUCCESS);
	assert_status(fx_accept(&f, 0, g4 + 3 * SZ_4K, 0, &o), TDX_SUCCESS);
	fx_block(&f, g4 + 3 * SZ_4K, 0);
	uint64_t child = tdx_td_child_count(tdx_td_by_tdr(f.m, f.b.tdr));
	v.n = 0;
	assert_int_equal(tdx_td_sept_for_each_leaf(tdx_td_by_tdr(f.m, f.b.tdr), collect_leaf, &v), 0);
	assert_int_equal(v.n, 5);
	static const struct {
		uint64_t gpa;
		int level;
		const char *state;
	} want[] = {
		{ GPA2M, 1, "MAPPED" },
		{ GPA2M + SZ_2M, 0, "MAPPED" },
		{ GPA2M + SZ_2M + SZ_4K, 0, "MAPPED" },
		{ GPA2M + SZ_2M + 2 * SZ_4K, 0, "PENDING" },
		{ GPA2M + SZ_2M + 3 * SZ_4K, 0, "BLOCKED" },
	};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(v.l[i].gpa, want[i].gpa);
		assert_int_equal(v.l[i].level, want[i].level);
		assert_string_equal(tdx_sept_state_name(v.l[i].state), want[i].state);
		assert_false(v.l[i].locked);
		assert_int_not_equal(v.l[i].hpa, 0);
	}
	assert_string_equal(tdx_sept_state_name(99), "?");
	/* a callback's nonzero return ends the walk with that value */
	v = (struct leaves){ .stop_after = 2 };
	assert_int_equal(tdx_td_sept_for_each_leaf(tdx_td_by_tdr(f.m, f.b.tdr), collect_leaf, &v), 1);
	assert_int_equal(v.n, 2);
	/* read-only: nothing was allocated or changed on the way */
	assert_int_equal(tdx_td_child_count(tdx_td_by_tdr(f.m, f.b.tdr)), child);
	assert_int_equal(fx_pub_state(&f, GPA2M, 1), SEPT_PUB_MAPPED);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_4k_zeroes),
		cmocka_unit_test(test_accept_2m_zeroes),
		cmocka_unit_test(test_already_accepted),
		cmocka_unit_test(test_size_mismatch),
		cmocka_unit_test(test_exit_4k_in_pending_2m),
		cmocka_unit_test(test_exit_free),
		cmocka_unit_test(test_exit_missing_table),
		cmocka_unit_test(test_exit_blocked),
		cmocka_unit_test(test_operand_invalid),
		cmocka_unit_test(test_interrupted_2m),
		cmocka_unit_test(test_interrupted_2m_progress),
		cmocka_unit_test(test_busy_entry_lock),
		cmocka_unit_test(test_host_priority),
		cmocka_unit_test(test_hp_busy_timeout),
		cmocka_unit_test_teardown(test_plain_busy_never_times_out, busy_fx_teardown),
		cmocka_unit_test_teardown(test_plain_busy_restarts_hp_timer, busy_fx_teardown),
		cmocka_unit_test_teardown(test_commit_clears_hp, hp_fx_teardown),
		cmocka_unit_test_teardown(test_error_release_keeps_hp, hp_fx_teardown),
		cmocka_unit_test_teardown(test_hp_timer_survives_exit_and_enter, hp_fx_teardown),
		cmocka_unit_test_teardown(test_hp_timer_reset_by_other_status, hp_fx_teardown),
		cmocka_unit_test(test_access_mapped),
		cmocka_unit_test(test_access_pending_ve_disabled),
		cmocka_unit_test(test_access_pending_ve),
		cmocka_unit_test(test_access_not_present),
		cmocka_unit_test(test_sept_for_each_leaf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
