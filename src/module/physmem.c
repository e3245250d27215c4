/* SPDX-License-Identifier: MIT */
/*
 * physmem.c - sparse host physical memory, page-content tags and PAMT storage.
 *
 * Chunk allocation happens with no seam operation inside it, so under the
 * engine (all tasks on one OS thread) it is atomic with respect to every
 * other task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "physmem.h"
#include "../engine/simheap.h"

#define TAG_SPARSE		PHYSMEM_TAG_SPARSE
#define TAG_IDX_SHIFT		PHYSMEM_TAG_IDX_SHIFT
#define TAG_IDX_MASK		PHYSMEM_TAG_IDX_MASK
#define TAG_VAL_SHIFT		PHYSMEM_TAG_VAL_SHIFT
#define TAG_VAL_MAX		PHYSMEM_TAG_VAL_MAX

static void *xcalloc(size_t n, size_t sz)
{
	void *p = sim_calloc(n, sz);
	if (!p) {
		fprintf(stderr, "tdxsim: out of memory (%zu bytes)\n", n * sz);
		abort();
	}
	return p;
}

int physmem_init(struct physmem *pm, uint64_t size, unsigned max_pa)
{
	memset(pm, 0, sizeof(*pm));
	if (max_pa < 32 || max_pa > 52) {
		fprintf(stderr, "tdxsim: MAX_PA %u out of range 32..52\n", max_pa);
		return -1;
	}
	if (size == 0 || (size & (SZ_4K - 1)) || size > (1ull << max_pa)) {
		fprintf(stderr, "tdxsim: physical memory size %#llx invalid for MAX_PA %u\n",
			(unsigned long long)size, max_pa);
		return -1;
	}
	pm->size = size;
	pm->max_pa = max_pa;
	pm->n1g = (size + SZ_1G - 1) / SZ_1G;
	pm->c1g = xcalloc(pm->n1g, sizeof(*pm->c1g));
	pm->in_tdmr = xcalloc(pm->n1g, 1);
	return 0;
}

static void free_chunk2m(struct physmem *pm, struct phys_2m *c)
{
	physmem_pamt4k_free(pm, c);
	for (int i = 0; i < 512; i++) {
		uint64_t t = c->content[i];
		if (t && !(t & TAG_SPARSE)) {
			sim_free((void *)(uintptr_t)t);
			pm->n_page_buffers--;
		}
	}
	sim_free(c);
}

void physmem_destroy(struct physmem *pm)
{
	if (!pm->c1g)
		return;
	for (uint64_t g = 0; g < pm->n1g; g++) {
		struct phys_1g *c = pm->c1g[g];
		if (!c)
			continue;
		for (int i = 0; i < 512; i++)
			if (c->c2m[i])
				free_chunk2m(pm, c->c2m[i]);
		sim_free(c);
	}
	sim_free(pm->c1g);
	pm->c1g = NULL;
	sim_free(pm->in_tdmr);
	pm->in_tdmr = NULL;
}

int physmem_add_tdmr(struct physmem *pm, uint64_t base, uint64_t size)
{
	if ((base & (SZ_1G - 1)) || (size & (SZ_1G - 1)) || size == 0) {
		fprintf(stderr, "tdxsim: TDMR %#llx+%#llx is not 1G aligned\n",
			(unsigned long long)base, (unsigned long long)size);
		return -1;
	}
	if (base + size < base || base + size > pm->size) {
		fprintf(stderr, "tdxsim: TDMR %#llx+%#llx is outside physical memory\n",
			(unsigned long long)base, (unsigned long long)size);
		return -1;
	}
	if (pm->ntdmr == PHYSMEM_MAX_TDMRS) {
		fprintf(stderr, "tdxsim: too many TDMRs (max %d)\n", PHYSMEM_MAX_TDMRS);
		return -1;
	}
	for (int i = 0; i < pm->ntdmr; i++) {
		const struct tdmr *t = &pm->tdmr[i];
		if (base < t->base + t->size && t->base < base + size) {
			fprintf(stderr, "tdxsim: TDMR %#llx+%#llx overlaps another\n",
				(unsigned long long)base, (unsigned long long)size);
			return -1;
		}
	}
	pm->tdmr[pm->ntdmr++] = (struct tdmr){ base, size };
	for (uint64_t g = base >> 30; g < (base + size) >> 30; g++)
		pm->in_tdmr[g] = 1;
	return 0;
}

struct phys_1g *physmem__alloc1g(struct physmem *pm, uint64_t hpa)
{
	struct phys_1g *c = xcalloc(1, sizeof(*c));
	pm->c1g[hpa >> 30] = c;
	pm->n_1g_chunks++;
	return c;
}

/*
 * The static PAMT's 4K array lives right after the chunk, in the same
 * allocation: one malloc per 2M chunk, as before the split.
 */
