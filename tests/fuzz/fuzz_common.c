/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.c - the harnesses' invariant check and module teardown
 * (fuzz_common.h).  White box: reads the module's PAMT, S-EPT pages and TD
 * records directly, as tests/testlib.c does, with no lock and no seam
 * operation, so it may run between any two calls of the direct driver.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "../../src/host/hostmem.h"
#include "../../src/host/kvm.h"
#include "../../src/module/internal.h"

char fuzz_last_call[128];

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "tdxsim fuzz: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

/* What a check found wrong: the first message wins. */
struct chk {
	struct tdx_module *m;
	struct hostmem *hm;
	char *msg;
	size_t len;
	int bad;
	/* per TD id (index id; 0 unused), from the PAMT */
	uint64_t *units;	/* 4K units owned, TDR excluded: the child count */
	uint64_t *reg;		/* ... of them PT_REG */
	uint64_t *ept;		/* PT_EPT pages */
	/* from the S-EPT walk of the TD being walked */
	uint64_t mapped_units, tables, leaves;
	struct { uint64_t hpa, size; } *maps;
	size_t nmaps, capmaps;
};

static void bad(struct chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct chk *c, const char *fmt, ...)
{
	if (c->bad++)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, c->len, fmt, ap);
	va_end(ap);
}

/*
 * Holders a PAMT entry's lock may have between calls: each vCPU inside
 * its TD keeps its TDVPR and its TDR (and their parents' entries) shared
 * from VP.ENTER to the TD exit.  Nothing else is held.
 */
static uint32_t expected_holds(struct tdx_module *m, const struct pamt_entry *e)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < m->ntds; i++) {
		struct tdx_td *td = m->tds[i];
		for (uint32_t j = 0; td && j < td->nvcpus; j++) {
			struct tdx_vcpu *v = td->vcpus[j];
			if (!v || !v->in_td)
				continue;
			const struct pamt_lock *pl[2] = { &v->enter_tdvpr, &v->enter_tdr };
			for (int k = 0; k < 2; k++)
				n += (pl[k]->leaf == e) + (pl[k]->p2m == e) + (pl[k]->p1g == e);
		}
	}
	return n;
}

/* One PAMT entry in use (or locked): owner, type and size rules, accounting. */
static void pamt_one(struct chk *c, const struct pamt_entry *e, uint64_t hpa, int size)
{
	struct tdx_module *m = c->m;
	uint32_t want = e->lock.v ? expected_holds(m, e) : 0;
	if (e->lock.v != want)
		bad(c, "PAMT entry of %#" PRIx64 " (size %d) lock %#x, expected %u shared holders "
		    "(a lock left held)", hpa, size, e->lock.v, want);
	if (e->type == PT_NDA)
		return;
	if (e->type == PT_PAMT) {
		if (size != PAMT_2M)
			bad(c, "PT_PAMT at %#" PRIx64 " size %d", hpa, size);
		return;
	}
	struct tdx_td *td = e->owner ? td_lookup(m, e->owner) : NULL;
	if (!td) {
		bad(c, "PAMT entry of %#" PRIx64 " type %u owned by %u, no such TD", hpa,
		    e->type, e->owner);
		return;
	}
	if (c->hm) {
		uint64_t n = size == PAMT_4K ? 1 : size == PAMT_2M ? 512 : 512 * 512;
		for (uint64_t i = 0; i < n; i += size == PAMT_1G ? 512 : 1)
			if (!hostmem_is_allocated(c->hm, hpa + i * SZ_4K))
				bad(c, "page %#" PRIx64 " of TD %u is free in the host's allocator",
				    (uint64_t)(hpa + i * SZ_4K), e->owner);
	}
	switch (e->type) {
	case PT_TDR:
		if (size != PAMT_4K || td->tdr != hpa)
			bad(c, "PT_TDR %#" PRIx64 " (size %d) is not TD %u's TDR %#" PRIx64, hpa,
			    size, e->owner, td->tdr);
		return;
	case PT_REG:
		c->reg[e->owner] += 1ull << (9 * size);
		break;
	case PT_EPT:
	case PT_TDCX:
	case PT_TDVPR:
		if (size != PAMT_4K)
			bad(c, "control page %#" PRIx64 " type %u at size %d", hpa, e->type, size);
		c->ept[e->owner] += e->type == PT_EPT;
		break;
	default:
		bad(c, "PAMT entry of %#" PRIx64 " has type %u", hpa, e->type);
		return;
	}
	c->units[e->owner] += 1ull << (9 * size);
}

