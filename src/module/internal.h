/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the software TDX module's own data structures and helpers.
 * Only src/module/ includes this.
 */
#ifndef TDXSIM_MODULE_INTERNAL_H
#define TDXSIM_MODULE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../engine/seam.h"
#include "physmem.h"
#include "tdx_abi.h"
#include "tdx_module.h"

/* ---------------------------------------------------------------------------
 * S-EPT entries (our encoding; the architectural one is synthesized for
 * SEPT.RD and error details by sept_arch_entry()).
 *
 *   bits  3:0   state (enum sept_state)
 *   bits 11:4   zero
 *   bits 51:12  HPA of the mapped page or of the next-level S-EPT page
 *   bit  52     entry lock (the module's TDEL bit)
 *   bit  53     host priority (TDHP): a host call lost the entry lock;
 *               cleared when a host call takes the lock and by every
 *               commit, kept by a plain (error-path) release
 *   bits 62:54  2M ACCEPT progress counter (4K pages zeroed so far)
 *   bit  63     zero
 * A zeroed S-EPT page is 512 FREE entries.
 */
enum sept_state {
	SEPT_FREE = 0,
	SEPT_REMOVED,
	SEPT_NL_MAPPED,
	SEPT_NL_BLOCKED,
	SEPT_MAPPED,
	SEPT_BLOCKED,
	SEPT_PENDING,
	SEPT_PENDING_BLOCKED,
	SEPT_NR_STATES
};

#define SEPTE_STATE_MASK	GENMASK64(3, 0)
#define SEPTE_HPA_MASK		GENMASK64(51, 12)
#define SEPTE_LOCK		BIT64(52)
#define SEPTE_HP		BIT64(53)
#define SEPTE_ACNT_SHIFT	54
#define SEPTE_ACNT_MASK		GENMASK64(62, 54)

static_assert((SEPTE_STATE_MASK & SEPTE_HPA_MASK) == 0, "S-EPT fields overlap");
static_assert(((SEPTE_LOCK | SEPTE_HP) & (SEPTE_HPA_MASK | SEPTE_ACNT_MASK)) == 0,
	      "S-EPT lock bits overlap");
static_assert(SEPT_NR_STATES <= 16, "state fits in 4 bits");

static inline enum sept_state septe_state(uint64_t e)
{
	return (enum sept_state)(e & SEPTE_STATE_MASK);
}

static inline uint64_t septe_hpa(uint64_t e)
{
	return e & SEPTE_HPA_MASK;
}

static inline uint64_t septe_make(enum sept_state s, uint64_t hpa)
{
	return (uint64_t)s | (hpa & SEPTE_HPA_MASK);
}

static inline bool sept_state_is_leaf(enum sept_state s)
{
	return s >= SEPT_MAPPED;
}

static inline bool sept_state_is_blocked(enum sept_state s)
{
	return s == SEPT_NL_BLOCKED || s == SEPT_BLOCKED || s == SEPT_PENDING_BLOCKED;
}

/* Operations of the state table (rows). */
enum sept_op {
	SOP_PAGE_ADD = 0,
	SOP_SEPT_ADD,
	SOP_PAGE_AUG,
	SOP_RANGE_BLOCK,
	SOP_RANGE_UNBLOCK,
	SOP_PAGE_REMOVE,
	SOP_SEPT_REMOVE,
	SOP_PAGE_DEMOTE,
	SOP_PAGE_PROMOTE,
	SOP_PAGE_RELOCATE,
	SOP_MR_EXTEND,
	SOP_SEPT_RD,
	SOP_ACCEPT,
	SOP_ATTR_RD,		/* guest TDG.MEM.PAGE.ATTR.RD */
	SOP_ATTR_WR,		/* guest TDG.MEM.PAGE.ATTR.WR */
	SOP_NR
};

/*
 * The operation x state table, as const data (see sept.c).
 * allowed: bitmask of states the operation accepts at the addressed entry.
 * next[s]: the state it leaves behind (SEPT_NR_STATES: unchanged/n.a.).
 */
struct sept_rule {
	const char *name;
	uint16_t allowed;
	uint8_t next[SEPT_NR_STATES];
};
extern const struct sept_rule sept_rules[SOP_NR];
extern const char *const sept_state_names[SEPT_NR_STATES];
extern const uint8_t sept_public_state[SEPT_NR_STATES];

