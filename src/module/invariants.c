/* SPDX-License-Identifier: MIT */
/*
 * invariants.c - checking mode, the module's side (docs/design.md,
 * "Checking mode"): invariant 1 (PAMT: no page owned twice, child counts,
 * the S-EPT's pages owned as the S-EPT says) and invariant 5 (epoch
 * refcounts).
 *
 * Everything here reads state directly: no lock is taken, no seam
 * operation is made (under the engine the check runs with the seam
 * unhooked, but plain reads keep it usable from a test or a fuzzer too),
 * and nothing is allocated in simulated memory.  What a SEAMCALL in flight
 * may hold half-done is skipped, by rules that need no knowledge of the
 * caller:
 *
 *   - a PAMT entry held exclusive is being changed by its holder (AUG,
 *     REMOVE, DEMOTE, PROMOTE, RELOCATE, RECLAIM, PAMT.ADD/REMOVE all hold
 *     the entries they rewrite exclusive): it and what lies under it are
 *     not checked;
 *   - a TD is "quiescent" when no host SEAMCALL holds its TDR: the TDR
 *     page's PAMT entry has exactly one shared holder per vCPU inside the
 *     TD (VP.ENTER keeps it until the TD exit) and no vCPU outside the TD
 *     has its TDVPR entry held (a VP.ENTER, VP.FLUSH... under way).  Every
 *     leaf that changes child counts, PAMT ownership or the S-EPT holds the
 *     TDR from its first check to its single exit, so between two
 *     quiescent instants every change is complete.  Guest TDCALLs (ACCEPT,
 *     ATTR.WR) change neither ownership nor the entries' HPAs.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Write "invariant N (NAME): ..." into @msg and return @n. */
static int __attribute__((format(printf, 5, 6)))
violation(char *msg, size_t len, int n, const char *name, const char *fmt, ...)
{
	int w = snprintf(msg, len, "invariant %d (%s): ", n, name);
	if (w >= 0 && (size_t)w < len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg + w, len - (size_t)w, fmt, ap);
		va_end(ap);
	}
	return n;
}

static bool held_exclusive(const struct pamt_entry *e)
{
	return (e->lock.v & SEAM_SHAREX_EXCL) != 0;
}

/* A PAMT type that makes its page someone's (not free, not a 4K PAMT). */
static bool owned_type(unsigned type)
{
	return type != PT_NDA && type != PT_PAMT && type != PT_RSVD;
}

bool tdx_td_quiescent(const struct tdx_td *td)
{
	const struct pamt_entry *tdr = pamt_entry_peek(&td->m->pm, td->tdr, PAMT_4K);
	if (!tdr)
		return false;
	uint32_t inside = 0;
	for (uint32_t i = 0; i < td->nvcpus; i++) {
		const struct tdx_vcpu *v = td->vcpus[i];
		if (!v)
			continue;
		if (v->in_td) {
			inside++;
			continue;
		}
		const struct pamt_entry *e = pamt_entry_peek(&td->m->pm, v->tdvpr, PAMT_4K);
		if (e && e->lock.v)
			return false;	/* a vCPU leaf is under way */
	}
	return tdr->lock.v == inside;
}

bool tdx_vcpu_tlb_live(const struct tdx_vcpu *v)
{
	/* VP.ENTER flushes when the TD epoch moved since the vCPU's last entry */
	return v->in_td || v->epoch == v->td->td_epoch;
}

bool tdx_vcpu_in_epoch_change(const struct tdx_vcpu *v)
{
	if (v->in_td)
		return false;
	const struct pamt_entry *e = pamt_entry_peek(&v->td->m->pm, v->tdvpr, PAMT_4K);
	return e && e->lock.v;
}

/* The 512 words of the S-EPT page @table, or NULL if it is all FREE. */
static const uint64_t *sept_words(const struct physmem *pm, uint64_t table, uint64_t *buf)
{
	const struct phys_1g *g = table < pm->size ? pm->c1g[table >> 30] : NULL;
	const struct phys_2m *c = g ? g->c2m[(table >> 21) & 511] : NULL;
	uint64_t tag = c ? c->content[(table >> 12) & 511] : 0;
	if (!tag)
		return NULL;
	if (!(tag & PHYSMEM_TAG_SPARSE))
		return (const uint64_t *)(uintptr_t)tag;
	for (int i = 0; i < 512; i++)
		buf[i] = 0;
	buf[(tag >> PHYSMEM_TAG_IDX_SHIFT) & PHYSMEM_TAG_IDX_MASK] = tag >> PHYSMEM_TAG_VAL_SHIFT;
	return buf;
}