/* Nothing in use below a large page (a page found at one size only). */
static void pamt_below_free(struct chk *c, const struct phys_1g *g, int from, int to,
			    uint64_t hpa)
{
	for (int j = from; j < to; j++) {
		const struct phys_2m *p = g->c2m[j];
		if (to - from > 1 && g->pamt2m[j].type != PT_NDA)
			bad(c, "2M entry %#" PRIx64 " in use under a 1G page", hpa);
		for (int q = 0; p && p->pamt4k && q < 512; q++)
			if (p->pamt4k[q].type != PT_NDA)
				bad(c, "4K entry of %#" PRIx64 " in use under the large page %#" PRIx64,
				    (uint64_t)(((hpa >> 30) << 30) + (uint64_t)j * SZ_2M + (uint64_t)q * SZ_4K),
				    hpa);
	}
}

static void pamt_scan(struct chk *c)
{
	struct physmem *pm = &c->m->pm;
	for (uint64_t i = 0; i < pm->n1g; i++) {
		const struct phys_1g *g = pm->c1g[i];
		uint64_t base = i << 30;
		if (!g)
			continue;
		pamt_one(c, &g->pamt1g, base, PAMT_1G);
		if (g->pamt1g.type == PT_REG)
			pamt_below_free(c, g, 0, 512, base);
		for (int j = 0; j < 512; j++) {
			const struct pamt_entry *e2 = &g->pamt2m[j];
			const struct phys_2m *p = g->c2m[j];
			uint64_t hpa2 = base + (uint64_t)j * SZ_2M;
			pamt_one(c, e2, hpa2, PAMT_2M);
			if (e2->type != PT_NDA && e2->type != PT_PAMT)
				pamt_below_free(c, g, j, j + 1, hpa2);
			if (!p)
				continue;
			if (pm->dynamic_pamt && (e2->type == PT_PAMT) != (p->pamt4k != NULL))
				bad(c, "2M range %#" PRIx64 ": type %u but 4K PAMT %p", hpa2, e2->type,
				    (void *)p->pamt4k);
			for (int q = 0; p->pamt4k && q < 512; q++)
				if (p->pamt4k[q].type != PT_NDA || p->pamt4k[q].lock.v)
					pamt_one(c, &p->pamt4k[q], hpa2 + (uint64_t)q * SZ_4K, PAMT_4K);
			for (int q = 0; c->hm && q < 512; q++)
				if ((p->pamt_pages[q / 64] >> (q % 64)) & 1 &&
				    !hostmem_is_allocated(c->hm, hpa2 + (uint64_t)q * SZ_4K))
					bad(c, "PAMT pair page %#" PRIx64 " is free in the host's allocator",
					    (uint64_t)(hpa2 + (uint64_t)q * SZ_4K));
		}
	}
}

static void add_map(struct chk *c, uint64_t hpa, uint64_t size)
{
	if (c->nmaps == c->capmaps) {
		c->capmaps = c->capmaps ? 2 * c->capmaps : 256;
		c->maps = realloc(c->maps, c->capmaps * sizeof(*c->maps));
		if (!c->maps)
			fuzz_fail("out of memory");
	}
	c->maps[c->nmaps].hpa = hpa;
	c->maps[c->nmaps++].size = size;
}

/*
 * One S-EPT page of @td at @level: every entry unlocked and in a known
 * state; a table is a PT_EPT page of the TD (walked further, blocked or
 * not), a page-mapping leaf a PT_REG page of the TD found at the leaf's
 * size.
 */
