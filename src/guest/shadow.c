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

struct shadow_page {
	uint64_t key;		/* GFN + 1; 0: empty slot */
	struct shadow_words *words;	/* NULL: nothing written since it was known */
	uint64_t wgen;		/* bumps at every write */
	uint64_t accept_wgen;	/* wgen when the first ACCEPT in flight began */
	uint32_t accepting;	/* ACCEPTs of it in flight */
	bool zero;		/* accepted: every word not written is zero */
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

static bool known(const struct shadow_page *p, unsigned w)
{
	return p->zero || (p->words && ((p->words->valid[w / 64] >> (w % 64)) & 1));
}

static uint64_t value(const struct shadow_page *p, unsigned w)
{
	return p->words ? p->words->w[w] : 0;
}

static void forget(struct shadow_page *p)
{
	free(p->words);
	p->words = NULL;
	p->zero = false;
}

void shadow_write(struct guest_shadow *s, uint64_t gpa, uint64_t val)
{
	struct shadow_page *p = get(s, gpa >> 12);
	unsigned w = (gpa >> 3) & 511;
	if (!p)
		return;
	p->wgen++;
	if (!p->words && !(p->words = calloc(1, sizeof(*p->words)))) {
		forget(p);	/* out of memory: know nothing rather than something wrong */
		return;
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
		/* a zero page (the common case: accepted, not written) costs one load */
		bool zero = physmem_page_is_zero(pm, hpa);
		if (zero && !p->words)
			continue;
		for (unsigned w = 0; w < 512; w++) {
			if (!known(p, w))
				continue;
			uint64_t want = value(p, w);
			uint64_t got = zero ? 0 : physmem_read64(pm, hpa + 8 * w);
			if (got != want) {
				snprintf(msg, len,
					 "invariant 4 (guest data): GPA %#" PRIx64 " (HPA %#" PRIx64
					 ", %s) holds %#" PRIx64 ", but the guest last wrote %#" PRIx64
					 " there", gpa + 8 * w, hpa + 8 * w,
					 tdx_sept_state_name(l.state), got, want);
				return 4;
			}
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
