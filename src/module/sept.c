/* SPDX-License-Identifier: MIT */
/*
 * sept.c - Secure EPT: the operation x state table, the walk, and the
 * architectural view of entries.
 */
#include "internal.h"

#define S(x) (1u << SEPT_##x)

const char *const sept_state_names[SEPT_NR_STATES] = {
	[SEPT_FREE] = "FREE",
	[SEPT_REMOVED] = "REMOVED",
	[SEPT_NL_MAPPED] = "NL_MAPPED",
	[SEPT_NL_BLOCKED] = "NL_BLOCKED",
	[SEPT_MAPPED] = "MAPPED",
	[SEPT_BLOCKED] = "BLOCKED",
	[SEPT_PENDING] = "PENDING",
	[SEPT_PENDING_BLOCKED] = "PENDING_BLOCKED",
};

const uint8_t sept_public_state[SEPT_NR_STATES] = {
	[SEPT_FREE] = SEPT_PUB_FREE,
	[SEPT_REMOVED] = SEPT_PUB_REMOVED,
	[SEPT_NL_MAPPED] = SEPT_PUB_NL_MAPPED,
	[SEPT_NL_BLOCKED] = SEPT_PUB_NL_BLOCKED,
	[SEPT_MAPPED] = SEPT_PUB_MAPPED,
	[SEPT_BLOCKED] = SEPT_PUB_BLOCKED,
	[SEPT_PENDING] = SEPT_PUB_PENDING,
	[SEPT_PENDING_BLOCKED] = SEPT_PUB_PENDING_BLOCKED,
};

/*
 * Which states each operation accepts at the addressed entry, and where it
 * leaves the entry (module-abi.md section 3; intel/tdx-module
 * include/auto_gen/sept_state_lookup.c).  Unlisted next[] entries are N.
 * RANGE.BLOCK on an already blocked entry is not "allowed": the handler
 * reports GPA_RANGE_ALREADY_BLOCKED for those, EPT_ENTRY_STATE_INCORRECT
 * for the rest.
 */
/* next-state rows, columns in enum order:
 *        FREE       REMOVED    NL_MAPPED  NL_BLOCKED MAPPED     BLOCKED    PENDING    PENDING_BLOCKED */
#define ROW(a, b, c, d, e, f, g, h) { SEPT_##a, SEPT_##b, SEPT_##c, SEPT_##d, SEPT_##e, SEPT_##f, SEPT_##g, SEPT_##h }
#define SEPT_N SEPT_NR_STATES
const struct sept_rule sept_rules[SOP_NR] = {
	[SOP_PAGE_ADD] = { "PAGE.ADD", S(FREE),
		ROW(MAPPED,    N,         N,         N,         N,         N,         N,         N) },
	[SOP_SEPT_ADD] = { "SEPT.ADD", S(FREE),
		ROW(NL_MAPPED, N,         N,         N,         N,         N,         N,         N) },
	[SOP_PAGE_AUG] = { "PAGE.AUG", S(FREE) | S(REMOVED),
		ROW(PENDING,   PENDING,   N,         N,         N,         N,         N,         N) },
	[SOP_RANGE_BLOCK] = { "RANGE.BLOCK", S(NL_MAPPED) | S(MAPPED) | S(PENDING),
		ROW(N,         N,         NL_BLOCKED, N,        BLOCKED,   N,         PENDING_BLOCKED, N) },
	[SOP_RANGE_UNBLOCK] = { "RANGE.UNBLOCK", S(NL_BLOCKED) | S(BLOCKED) | S(PENDING_BLOCKED),
		ROW(N,         N,         N,         NL_MAPPED, N,         MAPPED,    N,         PENDING) },
	[SOP_PAGE_REMOVE] = { "PAGE.REMOVE", S(MAPPED) | S(BLOCKED) | S(PENDING) | S(PENDING_BLOCKED),
		ROW(N,         N,         N,         N,         FREE,      FREE,      FREE,      FREE) },
	[SOP_SEPT_REMOVE] = { "SEPT.REMOVE", S(NL_MAPPED) | S(NL_BLOCKED),
		ROW(N,         N,         FREE,      FREE,      N,         N,         N,         N) },
	[SOP_PAGE_DEMOTE] = { "PAGE.DEMOTE", S(MAPPED) | S(BLOCKED) | S(PENDING) | S(PENDING_BLOCKED),
		ROW(N,         N,         N,         N,         NL_MAPPED, NL_MAPPED, NL_MAPPED, NL_MAPPED) },
	/* PROMOTE: the entry becomes a copy of child 0, so no fixed next state */
	[SOP_PAGE_PROMOTE] = { "PAGE.PROMOTE", S(NL_MAPPED) | S(NL_BLOCKED),
		ROW(N,         N,         N,         N,         N,         N,         N,         N) },
	[SOP_PAGE_RELOCATE] = { "PAGE.RELOCATE", S(MAPPED) | S(BLOCKED) | S(PENDING) | S(PENDING_BLOCKED),
		ROW(N,         N,         N,         N,         MAPPED,    MAPPED,    PENDING,   PENDING) },
	[SOP_MR_EXTEND] = { "MR.EXTEND", S(MAPPED),
		ROW(N,         N,         N,         N,         N,         N,         N,         N) },
	[SOP_SEPT_RD] = { "SEPT.RD", 0xff,
		ROW(N,         N,         N,         N,         N,         N,         N,         N) },
	[SOP_ACCEPT] = { "ACCEPT", S(PENDING),
		ROW(N,         N,         N,         N,         N,         N,         MAPPED,    N) },
	/* ATTR.RD/WR change no state; anything but MAPPED/PENDING is an EPT-violation exit */
	[SOP_ATTR_RD] = { "ATTR.RD", S(MAPPED) | S(PENDING),
		ROW(N,         N,         N,         N,         N,         N,         N,         N) },
	[SOP_ATTR_WR] = { "ATTR.WR", S(MAPPED) | S(PENDING),
		ROW(N,         N,         N,         N,         N,         N,         N,         N) },
};
#undef ROW
#undef SEPT_N