static void sept_scan(struct chk *c, struct tdx_td *td, uint64_t table, int level, uint64_t gpa)
{
	uint64_t w[512];
	physmem_read(&c->m->pm, table, w, sizeof(w));
	for (int i = 0; i < 512 && !c->bad; i++) {
		uint64_t e = w[i], g = gpa + ((uint64_t)i << (12 + 9 * level));
		enum sept_state s = septe_state(e);
		uint64_t hpa = septe_hpa(e);
		if (e & SEPTE_LOCK)
			bad(c, "TD %u S-EPT entry of GPA %#" PRIx64 " level %d left locked", td->id, g,
			    level);
		if (s >= SEPT_NR_STATES) {
			bad(c, "TD %u S-EPT entry of GPA %#" PRIx64 " has state %u", td->id, g, s);
			return;
		}
		if (s == SEPT_FREE || s == SEPT_REMOVED)
			continue;
		if (s == SEPT_NL_MAPPED || s == SEPT_NL_BLOCKED) {
			const struct pamt_entry *pe = pamt_entry_peek(&c->m->pm, hpa, PAMT_4K);
			if (level == 0 || !pe || pe->type != PT_EPT || pe->owner != td->id) {
				bad(c, "TD %u S-EPT table of GPA %#" PRIx64 " level %d at %#" PRIx64
				    " is not a PT_EPT page of the TD", td->id, g, level, hpa);
				return;
			}
			c->tables++;
			sept_scan(c, td, hpa, level - 1, g);
			continue;
		}
		const struct pamt_entry *pe = level <= PAMT_1G ? pamt_entry_peek(&c->m->pm, hpa, (enum pamt_size)level) : NULL;
		if (!pe || pe->type != PT_REG || pe->owner != td->id ||
		    (hpa & (tdx_level_size(level) - 1))) {
			bad(c, "TD %u S-EPT leaf of GPA %#" PRIx64 " level %d maps %#" PRIx64
			    ", not a PT_REG page of the TD at that size", td->id, g, level, hpa);
			return;
		}
		c->mapped_units += 1ull << (9 * level);
		c->leaves++;
		add_map(c, hpa, tdx_level_size(level));
	}
}

static int map_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The mirror against the S-EPT (a live VM between calls). */
struct mirror_walk {
	struct chk *c;
	struct tdx_td *td;
	uint64_t leaves;
};

static int mirror_leaf(void *arg, const struct kvm_mirror_leaf *l)
{
	struct mirror_walk *mw = arg;
	struct chk *c = mw->c;
	if (l->frozen) {
		bad(c, "mirror SPTE of GPA %#" PRIx64 " frozen between calls", l->gpa);
		return 1;
	}
	if (l->premap)
		return 0;	/* pre-faulted, not yet in the S-EPT (prefault flow) */
	int reached;
	uint64_t cur;
	sept_walk(mw->td, l->gpa, l->level, &reached, &cur);
	enum sept_state s = septe_state(cur);
	if (reached != l->level || (s != SEPT_MAPPED && s != SEPT_PENDING) ||
	    septe_hpa(cur) != l->hpa) {
		bad(c, "mirror leaf GPA %#" PRIx64 " level %d -> %#" PRIx64 ", S-EPT has level %d "
		    "state %s -> %#" PRIx64, l->gpa, l->level, l->hpa, reached,
		    s < SEPT_NR_STATES ? sept_state_names[s] : "?", septe_hpa(cur));
		return 1;
	}
	mw->leaves++;
	return 0;
}