/* A leaf state without its block: what DEMOTE's children and RELOCATE leave. */
static inline enum sept_state sept_state_unblocked(enum sept_state s)
{
	return s == SEPT_BLOCKED ? SEPT_MAPPED : s == SEPT_PENDING_BLOCKED ? SEPT_PENDING : s;
}

static inline bool sept_allowed(enum sept_op op, enum sept_state s)
{
	return (sept_rules[op].allowed >> s) & 1;
}

/*
 * Step 7 of the host preconditions: the entry @cur (at @level) in a state
 * @op accepts, else EPT_ENTRY_STATE_INCORRECT|RCX with the entry's details
 * in *out.
 */
void sept_set_details(struct tdx_regs *out, uint64_t e, int level);
static inline uint64_t sept_check_state(enum sept_op op, uint64_t cur, int level,
					struct tdx_regs *out)
{
	if (sept_allowed(op, septe_state(cur)))
		return TDX_SUCCESS;
	sept_set_details(out, cur, level);
	return TDX_EPT_ENTRY_STATE_INCORRECT | OPND_RCX;
}

/* ---------------------------------------------------------------------------
 * TD and vCPU
 */
/* Zero-step mitigation: threshold and GPA log size of the 1.5 module. */
#define ZS_EPF_THRESHOLD 6
#define ZS_GPA_LIST 32

/* A PAMT walk's locks (pamt.c). */
struct pamt_lock {
	struct pamt_entry *leaf;	/* entry found and locked in @mode */
	struct pamt_entry *p1g, *p2m;	/* parents locked shared, or NULL */
	enum pamt_size size;		/* size at which @leaf was found */
	enum seam_lock_mode mode;
	enum seam_lock_class cls;
};

struct tdx_vcpu {
	struct tdx_td *td;
	uint32_t index;			/* in td->vcpus */
	uint32_t vcpu_index;		/* VCPU_INDEX: the order of VP.INIT */
	uint64_t tdvpr;			/* TDVPR page HPA */
	uint64_t tdcx[TDX_TDVPS_PAGES - 1]; /* TDVPS pages after the TDVPR */
	uint32_t num_tdcx;
	bool initialized;		/* VP.INIT done: state READY */
	bool associated;		/* entered since the last VP.FLUSH */
	bool in_td;			/* between VP.ENTER and the TD exit */
	uint64_t epoch;			/* TD epoch at the last VP.ENTER */
	uint64_t tlb_flushes;		/* VP.ENTERs that flushed this TLB */
	uint64_t initial_rcx;		/* VP.INIT's RDX */
	bool interrupt_pending;		/* set by the platform (engine) */
	/* zero-step mitigation (td_exit_stepping.c of the 1.5 module) */
	uint64_t rip;			/* guest RIP, maintained by the guest layer */
	uint64_t rip_on_entry;		/* RIP at the last VP.ENTER */
	uint8_t epf_count;		/* EPT violations at that RIP, up to 6 */
	uint32_t nepf;			/* GPAs logged after the threshold */
	uint64_t epf_gpa[ZS_GPA_LIST];
	uint64_t zs_filter_runs;	/* VP.ENTERs that ran the stepping filter */
	uint64_t zs_refused;		/* ... and refused to enter */
	/*
	 * host-priority busy timer (module-abi.md section 5; TDVPS
	 * hp_lock_busy): set while the TDCALLs returning to the guest end in
	 * OPERAND_BUSY_HOST_PRIORITY, reset by a TDCALL returning any other
	 * status; TD exits and VP.ENTER leave it alone
	 */
	bool hp_busy;
	uint64_t hp_busy_since_ns;	/* the first of those TDCALLs */
	enum { LAST_EXIT_ASYNC_FAULT = 0, LAST_EXIT_ASYNC_TRAP, LAST_EXIT_TDVMCALL }
		last_exit;		/* kind of the last TD exit */
	struct pamt_lock enter_tdvpr;	/* held shared from VP.ENTER to the exit */
	struct pamt_lock enter_tdr;	/* held shared from VP.ENTER to the exit */
	struct tdx_regs exit;		/* VP.ENTER output at the last TD exit */
	struct tdx_ve_info ve;		/* the last #VE */
	bool ve_valid;			/* VE_INFO.VALID: set by a #VE, cleared by VEINFO.GET */
};

