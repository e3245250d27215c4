/* SPDX-License-Identifier: MIT */
/*
 * mmu.c - the host's two-dimensional paging for a TD: a direct root for
 * shared GPAs (no SEAMCALLs) and a mirror root, KVM's copy of the S-EPT.
 *
 * Every change to a mirror SPTE under the shared mmu_lock follows the
 * freeze protocol: compare-and-swap the old value to SPTE_FROZEN, issue the
 * SEAMCALL, then publish the new value or restore the old one.  A fault that
 * meets a frozen SPTE, or loses the compare-and-swap, retries.  Zaps run
 * under the exclusive mmu_lock and remove private leaves through the module
 * (BLOCK, TRACK, kick, REMOVE, write back).  S-EPT tables are only reclaimed
 * at teardown.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"
#include "../engine/simheap.h"

static inline unsigned idx(uint64_t gfn, int level)
{
	return (unsigned)((gfn >> (9 * level)) & 511);
}

static inline struct mmu_page *child_of(uint64_t spte)
{
	return (struct mmu_page *)(uintptr_t)(spte & ~0xfull);
}

static inline bool present(uint64_t spte)
{
	return spte != SPTE_FROZEN && (spte & SPTE_PRESENT);
}

/* A zeroed table, or NULL when the simulator itself is out of memory. */
static struct mmu_page *alloc_table(int level)
{
	struct mmu_page *p = sim_aligned_alloc(64, (sizeof(struct mmu_page) + 63) & ~63ul);
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->level = level;
	return p;
}

int mmu_init(struct mmu *mmu, int root_level, bool mirror, uint64_t root_sept_hpa)
{
	memset(mmu, 0, sizeof(*mmu));
	mmu->root = alloc_table(root_level);
	if (!mmu->root)
		return -ENOMEM;
	mmu->root->sept_hpa = root_sept_hpa;
	mmu->root_level = root_level;
	mmu->mirror = mirror;
	mmu->npages = 1;
	return 0;
}

static void assert_mmu_lock(struct kvm_vm *vm, bool exclusive)
{
	/* lockdep-style assertions at function heads (tdp_mmu.c does the same) */
	if (exclusive ? !vm->mmu_lock.writer : !(vm->mmu_lock.readers || vm->mmu_lock.writer))
		abort();
}

/* ---- SEAMCALL hooks ---- */

struct sept_add_arg {
	uint64_t gpa;
	int level;
	uint64_t page;
};

static uint64_t do_sept_add(struct kvm_vm *vm, void *p)
{
	struct sept_add_arg *a = p;
	struct tdx_regs out;
	return tdh_mem_sept_add(vm->m, &out, tdx_gpa_info(a->gpa, a->level), vm->tdr, a->page);
}

struct leaf_arg {
	uint64_t gpa;
	uint64_t hpa;
	uint64_t source;
	int level;
};

static uint64_t do_aug(struct kvm_vm *vm, void *p)
{
	struct leaf_arg *a = p;
	struct tdx_regs out;
	return tdh_mem_page_aug(vm->m, &out, tdx_gpa_info(a->gpa, a->level), vm->tdr, a->hpa);
}

static uint64_t do_page_add(struct kvm_vm *vm, void *p)
{
	struct leaf_arg *a = p;
	struct tdx_regs out;
	return tdh_mem_page_add(vm->m, &out, tdx_gpa_info(a->gpa, 0), vm->tdr, a->hpa, a->source);
}

static bool busy(uint64_t st)
{
	return tdx_status_code(st) == TDX_OPERAND_BUSY;
}

/*
 * Install a non-leaf or leaf in the mirror with the freeze protocol.
 * Returns RET_PF_CONTINUE, RET_PF_RETRY (lost a race or BUSY) or
 * RET_PF_ERR (the VM was killed).
 */
static inline int freeze_and_call(struct kvm_vm *vm, uint64_t *sptep, uint64_t old, uint64_t new,
			   uint64_t (*op)(struct kvm_vm *, void *), void *arg, const char *what)
{
	if (!seam_cas64(sptep, &old, SPTE_FROZEN)) {
		vm->st.retries++;
		return RET_PF_RETRY;
	}
	uint64_t st = op ? tdx_busy_retry(vm, op, arg, false) : TDX_SUCCESS;
	if (st != TDX_SUCCESS) {
		/* INJECTED BUG frozen-leak: the SPTE is not restored, so every later
		 * fault there meets FROZEN and retries for ever */
		if (!vm_inject(vm, INJECT_FROZEN_LEAK))
			seam_store64(sptep, old);	/* restore: nothing changed in the S-EPT */
		if (busy(st)) {
			vm->st.retries++;
			return RET_PF_RETRY;
		}
		vm_kill(vm, "%s failed: %s (%#" PRIx64 ")", what, tdx_status_name(st), st);
		return RET_PF_ERR;
	}
	seam_store64(sptep, new);
	return RET_PF_CONTINUE;
}