static void td_scan(struct chk *c, struct tdx_td *td, struct kvm_vm *vm)
{
	struct tdx_module *m = c->m;
	if (td->child_count != c->units[td->id])
		bad(c, "TD %u child count %" PRIu64 ", the PAMT gives it %" PRIu64 " 4K units",
		    td->id, td->child_count, c->units[td->id]);
	/* keys (the KOT) */
	enum hkid_state want = td->lifecycle == TD_TEARDOWN ? HKID_FREE :
			       td->lifecycle == TD_BLOCKED ? HKID_FLUSHED : HKID_ASSIGNED;
	if (td->lifecycle != TD_TEARDOWN && m->hkid_state[td->hkid] != want)
		bad(c, "TD %u (lifecycle %d) key %u in state %u", td->id, td->lifecycle, td->hkid,
		    m->hkid_state[td->hkid]);
	for (uint32_t i = 0; i < m->ntds; i++) {
		struct tdx_td *o = m->tds[i];
		if (o && o != td && o->lifecycle != TD_TEARDOWN && td->lifecycle != TD_TEARDOWN &&
		    o->hkid == td->hkid)
			bad(c, "TDs %u and %u share key %u", td->id, o->id, td->hkid);
	}
	/* vCPUs: associations and TLB epochs */
	uint64_t in[2] = { 0, 0 }, assoc = 0;
	for (uint32_t j = 0; j < td->nvcpus; j++) {
		struct tdx_vcpu *v = td->vcpus[j];
		if (!v)
			continue;
		assoc += v->associated;
		if (v->in_td)
			in[v->epoch & 1]++;
		if (v->in_td && !v->associated)
			bad(c, "TD %u vCPU %u inside the TD but not associated", td->id, j);
		if (v->in_td && (!v->enter_tdvpr.leaf || !v->enter_tdr.leaf ||
				 !v->enter_tdvpr.leaf->lock.v || !v->enter_tdr.leaf->lock.v))
			bad(c, "TD %u vCPU %u inside the TD without its TDVPR and TDR held", td->id, j);
	}
	if (td->num_tdcx < TDX_TDCS_PAGES)
		return;
	if (assoc != td->num_assoc_vcpus)
		bad(c, "TD %u has %" PRIu64 " associated vCPUs, counts %u", td->id, assoc,
		    td->num_assoc_vcpus);
	if (td->refcount[0] != in[0] || td->refcount[1] != in[1])
		bad(c, "TD %u epoch refcounts %" PRIu64 "/%" PRIu64 ", vCPUs inside %" PRIu64
		    "/%" PRIu64, td->id, td->refcount[0], td->refcount[1], in[0], in[1]);
	if (td->op_state_lock.v || td->sept_lock.v || td->epoch_lock.v)
		bad(c, "TD %u lock left held (op state %#x, S-EPT tree %#x, epoch %#x)", td->id,
		    td->op_state_lock.v, td->sept_lock.v, td->epoch_lock.v);
	/* in TEARDOWN the S-EPT pages are being reclaimed: nothing left to walk */
	if (td->lifecycle == TD_TEARDOWN || !td->root)
		return;
	c->mapped_units = c->tables = c->leaves = 0;
	c->nmaps = 0;
	sept_scan(c, td, td->root, td->root_level, 0);
	if (c->bad)
		return;
	if (c->tables != c->ept[td->id])
		bad(c, "TD %u S-EPT has %" PRIu64 " tables, the PAMT %" PRIu64 " PT_EPT pages",
		    td->id, c->tables, c->ept[td->id]);
	if (c->mapped_units != c->reg[td->id])
		bad(c, "TD %u S-EPT maps %" PRIu64 " 4K units, the PAMT gives it %" PRIu64
		    " PT_REG units", td->id, c->mapped_units, c->reg[td->id]);
	if (c->nmaps > 1)
		qsort(c->maps, c->nmaps, sizeof(*c->maps), map_cmp);
	for (size_t i = 1; i < c->nmaps; i++)
		if (c->maps[i].hpa < c->maps[i - 1].hpa + c->maps[i - 1].size)
			bad(c, "TD %u maps HPA %#" PRIx64 " twice", td->id, c->maps[i].hpa);
	if (!vm || kvm_vm_td(vm) != td || kvm_vm_dead(vm, NULL))
		return;
	struct mirror_walk mw = { c, td, 0 };
	kvm_vm_mirror_for_each_leaf(vm, mirror_leaf, &mw);
	if (!c->bad && mw.leaves != c->leaves)
		bad(c, "TD %u: the mirror has %" PRIu64 " present leaves, the S-EPT %" PRIu64,
		    td->id, mw.leaves, c->leaves);
}

