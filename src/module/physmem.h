/* SPDX-License-Identifier: MIT */
/*
 * physmem.h - simulated host physical memory: page contents and the PAMT.
 *
 * Memory is sparse.  The address space is cut into 1G chunks (struct
 * phys_1g, about 8 KiB, allocated when first touched) and each 1G chunk into
 * 2M chunks (struct phys_2m, 4 KiB of content tags plus the 8 KiB 4K PAMT when
 * there is one, allocated when first touched).  A 4 TiB
 * TDMR that nobody touches costs one pointer per GiB.
 *
 * Page contents are one 64-bit tag per 4K page (see docs/design.md):
 *   tag == 0               the page is all zero
 *   tag & 1                the page is zero except one 64-bit word:
 *                          bits 9:1 word index, bits 63:10 its value (< 2^54)
 *   otherwise              pointer to a malloc'd 4096-byte copy of the page
 * so a page that was accepted (zeroed) and then written with one small value
 * costs 8 bytes, and a firmware image or an S-EPT page costs 4 KiB.
 *
 * The PAMT keeps one 16-byte entry per page per size (4K, 2M, 1G), only for
 * pages inside a TDMR.
 */
#ifndef TDXSIM_PHYSMEM_H
#define TDXSIM_PHYSMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/seam.h"
#include "tdx_abi.h"

/* One PAMT entry (a page at one size). */
struct pamt_entry {
	seam_sharex_t lock;	/* the entry's sharex lock */
	unsigned type : 8;	/* enum pamt_type */
	unsigned owner : 24;	/* owning TD id (0: none); a TDR owns itself */
	union {
		uint64_t bepoch;	/* PT_REG/PT_EPT: TD epoch at RANGE.BLOCK */
		uint64_t vcpu_index;	/* PT_TDVPR: index in the TD's vCPU table */
	};
};
static_assert(sizeof(struct pamt_entry) == 16, "PAMT entry is 16 bytes");

#define PAMT_MAX_OWNER ((1u << 24) - 1)

/*
 * A 2M range.  Its 4K PAMT (512 entries, 8 KiB) is an array of its own:
 * without Dynamic PAMT it is allocated with the chunk (the static PAMT),
 * with Dynamic PAMT it exists only from PAMT.ADD (or DEMOTE) to PAMT.REMOVE
 * (or PROMOTE) of the range and  is NULL otherwise; a 4K walk in a
 * range without one stops at the 2M entry (pamt_walk() of the 2025 module).
 */
struct phys_2m {
	struct pamt_entry *pamt4k;	/* PAMT of the 512 4K pages, or NULL */
	/*
	 * Dynamic PAMT: which 4K pages of this range serve as a PAMT pair page
	 * of some range (the module's PAMT_PAGE_BITMAP, pamt_manager.c); such a
	 * page is not free although its PAMT entry says PT_NDA
	 */
	uint64_t pamt_pages[8];
	uint64_t pair[2];		/* Dynamic PAMT: HPAs of this range's pair */
	uint64_t content[512];		/* content tag of each 4K page */
};

struct phys_1g {
	struct pamt_entry pamt1g;	/* PAMT of the 1G page */
	struct pamt_entry pamt2m[512];	/* PAMT of the 512 2M pages */
	struct phys_2m *c2m[512];	/* lazily allocated 2M chunks */
};

struct tdmr {
	uint64_t base;	/* 1G aligned */
	uint64_t size;	/* multiple of 1G */
};

#define PHYSMEM_MAX_TDMRS 64

struct physmem {
	uint64_t size;			/* bytes of host physical memory */
	unsigned max_pa;		/* physical address width (bits) */
	bool dynamic_pamt;		/* 4K PAMT arrays only where a pair was added */
	uint64_t n1g;			/* size / 1G, rounded up */
	struct phys_1g **c1g;		/* n1g lazily allocated 1G chunks */
	struct tdmr tdmr[PHYSMEM_MAX_TDMRS];
	int ntdmr;
	uint8_t *in_tdmr;		/* per GiB: inside a TDMR (TDMRs are 1G aligned) */
	/* statistics (simulator memory, not simulated memory) */
	uint64_t n_1g_chunks;		/* struct phys_1g allocated */
	uint64_t n_2m_chunks;		/* struct phys_2m allocated */
	uint64_t n_pamt4k;		/* 4K PAMT arrays (8 KiB each) allocated */
	uint64_t n_page_buffers;	/* materialized 4K content buffers */
};