#undef S
#undef N

static inline uint64_t *table_entry(struct physmem *pm, uint64_t table, uint64_t gpa, int level)
{
	return physmem_page_words(pm, table) + ((gpa >> (12 + 9 * level)) & 511);
}

/*
 * The full walk behind sept_walk() (internal.h), from the root: taken when
 * the walk cache misses, and for walks that stop above the 4K level.
 */
uint64_t *sept_walk_slow(struct tdx_td *td, uint64_t gpa, int level, int *reached,
			 uint64_t *copy)
{
	struct physmem *pm = &td->m->pm;
	unsigned wi = (gpa >> 21) & 63;
	uint64_t table = td->root;
	for (int l = td->root_level;; l--) {
		uint64_t *e = table_entry(pm, table, gpa, l);
		uint64_t v = seam_load64(e);
		*reached = l;
		*copy = v;
		if (l == level || septe_state(v) != SEPT_NL_MAPPED || l == 0)
			return e;
		table = septe_hpa(v);
		if (l == 1) {
			td->wc[wi].tag = (gpa >> 21) + 1;
			td->wc[wi].gen = td->sept_gen;
			td->wc[wi].table = physmem_page_words(pm, table);
		}
	}
}

/*
 * The architectural EPT entry the real module reports for @e (RCX of
 * SEPT.RD and of EPT errors), as set_arch_septe_details_in_vmm_regs() in
 * sept_manager.c builds it: FREE is suppress-#VE alone; a non-leaf entry
 * (NL_MAPPED, NL_BLOCKED, and REMOVED, whose encoding is not a leaf) keeps
 * only its R/W/X and PS bits, so no table address: RWX 7 when mapped, 0
 * when blocked (RANGE.BLOCK clears them) or removed.  A leaf keeps RWX,
 * memory type, IPAT, PS, the HPA and suppress-#VE, which every L1 S-EPT
 * entry has set; its PS (bit 7) is set at every level, 4K included,
 * because the module's leaf state encodings include it (sept_state_lookup.h
 * MAPPED 0x60 etc.; x86_defs.h: "always 1 for 4KB").  Only MAPPED grants
 * access (AUG maps PENDING with no permissions, BLOCK clears them).
 * @level does not change the view; it is kept for the callers' symmetry
 * with sept_set_details().
 */