static void decode(uint64_t e, uint64_t gpa, int level, struct tdx_sept_leaf *out)
{
	*out = (struct tdx_sept_leaf){
		.gpa = gpa, .level = level, .state = septe_state(e), .hpa = septe_hpa(e),
		.locked = (e & SEPTE_LOCK) != 0,
	};
}

void tdx_sept_entry_at(struct tdx_module *m, uint64_t table_hpa, unsigned index,
		       struct tdx_sept_leaf *out)
{
	decode(physmem_read64(&m->pm, table_hpa + 8 * (index & 511)), 0, 0, out);
}

const uint64_t *tdx_sept_table_words(struct tdx_module *m, uint64_t table_hpa, uint64_t buf[512])
{
	return sept_words(&m->pm, table_hpa, buf);
}

void tdx_sept_decode(uint64_t raw, struct tdx_sept_leaf *out)
{
	decode(raw, 0, 0, out);
}

uint64_t tdx_td_sept_root(const struct tdx_td *td)
{
	return td->num_tdcx == TDX_TDCS_PAGES ? td->root : 0;
}

bool tdx_td_sept_lookup(const struct tdx_td *td, uint64_t gpa, struct tdx_sept_leaf *out)
{
	uint64_t table = tdx_td_sept_root(td);
	if (!table)
		return false;
	for (int level = td->root_level; level >= 0; level--) {
		uint64_t e = physmem_read64(&td->m->pm, table + 8 * ((gpa >> (12 + 9 * level)) & 511));
		enum sept_state s = septe_state(e);
		if (s == SEPT_FREE)
			return false;
		if (s != SEPT_NL_MAPPED || level == 0) {
			decode(e, gpa & ~(tdx_level_size(level) - 1), level, out);
			return true;
		}
		table = septe_hpa(e);
	}
	return false;
}

bool tdx_sept_state_accepted(unsigned state)
{
	return state == SEPT_MAPPED || state == SEPT_BLOCKED;
}

bool tdx_sept_state_absent(unsigned state)
{
	return state == SEPT_FREE || state == SEPT_REMOVED;
}

bool tdx_sept_state_leaf(unsigned state)
{
	return state == SEPT_MAPPED || state == SEPT_PENDING;
}

bool tdx_sept_state_table(unsigned state)
{
	return state == SEPT_NL_MAPPED;
}

/* ---- invariant 1: the PAMT ---- */

struct pamt_scan {
	struct tdx_module *m;
	uint64_t *owned;	/* per TD id: 4K units of pages owned, TDR excluded */
	uint32_t nowned;
	/* every page the S-EPTs map, as hpa | level, to find one mapped twice */
	uint64_t *mapped;
	size_t nmapped, capmapped;
	char *msg;
	size_t len;
};

/*
 * Count the page @e (@units 4K pages at @hpa) for its owner and, unless it
 * is held exclusive (its holder may be half-way through rewriting it),
 * check that the owner exists and that a TDR is its own TD's.
 */
static int owner_ok(struct pamt_scan *s, const struct pamt_entry *e, uint64_t hpa,
		    uint64_t units)
{
	if (e->type != PT_TDR && e->owner < s->nowned)
		s->owned[e->owner] += units;
	if (held_exclusive(e))
		return 0;
	struct tdx_td *td = td_lookup(s->m, e->owner);
	if (!td)
		return violation(s->msg, s->len, 1, "PAMT",
				 "HPA %#" PRIx64 " (type %u) is owned by TD %u, which does not "
				 "exist", hpa, e->type, e->owner);
	if (e->type == PT_TDR && td->tdr != hpa)
		return violation(s->msg, s->len, 1, "PAMT",
				 "HPA %#" PRIx64 " is a TDR of TD %u, whose TDR is %#" PRIx64, hpa,
				 e->owner, td->tdr);
	return 0;
}

/*
 * The 4K entries of the 2M chunk @c at @base; @big is the larger page that
 * covers them (NULL: none), in which case each of them must be free.
 */
static int scan_4k(struct pamt_scan *s, const struct phys_2m *c, uint64_t base,
		   const struct pamt_entry *big, const char *size)
{
	if (!c || !c->pamt4k)
		return 0;
	for (unsigned i = 0; i < 512; i++) {
		const struct pamt_entry *e = &c->pamt4k[i];
		uint64_t hpa = base + i * SZ_4K;
		int r;
		if (!owned_type(e->type))
			continue;
		if (big && !held_exclusive(big) && !held_exclusive(e))
			return violation(s->msg, s->len, 1, "PAMT",
					 "HPA %#" PRIx64 " is owned twice: by TD %u as part of a "
					 "%s page and by TD %u as a 4K page (type %u)", hpa,
					 big->owner, size, e->owner, e->type);
		if ((r = owner_ok(s, e, hpa, 1)))
			return r;
	}
	return 0;
}