struct tdx_td {
	struct tdx_module *m;
	uint32_t id;			/* PAMT owner id, 1-based */
	uint64_t tdr;			/* TDR page HPA */
	/* TDR fields */
	enum td_lifecycle lifecycle;
	bool fatal;
	uint16_t hkid;
	uint32_t num_tdcx;
	uint64_t tdcx[TDX_TDCS_PAGES];
	uint64_t child_count;		/* 4K units of pages owned, TDR excluded */
	/* TDCS fields (valid once num_tdcx == TDX_TDCS_PAGES) */
	seam_sharex_t op_state_lock;
	enum td_op_state op_state;
	uint64_t attributes;
	uint64_t xfam;
	uint64_t config_flags;
	uint64_t eptp_controls;
	uint16_t max_vcpus;
	bool gpaw;			/* shared bit 51 instead of 47 */
	int root_level;			/* 3 (4-level) or 4 (5-level) */
	uint64_t root;			/* root S-EPT page: TDCX page 3 */
	uint32_t num_vcpus;		/* VP.INIT'd vCPUs (their index source) */
	uint32_t num_assoc_vcpus;	/* vCPUs associated (entered, not flushed) */
	bool pending_ve_disable;	/* from ATTRIBUTES.SEPT_VE_DISABLE */
	seam_sharex_t sept_lock;	/* S-EPT tree lock */
	/*
	 * Walk cache (a paging-structure cache for the simulator's own speed):
	 * the 4K-level table of a 2M region, valid while sept_gen is unchanged.
	 * sept_gen bumps whenever a non-leaf entry stops pointing at a table
	 * it pointed at (BLOCK/UNBLOCK/REMOVE of a non-leaf); adding tables
	 * cannot make a cached path wrong.
	 */
	uint64_t sept_gen;
	struct sept_walk_cache {
		uint64_t tag;		/* GPA >> 21, plus 1 (0: empty) */
		uint64_t gen;
		uint64_t *table;	/* the level-0 S-EPT table's entries */
	} wc[64];
	seam_sharex_t epoch_lock;	/* TLB epoch lock */
	uint64_t td_epoch;
	uint64_t refcount[2];		/* vCPUs inside the TD per epoch parity */
	struct tdx_vcpu **vcpus;
	uint32_t nvcpus;
	void *mrtd_ctx;			/* running SHA-384 (EVP_MD_CTX) */
	uint8_t mrtd[TDX_MRTD_BYTES];
	bool mrtd_final;
};

/* Key ownership table (KOT) entry state, per private key id. */
enum hkid_state {
	HKID_FREE = 0,		/* may be given to MNG.CREATE */
	HKID_ASSIGNED,		/* owned by a live TD */
	HKID_FLUSHED,		/* TD blocked (VPFLUSHDONE); caches may hold lines */
};

struct tdx_module {
	struct tdx_module_config cfg;
	struct physmem pm;
	struct tdx_td **tds;		/* by id - 1 */
	uint32_t ntds;
	uint8_t *hkid_state;		/* per key id 1..nr_hkids, enum hkid_state */
	uint8_t *hkid_wb_pending;	/* per key id: CACHE.WB still needed */
	seam_sharex_t kot_lock;		/* key ownership table lock */
	seam_sharex_t wbt_lock;		/* the (single) package's write-back mutex */
	uint32_t wb_intr_point;		/* CACHE.WB: sub-blocks done, 0 = none running */
	uint8_t *wb_selected;		/* CACHE.WB: keys the running write-back covers */
	/* a host interrupt is pending, per logical CPU (one bit each) */
	uint64_t host_intr[TDX_MAX_LOGICAL_CPUS / 64];
};

/*
 * Is a host interrupt pending on the CPU running this SEAMCALL?  The
 * module's is_interrupt_pending_host_side(): interruptible leaves poll it
 * at their interruption points.
 */
static inline bool host_interrupt_pending(const struct tdx_module *m)
{
	unsigned cpu = (unsigned)seam_cpu();
	if (cpu >= TDX_MAX_LOGICAL_CPUS)
		return false;
	return (m->host_intr[cpu / 64] >> (cpu % 64)) & 1;
}

/* Cache sub-blocks one PHYMEM.CACHE.WB walks (each an interruption point). */
#define TDX_WB_SUB_BLOCKS 4