/*
 * The walk cache: the level-0 table for @gfn if cached.  Every non-leaf
 * SPTE above it is present and unchanged, so a walk to level 0 can go
 * straight down: it reads only the final SPTE (one scheduling point), and
 * is the walk happening at that instant, which the full walk could also
 * have been.
 */
static inline struct mmu_page *wc_lookup(const struct mmu *mmu, uint64_t gfn)
{
	unsigned wi = (unsigned)(gfn >> 9) & (MMU_WC_ENTRIES - 1);
	if (mmu->wc[wi].tag == (gfn >> 9) + 1 && mmu->wc[wi].gen == mmu->gen)
		return mmu->wc[wi].pt;
	return NULL;
}

/* Remember @pt as the level-0 table of @gfn, found by a walk begun at @gen. */
static inline void wc_fill(struct mmu *mmu, uint64_t gfn, uint64_t gen, struct mmu_page *pt)
{
	unsigned wi = (unsigned)(gfn >> 9) & (MMU_WC_ENTRIES - 1);
	mmu->wc[wi].tag = (gfn >> 9) + 1;
	mmu->wc[wi].gen = gen;
	mmu->wc[wi].pt = pt;
}

/* walk_alloc() without the walk cache: from the root, adding tables. */
static int walk_alloc_full(struct kvm_vm *vm, struct mmu *mmu, uint64_t gfn, int target,
			   uint64_t **leafp)
{
	uint64_t gen = mmu->gen;
	struct mmu_page *pt = mmu->root;
	if (gfn >> (9 * (mmu->root_level + 1))) {
		/* above what the root maps: it would alias a low GFN */
		vm_kill(vm, "GFN %#" PRIx64 " is beyond the %d-level root", gfn, mmu->root_level + 1);
		return RET_PF_ERR;
	}
	for (int level = mmu->root_level; level > target; level--) {
		uint64_t *sptep = &pt->spte[idx(gfn, level)];
		uint64_t old = seam_load64(sptep);
		if (old == SPTE_FROZEN) {
			vm->st.retries++;
			return RET_PF_RETRY;
		}
		if (!present(old)) {
			struct mmu_page *c = alloc_table(level - 1);
			int r;
			if (!c)
				return RET_PF_NOMEM;
			if (mmu->mirror && !(c->sept_hpa = vm_alloc_page(vm))) {
				sim_free(c);
				return RET_PF_NOMEM;	/* nothing changed */
			}
			if (mmu->mirror && __builtin_expect(vm->pol.dpamt, 0) &&
			    (r = dpamt_get_pf(vm, c->sept_hpa)) != RET_PF_CONTINUE) {
				hostmem_free_4k(vm->hm, c->sept_hpa);
				sim_free(c);
				return r;
			}
			if (mmu->mirror) {
				struct sept_add_arg a = { (gfn << 12) & ~(tdx_level_size(level) - 1),
							  level, c->sept_hpa };
				r = freeze_and_call(vm, sptep, old, (uint64_t)(uintptr_t)c | SPTE_PRESENT,
						    do_sept_add, &a, "TDH.MEM.SEPT.ADD");
				if (r == RET_PF_CONTINUE)
					vm->st.sept_adds++;
			} else {
				r = freeze_and_call(vm, sptep, old, (uint64_t)(uintptr_t)c | SPTE_PRESENT,
						    NULL, NULL, "");
			}
			if (r != RET_PF_CONTINUE) {
				if (c->sept_hpa) {
					dpamt_put(vm, c->sept_hpa);
					hostmem_free_4k(vm->hm, c->sept_hpa);
				}
				sim_free(c);
				return r;
			}
			mmu->npages++;
			old = (uint64_t)(uintptr_t)c | SPTE_PRESENT;
		}
		if (old & SPTE_LEAF) {
			*leafp = sptep;		/* a huge leaf covers it */
			return RET_PF_HUGE;
		}
		pt = child_of(old);
	}
	if (target == 0)
		wc_fill(mmu, gfn, gen, pt);
	*leafp = &pt->spte[idx(gfn, target)];
	return RET_PF_CONTINUE;
}

/* Walk to the table holding level-@target entries for @gfn, adding tables. */
static inline int walk_alloc(struct kvm_vm *vm, struct mmu *mmu, uint64_t gfn, int target,
			     uint64_t **leafp)
{
	if (target == 0) {
		struct mmu_page *pt = wc_lookup(mmu, gfn);
		if (pt) {
			*leafp = &pt->spte[idx(gfn, 0)];
			return RET_PF_CONTINUE;
		}
	}
	return walk_alloc_full(vm, mmu, gfn, target, leafp);
}