static int scan_2m(struct pamt_scan *s, const struct phys_1g *g, uint64_t base,
		   const struct pamt_entry *big)
{
	for (unsigned j = 0; j < 512; j++) {
		const struct pamt_entry *e2 = &g->pamt2m[j];
		uint64_t hpa = base + j * SZ_2M;
		bool own2 = owned_type(e2->type);
		int r;
		if (own2 && big && !held_exclusive(big) && !held_exclusive(e2))
			return violation(s->msg, s->len, 1, "PAMT",
					 "HPA %#" PRIx64 " is owned twice: by TD %u as part of a "
					 "1G page and by TD %u as a 2M page", hpa, big->owner,
					 e2->owner);
		if (own2 && (r = owner_ok(s, e2, hpa, 512)))
			return r;
		if ((r = scan_4k(s, g->c2m[j], hpa, own2 ? e2 : big, own2 ? "2M" : "1G")))
			return r;
	}
	return 0;
}

static int scan_pamt(struct pamt_scan *s)
{
	const struct physmem *pm = &s->m->pm;
	for (uint64_t i = 0; i < pm->n1g; i++) {
		const struct phys_1g *g = pm->c1g[i];
		int r;
		if (!g || !pm->in_tdmr[i])
			continue;
		bool own1 = owned_type(g->pamt1g.type);
		if (own1 && (r = owner_ok(s, &g->pamt1g, i << 30, 512 * 512)))
			return r;
		if ((r = scan_2m(s, g, i << 30, own1 ? &g->pamt1g : NULL)))
			return r;
	}
	return 0;
}

/* Out of memory the page is not noted: the duplicate test misses it, nothing worse. */
static void note_mapped(struct pamt_scan *s, uint64_t hpa, int level)
{
	if (s->nmapped == s->capmapped) {
		size_t nc = s->capmapped ? s->capmapped * 2 : 1024;
		uint64_t *p = realloc(s->mapped, nc * sizeof(*p));
		if (!p)
			return;
		s->mapped = p;
		s->capmapped = nc;
	}
	s->mapped[s->nmapped++] = hpa | (uint64_t)level;
}

struct sept_count {
	uint64_t pages;		/* 4K units the S-EPT holds: tables and leaves */
};

/*
 * The S-EPT table @table of @td at @level: every leaf's page must be a
 * PT_REG page of @td at the leaf's size, every table a PT_EPT page of @td.
 */