#define SZ_4K  0x1000ull
#define SZ_2M  0x200000ull
#define SZ_1G  0x40000000ull

/* Returns 0, or -1 with a message on stderr if the arguments are unusable. */
int physmem_init(struct physmem *pm, uint64_t size, unsigned max_pa);
void physmem_destroy(struct physmem *pm);

/* Register a TDMR: 1G aligned and sized, inside memory, not overlapping. */
int physmem_add_tdmr(struct physmem *pm, uint64_t base, uint64_t size);
static inline bool physmem_in_tdmr(const struct physmem *pm, uint64_t hpa)
{
	return hpa < pm->size && pm->in_tdmr[hpa >> 30];
}

static inline bool physmem_valid(const struct physmem *pm, uint64_t hpa)
{
	return hpa < pm->size;
}

/* Slow paths of the lookups below (first touch of a chunk or a page). */
struct phys_1g *physmem__alloc1g(struct physmem *pm, uint64_t hpa);
struct phys_2m *physmem__alloc2m(struct physmem *pm, struct phys_1g *g, uint64_t hpa);
uint64_t *physmem__materialize(struct physmem *pm, uint64_t *tag);
/* Dynamic PAMT: give chunk  an all-PT_NDA 4K PAMT, or free it. */
struct pamt_entry *physmem_pamt4k_alloc(struct physmem *pm, struct phys_2m *c);
void physmem_pamt4k_free(struct physmem *pm, struct phys_2m *c);

/* The 1G chunk holding @hpa; allocated if @alloc, else NULL when untouched. */
static inline struct phys_1g *physmem_chunk1g(struct physmem *pm, uint64_t hpa, bool alloc)
{
	struct phys_1g *g = pm->c1g[hpa >> 30];
	if (__builtin_expect(!g, 0) && alloc)
		g = physmem__alloc1g(pm, hpa);
	return g;
}

/* The 2M chunk holding @hpa; allocated if @alloc, else NULL when untouched. */
static inline struct phys_2m *physmem_chunk2m(struct physmem *pm, uint64_t hpa, bool alloc)
{
	struct phys_1g *g = physmem_chunk1g(pm, hpa, alloc);
	if (!g)
		return NULL;
	struct phys_2m *c = g->c2m[(hpa >> 21) & 511];
	if (__builtin_expect(!c, 0) && alloc)
		c = physmem__alloc2m(pm, g, hpa);
	return c;
}

/* ---- contents ---- */
void physmem_read(struct physmem *pm, uint64_t hpa, void *buf, size_t len);
void physmem_write(struct physmem *pm, uint64_t hpa, const void *buf, size_t len);
/* The content tag encoding (see the head of this file). */
#define PHYSMEM_TAG_SPARSE	1ull
#define PHYSMEM_TAG_IDX_SHIFT	1
#define PHYSMEM_TAG_IDX_MASK	0x1ffull
#define PHYSMEM_TAG_VAL_SHIFT	10
#define PHYSMEM_TAG_VAL_MAX	((1ull << 54) - 1)

/*
 * One 8-aligned word (every guest load and store comes here, so inline).
 * A write of a small value to a zero or one-word page keeps the tag; a
 * second word or a wide value materializes the page.
 */
static inline uint64_t physmem_read64(struct physmem *pm, uint64_t hpa)
{
	struct phys_2m *c = physmem_chunk2m(pm, hpa, false);
	uint64_t t = c ? c->content[(hpa >> 12) & 511] : 0;
	unsigned idx = (hpa >> 3) & 511;
	if (!t)
		return 0;
	if (t & PHYSMEM_TAG_SPARSE)
		return ((t >> PHYSMEM_TAG_IDX_SHIFT) & PHYSMEM_TAG_IDX_MASK) == idx
			       ? t >> PHYSMEM_TAG_VAL_SHIFT : 0;
	return ((uint64_t *)(uintptr_t)t)[idx];
}