/* ---- splitting a 2M leaf ---- */

struct demote_arg {
	uint64_t gpa;		/* of the 2M leaf */
	uint64_t sept;		/* the new S-EPT page */
	uint64_t hpa;		/* the 2M page */
	uint64_t pair[2];	/* Dynamic PAMT: R12/R13 (dpamt.c), else 0 */
};

static uint64_t do_demote(struct kvm_vm *vm, void *p)
{
	struct demote_arg *a = p;
	return dpamt_demote(vm, tdx_gpa_info(a->gpa, TDX_LEVEL_2M), a->sept, a->hpa, a->pair);
}

/* A page of the split cache (no seam point: atomic under the engine), or 0. */
static uint64_t split_cache_take(struct kvm_vm *vm)
{
	return vm->nsplit_cache ? vm->split_cache[--vm->nsplit_cache] : 0;
}

static void split_cache_put(struct kvm_vm *vm, uint64_t page)
{
	vm->split_cache[vm->nsplit_cache++] = page;
}

/* The 512 4K leaves that replace the 2M leaf @old, in a table for @sept. */
static struct mmu_page *split_table(uint64_t old, uint64_t sept)
{
	struct mmu_page *c = alloc_table(0);
	if (!c)
		return NULL;
	uint64_t hpa = old & SPTE_HPA_MASK;
	for (unsigned i = 0; i < 512; i++)
		c->spte[i] = (hpa + (uint64_t)i * SZ_4K) | SPTE_PRESENT | SPTE_LEAF;
	c->sept_hpa = sept;
	return c;
}

/*
 * The shared-lock split of huge-nbr: freeze the 2M SPTE, DEMOTE without
 * BLOCK (the module's proposed non-blocking resize: same pages, same
 * permissions, no TLB tracking), publish the table; BUSY restores the SPTE
 * and the fault retries.
 */
static int split_shared(struct kvm_vm *vm, uint64_t *sptep, uint64_t gfn)
{
	uint64_t old = seam_load64(sptep);
	if (old == SPTE_FROZEN || !present(old) || !(old & SPTE_LEAF)) {
		vm->st.retries++;
		return RET_PF_RETRY;
	}
	uint64_t sept = split_cache_take(vm);
	if (!sept)
		return RET_PF_NOMEM;
	struct mmu_page *c = split_table(old, sept);
	if (!c) {
		split_cache_put(vm, sept);
		return RET_PF_NOMEM;
	}
	struct demote_arg a = { (gfn & ~511ull) << 12, sept, old & SPTE_HPA_MASK, { 0, 0 } };
	int pr = dpamt_split_prepare(vm, sept, a.pair, false);
	if (pr) {
		split_cache_put(vm, sept);
		sim_free(c);
		return pr == -ENOMEM ? RET_PF_NOMEM : RET_PF_ERR;
	}
	int r = freeze_and_call(vm, sptep, old, (uint64_t)(uintptr_t)c | SPTE_PRESENT, do_demote, &a,
				"TDH.MEM.PAGE.DEMOTE (non-blocking)");
	if (r != RET_PF_CONTINUE) {
		dpamt_split_abort(vm, sept, a.pair, false);
		split_cache_put(vm, sept);
		sim_free(c);
		return r;
	}
	vm->mirror.npages++;
	vm->st.splits_shared++;
	return RET_PF_CONTINUE;
}

/*
 * A 4K fault met the 2M leaf at @sptep: what the fault path does with a
 * split, per design (kvm-tdx.md section 3).
 */
static int fault_split(struct kvm_vm *vm, uint64_t *sptep, uint64_t gfn)
{
	/* INJECTED BUG ignored-split: RFC v1's answer in any design */
	if (vm_inject(vm, INJECT_IGNORED_SPLIT)) {
		vm->st.splits_ignored++;
		return RET_PF_SPURIOUS;
	}
	switch (vm->pol.max_level) {
	case MAP_LEVEL_HUGE_NBR:
		if (vm->shared_split)
			return split_shared(vm, sptep, gfn);
		/* without the module feature it is huge-v5 */
		__attribute__((fallthrough));
	case MAP_LEVEL_HUGE_V5:
		/* splitting under the read lock is a KVM bug in v5: the ACCEPT
		 * exit handler splits under the write lock before faulting */
		vm->st.splits_refused++;
		vm->st.retries++;
		return RET_PF_RETRY;
	default:
		/* huge-rfc1 ignores it; explicit-demotion waits for the guest's request */
		vm->st.splits_ignored++;
		return RET_PF_SPURIOUS;
	}
}

