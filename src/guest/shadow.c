/* SPDX-License-Identifier: MIT */
/*
 * shadow.c - checking mode, the guest's side: the shadow of what a TD's
 * guests wrote (invariant 4) and the TLB check over all entries
 * (invariant 3).  See guest.h and docs/design.md, "Checking mode".
 *
 * The shadow is an open-addressing table of private 4K pages.  Entries are
 * never removed (a page forgotten keeps its slot, knowing nothing), so the
 * table only grows with the GPAs a run touches.  A page's words exist once
 * a guest wrote it: 512 values and a bitmap of the ones known.  No function
 * here has a scheduling point: a guest access and its shadow update are one
 * instruction to every other task.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../module/physmem.h"
#include "guest.h"
#include "shadow.h"

/* What the guests wrote into one page (allocated at its first write). */
struct shadow_words {
	uint64_t w[512];	/* the values (0 where nothing was written) */
	uint64_t valid[8];	/* which of them were written */
};

#define SHADOW_SMALL 2	/* words written kept in the entry before a shadow_words is needed */

struct shadow_page {
	uint64_t key;		/* GFN + 1; 0: empty slot */
	uint64_t wgen;		/* bumps at every write */
	uint64_t accept_wgen;	/* wgen when the first ACCEPT in flight began */
	uint32_t accepting;	/* ACCEPTs of it in flight */
	bool zero;		/* accepted: every word not written is zero */
	uint8_t nsmall;		/* words written, kept in small[] (no @words yet) */
	uint16_t small_idx[SHADOW_SMALL];
	uint64_t small_val[SHADOW_SMALL];
	struct shadow_words *words;	/* more words written, or NULL */
};

struct guest_shadow {
	struct shadow_page *p;
	uint64_t cap;		/* power of two (or 0) */
	uint64_t n;		/* slots used */
};

struct guest_shadow *guest_shadow_create(void)
{
	return calloc(1, sizeof(struct guest_shadow));
}

void guest_shadow_destroy(struct guest_shadow *s)
{
	if (!s)
		return;
	for (uint64_t i = 0; i < s->cap; i++)
		free(s->p[i].words);
	free(s->p);
	free(s);
}

void gvcpu_set_shadow(struct gvcpu *g, struct guest_shadow *s)
{
	g->shadow = s;
}

static uint64_t slot_of(uint64_t key, uint64_t cap)
{
	return (key * 0x9e3779b97f4a7c15ull) >> 20 & (cap - 1);
}

