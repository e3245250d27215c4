/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testlib.h"

/*
 * Status codes this test program asserted and saw, appended at exit to the
 * file named by TDXSIM_STATUS_LOG (scripts/run-tests sets it); the
 * status-coverage test checks that every code of tdx_status_catalog is
 * there.
 */
#define MAX_SEEN 128
static uint64_t seen[MAX_SEEN];
static int nseen;
static bool log_registered;

static void write_seen(void)
{
	const char *path = getenv("TDXSIM_STATUS_LOG");
	if (!path)
		return;
	FILE *fp = fopen(path, "a");
	if (!fp)
		return;
	for (int i = 0; i < nseen; i++)
		fprintf(fp, "%#" PRIx64 "\n", seen[i]);
	fclose(fp);
}

static void record_seen(uint64_t status)
{
	uint64_t code = tdx_status_code(status);
	for (int i = 0; i < nseen; i++)
		if (seen[i] == code)
			return;
	if (nseen < MAX_SEEN)
		seen[nseen++] = code;
	if (!log_registered) {
		log_registered = true;
		atexit(write_seen);
	}
}

void assert_status_impl(uint64_t got, uint64_t want, const char *file, int line)
{
	if (got == want) {
		record_seen(got);
		return;
	}
	print_error("%s:%d: status %#" PRIx64 " (%s|%#x), expected %#" PRIx64 " (%s|%#x)\n",
		    file, line, got, tdx_status_name(got), tdx_status_operand(got), want,
		    tdx_status_name(want), tdx_status_operand(want));
	fail();
}

void fx_init(struct fx *f, const struct bringup_opts *o)
{
	fx_init_cfg(f, NULL, o);
}

void fx_init_cfg(struct fx *f, const struct tdx_module_config *c, const struct bringup_opts *o)
{
	struct tdx_module_config cfg;
	if (c)
		cfg = *c;
	else
		tdx_module_default_config(&cfg);
	if (o && o->levels == 5)
		cfg.max_pa = 52;	/* 5-level S-EPT needs MAX_PA >= 49 */
	f->m = tdx_module_create(&cfg);
	assert_non_null(f->m);
	f->pm = tdx_module_physmem(f->m);
	bringup_init(&f->b, f->m);
	if (o)
		f->o = *o;
	else
		bringup_default_opts(&f->o);
	if (bringup_td(&f->b, &f->o)) {
		print_error("bringup failed at %s: %s\n", f->b.last_leaf,
			    tdx_status_name(f->b.last_status));
		fail();
	}
}

void fx_init_runnable(struct fx *f, const struct bringup_opts *o)
{
	fx_init(f, o);
	assert_status(tdh_mr_finalize(f->m, &f->out, f->b.tdr), TDX_SUCCESS);
}

void fx_fini(struct fx *f)
{
	tdx_module_destroy(f->m);
	f->m = NULL;
}

void fx_path(struct fx *f, uint64_t gpa, int level)
{
	if (bringup_sept_path(&f->b, gpa, level)) {
		print_error("SEPT.ADD path failed: %s\n", tdx_status_name(f->b.last_status));
		fail();
	}
}

uint64_t fx_aug(struct fx *f, uint64_t gpa, int level)
{
	fx_path(f, gpa, level);
	uint64_t hpa = level ? bringup_page_2m(&f->b) : bringup_page(&f->b);
	assert_status(tdh_mem_page_aug(f->m, &f->out, tdx_gpa_info(gpa, level), f->b.tdr, hpa),
		      TDX_SUCCESS);
	return hpa;
}

uint64_t fx_add(struct fx *f, uint64_t gpa)
{
	fx_path(f, gpa, 0);
	uint64_t hpa = bringup_page(&f->b);
	assert_status(tdh_mem_page_add(f->m, &f->out, tdx_gpa_info(gpa, 0), f->b.tdr, hpa,
				       f->b.shared_page), TDX_SUCCESS);
	return hpa;
}

void fx_enter(struct fx *f, int i)
{
	assert_status(tdh_vp_enter(f->m, &f->out, f->b.tdvpr[i]), TDX_SUCCESS);
}

void fx_leave(struct fx *f, int i)
{
	if (tdx_vcpu_in_td(f->b.vcpu[i]))
		tdx_td_exit(f->b.vcpu[i], EXIT_REASON_TDCALL, 0, 0);
}

uint64_t fx_accept(struct fx *f, int i, uint64_t gpa, int level, enum tdg_outcome *o)
{
	uint64_t st = ~0ull;
	bool was_in = tdx_vcpu_in_td(f->b.vcpu[i]);
	if (!was_in)
		fx_enter(f, i);
	enum tdg_outcome r = tdg_mem_page_accept(f->b.vcpu[i], tdx_gpa_info(gpa, level), &st);
	if (o)
		*o = r;
	if (!was_in)
		fx_leave(f, i);
	return st;
}