/* ---------------------------------------------------------------------------
 * Handler context: what a SEAMCALL holds, released in reverse at EXIT.
 */

struct td_ctx {
	struct tdx_module *m;
	struct tdx_td *td;
	struct tdx_vcpu *vcpu;		/* for vCPU leaves */
	struct pamt_lock tdvpr;		/* TDVPR PAMT lock (vCPU leaves) */
	bool tdvpr_locked;
	struct pamt_lock tdr;
	bool tdr_locked;
	bool op_locked;
	enum seam_lock_mode op_mode;
	bool sept_locked;
	enum seam_lock_mode sept_mode;
	uint64_t *entry;		/* S-EPT entry locked by the host, or NULL */
};

/*
 * Start an empty context: nothing held.  Only the fields that say what is
 * held are written; the lock records are filled in when taken (no 150-byte
 * zeroing on every SEAMCALL).
 */
static inline void td_ctx_init(struct td_ctx *c, struct tdx_module *m)
{
	c->m = m;
	c->td = NULL;
	c->vcpu = NULL;
	c->tdvpr_locked = false;
	c->tdr_locked = false;
	c->op_locked = false;
	c->sept_locked = false;
	c->entry = NULL;
}

static inline uint64_t err(uint64_t code, uint32_t opnd)
{
	return code | opnd;
}

/* "take no lock" for td_check_state() and sept_lookup_walk() */
#define LOCK_NONE ((enum seam_lock_mode)0x7f)

/* module.c */
struct tdx_td *td_lookup(struct tdx_module *m, uint32_t id);
void td_free(struct tdx_td *td);
uint64_t hpa_operand_check(struct tdx_module *m, uint64_t hpa, uint64_t align, uint32_t opnd);
/* RCX of PAMT.ADD/REMOVE (tdh_phymem_pamt_add.c): *range is its 2M-aligned HPA. */
uint64_t pamt_range_operand_check(struct tdx_module *m, uint64_t info, uint64_t *range);
uint64_t td_lock_tdr(struct tdx_module *m, struct td_ctx *c, uint64_t tdr,
		     enum seam_lock_mode mode, uint32_t opnd);
uint64_t td_lock_vcpu(struct tdx_module *m, struct td_ctx *c, uint64_t tdvpr,
		      enum seam_lock_mode mode, uint32_t opnd);
uint64_t mem_prologue(struct tdx_module *m, struct td_ctx *c, struct tdx_regs *out,
		      unsigned leaf, uint64_t tdr, uint64_t info, int min_level,
		      int max_level, enum seam_lock_mode tree_mode,
		      uint64_t *gpa, int *level, uint64_t **entry, uint64_t *cur);
uint64_t td_check_blocked_tracked(struct td_ctx *c, struct tdx_regs *out, uint64_t cur,
				  int level, uint64_t bepoch, uint32_t tracking_opnd);
uint64_t td_lock_sept(struct td_ctx *c, enum seam_lock_mode mode);
void td_ctx_release(struct td_ctx *c);
/* Op states each leaf may run in (include/auto_gen/op_state_lookup.c). */
extern const uint8_t td_op_state_table[TDH_NR_LEAVES];
static inline bool op_state_allows(unsigned leaf, enum td_op_state s)
{
	return leaf < TDH_NR_LEAVES && ((td_op_state_table[leaf] >> s) & 1);
}

/*
 * Step 2: TD state.  Not fatal (TD_FATAL), keys configured
 * (TD_KEYS_NOT_CONFIGURED), TDCS allocated (TDCS_NOT_ALLOCATED), op-state
 * lock (OPERAND_BUSY|OP_STATE), op state allowed for @leaf
 * (OP_STATE_INCORRECT).
 */
static inline uint64_t td_check_state(struct td_ctx *c, unsigned leaf, enum seam_lock_mode op_mode)
{
	struct tdx_td *td = c->td;
	if (td->fatal)
		return TDX_TD_FATAL;
	if (td->lifecycle != TD_KEYS_CONFIGURED)
		return TDX_TD_KEYS_NOT_CONFIGURED;
	if (td->num_tdcx < TDX_TDCS_PAGES)
		return TDX_TDCS_NOT_ALLOCATED;
	if (op_mode != LOCK_NONE) {
		if (!seam_sharex_try(&td->op_state_lock, op_mode, SEAM_LOCK_OP_STATE))
			return err(TDX_OPERAND_BUSY, OPND_OP_STATE);
		c->op_locked = true;
		c->op_mode = op_mode;
	}
	if (!op_state_allows(leaf, td->op_state))
		return TDX_OP_STATE_INCORRECT;
	return TDX_SUCCESS;
}