uint64_t sept_arch_entry(uint64_t e, int level)
{
	(void)level;
	enum sept_state s = septe_state(e);
	switch (s) {
	case SEPT_FREE:
		return EPTE_SVE;
	case SEPT_NL_MAPPED:
		return EPTE_R | EPTE_W | EPTE_X;
	case SEPT_NL_BLOCKED:
	case SEPT_REMOVED:
		return 0;
	default:
		break;
	}
	uint64_t a = septe_hpa(e) | EPTE_MT_WB | EPTE_IPAT | EPTE_LEAF | EPTE_SVE;
	if (s == SEPT_MAPPED)
		a |= EPTE_R | EPTE_W | EPTE_X;
	return a;
}

/* RCX/RDX out of EPT-related errors and SEPT.RD. */
void sept_set_details(struct tdx_regs *out, uint64_t e, int level)
{
	out->rcx = sept_arch_entry(e, level);
	out->rdx = tdx_sept_info(level, sept_public_state[septe_state(e)]);
}



/*
 * Commit an S-EPT entry but keep its lock, for the leaves whose module code
 * writes the new value with the lock bit still set and releases the lock
 * later with a plain release (RANGE.BLOCK, SEPT.ADD, ACCEPT): the write
 * clears the host-priority bit, and the release that follows keeps one set
 * after the write.
 */
void sept_entry_write_locked(uint64_t *entry, uint64_t value)
{
	seam_store64(entry, (value & ~SEPTE_HP) | SEPTE_LOCK);
}

/* ---- read-only inspection (tdx_module.h) ---- */

const char *tdx_sept_state_name(unsigned state)
{
	return state < SEPT_NR_STATES ? sept_state_names[state] : "?";
}

/*
 * The entries of the S-EPT page at @hpa as they are, without materializing
 * it (physmem_page_words() would allocate a copy of a zero page): NULL for
 * an all-zero page (512 FREE entries), else its words, in @buf for a
 * one-word page.
 */
static const uint64_t *sept_peek_page(struct physmem *pm, uint64_t hpa, uint64_t *buf)
{
	if (!physmem_valid(pm, hpa))
		return NULL;
	const struct phys_2m *c = physmem_chunk2m(pm, hpa, false);
	uint64_t tag = c ? c->content[(hpa >> 12) & 511] : 0;
	if (!tag)
		return NULL;
	if (!(tag & 1))
		return (const uint64_t *)(uintptr_t)tag;
	for (int i = 0; i < 512; i++)
		buf[i] = 0;
	buf[(tag >> 1) & 511] = tag >> 10;
	return buf;
}

static int sept_visit(struct physmem *pm, uint64_t table, int level, uint64_t base,
		      tdx_sept_leaf_fn fn, void *arg)
{
	uint64_t buf[512];
	const uint64_t *w = sept_peek_page(pm, table, buf);
	if (!w)
		return 0;
	for (int i = 0; i < 512; i++) {
		uint64_t e = w[i];
		enum sept_state s = septe_state(e);
		uint64_t gpa = base + ((uint64_t)i << (12 + 9 * level));
		int r = 0;
		if (s == SEPT_FREE)
			continue;
		if (s == SEPT_NL_MAPPED && level > 0) {
			r = sept_visit(pm, septe_hpa(e), level - 1, gpa, fn, arg);
		} else {
			/* a leaf, REMOVED, or a table the module cannot walk through */
			struct tdx_sept_leaf l = {
				.gpa = gpa, .level = level, .state = s, .hpa = septe_hpa(e),
				.locked = (e & SEPTE_LOCK) != 0,
			};
			r = fn(arg, &l);
		}
		if (r)
			return r;
	}
	return 0;
}

/*
 * Every S-EPT entry of @td that is not FREE and that the walk does not go
 * through, in GPA order.  Plain reads, no lock and no scheduling point:
 * for a TD nobody runs (the engine stopped, or between calls).
 */
int tdx_td_sept_for_each_leaf(const struct tdx_td *td, tdx_sept_leaf_fn fn, void *arg)
{
	if (td->num_tdcx < TDX_TDCS_PAGES || !td->root)
		return 0;
	return sept_visit(&td->m->pm, td->root, td->root_level, 0, fn, arg);
}
