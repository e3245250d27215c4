/* SPDX-License-Identifier: MIT */
/*
 * pamt.c - PAMT walks and page-operand checks.
 *
 * A walk for a page of size S locks the 1G entry shared, stops there if it
 * is a 1G PT_REG page or S is 1G, else locks the 2M entry shared, stops
 * there if it is a 2M PT_REG page or S is 2M, else locks the 4K entry.  The
 * entry where it stops is locked in the requested mode instead of shared.
 * Holding parents shared is what makes "AUG 2M here" and "ADD 4K inside it"
 * exclude each other (mirrors pamt_walk() of the TDX module).
 */
#include "internal.h"

static inline bool lock_entry(struct pamt_entry *e, enum seam_lock_mode mode,
			      enum seam_lock_class cls)
{
	return seam_sharex_try(&e->lock, mode, cls);
}

static inline void unlock_entry(struct pamt_entry *e, enum seam_lock_mode mode,
				enum seam_lock_class cls)
{
	seam_sharex_release(&e->lock, mode, cls);
}

/* A walk that stopped at @leaf (locked in pl->mode) under @p1g/@p2m. */
static inline uint64_t walk_done(struct pamt_lock *pl, struct pamt_entry *leaf,
				 enum pamt_size size, struct pamt_entry *p1g,
				 struct pamt_entry *p2m)
{
	pl->leaf = leaf;
	pl->size = size;
	pl->p1g = p1g;
	pl->p2m = p2m;
	return TDX_SUCCESS;
}

static inline uint64_t walk_none(struct pamt_lock *pl, uint64_t st)
{
	pl->leaf = pl->p1g = pl->p2m = NULL;
	return st;
}

/*
 * Walk and lock.  Returns TDX_SUCCESS, TDX_OPERAND_BUSY (nothing held) or
 * TDX_OPERAND_ADDR_RANGE_ERROR (not in a TDMR).  No operand id is added.
 * Inlined into the operand checks below: one walk per SEAMCALL operand is
 * the module's hottest path.
 */
static inline __attribute__((always_inline)) uint64_t
walk_lock(struct physmem *pm, uint64_t hpa, enum pamt_size want, enum seam_lock_mode mode,
	  enum seam_lock_class cls, struct pamt_lock *pl)
{
	pl->mode = mode;
	pl->cls = cls;
	if (__builtin_expect(!physmem_in_tdmr(pm, hpa), 0))
		return walk_none(pl, TDX_OPERAND_ADDR_RANGE_ERROR);
	struct phys_1g *g = physmem_chunk1g(pm, hpa, true);
	struct pamt_entry *e1g = &g->pamt1g;

	if (__builtin_expect(e1g->type == PT_REG || want == PAMT_1G, 0)) {
		if (!lock_entry(e1g, mode, cls))
			return walk_none(pl, TDX_OPERAND_BUSY);
		return walk_done(pl, e1g, PAMT_1G, NULL, NULL);
	}
	if (!lock_entry(e1g, SEAM_SHARED, cls))
		return walk_none(pl, TDX_OPERAND_BUSY);

	unsigned i2m = (hpa >> 21) & 511;
	struct pamt_entry *e2m = &g->pamt2m[i2m];
	if (__builtin_expect(e2m->type == PT_REG || want == PAMT_2M, 0)) {
		if (!lock_entry(e2m, mode, cls))
			goto busy1;
		return walk_done(pl, e2m, PAMT_2M, e1g, NULL);
	}
	if (!lock_entry(e2m, SEAM_SHARED, cls))
		goto busy1;

	struct phys_2m *c = g->c2m[i2m];
	if (__builtin_expect(!c, 0))
		c = physmem__alloc2m(pm, g, hpa);
	struct pamt_entry *e4k = &c->pamt4k[(hpa >> 12) & 511];
	if (!lock_entry(e4k, mode, cls))
		goto busy2;
	return walk_done(pl, e4k, PAMT_4K, e1g, e2m);
busy2:
	unlock_entry(e2m, SEAM_SHARED, cls);
busy1:
	unlock_entry(e1g, SEAM_SHARED, cls);
	return walk_none(pl, TDX_OPERAND_BUSY);
}

uint64_t pamt_walk_lock(struct tdx_module *m, uint64_t hpa, enum pamt_size want,
			enum seam_lock_mode mode, enum seam_lock_class cls,
			struct pamt_lock *pl)
{
	return walk_lock(&m->pm, hpa, want, mode, cls, pl);
}