static inline void out_clear(struct tdx_regs *out)
{
	out->rcx = out->rdx = out->r8 = out->r9 = out->r10 = out->r11 = 0;
}
uint64_t td_gpa_check(const struct tdx_td *td, uint64_t gpa);
uint64_t gpa_info_check(uint64_t info, int min_level, int max_level);
bool td_tlb_tracked(struct tdx_td *td, uint64_t bepoch);

/* pamt.c */
uint64_t pamt_walk_lock(struct tdx_module *m, uint64_t hpa, enum pamt_size want,
			enum seam_lock_mode mode, enum seam_lock_class cls,
			struct pamt_lock *pl);
/*
 * Release what a walk holds (nothing if it failed or never ran): the leaf,
 * then the parents.  Parents are only ever held together with a leaf.
 */
static inline void pamt_unwalk(struct pamt_lock *pl)
{
	if (!pl->leaf)
		return;
	seam_sharex_release(&pl->leaf->lock, pl->mode, pl->cls);
	if (pl->p2m)
		seam_sharex_release(&pl->p2m->lock, SEAM_SHARED, pl->cls);
	if (pl->p1g)
		seam_sharex_release(&pl->p1g->lock, SEAM_SHARED, pl->cls);
	pl->leaf = pl->p2m = pl->p1g = NULL;
}
uint64_t pamt_check_lock(struct tdx_module *m, uint64_t hpa, enum pamt_size size,
			 enum pamt_type type, enum seam_lock_mode mode,
			 enum seam_lock_class cls, uint32_t opnd, struct pamt_lock *pl);
uint64_t pamt_check_lock_free(struct tdx_module *m, uint64_t hpa, enum pamt_size size,
			      enum seam_lock_class cls, uint32_t opnd, struct pamt_lock *pl);
void pamt_set(struct pamt_entry *e, enum pamt_type type, uint32_t owner);
uint64_t pamt_lock_implicit(struct tdx_module *m, uint64_t hpa, enum pamt_size size,
			    enum seam_lock_mode mode, struct pamt_lock *pl);

/*
 * Dynamic PAMT.  A 2M range whose 4K pages the module tracks one by one has
 * a 4K PAMT (512 entries) kept in a pair of 4K pages the host gives it: the
 * range's 2M entry is then PT_PAMT and names the pair (physmem.h: the array
 * is phys_2m.pamt4k, the pair phys_2m.pair).  A pair page stays PT_NDA in its
 * own entry but is marked in the PAMT-page bitmap (phys_2m.pamt_pages), which
 * makes it "not free" for every leaf; pamt_peek_type() shows it as PT_PAMT.
 *
 * Users: TDH.PHYMEM.PAMT.ADD/REMOVE here, and DEMOTE (pair in R12/R13) and
 * PROMOTE (pair back in R12/R13) of a 2M page.  The pair's locks are the
 * pages' own PAMT entries, shared; the range's 2M entry is the caller's,
 * exclusive.
 */
struct pamt_pair {
	uint64_t hpa[2];
	struct pamt_lock pl[2];	/* each pair page's own entry, shared (or nothing) */
};

/* Is the 4K page @hpa some range's pair page? */
static inline bool pamt_is_pair_page(struct physmem *pm, uint64_t hpa)
{
	struct phys_2m *c = physmem_chunk2m(pm, hpa, false);
	unsigned i = (hpa >> 12) & 511;
	return c && (c->pamt_pages[i / 64] >> (i % 64)) & 1;
}

/*
 * DEMOTE's operand checks of R12/R13, in pamt_demote()'s order: 4K aligned
 * and below MAX_PA (OPERAND_INVALID|@opnd0, then |@opnd1), then inside a
 * TDMR (OPERAND_ADDR_RANGE_ERROR|@opnd0, then |@opnd1).  Holds nothing.
 * (PAMT.ADD checks each page with hpa_operand_check() instead: RDX fully,
 * then R8.)
 */