int mmu_map_private(struct kvm_vm *vm, uint64_t gfn, int level, uint64_t hpa,
		    uint64_t source_hpa, bool premap)
{
	assert_mmu_lock(vm, false);
	uint64_t *sptep;
again:;
	uint64_t first = gfn & ~((1ull << (9 * level)) - 1);
	uint64_t hpa_l = hpa - ((gfn - first) << 12);
	int r = walk_alloc(vm, &vm->mirror, first, level, &sptep);
	if (r == RET_PF_HUGE) {
		r = fault_split(vm, sptep, gfn);
		if (r != RET_PF_CONTINUE)
			return r;
		goto again;	/* now a table: map (find) the 4K leaf */
	}
	if (r != RET_PF_CONTINUE)
		return r;
	uint64_t old = seam_load64(sptep);
	if (old == SPTE_FROZEN) {
		vm->st.retries++;
		return RET_PF_RETRY;
	}
	if (present(old)) {
		if (level > 0 && !(old & SPTE_LEAF)) {
			level = 0;	/* 4K leaves are there already: map 4K too */
			goto again;
		}
		return RET_PF_SPURIOUS;		/* another vCPU mapped it */
	}
	uint64_t new = (hpa_l & SPTE_HPA_MASK) | SPTE_PRESENT | SPTE_LEAF;
	struct leaf_arg a = { first << 12, hpa_l, source_hpa, level };
	if (premap) {
		/* seed 004: record the leaf, tell the module at INIT_MEM_REGION */
		r = freeze_and_call(vm, sptep, old, new | SPTE_PREMAP, NULL, NULL, "");
		if (r == RET_PF_CONTINUE)
			seam_fetch_add64(&vm->nr_premapped, 1);
		return r;
	}
	/* Dynamic PAMT: a 4K page's range needs its pair before the module takes it */
	if (__builtin_expect(vm->pol.dpamt, 0) && !level &&
	    (r = dpamt_get_pf(vm, hpa_l)) != RET_PF_CONTINUE)
		return r;
	/* two calls with a constant hook each: the SEAMCALL wrapper inlines */
	if (tdx_td_op_state(vm->td) == OP_STATE_RUNNABLE) {
		r = freeze_and_call(vm, sptep, old, new, do_aug, &a, "TDH.MEM.PAGE.AUG");
		if (r == RET_PF_CONTINUE) {
			if (level)
				vm->st.maps_2m++;
			else
				vm->st.private_maps++;
		}
	} else {
		r = freeze_and_call(vm, sptep, old, new, do_page_add, &a, "TDH.MEM.PAGE.ADD");
		if (r == RET_PF_CONTINUE)
			vm->st.page_adds++;
	}
	if (__builtin_expect(vm->pol.dpamt, 0) && !level && r != RET_PF_CONTINUE)
		dpamt_put(vm, hpa_l);	/* the module did not take it */
	return r;
}

int mmu_map_shared(struct kvm_vm *vm, uint64_t gfn, uint64_t hpa)
{
	assert_mmu_lock(vm, false);
	uint64_t *sptep;
	int r = walk_alloc(vm, &vm->direct, gfn, 0, &sptep);
	if (r == RET_PF_HUGE)
		return RET_PF_SPURIOUS;	/* the direct root has no huge leaves */
	if (r != RET_PF_CONTINUE)
		return r;
	uint64_t old = seam_load64(sptep);
	if (present(old))
		return RET_PF_SPURIOUS;
	r = freeze_and_call(vm, sptep, old, (hpa & SPTE_HPA_MASK) | SPTE_PRESENT | SPTE_LEAF,
			    NULL, NULL, "");
	if (r == RET_PF_CONTINUE)
		vm->st.shared_maps++;
	return r;
}

uint64_t *mmu_leaf(struct mmu *mmu, uint64_t gfn)
{
	struct mmu_page *pt = wc_lookup(mmu, gfn);
	if (pt)
		return &pt->spte[idx(gfn, 0)];
	uint64_t gen = mmu->gen;
	pt = mmu->root;
	if (gfn >> (9 * (mmu->root_level + 1)))
		return NULL;	/* beyond the root: nothing maps it */
	for (int level = mmu->root_level; level > 0; level--) {
		uint64_t s = pt->spte[idx(gfn, level)];
		if (!present(s) || (s & SPTE_LEAF))
			return NULL;
		pt = child_of(s);
	}
	wc_fill(mmu, gfn, gen, pt);
	return &pt->spte[idx(gfn, 0)];
}

/* ---- zapping (exclusive mmu_lock) ---- */

struct gpa_arg {
	uint64_t gpa;
	int level;
};