static inline void physmem_write64(struct physmem *pm, uint64_t hpa, uint64_t v)
{
	struct phys_2m *c = physmem_chunk2m(pm, hpa, v != 0);
	if (!c)
		return;		/* writing 0 to an untouched page: nothing to do */
	uint64_t *tag = &c->content[(hpa >> 12) & 511];
	uint64_t t = *tag;
	unsigned idx = (hpa >> 3) & 511;
	if (t && !(t & PHYSMEM_TAG_SPARSE)) {
		((uint64_t *)(uintptr_t)t)[idx] = v;
		return;
	}
	bool same_word = (t & PHYSMEM_TAG_SPARSE) &&
			 ((t >> PHYSMEM_TAG_IDX_SHIFT) & PHYSMEM_TAG_IDX_MASK) == idx;
	if (t && !same_word && v == 0)
		return;		/* that word already reads as zero */
	if ((t == 0 || same_word) && v <= PHYSMEM_TAG_VAL_MAX) {
		*tag = v ? PHYSMEM_TAG_SPARSE | ((uint64_t)idx << PHYSMEM_TAG_IDX_SHIFT) |
			   (v << PHYSMEM_TAG_VAL_SHIFT) : 0;
		return;
	}
	/* a second nonzero word, or a wide value: a full page copy */
	physmem__materialize(pm, tag)[idx] = v;
}
void physmem_zero_page(struct physmem *pm, uint64_t hpa);	/* 4K */
/* The 512 words of a 4K page, materialized (stable until zeroed). */
static inline uint64_t *physmem_page_words(struct physmem *pm, uint64_t hpa)
{
	uint64_t *tag = &physmem_chunk2m(pm, hpa, true)->content[(hpa >> 12) & 511];
	if (__builtin_expect(*tag && !(*tag & 1), 1))
		return (uint64_t *)(uintptr_t)*tag;
	return physmem__materialize(pm, tag);
}
/* Is the 4K page at @hpa all zero?  Cheap for untouched/zeroed pages. */
bool physmem_page_is_zero(struct physmem *pm, uint64_t hpa);
/* Copy the 4K page at @src to @dst (cheap for zero and one-word pages). */
void physmem_copy_page(struct physmem *pm, uint64_t dst, uint64_t src);

/* ---- PAMT ---- */
/*
 * The PAMT entry of @hpa at @size, or NULL if @hpa is outside every TDMR
 * or (Dynamic PAMT) @size is 4K and the range has no 4K PAMT.  Allocates the
 * chunk if needed.
 */
struct pamt_entry *pamt_entry_of(struct physmem *pm, uint64_t hpa, enum pamt_size size);
/*
 * Read-only: the PAMT entry of @hpa at @size without allocating anything;
 * NULL outside every TDMR, for an untouched chunk, or (Dynamic PAMT) at 4K
 * for a range without a 4K PAMT.  For checkers, which must change nothing.
 */
const struct pamt_entry *pamt_entry_peek(const struct physmem *pm, uint64_t hpa,
					 enum pamt_size size);
/*
 * Read-only peek: the type at @size without allocating (PT_NDA if untouched
 * or, at 4K, if the range has no 4K PAMT).  A 4K page serving as a PAMT pair
 * page reads PT_PAMT.
 */
enum pamt_type pamt_peek_type(struct physmem *pm, uint64_t hpa, enum pamt_size size);

/* Simulator bytes used by physmem structures (for sim_bytes_per_4k_page). */
uint64_t physmem_resident_bytes(const struct physmem *pm);
/*
 * Of those, the bytes that model the module's PAMT: the 1G and 2M entries of
 * touched GiBs, the PAMT-page bitmap and pair of touched 2M chunks, and every
 * 4K PAMT array (8 KiB).  The real PAMT's static/dynamic split in miniature.
 */
uint64_t physmem_pamt_bytes(const struct physmem *pm);

#endif /* TDXSIM_PHYSMEM_H */