uint64_t pamt_pair_operands_check(struct tdx_module *m, uint64_t hpa0, uint64_t hpa1,
				  uint32_t opnd0, uint32_t opnd1);

/*
 * Lock and claim a pair for the 2M range @range, whose 2M PAMT entry the
 * caller holds exclusive.  For each page in turn: its own PAMT entry is
 * walked to and locked shared (busy: OPERAND_BUSY|its operand) and must be
 * PT_NDA (else PAGE_NOT_FREE|its operand); then each page's PAMT-page bit is
 * test-and-set (already a pair page, or the two are the same page:
 * PAGE_NOT_FREE|its operand).  @skip_in_range: PAMT.ADD's rule that a pair
 * page inside @range is not walked (its entry is the range's); DEMOTE passes
 * false (such a page is then OPERAND_BUSY|its operand).  Operands already
 * checked (pamt_pair_operands_check() or hpa_operand_check()).
 * On success *pp holds both walks and the bits are set; follow with
 * pamt_pair_commit() then pamt_pair_release(), or pamt_pair_abort().  On
 * failure nothing is held or set.
 */
uint64_t pamt_pair_lock(struct tdx_module *m, uint64_t range, uint64_t hpa0, uint64_t hpa1,
			uint32_t opnd0, uint32_t opnd1, bool skip_in_range, struct pamt_pair *pp);
/* Drop the walks of a locked pair (after commit: the bits stay with the range). */
void pamt_pair_release(struct pamt_pair *pp);
/* Undo pamt_pair_lock() without committing: clear the bits, drop the walks. */
void pamt_pair_abort(struct tdx_module *m, struct pamt_pair *pp);
/*
 * Point of no return: the pair becomes @range's 4K PAMT.  Needs @e2m (the
 * range's 2M entry) held exclusive and the pair locked.  The pair pages are
 * zeroed, a 4K PAMT of 512 entries of @fill owned by @owner (block epoch 0)
 * is allocated and returned, and @e2m becomes PT_PAMT.  PAMT.ADD: PT_NDA, 0.
 * DEMOTE of a 2M page: the large entry's type and owner, read before this
 * call (the real pamt_demote() copies them into the 512 children and sets
 * the range's page count to 512, which we do not keep).
 */
struct pamt_entry *pamt_pair_commit(struct tdx_module *m, uint64_t range, struct pamt_entry *e2m,
				    const struct pamt_pair *pp, enum pamt_type fill, uint32_t owner);
/*
 * The reverse, also a commit: @range (a PT_PAMT 2M entry @e2m, held
 * exclusive) loses its 4K PAMT; the pair's bits are cleared, its HPAs go
 * to @pair[0..1] and @e2m becomes @type/@owner with block epoch 0.
 * PAMT.REMOVE: PT_NDA, 0 (after checking all 512 entries PT_NDA).  PROMOTE
 * to 2M: child 0's type and owner (read from the array before this call);
 * the real PROMOTE returns @pair in R12 and R13.
 */
void pamt_pair_take_back(struct tdx_module *m, uint64_t range, struct pamt_entry *e2m,
			 enum pamt_type type, uint32_t owner, uint64_t pair[2]);

/* sept.c */
uint64_t *sept_walk_slow(struct tdx_td *td, uint64_t gpa, int level, int *reached,
			 uint64_t *copy);
/*
 * Walk the S-EPT of @td toward @gpa, stopping at @level, at a leaf, or at an
 * entry that cannot be walked through (anything but NL_MAPPED), exactly as
 * the module's walk does.  Returns the entry where it stopped; *reached is
 * its level and *copy its value as read.  Takes no lock.  A 4K walk whose
 * 2M region is in the walk cache (tagged with sept_gen, which bumps whenever
 * a non-leaf entry stops pointing at its table) goes straight to the leaf table: every entry
 * above is NL_MAPPED and unchanged.
 */
