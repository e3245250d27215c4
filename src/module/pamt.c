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
 * Dynamic PAMT: the 2M range has no 4K PAMT, so the walk ends at its 2M
 * entry (pamt_walk() of the 2025 module: a 2M entry is a leaf unless it is
 * PT_PAMT), held shared so far.  An exclusive walk needs it exclusive: the
 * real module promotes the lock, which fails while anyone else holds it;
 * here it is released and taken again, and if a PAMT.ADD completed in that
 * window the walk answers BUSY as a failed promotion would have.
 */
static __attribute__((noinline, cold)) uint64_t
walk_stop_2m(struct pamt_lock *pl, const struct phys_2m *c, struct pamt_entry *e1g,
	     struct pamt_entry *e2m, enum seam_lock_mode mode, enum seam_lock_class cls)
{
	if (mode == SEAM_EXCLUSIVE) {
		unlock_entry(e2m, SEAM_SHARED, cls);
		if (!lock_entry(e2m, SEAM_EXCLUSIVE, cls))
			goto busy;
		if (c->pamt4k) {
			unlock_entry(e2m, SEAM_EXCLUSIVE, cls);
			goto busy;
		}
	}
	return walk_done(pl, e2m, PAMT_2M, e1g, NULL);
busy:
	unlock_entry(e1g, SEAM_SHARED, cls);
	return walk_none(pl, TDX_OPERAND_BUSY);
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
	/*
	 * Read only now, under the 2M entry's shared lock: PAMT.ADD/REMOVE
	 * change it with that entry held exclusive.  Always set without
	 * Dynamic PAMT, so this costs a load and a branch never taken.
	 */
	struct pamt_entry *a4k = c->pamt4k;
	if (__builtin_expect(!a4k, 0))
		return walk_stop_2m(pl, c, e1g, e2m, mode, cls);
	struct pamt_entry *e4k = &a4k[(hpa >> 12) & 511];
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
	if (__builtin_expect(pl->size != size, 0)) {
		/*
		 * A free 4K page in a range without a 4K PAMT: the host must
		 * PAMT.ADD a pair first (non_shared_hpa_metadata_check_and_lock()
		 * in helpers.c of the 2025 module, so every leaf that takes a
		 * free 4K page: PAGE.ADD, AUG, SEPT.ADD, MNG.CREATE, ADDCX,
		 * VP.CREATE, VP.ADDCX, DEMOTE's and RELOCATE's new page).
		 */
		st = TDX_PAGE_METADATA_INCORRECT;
		if (m->pm.dynamic_pamt && pl->size == PAMT_2M && size == PAMT_4K &&
		    pl->leaf->type == PT_NDA && type == PT_NDA)
			st = TDX_MISSING_PAMT_PAGE_PAIR;
		pamt_unwalk(pl);
		return err(st, opnd);
	}
	if (pl->leaf->type != type) {
		pamt_unwalk(pl);
		return err(TDX_PAGE_METADATA_INCORRECT, opnd);
	}
	/* a pair page reads PT_NDA in its own entry but is not free (same file) */
	if (__builtin_expect(m->pm.dynamic_pamt, 0) && type == PT_NDA && size == PAMT_4K &&
	    pamt_is_pair_page(&m->pm, hpa)) {
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
		/* no pair page inside (pamt_is_2mb_range_free() with Dynamic PAMT) */
		for (int i = 0; i < 8; i++)
			if (c->pamt_pages[i])
				goto not_free;
		for (int i = 0; c->pamt4k && i < 512; i++)
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

/* ---------------------------------------------------------------------------
 * Dynamic PAMT pairs (tdh_phymem_pamt_add.c, pamt_demote() and pamt_promote()
 * in pamt_manager.c of the 2025 module).  See internal.h for the contract.
 */

static uint64_t *pair_bit_word(struct physmem *pm, uint64_t hpa, uint64_t *bit)
{
	unsigned i = (hpa >> 12) & 511;
	*bit = 1ull << (i % 64);
	return &physmem_chunk2m(pm, hpa, true)->pamt_pages[i / 64];
}

/* "lock bts" on the page's PAMT_PAGE_BITMAP bit: true if it was clear. */
static bool pair_mark(struct physmem *pm, uint64_t hpa)
{
	uint64_t bit, *w = pair_bit_word(pm, hpa, &bit);
	return !(seam_fetch_or64(w, bit) & bit);
}

static void pair_unmark(struct physmem *pm, uint64_t hpa)
{
	uint64_t bit, *w = pair_bit_word(pm, hpa, &bit);
	seam_fetch_and64(w, ~bit);
}

uint64_t pamt_pair_operands_check(struct tdx_module *m, uint64_t hpa0, uint64_t hpa1,
				  uint32_t opnd0, uint32_t opnd1)
{
	/* pamt_demote(): both alignment/MAX_PA checks, then both TDMR checks */
	if ((hpa0 & (SZ_4K - 1)) || (hpa0 >> m->pm.max_pa))
		return err(TDX_OPERAND_INVALID, opnd0);
	if ((hpa1 & (SZ_4K - 1)) || (hpa1 >> m->pm.max_pa))
		return err(TDX_OPERAND_INVALID, opnd1);
	if (!physmem_in_tdmr(&m->pm, hpa0))
		return err(TDX_OPERAND_ADDR_RANGE_ERROR, opnd0);
	if (!physmem_in_tdmr(&m->pm, hpa1))
		return err(TDX_OPERAND_ADDR_RANGE_ERROR, opnd1);
	return TDX_SUCCESS;
}

uint64_t pamt_pair_lock(struct tdx_module *m, uint64_t range, uint64_t hpa0, uint64_t hpa1,
			uint32_t opnd0, uint32_t opnd1, bool skip_in_range, struct pamt_pair *pp)
{
	const uint32_t opnd[2] = { opnd0, opnd1 };
	uint64_t st = TDX_SUCCESS;
	pp->hpa[0] = hpa0;
	pp->hpa[1] = hpa1;
	pp->pl[0].leaf = pp->pl[1].leaf = NULL;
	for (int i = 0; i < 2; i++) {
		/*
		 * PAMT.ADD skips a pair page inside the range it adds: that
		 * range's entry, held exclusive, is the page's own entry and
		 * was just found PT_NDA.  DEMOTE walks every pair page, so one
		 * inside the range it splits is busy.
		 */
		if (skip_in_range && (pp->hpa[i] >> 21) == (range >> 21))
			continue;
		/* its own entry, shared: the 4K one, or the 2M one without a 4K PAMT */
		st = walk_lock(&m->pm, pp->hpa[i], PAMT_4K, SEAM_SHARED, SEAM_LOCK_PAMT_PAGE,
			       &pp->pl[i]);
		if (st) {
			st = err(st, opnd[i]);
			goto fail;
		}
		if (pp->pl[i].leaf->type != PT_NDA) {
			st = err(TDX_PAGE_NOT_FREE, opnd[i]);
			goto fail;
		}
	}
	/* both free: claim them as PAMT pages (already one: PAGE_NOT_FREE) */
	if (!pair_mark(&m->pm, hpa0)) {
		st = err(TDX_PAGE_NOT_FREE, opnd0);
		goto fail;
	}
	if (!pair_mark(&m->pm, hpa1)) {
		pair_unmark(&m->pm, hpa0);
		st = err(TDX_PAGE_NOT_FREE, opnd1);
		goto fail;
	}
	return TDX_SUCCESS;
fail:
	pamt_unwalk(&pp->pl[1]);
	pamt_unwalk(&pp->pl[0]);
	return st;
}

void pamt_pair_release(struct pamt_pair *pp)
{
	pamt_unwalk(&pp->pl[1]);
	pamt_unwalk(&pp->pl[0]);
}

void pamt_pair_abort(struct tdx_module *m, struct pamt_pair *pp)
{
	pair_unmark(&m->pm, pp->hpa[1]);
	pair_unmark(&m->pm, pp->hpa[0]);
	pamt_pair_release(pp);
}

struct pamt_entry *pamt_pair_commit(struct tdx_module *m, uint64_t range, struct pamt_entry *e2m,
				    const struct pamt_pair *pp, enum pamt_type fill, uint32_t owner)
{
	struct phys_2m *c = physmem_chunk2m(&m->pm, range, true);
	/* the module zeroes the pair (PAMT.ADD) or fills it (DEMOTE) */
	physmem_zero_page(&m->pm, pp->hpa[0]);
	physmem_zero_page(&m->pm, pp->hpa[1]);
	struct pamt_entry *a = physmem_pamt4k_alloc(&m->pm, c);
	if (fill != PT_NDA)
		for (int i = 0; i < 512; i++)
			pamt_set(&a[i], fill, owner);
	c->pair[0] = pp->hpa[0];
	c->pair[1] = pp->hpa[1];
	pamt_set(e2m, PT_PAMT, 0);
	return a;
}

void pamt_pair_take_back(struct tdx_module *m, uint64_t range, struct pamt_entry *e2m,
			 enum pamt_type type, uint32_t owner, uint64_t pair[2])
{
	struct phys_2m *c = physmem_chunk2m(&m->pm, range, false);
	pair[0] = c->pair[0];
	pair[1] = c->pair[1];
	pair_unmark(&m->pm, pair[0]);
	pair_unmark(&m->pm, pair[1]);
	c->pair[0] = c->pair[1] = 0;
	physmem_pamt4k_free(&m->pm, c);
	pamt_set(e2m, type, owner);
}