/*
 * What is checked, between any two calls:
 *  - PAMT: no entry lock held except the shared holds of the vCPUs inside
 *    their TD (TDVPR, TDR and their parents); every entry in use is owned by
 *    a live TD, a TDR is its TD's own and 4K, control pages (TDCX, TDVPR,
 *    S-EPT) are 4K; nothing in use below a 2M or 1G page; with Dynamic PAMT
 *    a 2M entry is PT_PAMT exactly when its range has a 4K PAMT; every TD
 *    page and pair page is allocated in the host's allocator (@hm);
 *  - each TD: its child count equals the 4K units the PAMT gives it; its
 *    key's KOT state matches its lifecycle and no two live TDs share a key;
 *    with a TDCS: the associated-vCPU count, the epoch refcounts equal the
 *    vCPUs inside per epoch parity, the op-state, tree and epoch locks free;
 *  - each TD's S-EPT (not in TEARDOWN): no entry locked or in an unknown
 *    state; every table (blocked or not) is a PT_EPT page of the TD and their
 *    number is its PT_EPT count; every leaf maps a PT_REG page of the TD
 *    found at exactly the leaf's size, aligned; no HPA mapped twice; the
 *    mapped 4K units equal its PT_REG units;
 *  - @vm (alive): no mirror SPTE frozen; every present mirror leaf is an
 *    unblocked S-EPT leaf (MAPPED or PENDING) of the same level and HPA;
 *    as many of them as the S-EPT has page-mapping leaves;
 *  - the module's key-table and write-back locks free.
 */
int fuzz_check(struct tdx_module *m, struct kvm_vm *vm, struct hostmem *hm, char *msg,
	       size_t len)
{
	struct chk c = { .m = m, .hm = hm, .msg = msg, .len = len };
	size_t n = (size_t)m->ntds + 1;
	c.units = calloc(n, sizeof(uint64_t));
	c.reg = calloc(n, sizeof(uint64_t));
	c.ept = calloc(n, sizeof(uint64_t));
	if (!c.units || !c.reg || !c.ept)
		fuzz_fail("out of memory");
	if (m->kot_lock.v || m->wbt_lock.v)
		bad(&c, "module lock left held (KOT %#x, write-back %#x)", m->kot_lock.v,
		    m->wbt_lock.v);
	pamt_scan(&c);
	for (uint32_t i = 0; i < m->ntds && !c.bad; i++) {
		struct tdx_td *td = m->tds[i];
		if (td && td->id != i + 1)
			bad(&c, "TD in slot %u has id %u", i, td->id);
		else if (td)
			td_scan(&c, td, vm);
	}
	free(c.units);
	free(c.reg);
	free(c.ept);
	free(c.maps);
	if (c.bad)
		return -1;
	/*
	 * Then the checking mode's invariants (the five of kvm_vm_check() with a
	 * VM; the module's own, 1 and 5, without one), as `--check` runs them.
	 */
	if (vm ? kvm_vm_check(vm, msg, len) : tdx_module_check(m, msg, len))
		return -1;
	return 0;
}

uint64_t fuzz_pamt_in_use(struct tdx_module *m)
{
	struct physmem *pm = &m->pm;
	uint64_t n = 0;
	for (uint64_t i = 0; i < pm->n1g; i++) {
		const struct phys_1g *g = pm->c1g[i];
		if (!g)
			continue;
		n += g->pamt1g.type != PT_NDA;
		for (unsigned j = 0; j < 512; j++) {
			const struct phys_2m *p = g->c2m[j];
			n += g->pamt2m[j].type != PT_NDA;
			for (unsigned q = 0; p && p->pamt4k && q < 512; q++)
				n += p->pamt4k[q].type != PT_NDA;
		}
	}
	return n;
}

static int tear_fail(char *msg, size_t len, const char *what, const struct tdx_td *td,
		     uint64_t st)
{
	snprintf(msg, len, "teardown of TD %u: %s returned %#" PRIx64 " (%s)", td->id, what, st,
		 tdx_status_name(st));
	return -1;
}