static inline uint64_t *sept_walk(struct tdx_td *td, uint64_t gpa, int level, int *reached,
				  uint64_t *copy)
{
	const struct sept_walk_cache *wc = &td->wc[(gpa >> 21) & 63];
	if (level == 0 && wc->tag == (gpa >> 21) + 1 && wc->gen == td->sept_gen) {
		uint64_t *e = wc->table + ((gpa >> 12) & 511);
		*reached = 0;
		*copy = seam_load64(e);
		return e;
	}
	return sept_walk_slow(td, gpa, level, reached, copy);
}
uint64_t sept_arch_entry(uint64_t e, int level);
void sept_set_details(struct tdx_regs *out, uint64_t e, int level);
/* (inline: every S-EPT leaf's prologue runs it) */
/*
 * Steps 4-5 of the common host preconditions: take the S-EPT tree lock in
 * @tree_mode (unless it is -1: no tree lock) and walk to exactly @level.
 * On EPT_WALK_FAILED|RCX the details of where the walk stopped go to *out.
 * On success *entry / *copy are the addressed entry; the tree lock (if any)
 * stays held in @c.
 */
static inline uint64_t sept_lookup_walk(struct td_ctx *c, uint64_t gpa, int level,
					 enum seam_lock_mode tree_mode, struct tdx_regs *out,
					 uint64_t **entry, uint64_t *copy)
{
	uint64_t st;
	if (tree_mode != LOCK_NONE) {
		st = td_lock_sept(c, tree_mode);
		if (st)
			return st;
	}
	int reached;
	*entry = sept_walk(c->td, gpa, level, &reached, copy);
	if (reached != level) {
		sept_set_details(out, *copy, reached);
		*entry = NULL;
		return err(TDX_EPT_WALK_FAILED, OPND_RCX);
	}
	return TDX_SUCCESS;
}
void sept_entry_write_locked(uint64_t *entry, uint64_t value);

/* mrtd.c */
int mrtd_start(struct tdx_td *td);
void mrtd_extend_block(struct tdx_td *td, const char *name, uint64_t gpa);
void mrtd_extend_data(struct tdx_td *td, const void *data, size_t len);
void mrtd_finalize(struct tdx_td *td);
void mrtd_free(struct tdx_td *td);

/* td_exit.c */
void td_exit(struct tdx_vcpu *v, uint64_t rax, uint64_t rcx, uint64_t rdx, uint64_t r8);
/*
 * The EPT-violation TD exit of a guest TDCALL that walks the S-EPT (ACCEPT,
 * eeq_type EEQ_TYPE_ACCEPT; ATTR.WR, EEQ_TYPE_ATTR_WR): extended info with
 * the requested level and the level and state where the walk stopped.
 */
void td_exit_accept_violation(struct tdx_vcpu *v, unsigned eeq_type, uint64_t gpa,
			      int req_level, uint64_t found, int found_level);
/*
 * tdg_mem_page_accept.c: the common end of a TDCALL that returns to the
 * guest (host-priority busy timer; OPERAND_BUSY_HOST_PRIORITY reaches the
 * guest as OPERAND_BUSY).
 */
enum tdg_outcome tdcall_return(struct tdx_vcpu *v, enum tdg_outcome o, uint64_t *status);
void td_epf_log(struct tdx_vcpu *v, uint64_t gpa);
bool td_gpa_would_fault(struct tdx_td *td, uint64_t gpa);

/*
 * Zero-step mitigation, on every VM exit into the module (a TD exit, a
 * TDCALL, an EPT violation the module turns into a #VE), before its
 * handler: if the guest's RIP moved since the last VP.ENTER, the EPT
 * violation tracking starts over (tdx_1.5 vmexit_stepping_filter()).  A
 * guest that made progress is no longer held back by GPAs it faulted on
 * before.  Exactly once per exit: a second call would forget what the
 * handler just logged.
 */
static inline void td_step_check(struct tdx_vcpu *v)
{
	if (v->rip != v->rip_on_entry) {
		v->nepf = 0;
		v->epf_count = 0;
	}
}

/* ---- small hot helpers, inline so that every leaf's fast path stays flat ---- */

/*
 * A GPA+level operand of @td (RCX of the memory leaves, host and guest):
 * encoding and level range (gpa_info_check()), then a private GPA within
 * the TD's width (td_gpa_check()); OPERAND_INVALID|RCX.  *gpa and *level
 * are set on success.
 */
static inline uint64_t gpa_info_decode(const struct tdx_td *td, uint64_t info, int min_level,
				       int max_level, uint64_t *gpa, int *level)
{
	uint64_t st = gpa_info_check(info, min_level, max_level);
	if (st)
		return st;
	*gpa = info & GPA_INFO_GPA_MASK;
	*level = (int)(info & GPA_INFO_LEVEL_MASK);
	return td_gpa_check(td, *gpa);
}