void fx_block(struct fx *f, uint64_t gpa, int level)
{
	assert_status(tdh_mem_range_block(f->m, &f->out, tdx_gpa_info(gpa, level), f->b.tdr),
		      TDX_SUCCESS);
}

void fx_track(struct fx *f)
{
	assert_status(tdh_mem_track(f->m, &f->out, f->b.tdr), TDX_SUCCESS);
}

unsigned fx_pub_state(struct fx *f, uint64_t gpa, int level)
{
	struct tdx_regs o;
	assert_status(tdh_mem_sept_rd(f->m, &o, tdx_gpa_info(gpa, level), f->b.tdr), TDX_SUCCESS);
	return (unsigned)((o.rdx >> 8) & 0xff);
}

uint64_t *fx_entry(struct fx *f, uint64_t gpa, int level)
{
	int reached;
	uint64_t cur;
	uint64_t *e = sept_walk(f->b.td, gpa, level, &reached, &cur);
	assert_int_equal(reached, level);
	return e;
}

uint64_t test_seed(void)
{
	const char *s = getenv("TDXSIM_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	print_message("  seed=%" PRIu64 " (rerun with TDXSIM_SEED=%" PRIu64 ")\n", seed, seed);
	return seed;
}

/* splitmix64 */
uint64_t test_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t test_pamt_in_use(struct tdx_module *m)
{
	struct physmem *pm = tdx_module_physmem(m);
	uint64_t n = 0;
	for (uint64_t i = 0; i < pm->n1g; i++) {
		struct phys_1g *g = pm->c1g[i];
		if (!g)
			continue;
		n += g->pamt1g.type != PT_NDA;
		for (unsigned j = 0; j < 512; j++) {
			n += g->pamt2m[j].type != PT_NDA;
			struct phys_2m *c = g->c2m[j];
			for (unsigned q = 0; c && c->pamt4k && q < 512; q++)
				n += c->pamt4k[q].type != PT_NDA;
		}
	}
	return n;
}

uint64_t fx_page_1g(struct fx *f)
{
	uint64_t prev = 0;
	int run = 0;
	for (int n = 0; n < 4096; n++) {
		uint64_t p = bringup_page_2m(&f->b);
		run = (prev && p == prev - SZ_2M) ? run + 1 : 1;
		prev = p;
		if (run >= 512 && !(p & (SZ_1G - 1)))
			return p;
	}
	fail_msg("no 1G-aligned gigabyte left in the TDMR");
	return 0;
}

uint64_t fx_huge_leaf(struct fx *f, uint64_t gpa, int level, bool accepted)
{
	bool runnable = tdx_td_op_state(f->b.td) == OP_STATE_RUNNABLE;
	uint64_t step = tdx_level_size(level - 1);
	uint64_t base = level == 1 ? bringup_page_2m(&f->b) : fx_page_1g(f);
	fx_path(f, gpa, level - 1);
	for (int i = 0; i < 512; i++) {
		uint64_t g = gpa + (uint64_t)i * step, h = base + (uint64_t)i * step;
		if (accepted && !runnable) {
			assert_int_equal(level, 1);	/* PAGE.ADD is 4K only */
			assert_status(tdh_mem_page_add(f->m, &f->out, tdx_gpa_info(g, 0), f->b.tdr,
						       h, f->b.shared_page), TDX_SUCCESS);
			continue;
		}
		assert_status(tdh_mem_page_aug(f->m, &f->out, tdx_gpa_info(g, level - 1), f->b.tdr,
					       h), TDX_SUCCESS);
		if (accepted)
			assert_status(fx_accept(f, 0, g, level - 1, NULL), TDX_SUCCESS);
	}
	if (runnable) {
		fx_block(f, gpa, level);
		fx_track(f);
	}
	assert_status(tdh_mem_page_promote(f->m, &f->out, 0, tdx_gpa_info(gpa, level), f->b.tdr),
		      TDX_SUCCESS);
	return base;
}

void fx_demote(struct fx *f, uint64_t gpa, int level)
{
	if (tdx_td_op_state(f->b.td) == OP_STATE_RUNNABLE) {
		fx_block(f, gpa, level);
		fx_track(f);
	}
	assert_status(tdh_mem_page_demote(f->m, &f->out, tdx_gpa_info(gpa, level), f->b.tdr,
					  bringup_page(&f->b), 0, 0), TDX_SUCCESS);
}