#define PAMT4K_BYTES (512 * sizeof(struct pamt_entry))

static bool pamt4k_embedded(const struct phys_2m *c)
{
	return c->pamt4k == (const struct pamt_entry *)(const void *)(c + 1);
}

struct phys_2m *physmem__alloc2m(struct physmem *pm, struct phys_1g *g, uint64_t hpa)
{
	static_assert(sizeof(struct phys_2m) % _Alignof(struct pamt_entry) == 0,
		      "the embedded 4K PAMT is aligned");
	struct phys_2m *c = xcalloc(1, sizeof(*c) + (pm->dynamic_pamt ? 0 : PAMT4K_BYTES));
	if (!pm->dynamic_pamt) {
		c->pamt4k = (struct pamt_entry *)(void *)(c + 1);
		pm->n_pamt4k++;
	}
	g->c2m[(hpa >> 21) & 511] = c;
	pm->n_2m_chunks++;
	return c;
}

struct pamt_entry *physmem_pamt4k_alloc(struct physmem *pm, struct phys_2m *c)
{
	c->pamt4k = xcalloc(512, sizeof(struct pamt_entry));	/* all PT_NDA, unlocked */
	pm->n_pamt4k++;
	return c->pamt4k;
}

void physmem_pamt4k_free(struct physmem *pm, struct phys_2m *c)
{
	if (!c->pamt4k)
		return;
	if (!pamt4k_embedded(c))
		sim_free(c->pamt4k);
	c->pamt4k = NULL;
	pm->n_pamt4k--;
}

/* ---- contents ---- */

static inline uint64_t *tag_of(struct physmem *pm, uint64_t hpa, bool alloc)
{
	struct phys_2m *c = physmem_chunk2m(pm, hpa, alloc);
	return c ? &c->content[(hpa >> 12) & 511] : NULL;
}

uint64_t *physmem__materialize(struct physmem *pm, uint64_t *tag)
{
	uint64_t t = *tag;
	if (t && !(t & TAG_SPARSE))
		return (uint64_t *)(uintptr_t)t;
	uint64_t *buf = xcalloc(512, sizeof(uint64_t));
	if (t & TAG_SPARSE)
		buf[(t >> TAG_IDX_SHIFT) & TAG_IDX_MASK] = t >> TAG_VAL_SHIFT;
	*tag = (uint64_t)(uintptr_t)buf;
	pm->n_page_buffers++;
	return buf;
}

static void tag_clear(struct physmem *pm, uint64_t *tag)
{
	uint64_t t = *tag;
	if (t && !(t & TAG_SPARSE)) {
		sim_free((void *)(uintptr_t)t);
		pm->n_page_buffers--;
	}
	*tag = 0;
}