/*
 * Step 6: the host side of an S-EPT entry lock.  On failure the
 * host-priority bit is set so that guests back off (OPERAND_BUSY|RCX).
 * On success the host-priority bit is cleared.
 */
static inline uint64_t td_lock_entry_host(struct td_ctx *c, uint64_t *entry)
{
	if (!seam_bit_trylock(entry, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY)) {
		seam_fetch_or64(entry, SEPTE_HP);
		return err(TDX_OPERAND_BUSY, OPND_RCX);
	}
	seam_fetch_and64(entry, ~SEPTE_HP);
	c->entry = entry;
	return TDX_SUCCESS;
}

static inline void td_child_add(struct tdx_td *td, int64_t n)
{
	seam_fetch_add64(&td->child_count, (uint64_t)n);
}

/*
 * Commit an S-EPT entry: publish @value and drop the entry lock in one
 * atomic write.  The value is the new entry built by the leaf (from the
 * copy read right after locking, or from scratch), with the lock and
 * host-priority bits clear, so a host-priority bit that a losing host call
 * set meanwhile is wiped, as the module's commits do (sept_manager.c/.h:
 * sept_set_leaf_and_release_locks, sept_set_mapped_non_leaf,
 * septe_set_free_or_removed_and_release_locks; and the leaves' atomic
 * writes of the copy they read after locking).  Only an error-path release
 * (seam_bit_unlock, the module's sept_lock_release) keeps the bit.
 */
static inline void sept_entry_write_unlock(uint64_t *entry, uint64_t value)
{
	seam__lock_event(SEAM_LOCK_SEPT_ENTRY, entry, SEAM_EXCLUSIVE, false);
	seam_store64(entry, value & ~(SEPTE_LOCK | SEPTE_HP));
}

/*
 * The guest side of an S-EPT entry lock (tdx_locks.h,
 * sept_lock_acquire_guest): OPERAND_BUSY|RCX on contention,
 * OPERAND_BUSY_HOST_PRIORITY|RCX (lock dropped) when a host call lost this
 * entry and asked guests to back off.  On success *cur is the entry.
 */
static inline uint64_t td_lock_entry_guest(uint64_t *e, uint64_t *cur)
{
	if (!seam_bit_trylock(e, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY))
		return err(TDX_OPERAND_BUSY, OPND_RCX);
	*cur = seam_load64(e);
	if (*cur & SEPTE_HP) {
		seam_bit_unlock(e, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
		return err(TDX_OPERAND_BUSY_HOST_PRIORITY, OPND_RCX);
	}
	return TDX_SUCCESS;
}

/*
 * The common prologue of the S-EPT leaves (module-abi.md section 4):
 * TDR (RDX, shared), TD state with the op-state lock shared, GPA+level
 * operand within [@min_level, @max_level] (-1: the TD's root level), private
 * GPA, tree lock in @tree_mode, walk to the level, host entry lock.  On
 * success *entry is locked by the host and *cur is its value.  Inlined
 * into PAGE.AUG, the fault path's leaf; the others call mem_prologue().
 */
static inline __attribute__((always_inline)) uint64_t
mem_prologue_inline(struct tdx_module *m, struct td_ctx *c, struct tdx_regs *out,
		    unsigned leaf, uint64_t tdr, uint64_t info, int min_level,
		    int max_level, enum seam_lock_mode tree_mode,
		    uint64_t *gpa, int *level, uint64_t **entry, uint64_t *cur)
{
	uint64_t st = td_lock_tdr(m, c, tdr, SEAM_SHARED, OPND_RDX);
	if (st)
		return st;
	st = td_check_state(c, leaf, SEAM_SHARED);
	if (st)
		return st;
	st = gpa_info_decode(c->td, info, min_level,
			     max_level < 0 ? c->td->root_level : max_level, gpa, level);
	if (st)
		return st;
	st = sept_lookup_walk(c, *gpa, *level, tree_mode, out, entry, cur);
	if (st)
		return st;
	st = td_lock_entry_host(c, *entry);
	if (st) {
		sept_set_details(out, *cur, *level);
		return st;
	}
	*cur = seam_load64(*entry) & ~(SEPTE_LOCK | SEPTE_HP);
	return TDX_SUCCESS;
}

#endif /* TDXSIM_MODULE_INTERNAL_H */