/* An "already blocked" answer is a host bug (KVM_BUG_ON), not success. */
static uint64_t do_block(struct kvm_vm *vm, void *p)
{
	struct gpa_arg *a = p;
	struct tdx_regs out;
	return tdh_mem_range_block(vm->m, &out, tdx_gpa_info(a->gpa, a->level), vm->tdr);
}

static uint64_t do_track(struct kvm_vm *vm, void *p)
{
	(void)p;
	struct tdx_regs out;
	return tdh_mem_track(vm->m, &out, vm->tdr);
}

static uint64_t do_remove(struct kvm_vm *vm, void *p)
{
	struct gpa_arg *a = p;
	struct tdx_regs out;
	return tdh_mem_page_remove(vm->m, &out, tdx_gpa_info(a->gpa, a->level), vm->tdr);
}

/*
 * BLOCK the leaf, and once the TD runs, TRACK and kick: what every removal
 * and every exclusive split starts with (tdx_track()).  Returns the first
 * failing status.
 */
static uint64_t block_track_kick(struct kvm_vm *vm, struct gpa_arg *a)
{
	uint64_t st = tdx_busy_retry(vm, do_block, a, true);
	/* TRACK and the kick only while RUNNABLE: tdx_track() returns early
	 * before that, and REMOVE needs no tracking in the INITIALIZED state */
	if (st == TDX_SUCCESS && tdx_td_op_state(vm->td) == OP_STATE_RUNNABLE) {
		st = tdx_busy_retry(vm, do_track, a, true);
		/* INJECTED BUG track-no-kick: vCPUs still in the TD keep the old
		 * epoch, so REMOVE's tracking check can fail (and TLBs go stale) */
		if (st == TDX_SUCCESS && !vm_inject(vm, INJECT_TRACK_NO_KICK))
			tdx_kick_all(vm);
	}
	return st;
}

/*
 * Remove one private leaf (4K or 2M), as 6.16's tdx_sept_remove_private_spte()
 * while the HKID is live: BLOCK, TRACK and kick, REMOVE, then per 4K page
 * PHYMEM.PAGE.WBINVD and the host's clear.  zap_4k is KVM's own work per
 * 4K (the TDP MMU walk and bookkeeping), charged once per leaf.
 */
static void zap_private_leaf(struct kvm_vm *vm, uint64_t *sptep, uint64_t gfn, int level)
{
	uint64_t old = *sptep;
	if (old & SPTE_PREMAP) {	/* the module never saw it */
		*sptep = 0;
		vm->nr_premapped--;
		return;
	}
	if (vm->dead)
		return;		/* teardown reclaims it once the key is gone */
	seam_charge(SEAM_COST_ZAP_4K, 1ull << (9 * level));
	struct gpa_arg a = { gfn << 12, level };
	uint64_t st;
	/* INJECTED BUG remove-no-track: REMOVE straight after BLOCK */
	if (vm_inject(vm, INJECT_REMOVE_NO_TRACK))
		st = tdx_busy_retry(vm, do_block, &a, true);
	else
		st = block_track_kick(vm, &a);
	if (st == TDX_SUCCESS)
		st = tdx_busy_retry(vm, do_remove, &a, true);
	if (st != TDX_SUCCESS) {
		vm_kill(vm, "removing GPA %#" PRIx64 ": %s (%#" PRIx64 ")", a.gpa,
			tdx_status_name(st), st);
		return;		/* still mapped: teardown reclaims it */
	}
	struct tdx_regs out;
	uint64_t hpa = old & SPTE_HPA_MASK, n4k = 1ull << (9 * level);
	for (uint64_t i = 0; i < n4k; i++)
		tdh_phymem_page_wbinvd(vm->m, &out, hpa + i * SZ_4K);
	vm_clear_private(vm, hpa, n4k);		/* tdx_clear_page(), after the write-back */
	if (!level)
		dpamt_put(vm, hpa);	/* after the write-back, which needs it */
	*sptep = 0;
	vm->st.zapped++;
}

/*
 * The level-1 SPTE for @gfn in the mirror, or NULL if no level-1 table
 * exists (no seam point: for the exclusive-lock paths and inspection).
 */
static uint64_t *mirror_l1(struct kvm_vm *vm, uint64_t gfn)
{
	struct mmu *mmu = &vm->mirror;
	struct mmu_page *pt = mmu->root;
	if (!pt || gfn >> (9 * (mmu->root_level + 1)))
		return NULL;
	for (int level = mmu->root_level; level > 1; level--) {
		uint64_t s = pt->spte[idx(gfn, level)];
		if (!present(s) || (s & SPTE_LEAF))
			return NULL;
		pt = child_of(s);
	}
	return &pt->spte[idx(gfn, 1)];
}