void physmem_read(struct physmem *pm, uint64_t hpa, void *buf, size_t len)
{
	uint8_t *out = buf;
	while (len) {
		size_t off = hpa & (SZ_4K - 1);
		size_t n = SZ_4K - off < len ? SZ_4K - off : len;
		uint64_t *tag = tag_of(pm, hpa, false);
		uint64_t t = tag ? *tag : 0;
		if (!t) {
			memset(out, 0, n);
		} else if (t & TAG_SPARSE) {
			uint64_t w[512] = { 0 };
			w[(t >> TAG_IDX_SHIFT) & TAG_IDX_MASK] = t >> TAG_VAL_SHIFT;
			memcpy(out, (uint8_t *)w + off, n);
		} else {
			memcpy(out, (uint8_t *)(uintptr_t)t + off, n);
		}
		out += n;
		hpa += n;
		len -= n;
	}
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

void physmem_write(struct physmem *pm, uint64_t hpa, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	while (len) {
		size_t off = hpa & (SZ_4K - 1);
		size_t n = SZ_4K - off < len ? SZ_4K - off : len;
		uint64_t *tag = tag_of(pm, hpa, false);
		if ((!tag || !*tag) && all_zero(in, n)) {
			/* zero onto zero: stays free */
		} else {
			tag = tag_of(pm, hpa, true);
			memcpy((uint8_t *)physmem__materialize(pm, tag) + off, in, n);
		}
		in += n;
		hpa += n;
		len -= n;
	}
}

void physmem_zero_page(struct physmem *pm, uint64_t hpa)
{
	uint64_t *tag = tag_of(pm, hpa, false);
	if (tag)
		tag_clear(pm, tag);
}

bool physmem_page_is_zero(struct physmem *pm, uint64_t hpa)
{
	uint64_t *tag = tag_of(pm, hpa, false);
	if (!tag || !*tag)
		return true;
	if (*tag & TAG_SPARSE)
		return false;	/* a sparse tag always holds a nonzero value */
	return all_zero((const uint8_t *)(uintptr_t)*tag, SZ_4K);
}

void physmem_copy_page(struct physmem *pm, uint64_t dst, uint64_t src)
{
	uint64_t *st = tag_of(pm, src, false);
	uint64_t t = st ? *st : 0;
	if (!t || (t & TAG_SPARSE)) {
		uint64_t *dt = tag_of(pm, dst, t != 0);
		if (dt) {
			tag_clear(pm, dt);
			*dt = t;
		}
		return;
	}
	uint64_t *dt = tag_of(pm, dst, true);
	memcpy(physmem__materialize(pm, dt), (const void *)(uintptr_t)t, SZ_4K);
}

/* ---- PAMT ---- */

struct pamt_entry *pamt_entry_of(struct physmem *pm, uint64_t hpa, enum pamt_size size)
{
	if (!physmem_valid(pm, hpa) || !physmem_in_tdmr(pm, hpa))
		return NULL;
	if (size == PAMT_1G)
		return &physmem_chunk1g(pm, hpa, true)->pamt1g;
	if (size == PAMT_2M)
		return &physmem_chunk1g(pm, hpa, true)->pamt2m[(hpa >> 21) & 511];
	struct pamt_entry *a = physmem_chunk2m(pm, hpa, true)->pamt4k;
	return a ? &a[(hpa >> 12) & 511] : NULL;
}

const struct pamt_entry *pamt_entry_peek(const struct physmem *pm, uint64_t hpa,
					 enum pamt_size size)
{
	if (hpa >= pm->size || !pm->in_tdmr[hpa >> 30])
		return NULL;
	const struct phys_1g *g = pm->c1g[hpa >> 30];
	if (!g)
		return NULL;
	if (size == PAMT_1G)
		return &g->pamt1g;
	if (size == PAMT_2M)
		return &g->pamt2m[(hpa >> 21) & 511];
	const struct phys_2m *c = g->c2m[(hpa >> 21) & 511];
	return c && c->pamt4k ? &c->pamt4k[(hpa >> 12) & 511] : NULL;
}

enum pamt_type pamt_peek_type(struct physmem *pm, uint64_t hpa, enum pamt_size size)
{
	struct phys_1g *g = physmem_chunk1g(pm, hpa, false);
	if (!g)
		return PT_NDA;
	if (size == PAMT_1G)
		return g->pamt1g.type;
	if (size == PAMT_2M)
		return g->pamt2m[(hpa >> 21) & 511].type;
	struct phys_2m *c = g->c2m[(hpa >> 21) & 511];
	if (!c)
		return PT_NDA;
	unsigned i = (hpa >> 12) & 511;
	if (c->pamt_pages[i / 64] & (1ull << (i % 64)))
		return PT_PAMT;		/* PT_NDA in its entry, but a pair page */
	return c->pamt4k ? (enum pamt_type)c->pamt4k[i].type : PT_NDA;
}

uint64_t physmem_resident_bytes(const struct physmem *pm)
{
	return pm->n1g * sizeof(void *) +
	       pm->n_1g_chunks * sizeof(struct phys_1g) +
	       pm->n_2m_chunks * sizeof(struct phys_2m) +
	       pm->n_pamt4k * PAMT4K_BYTES +
	       pm->n_page_buffers * SZ_4K;
}

uint64_t physmem_pamt_bytes(const struct physmem *pm)
{
	const struct phys_1g *g = NULL;
	const struct phys_2m *c = NULL;
	return pm->n_1g_chunks * (sizeof(g->pamt1g) + sizeof(g->pamt2m)) +
	       pm->n_2m_chunks * (sizeof(c->pamt_pages) + sizeof(c->pair)) +
	       pm->n_pamt4k * PAMT4K_BYTES;
}