static uint64_t size_align(enum pamt_size size)
{
	return SZ_4K << (9 * size);
}

/*
 * Check an explicit page operand: aligned and below MAX_PA
 * (OPERAND_INVALID), inside a TDMR (OPERAND_ADDR_RANGE_ERROR), lockable
 * (OPERAND_BUSY), found at exactly @size with type @type
 * (PAGE_METADATA_INCORRECT).  All with operand id @opnd.  On success the
 * page is locked in *pl.
 */
uint64_t pamt_check_lock(struct tdx_module *m, uint64_t hpa, enum pamt_size size,
			 enum pamt_type type, enum seam_lock_mode mode,
			 enum seam_lock_class cls, uint32_t opnd, struct pamt_lock *pl)
{
	if ((hpa & (size_align(size) - 1)) || (hpa >> m->pm.max_pa))
		return err(TDX_OPERAND_INVALID, opnd);
	/* the walk answers OPERAND_ADDR_RANGE_ERROR outside every TDMR */
	uint64_t st = walk_lock(&m->pm, hpa, size, mode, cls, pl);
	if (st)
		return err(st, opnd);
	if (pl->size != size || pl->leaf->type != type) {
		pamt_unwalk(pl);
		return err(TDX_PAGE_METADATA_INCORRECT, opnd);
	}
	return TDX_SUCCESS;
}

/*
 * A page that is to become a TD page: PT_NDA at @size, and for a 2M page
 * every 4K PAMT entry inside it PT_NDA too.  Locked exclusive on success.
 */
uint64_t pamt_check_lock_free(struct tdx_module *m, uint64_t hpa, enum pamt_size size,
			      enum seam_lock_class cls, uint32_t opnd, struct pamt_lock *pl)
{
	uint64_t st = pamt_check_lock(m, hpa, size, PT_NDA, SEAM_EXCLUSIVE,
				      cls, opnd, pl);
	if (st || size == PAMT_4K)
		return st;
	for (uint64_t off = 0; off < size_align(size); off += SZ_2M) {
		if (size == PAMT_1G && pamt_peek_type(&m->pm, hpa + off, PAMT_2M) != PT_NDA)
			goto not_free;
		struct phys_2m *c = physmem_chunk2m(&m->pm, hpa + off, false);
		if (!c)
			continue;
		for (int i = 0; i < 512; i++)
			if (c->pamt4k[i].type != PT_NDA)
				goto not_free;
	}
	return TDX_SUCCESS;
not_free:
	pamt_unwalk(pl);
	return err(TDX_PAGE_METADATA_INCORRECT, opnd);
}

/*
 * Implicit page (found through an S-EPT entry, e.g. the page PAGE.REMOVE
 * removes, the S-EPT page SEPT.REMOVE frees): lock its own PAMT entry at
 * @size and nothing else, as pamt_manager.c's pamt_implicit_get_and_lock()
 * does: no walk, so no 1G/2M parent is held and an operation holding one
 * of them (shared or exclusive) does not make this one busy.  The S-EPT
 * entry that points at the page already says what it is, so neither the
 * size nor the type is checked.  Returns TDX_SUCCESS or TDX_OPERAND_BUSY.
 */
uint64_t pamt_lock_implicit(struct tdx_module *m, uint64_t hpa, enum pamt_size size,
			    enum seam_lock_mode mode, struct pamt_lock *pl)
{
	struct phys_1g *g = physmem_chunk1g(&m->pm, hpa, true);
	struct pamt_entry *e;
	unsigned i2m = (hpa >> 21) & 511;
	if (size == PAMT_1G) {
		e = &g->pamt1g;
	} else if (size == PAMT_2M) {
		e = &g->pamt2m[i2m];
	} else {
		struct phys_2m *c = g->c2m[i2m];
		if (!c)
			c = physmem__alloc2m(&m->pm, g, hpa);
		e = &c->pamt4k[(hpa >> 12) & 511];
	}
	pl->mode = mode;
	pl->cls = SEAM_LOCK_PAMT_PAGE;
	if (!lock_entry(e, mode, SEAM_LOCK_PAMT_PAGE))
		return walk_none(pl, TDX_OPERAND_BUSY);
	return walk_done(pl, e, size, NULL, NULL);
}

/* Make a locked PAMT entry describe a page of @type owned by TD @owner. */
void pamt_set(struct pamt_entry *e, enum pamt_type type, uint32_t owner)
{
	e->type = type;
	e->owner = owner;
	e->bepoch = 0;
}