uint64_t mmu_private_spte(struct kvm_vm *vm, uint64_t gfn, int *level)
{
	uint64_t *l1 = mirror_l1(vm, gfn);
	if (l1 && present(*l1) && (*l1 & SPTE_LEAF)) {
		*level = 1;
		return *l1;
	}
	uint64_t *leaf = vm->mirror.root ? mmu_leaf(&vm->mirror, gfn) : NULL;
	*level = 0;
	return leaf ? *leaf : 0;
}

bool mmu_huge_mapped(struct kvm_vm *vm, uint64_t gfn)
{
	uint64_t *l1 = mirror_l1(vm, gfn);
	return l1 && present(*l1) && (*l1 & SPTE_LEAF);
}

int mmu_split_2m(struct kvm_vm *vm, uint64_t gfn)
{
	assert_mmu_lock(vm, true);
	uint64_t *sptep = mirror_l1(vm, gfn);
	if (!sptep || !present(*sptep) || !(*sptep & SPTE_LEAF))
		return 0;	/* nothing huge here */
	if (vm->dead)
		return -EIO;
	uint64_t old = *sptep, sept = split_cache_take(vm);
	if (!sept)
		return -ENOMEM;
	struct mmu_page *c = split_table(old, sept);
	if (!c) {
		split_cache_put(vm, sept);
		return -ENOMEM;
	}
	struct gpa_arg a = { (gfn & ~511ull) << 12, TDX_LEVEL_2M };
	struct demote_arg d = { a.gpa, sept, old & SPTE_HPA_MASK, { 0, 0 } };
	int pr = dpamt_split_prepare(vm, sept, d.pair, true);	/* before BLOCK: no undo */
	if (pr) {
		split_cache_put(vm, sept);
		sim_free(c);
		return pr;
	}
	/* a run abandoned inside the retry loop (a livelock) frees it with the VM */
	vm->split_inflight = c;
	uint64_t st = block_track_kick(vm, &a);
	if (st == TDX_SUCCESS) {
		for (;;) {
			st = tdx_busy_retry(vm, do_demote, &d, true);
			if (st != TDX_INTERRUPTED_RESTARTABLE)
				break;
			/* nothing was committed: take the interrupt, issue it again */
			vm->st.demote_interrupted++;
			seam_yield();
		}
	}
	vm->split_inflight = NULL;
	if (st != TDX_SUCCESS) {
		dpamt_split_abort(vm, sept, d.pair, true);
		split_cache_put(vm, sept);
		sim_free(c);
		vm_kill(vm, "splitting GPA %#" PRIx64 ": %s (%#" PRIx64 ")", a.gpa,
			tdx_status_name(st), st);
		return -EIO;
	}
	/* DEMOTE left the 512 children unblocked: no UNBLOCK */
	*sptep = (uint64_t)(uintptr_t)c | SPTE_PRESENT;
	vm->mirror.npages++;
	vm->st.splits_exclusive++;
	return 0;
}

int mmu_split_ends(struct kvm_vm *vm, uint64_t gfn, uint64_t n)
{
	int r = 0;
	if (!vm->huge || !n)
		return 0;
	/* INJECTED BUG zap-whole-2m: what KVM does for a normal VM (zap, let it
	 * fault back); a TD's accepted neighbours cannot fault back */
	if (vm_inject(vm, INJECT_ZAP_WHOLE_2M))
		return 0;
	if (gfn & 511)
		r = mmu_split_2m(vm, gfn);
	if (!r && ((gfn + n) & 511))
		r = mmu_split_2m(vm, gfn + n);
	/* no page to split with: zapping the whole leaf would lose its neighbours */
	if (r == -ENOMEM)
		vm_kill(vm, "no S-EPT page to split at GPA %#" PRIx64, gfn << 12);
	return r;
}

static void zap_range(struct kvm_vm *vm, struct mmu *mmu, struct mmu_page *pt, uint64_t base,
		      uint64_t start, uint64_t end)
{
	int level = pt->level;
	uint64_t span = 1ull << (9 * level);
	for (unsigned i = 0; i < 512; i++) {
		uint64_t lo = base + i * span, hi = lo + span;
		if (hi <= start || lo >= end)
			continue;
		uint64_t s = pt->spte[i];
		if (!present(s))
			continue;
		if (s & SPTE_LEAF) {
			if (mmu->mirror)
				zap_private_leaf(vm, &pt->spte[i], lo, level);
			else
				pt->spte[i] = 0;
			continue;
		}
		zap_range(vm, mmu, child_of(s), lo, start, end);
	}
}

void mmu_zap_private(struct kvm_vm *vm, uint64_t gfn, uint64_t n)
{
	assert_mmu_lock(vm, true);
	zap_range(vm, &vm->mirror, vm->mirror.root, 0, gfn, gfn + n);
	vm->invalidate_seq++;
}