/* Reclaim every page the PAMT gives @td but its TDR; 0 or -1. */
static int reclaim_children(struct tdx_module *m, struct tdx_td *td, char *msg, size_t len)
{
	struct physmem *pm = &m->pm;
	struct tdx_regs out;
	for (uint64_t i = 0; i < pm->n1g; i++) {
		struct phys_1g *g = pm->c1g[i];
		if (!g)
			continue;
		for (int j = -1; j < 512; j++) {
			struct pamt_entry *e = j < 0 ? &g->pamt1g : &g->pamt2m[j];
			uint64_t hpa = (i << 30) + (j < 0 ? 0 : (uint64_t)j * SZ_2M);
			if (e->type != PT_NDA && e->type != PT_PAMT && e->owner == td->id) {
				uint64_t st = tdh_phymem_page_reclaim(m, &out, hpa);
				if (st)
					return tear_fail(msg, len, "PHYMEM.PAGE.RECLAIM", td, st);
			}
			struct phys_2m *p = j < 0 ? NULL : g->c2m[j];
			for (int q = 0; p && p->pamt4k && q < 512; q++) {
				struct pamt_entry *e4 = &p->pamt4k[q];
				if (e4->type == PT_NDA || e4->owner != td->id || e4->type == PT_TDR)
					continue;
				uint64_t st = tdh_phymem_page_reclaim(m, &out, hpa + (uint64_t)q * SZ_4K);
				if (st)
					return tear_fail(msg, len, "PHYMEM.PAGE.RECLAIM", td, st);
			}
		}
	}
	return 0;
}

int fuzz_module_teardown(struct tdx_module *m, char *msg, size_t len)
{
	struct tdx_regs out;
	uint64_t st;
	for (uint32_t i = 0; i < m->ntds; i++) {
		struct tdx_td *td = m->tds[i];
		if (!td)
			continue;
		for (uint32_t j = 0; j < td->nvcpus; j++)
			if (td->vcpus[j] && td->vcpus[j]->in_td)
				tdx_td_exit(td->vcpus[j], EXIT_REASON_TDCALL, 0, 0);
		if (td->lifecycle == TD_KEYS_CONFIGURED || td->lifecycle == TD_HKID_ASSIGNED) {
			for (uint32_t j = 0; td->lifecycle == TD_KEYS_CONFIGURED && j < td->nvcpus; j++)
				if (td->vcpus[j] && td->vcpus[j]->associated &&
				    (st = tdh_vp_flush(m, &out, td->vcpus[j]->tdvpr)))
					return tear_fail(msg, len, "VP.FLUSH", td, st);
			if ((st = tdh_mng_vpflushdone(m, &out, td->tdr)))
				return tear_fail(msg, len, "MNG.VPFLUSHDONE", td, st);
		}
		if (td->lifecycle == TD_BLOCKED) {
			for (int k = 0; k < 64; k++) {
				st = tdh_phymem_cache_wb(m, &out, k ? TDX_CACHEWB_RESUME : TDX_CACHEWB_START);
				if (st != TDX_INTERRUPTED_RESUMABLE)
					break;
			}
			if (st)
				return tear_fail(msg, len, "PHYMEM.CACHE.WB", td, st);
			if ((st = tdh_mng_key_freeid(m, &out, td->tdr)))
				return tear_fail(msg, len, "MNG.KEY.FREEID", td, st);
		}
		if (reclaim_children(m, td, msg, len))
			return -1;
		uint64_t tdr = td->tdr;
		if ((st = tdh_phymem_page_reclaim(m, &out, tdr)))
			return tear_fail(msg, len, "PHYMEM.PAGE.RECLAIM of the TDR", td, st);
		if (m->tds[i]) {
			snprintf(msg, len, "TD %u still there after its TDR was reclaimed", i + 1);
			return -1;
		}
	}
	/* Dynamic PAMT: every pair back */
	struct physmem *pm = &m->pm;
	for (uint64_t i = 0; pm->dynamic_pamt && i < pm->n1g; i++)
		for (uint64_t j = 0; pm->c1g[i] && j < 512; j++) {
			if (pm->c1g[i]->pamt2m[j].type != PT_PAMT)
				continue;
			uint64_t range = (i << 30) + j * SZ_2M;
			if ((st = tdh_phymem_pamt_remove(m, &out, range | 1))) {
				snprintf(msg, len, "teardown: PAMT.REMOVE of %#" PRIx64 " returned %#"
					 PRIx64 " (%s)", range, st, tdx_status_name(st));
				return -1;
			}
		}
	uint64_t left = fuzz_pamt_in_use(m);
	if (left) {
		snprintf(msg, len, "teardown left %" PRIu64 " PAMT entries in use", left);
		return -1;
	}
	return 0;
}