static int scan_sept(struct pamt_scan *s, struct tdx_td *td, uint64_t table, int level,
		     uint64_t base, struct sept_count *cnt)
{
	uint64_t buf[512];	/* one per level: the recursion does not clobber it */
	const uint64_t *w = sept_words(&s->m->pm, table, buf);
	if (!w)
		return 0;
	for (int i = 0; i < 512; i++) {
		enum sept_state st = septe_state(w[i]);
		uint64_t hpa = septe_hpa(w[i]), gpa = base + ((uint64_t)i << (12 + 9 * level));
		int r;
		if (st == SEPT_FREE || st == SEPT_REMOVED)
			continue;
		bool table_entry = !sept_state_is_leaf(st);
		enum pamt_size size = table_entry ? PAMT_4K : (enum pamt_size)level;
		enum pamt_type want = table_entry ? PT_EPT : PT_REG;
		const struct pamt_entry *e = pamt_entry_peek(&s->m->pm, hpa, size);
		if (!e || e->type != want || e->owner != td->id)
			return violation(s->msg, s->len, 1, "PAMT",
					 "TD %u's S-EPT maps GPA %#" PRIx64 " (level %d, %s) to HPA "
					 "%#" PRIx64 ", whose PAMT entry is type %u owner %u, not "
					 "type %u owner %u", td->id, gpa, level, sept_state_names[st],
					 hpa, e ? e->type : 0, e ? e->owner : 0, want, td->id);
		note_mapped(s, hpa, table_entry ? 7 : level);
		if (table_entry) {
			cnt->pages++;
			if ((r = scan_sept(s, td, hpa, level - 1, gpa, cnt)))
				return r;
		} else {
			cnt->pages += 1ull << (9 * level);
		}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int check_td_pages(struct pamt_scan *s, struct tdx_td *td)
{
	if (td->lifecycle != TD_KEYS_CONFIGURED || !tdx_td_sept_root(td) || !tdx_td_quiescent(td))
		return 0;	/* being built, torn down, or a host SEAMCALL is under way */
	struct sept_count cnt = { 0 };
	int r = scan_sept(s, td, td->root, td->root_level, 0, &cnt);
	if (r)
		return r;
	/* the TDCS pages (the root among them), and each vCPU's TDVPR and TDCX */
	uint64_t ctl = td->num_tdcx;
	for (uint32_t i = 0; i < td->nvcpus; i++)
		if (td->vcpus[i])
			ctl += 1 + td->vcpus[i]->num_tdcx;
	if (td->child_count != ctl + cnt.pages)
		return violation(s->msg, s->len, 1, "PAMT",
				 "TD %u's child count is %" PRIu64 ", but it holds %" PRIu64
				 " control pages and %" PRIu64 " pages in its S-EPT", td->id,
				 td->child_count, ctl, cnt.pages);
	if (td->id < s->nowned && s->owned[td->id] != td->child_count)
		return violation(s->msg, s->len, 1, "PAMT",
				 "TD %u's child count is %" PRIu64 ", but the PAMT gives it %" PRIu64
				 " pages (4K units, TDR excluded)", td->id, td->child_count,
				 s->owned[td->id]);
	return 0;
}

/* ---- invariant 5: epoch refcounts ---- */

static int check_epochs(struct tdx_td *td, char *msg, size_t len)
{
	if (td->num_tdcx < TDX_TDCS_PAGES)
		return 0;
	/*
	 * A vCPU is counted in refcount[p] from VP.ENTER's increment to the
	 * TD exit's decrement (or VP.ENTER's own undo).  in_td is set after
	 * the increment, with scheduling points between, and cleared right
	 * after the decrement with none; the whole of VP.ENTER holds the
	 * vCPU's TDVPR.  So each refcount lies between the vCPUs inside in
	 * that parity and that plus the vCPUs in a vCPU leaf.
	 */
	uint64_t in[2] = { 0, 0 }, entering = 0;
	for (uint32_t i = 0; i < td->nvcpus; i++) {
		const struct tdx_vcpu *v = td->vcpus[i];
		if (!v)
			continue;
		if (v->in_td)
			in[v->epoch & 1]++;
		else if (tdx_vcpu_in_epoch_change(v))
			entering++;
	}
	for (int p = 0; p < 2; p++)
		if (td->refcount[p] < in[p] || td->refcount[p] > in[p] + entering)
			return violation(msg, len, 5, "epochs",
					 "TD %u: refcount[%d] is %" PRIu64 " with %" PRIu64
					 " vCPUs inside in that epoch parity and %" PRIu64
					 " entering (TD epoch %" PRIu64 ")", td->id, p,
					 td->refcount[p], in[p], entering, td->td_epoch);
	if (td->refcount[0] + td->refcount[1] > in[0] + in[1] + entering)
		return violation(msg, len, 5, "epochs",
				 "TD %u: refcounts %" PRIu64 " + %" PRIu64 " count more vCPUs than "
				 "%" PRIu64 " inside and %" PRIu64 " entering", td->id,
				 td->refcount[0], td->refcount[1], in[0] + in[1], entering);
	return 0;
}

int tdx_module_check(struct tdx_module *m, char *msg, size_t len)
{
	uint64_t owned_small[64] = { 0 };
	struct pamt_scan s = { .m = m, .owned = owned_small, .nowned = 64, .msg = msg, .len = len };
	int r = 0;
	if (m->ntds + 1 > 64) {
		s.owned = calloc(m->ntds + 1, sizeof(*s.owned));
		s.nowned = s.owned ? m->ntds + 1 : 0;
	}
	if ((r = scan_pamt(&s)))
		goto out;
	for (uint32_t i = 0; i < m->ntds && !r; i++)
		if (m->tds[i]) {
			r = check_epochs(m->tds[i], msg, len);
			if (!r)
				r = check_td_pages(&s, m->tds[i]);
		}
	if (r || !s.nmapped)
		goto out;
	qsort(s.mapped, s.nmapped, sizeof(*s.mapped), cmp_u64);
	for (size_t i = 1; i < s.nmapped; i++)
		if (s.mapped[i] == s.mapped[i - 1]) {
			r = violation(msg, len, 1, "PAMT",
				      "HPA %#" PRIx64 " is mapped twice by the S-EPTs (level %d)",
				      (uint64_t)(s.mapped[i] & ~0xfffull), (int)(s.mapped[i] & 7));
			break;
		}
out:
	if (s.owned != owned_small)
		free(s.owned);
	free(s.mapped);
	return r;
}