void mmu_zap_shared(struct kvm_vm *vm, uint64_t gfn, uint64_t n)
{
	assert_mmu_lock(vm, true);
	zap_range(vm, &vm->direct, vm->direct.root, 0, gfn, gfn + n);
	vm->invalidate_seq++;
}

/* ---- promotion (beyond upstream: policy "promote") ---- */

struct promote_arg {
	uint64_t gpa;	/* of the 2M range */
	uint64_t freed;	/* PROMOTE's RCX: the S-EPT page it gave back */
	uint64_t pair[2];	/* R12/R13: the Dynamic PAMT pair it gave back */
};

static uint64_t do_promote(struct kvm_vm *vm, void *p)
{
	struct promote_arg *a = p;
	struct tdx_regs out;
	uint64_t st = tdh_mem_page_promote(vm->m, &out, 0, tdx_gpa_info(a->gpa, TDX_LEVEL_2M),
					   vm->tdr);
	a->freed = out.rcx;
	a->pair[0] = out.r12;
	a->pair[1] = out.r13;
	return st;
}

/*
 * Is the level-0 table @pt a candidate: 512 present 4K leaves, the HPAs
 * contiguous from a 2M-aligned base?  The base, or 0.
 */
static uint64_t promotable_base(const struct mmu_page *pt)
{
	uint64_t s0 = pt->spte[0];
	if (!present(s0) || !(s0 & SPTE_LEAF) || (s0 & SPTE_PREMAP))
		return 0;
	uint64_t base = s0 & SPTE_HPA_MASK;
	if (base & (SZ_2M - 1))
		return 0;
	for (unsigned i = 1; i < 512; i++)
		if (pt->spte[i] != ((base + (uint64_t)i * SZ_4K) | SPTE_PRESENT | SPTE_LEAF))
			return 0;
	return base;
}

/* Every child of the 2M range at @gpa accepted (MAPPED), by SEPT.RD. */
static bool all_accepted(struct kvm_vm *vm, uint64_t gpa)
{
	for (unsigned i = 0; i < 512; i++) {
		struct tdx_regs out;
		uint64_t st = tdh_mem_sept_rd(vm->m, &out, tdx_gpa_info(gpa + i * SZ_4K, 0), vm->tdr);
		if (st != TDX_SUCCESS || ((out.rdx >> 8) & 0xff) != SEPT_PUB_MAPPED)
			return false;
	}
	return true;
}

int mmu_promote_2m(struct kvm_vm *vm, uint64_t gfn, bool (*folio_2m)(struct kvm_vm *, uint64_t gfn,
								       uint64_t hpa))
{
	assert_mmu_lock(vm, true);
	uint64_t *l1 = mirror_l1(vm, gfn);
	if (!l1 || !present(*l1) || (*l1 & SPTE_LEAF) || vm->dead)
		return 0;
	struct mmu_page *pt = child_of(*l1);
	uint64_t base = promotable_base(pt), gpa = (gfn & ~511ull) << 12;
	if (!base || !folio_2m(vm, gfn & ~511ull, base) || !all_accepted(vm, gpa))
		return 0;
	struct gpa_arg a = { gpa, TDX_LEVEL_2M };
	uint64_t st = block_track_kick(vm, &a);
	struct promote_arg p = { gpa, 0 };
	if (st == TDX_SUCCESS) {
		for (;;) {
			st = tdx_busy_retry(vm, do_promote, &p, true);
			if (st != TDX_INTERRUPTED_RESTARTABLE)
				break;
			seam_yield();	/* nothing committed: issue it again */
		}
	}
	if (st != TDX_SUCCESS) {
		vm_kill(vm, "promoting GPA %#" PRIx64 ": %s (%#" PRIx64 ")", gpa, tdx_status_name(st),
			st);
		return -EIO;
	}
	/* the table goes: the walk cache must forget it */
	*l1 = base | SPTE_PRESENT | SPTE_LEAF;
	vm->mirror.gen++;
	vm->mirror.npages--;
	if (vm->pol.dpamt)
		dpamt_promoted(vm, base, p.pair[0], p.pair[1], p.freed);	/* frees the pair */
	physmem_zero_page(vm->pm, p.freed);
	hostmem_free_4k(vm->hm, p.freed);
	sim_free(pt);
	vm->st.promotions++;
	return 1;
}