static struct shadow_page *find(const struct guest_shadow *s, uint64_t gfn)
{
	if (!s->cap)
		return NULL;
	for (uint64_t i = slot_of(gfn + 1, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (s->p[i].key == gfn + 1)
			return &s->p[i];
		if (!s->p[i].key)
			return NULL;
	}
}

/* The page of @gfn, added if new; NULL when the simulator is out of memory. */
static struct shadow_page *get(struct guest_shadow *s, uint64_t gfn)
{
	struct shadow_page *p = find(s, gfn);
	if (p)
		return p;
	if (2 * (s->n + 1) > s->cap) {
		uint64_t nc = s->cap ? 2 * s->cap : 256;
		struct shadow_page *np = calloc(nc, sizeof(*np));
		if (!np)
			return NULL;
		for (uint64_t i = 0; i < s->cap; i++) {
			if (!s->p[i].key)
				continue;
			uint64_t j = slot_of(s->p[i].key, nc);
			while (np[j].key)
				j = (j + 1) & (nc - 1);
			np[j] = s->p[i];
		}
		free(s->p);
		s->p = np;
		s->cap = nc;
	}
	uint64_t j = slot_of(gfn + 1, s->cap);
	while (s->p[j].key)
		j = (j + 1) & (s->cap - 1);
	s->p[j].key = gfn + 1;
	s->n++;
	return &s->p[j];
}

/* Index in small[] of word @w, or -1. */
static int small_of(const struct shadow_page *p, unsigned w)
{
	for (int i = 0; i < p->nsmall; i++)
		if (p->small_idx[i] == w)
			return i;
	return -1;
}

static bool written(const struct shadow_page *p, unsigned w)
{
	if (p->words)
		return (p->words->valid[w / 64] >> (w % 64)) & 1;
	return small_of(p, w) >= 0;
}

static bool known(const struct shadow_page *p, unsigned w)
{
	return p->zero || written(p, w);
}

static uint64_t value(const struct shadow_page *p, unsigned w)
{
	if (p->words)
		return p->words->w[w];
	int i = small_of(p, w);
	return i >= 0 ? p->small_val[i] : 0;
}

static void forget(struct shadow_page *p)
{
	free(p->words);
	p->words = NULL;
	p->nsmall = 0;
	p->zero = false;
}

void shadow_write(struct guest_shadow *s, uint64_t gpa, uint64_t val)
{
	struct shadow_page *p = get(s, gpa >> 12);
	unsigned w = (gpa >> 3) & 511;
	if (!p)
		return;
	p->wgen++;
	if (!p->words) {
		int i = small_of(p, w);
		if (i < 0 && p->nsmall < SHADOW_SMALL)
			i = p->nsmall++;
		if (i >= 0) {
			p->small_idx[i] = (uint16_t)w;
			p->small_val[i] = val;
			return;
		}
		if (!(p->words = calloc(1, sizeof(*p->words)))) {
			forget(p);	/* out of memory: know nothing rather than something wrong */
			return;
		}
		for (i = 0; i < p->nsmall; i++) {
			p->words->w[p->small_idx[i]] = p->small_val[i];
			p->words->valid[p->small_idx[i] / 64] |= 1ull << (p->small_idx[i] % 64);
		}
		p->nsmall = 0;
	}
	p->words->w[w] = val;
	p->words->valid[w / 64] |= 1ull << (w % 64);
}

void shadow_write_bytes(struct guest_shadow *s, uint64_t gpa, const uint8_t *b, unsigned off,
			unsigned n)
{
	struct shadow_page *p = find(s, gpa >> 12);
	unsigned w = (gpa >> 3) & 511;
	uint64_t v = 0;
	if (n == 8) {
		memcpy(&v, b, 8);
		shadow_write(s, gpa, v);
		return;
	}
	if (!p)
		return;
	p->wgen++;
	if (!known(p, w))
		return;
	v = value(p, w);
	memcpy((uint8_t *)&v + off, b, n);
	shadow_write(s, gpa, v);
}

int shadow_read(const struct guest_shadow *s, uint64_t gpa, uint64_t val, uint64_t *want)
{
	const struct shadow_page *p = find(s, gpa >> 12);
	unsigned w = (gpa >> 3) & 511;
	if (!p || p->accepting || !known(p, w))
		return 0;
	*want = value(p, w);
	return *want != val;
}

int shadow_read_bytes(const struct guest_shadow *s, uint64_t gpa, const uint8_t *b,
		      unsigned off, unsigned n, uint64_t *want)
{
	const struct shadow_page *p = find(s, gpa >> 12);
	unsigned w = (gpa >> 3) & 511;
	if (!p || p->accepting || !known(p, w))
		return 0;
	*want = value(p, w);
	return memcmp((const uint8_t *)want + off, b, n) != 0;
}

void shadow_accept_begin(struct guest_shadow *s, uint64_t gpa, uint64_t size)
{
	for (uint64_t a = gpa; a < gpa + size; a += SZ_4K) {
		struct shadow_page *p = get(s, a >> 12);
		if (p && !p->accepting++)
			p->accept_wgen = p->wgen;
	}
}

void shadow_accept_end(struct guest_shadow *s, uint64_t gpa, uint64_t size, bool success)
{
	for (uint64_t a = gpa; a < gpa + size; a += SZ_4K) {
		struct shadow_page *p = find(s, a >> 12);
		if (!p || !p->accepting)
			continue;	/* out of memory at the beginning */
		p->accepting--;
		if (!success)
			continue;
		bool clean = p->wgen == p->accept_wgen;
		forget(p);
		p->zero = clean;
		p->accept_wgen = p->wgen;
	}
}

void shadow_forget_range(struct guest_shadow *s, uint64_t gpa, uint64_t size)
{
	uint64_t lo = gpa >> 12, hi = (gpa + size + SZ_4K - 1) >> 12;
	for (uint64_t i = 0; i < s->cap; i++) {
		struct shadow_page *p = &s->p[i];
		if (p->key && p->key - 1 >= lo && p->key - 1 < hi) {
			forget(p);
			p->wgen++;	/* an ACCEPT in flight must not make it zero */
		}
	}
}

bool guest_shadow_word(const struct guest_shadow *s, uint64_t gpa, uint64_t *val)
{
	const struct shadow_page *p = find(s, gpa >> 12);
	unsigned w = (gpa >> 3) & 511;
	if (!p || p->accepting || !known(p, w))
		return false;
	*val = value(p, w);
	return true;
}

/*
 * The first known word of @p that the 4K page at @hpa does not hold, or
 * -1.  Costs what the page's content tag and the written words cost, not
 * 512 reads: accepted pages are mostly zero or hold one word.
 */
static int page_differs(const struct shadow_page *p, struct physmem *pm, uint64_t hpa)
{
	const struct phys_2m *c = physmem_chunk2m(pm, hpa, false);
	uint64_t tag = c ? c->content[(hpa >> 12) & 511] : 0;
	if (tag && !(tag & PHYSMEM_TAG_SPARSE)) {
		const uint64_t *mem = (const uint64_t *)(uintptr_t)tag;
		for (unsigned w = 0; w < 512; w++)
			if (known(p, w) && mem[w] != value(p, w))
				return (int)w;
		return -1;
	}
	/* all zero, or zero but for word @iw */
	unsigned iw = (unsigned)((tag >> PHYSMEM_TAG_IDX_SHIFT) & PHYSMEM_TAG_IDX_MASK);
	uint64_t iv = tag ? tag >> PHYSMEM_TAG_VAL_SHIFT : 0;
	if (tag && known(p, iw) && value(p, iw) != iv)
		return (int)iw;
	for (unsigned i = 0; i < p->nsmall; i++)
		if (p->small_val[i] != (tag && p->small_idx[i] == iw ? iv : 0))
			return p->small_idx[i];
	if (!p->words)
		return -1;	/* the other known words are zero: only @iw could differ */
	for (unsigned i = 0; i < 8; i++)
		for (uint64_t bits = p->words->valid[i]; bits; bits &= bits - 1) {
			unsigned w = i * 64 + (unsigned)__builtin_ctzll(bits);
			if (p->words->w[w] != (tag && w == iw ? iv : 0))
				return (int)w;
		}
	return -1;
}

int guest_shadow_check(const struct guest_shadow *s, struct tdx_module *m, struct tdx_td *td,
		       char *msg, size_t len)
{
	if (!s || !td || !tdx_td_quiescent(td))
		return 0;
	struct physmem *pm = tdx_module_physmem(m);
	for (uint64_t i = 0; i < s->cap; i++) {
		const struct shadow_page *p = &s->p[i];
		struct tdx_sept_leaf l;
		if (!p->key || p->accepting)
			continue;
		uint64_t gpa = (p->key - 1) << 12;
		/* accepted content only: MAPPED, or BLOCKED on its way out */
		if (!tdx_td_sept_lookup(td, gpa, &l) || !tdx_sept_state_accepted(l.state))
			continue;
		uint64_t hpa = l.hpa + (gpa - l.gpa);
		int w = page_differs(p, pm, hpa);
		if (w >= 0) {
			snprintf(msg, len,
				 "invariant 4 (guest data): GPA %#" PRIx64 " (HPA %#" PRIx64 ", %s) "
				 "holds %#" PRIx64 ", but the guest last wrote %#" PRIx64 " there",
				 gpa + 8 * (unsigned)w, hpa + 8 * (unsigned)w,
				 tdx_sept_state_name(l.state), physmem_read64(pm, hpa + 8 * (unsigned)w),
				 value(p, (unsigned)w));
			return 4;
		}
	}
	return 0;
}

int guest_check_tlb(const struct gvcpu *g, char *msg, size_t len)
{
	if (!g->v || !g->td || !tdx_vcpu_tlb_live(g->v))
		return 0;
	uint64_t gen = tdx_vcpu_tlb_generation(g->v) + 1;
	for (unsigned i = 0; i < GUEST_TLB_SIZE; i++) {
		if (g->tlb[i].gen != gen)
			continue;
		if (tdx_hpa_owner(g->m, g->tlb[i].hpa) != g->td) {
			snprintf(msg, len,
				 "invariant 3 (TLB): vCPU %d holds a live TLB entry GPA %#" PRIx64
				 " -> HPA %#" PRIx64 " to a page its TD no longer owns (TLB "
				 "tracking not done)", g->index, g->tlb[i].gfn << 12, g->tlb[i].hpa);
			return 3;
		}
	}
	return 0;
}