/* Every level-1 table entry under @pt (at @level > 1) whose range could be promoted. */
static int promote_walk(struct kvm_vm *vm, struct mmu_page *pt, uint64_t base,
			bool (*folio_2m)(struct kvm_vm *, uint64_t, uint64_t))
{
	int n = 0;
	for (unsigned i = 0; i < 512 && !vm->dead; i++) {
		uint64_t s = pt->spte[i];
		if (!present(s) || (s & SPTE_LEAF))
			continue;
		uint64_t gfn = base + ((uint64_t)i << (9 * pt->level));
		if (pt->level == 1) {
			int r = mmu_promote_2m(vm, gfn, folio_2m);
			if (r < 0)
				return r;
			n += r;
		} else {
			int r = promote_walk(vm, child_of(s), gfn, folio_2m);
			if (r < 0)
				return r;
			n += r;
		}
	}
	return n;
}

int mmu_promote_all(struct kvm_vm *vm, bool (*folio_2m)(struct kvm_vm *, uint64_t, uint64_t))
{
	assert_mmu_lock(vm, true);
	return vm->mirror.root ? promote_walk(vm, vm->mirror.root, 0, folio_2m) : 0;
}

/* ---- teardown ---- */

static void free_tables(struct kvm_vm *vm, struct mmu *mmu, struct mmu_page *pt, bool reclaim)
{
	if (pt->level > 0)
		for (unsigned i = 0; i < 512; i++) {
			uint64_t s = pt->spte[i];
			if (present(s) && !(s & SPTE_LEAF))
				free_tables(vm, mmu, child_of(s), reclaim);
		}
	if (pt != mmu->root && pt->sept_hpa) {
		if (reclaim) {
			/* no write-back: CACHE.WB wrote the key back (tdx_reclaim_page) */
			struct tdx_regs out;
			uint64_t st = tdh_phymem_page_reclaim(vm->m, &out, pt->sept_hpa);
			if (st != TDX_SUCCESS) {
				vm->leaked = true;
				vm_kill(vm, "reclaiming S-EPT page %#" PRIx64 ": %s", pt->sept_hpa,
					tdx_status_name(st));
			} else {
				dpamt_put(vm, pt->sept_hpa);
			}
		}
		physmem_zero_page(vm->pm, pt->sept_hpa);
		hostmem_free_4k(vm->hm, pt->sept_hpa);
	}
	sim_free(pt);
}

void mmu_free_tables(struct kvm_vm *vm, struct mmu *mmu, bool reclaim)
{
	if (mmu->root)
		free_tables(vm, mmu, mmu->root, reclaim);
	mmu->root = NULL;
	mmu->gen++;	/* the tables are gone: drop the walk cache */
}

/* ---- read-only inspection (kvm.h) ---- */

static int mirror_visit(const struct mmu_page *t, uint64_t gfn, kvm_mirror_leaf_fn fn, void *arg)
{
	for (int i = 0; i < 512; i++) {
		uint64_t s = t->spte[i];
		uint64_t g = gfn + ((uint64_t)i << (9 * t->level));
		int r = 0;
		if (!s)
			continue;
		if (s == SPTE_FROZEN || (s & SPTE_LEAF)) {
			struct kvm_mirror_leaf l = {
				.gpa = g << 12, .level = t->level,
				.hpa = s == SPTE_FROZEN ? 0 : s & SPTE_HPA_MASK,
				.premap = s != SPTE_FROZEN && (s & SPTE_PREMAP),
				.frozen = s == SPTE_FROZEN,
			};
			r = fn(arg, &l);
		} else if ((s & SPTE_PRESENT) && t->level > 0) {
			r = mirror_visit(child_of(s), g, fn, arg);
		}
		if (r)
			return r;
	}
	return 0;
}

int kvm_vm_mirror_for_each_leaf(const struct kvm_vm *vm, kvm_mirror_leaf_fn fn, void *arg)
{
	return vm->mirror.root ? mirror_visit(vm->mirror.root, 0, fn, arg) : 0;
}

/*
 * KVM's lpage_info for @gfn's 2M range: inside @s, aligned to its
 * guest_memfd, all private.  mmu_max_level()'s 2M test adds that a 2M
 * guest_memfd folio backs it (mmu_huge_fits).
 */
bool mmu_huge_lpage_ok(struct kvm_vm *vm, struct kvm_memslot *s, uint64_t gfn)
{
	uint64_t first = gfn & ~511ull;
	return s->gmem && first >= s->base_gfn && first + 512 <= s->base_gfn + s->npages &&
	       !((s->gmem_pgoff ^ s->base_gfn) & 511) && vm_range_private(vm, first, first + 512);
}

bool mmu_huge_fits(struct kvm_vm *vm, struct kvm_memslot *s, uint64_t gfn)
{
	if (!mmu_huge_lpage_ok(vm, s, gfn))
		return false;
	int order = 0;
	gmem_get_pfn(vm->k, s->gmem, gfn - s->base_gfn + s->gmem_pgoff, false, &order);
	return order >= 9;
}
