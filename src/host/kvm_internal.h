/* SPDX-License-Identifier: MIT */
/* kvm_internal.h - the host's structures (src/host only). */
#ifndef TDXSIM_KVM_INTERNAL_H
#define TDXSIM_KVM_INTERNAL_H

#include "../engine/seam.h"
#include "../module/physmem.h"
#include "dpamt.h"
#include "hostmem.h"
#include "kvm.h"

struct kvm {
	struct kvm_platform plat;
	struct tdx_module *m;
	struct physmem *pm;
	struct hostmem hm;
	uint16_t next_hkid;
	struct dpamt_host *dp;	/* Dynamic PAMT (dpamt.c), NULL without the module feature */
};

/* ---- guest_memfd (gmem.c) ---- */
struct gmem_chunk {
	uint64_t huge;		/* HPA of a 2M folio backing this 2M of file, or 0 */
	uint64_t *small;	/* else: HPA of each 4K folio (0: none), or NULL */
};

/*
 * The file is sparse: a directory per 1 GiB of file (512 chunks of 2M),
 * allocated on first use, so a huge file costs what is populated.
 */
#define GMEM_DIR_SHIFT	18	/* 4K pages per directory: 2^18 = 1 GiB */
#define GMEM_DIR_CHUNKS	512

struct gmem {
	bool used;		/* a guest_memfd file of this VM */
	uint64_t npages;	/* file size in 4K pages */
	uint64_t ndirs;
	struct gmem_chunk **dirs;	/* per 1 GiB: 512 chunks, or NULL */
	uint64_t ndirs_used;	/* directories allocated */
	uint64_t nsmall;	/* chunks with a 4K-folio array */
	bool allow_huge;	/* may allocate 2M folios */
	seam_rwlock_t invalidate_lock;
	uint64_t folios_2m, folios_4k;	/* live folios */
};

int gmem_init(struct gmem *g, uint64_t npages, bool allow_huge);
uint64_t gmem_get_pfn_slow(struct kvm *k, struct gmem *g, uint64_t index, bool alloc,
			   int *order);

/*
 * The HPA backing page @index, allocating a folio if @alloc; 0 if none
 * (or host memory is exhausted).  An existing folio is found inline; the
 * rest is gmem_get_pfn_slow().
 */
static inline uint64_t gmem_get_pfn(struct kvm *k, struct gmem *g, uint64_t index, bool alloc,
				    int *order)
{
	if (index < g->npages) {
		const struct gmem_chunk *d = g->dirs[index >> GMEM_DIR_SHIFT];
		if (d) {
			const struct gmem_chunk *c = &d[(index >> 9) & (GMEM_DIR_CHUNKS - 1)];
			if (c->huge) {
				if (order)
					*order = 9;
				return c->huge + (index % 512) * SZ_4K;
			}
			if (c->small && c->small[index % 512]) {
				if (order)
					*order = 0;
				return c->small[index % 512];
			}
		}
	}
	return gmem_get_pfn_slow(k, g, index, alloc, order);
}

/*
 * Free the folios of [index, index + n), zeroed, except the pages @held
 * says a TD still holds (by HPA; NULL: none); a 2M folio cut in part, or
 * holding a held page, is split.  Costs what is populated, not the span.
 */
void gmem_free_range(struct kvm *k, struct gmem *g, uint64_t index, uint64_t n,
		     bool (*held)(void *ctx, uint64_t hpa), void *ctx);
void gmem_release(struct kvm *k, struct gmem *g);
uint64_t gmem_resident_bytes(const struct gmem *g);

/* ---- shared memory behind a memslot (the VMM's userspace mapping) ---- */
/* HPA per 4K page, sparse like guest_memfd: per 1 GiB a table of 2M leaves. */
struct shmap {
	uint64_t ndirs;
	uint64_t ***dirs;	/* [1 GiB][2M] -> 512 HPAs, each level on demand */
	uint64_t nleaves;	/* 512-entry leaves allocated */
	uint64_t ndirs_used;
	uint64_t npages;	/* pages allocated */
};

/* The HPA of shared page @i, or 0. */
static inline uint64_t shmap_get(const struct shmap *m, uint64_t i)
{
	uint64_t **d = m->dirs[i >> GMEM_DIR_SHIFT];
	if (!d)
		return 0;
	uint64_t *l = d[(i >> 9) & 511];
	return l ? l[i & 511] : 0;
}

/* ---- page tables (mmu.c) ---- */
/*
 * An SPTE: 0 = not present; FROZEN while a SEAMCALL for it is in flight;
 * a non-leaf points at its child table (pointer | SPTE_PRESENT); a leaf is
 * HPA | SPTE_PRESENT | SPTE_LEAF, plus SPTE_PREMAP for a premapped leaf
 * the module has not been told about yet.
 */
#define SPTE_PRESENT	1ull
#define SPTE_LEAF	2ull
#define SPTE_PREMAP	4ull
#define SPTE_FROZEN	0x5a0ull	/* like KVM's FROZEN_SPTE: never present */
#define SPTE_HPA_MASK	GENMASK64(51, 12)

struct mmu_page {
	uint64_t spte[512];
	uint64_t sept_hpa;	/* the matching S-EPT page (mirror only) */
	int level;		/* level of the entries */
};

#define MMU_WC_ENTRIES 16

struct mmu {
	struct mmu_page *root;
	int root_level;
	bool mirror;		/* the mirror of the S-EPT (private GPAs) */
	uint64_t npages;	/* tables allocated */
	/*
	 * Walk cache (for the simulator's own speed, like the module's S-EPT
	 * walk cache): the 4K-level table of a 2M region, valid while gen is
	 * unchanged.  gen bumps whenever a non-leaf SPTE stops pointing at
	 * the table it pointed at (today only when tables are freed);
	 * linking a new table cannot make a cached path wrong.
	 */
	uint64_t gen;
	struct {
		uint64_t tag;		/* gfn >> 9, plus 1 (0: empty) */
		uint64_t gen;
		struct mmu_page *pt;	/* the level-0 table */
	} wc[MMU_WC_ENTRIES];
};

/* ---- memslots ---- */
struct kvm_memslot {
	bool used;
	bool deleting;		/* invalid: being deleted, faults must retry */
	uint32_t flags;		/* KVM_MEM_GUEST_MEMFD */
	uint64_t base_gfn, npages;
	struct gmem *gmem;	/* the bound guest_memfd, or NULL (shared only) */
	uint64_t gmem_pgoff;	/* file page of base_gfn */
	struct shmap shared;	/* shared backing (the VMM's memory) */
};

/* ---- memory attributes: the private GFN ranges of a VM ---- */
struct attr_range {
	uint64_t start, end;	/* private GFNs [start, end) */
};

/* What the host did with an EPT violation that changed nothing (the watch) */
enum ll_did {
	LL_SPURIOUS,		/* found it mapped already */
	LL_RETRY,		/* RET_PF_RETRY: an SPTE frozen, the module BUSY, an invalidation */
	LL_SPLIT_IGNORED,	/* a 2M leaf there needed a split it did not make */
	LL_SPLIT_REFUSED,	/* ... that its design refuses under the shared lock */
	LL_NR
};

struct kvm_vcpu {
	struct kvm_vm *vm;
	int id;
	bool initialized;	/* KVM_TDX_INIT_VCPU done */
	bool running;		/* inside kvm_vcpu_run */
	bool irq_pending;	/* an interrupt posted for it, delivered at entry */
	/*
	 * HLT (tdx.c, kvm_vcpu_halt): the vCPU's task blocks on halt_wait while
	 * halted; a wakeup (an IPI, an interrupt, the VM's death) sets
	 * wake_pending and completes it.  A wakeup before the HLT is kept, so
	 * the next HLT returns at once, as a pending interrupt ends HLT.
	 */
	bool halted;
	bool wake_pending;
	seam_completion_t halt_wait;
	uint64_t map_gpa_next, map_gpa_end;	/* MapGPA in progress, 2M a time */
	uint64_t tdvpr;
	uint64_t tdcx[TDX_TDVPS_PAGES - 1];
	int ntdcx;
	struct gvcpu_host ops;	/* the guest layer's view of this host; ctx = us */
	struct gvcpu g;
	/*
	 * Forward-progress watch (tdx.c): EPT violations in a row at one GPA
	 * and guest RIP that the host answered without changing anything it
	 * can see.  Past the policy's livelock_exits the run ends as a
	 * livelock with a report naming the vCPU, the GPA, the RIP and what
	 * the host did each time (ll_did counts each kind of answer).
	 */
	uint64_t ll_gpa, ll_rip;
	uint64_t ll_count;
	uint64_t ll_did[LL_NR];
	struct pamt_cache pamt_cache;	/* Dynamic PAMT pairs for this vCPU's faults */
};

/* EPT violations without progress that make a livelock (seed 001's rare case):
 * the default of kvm_policy.livelock_exits */
#define KVM_LIVELOCK_EXITS 2000

/*
 * A set of 2M ranges (gfn >> 9), open addressing: the one-way guest-inhibit
 * flags of huge-v5 (tdx_handle_mismatched_accept).  Lookups have no seam
 * point: a fault reads it without the mmu_lock, as the series does.
 */
struct gfnset {
	uint64_t *keys;		/* (gfn >> 9) + 1, 0: empty */
	uint32_t cap;		/* power of two, or 0 */
	uint32_t n;
};
bool gfnset_has(const struct gfnset *set, uint64_t gfn);
int gfnset_add(struct gfnset *set, uint64_t gfn);	/* 0, 1 (already there), -ENOMEM */
void gfnset_free(struct gfnset *set);

/* S-EPT pages for splits, allocated before the mmu_lock is taken (tdx.c). */
#define SPLIT_CACHE_PAGES 8

enum vm_state { VM_NEW = 0, VM_TD_CREATED, VM_TD_INITIALIZED, VM_FINALIZED };

#define KVM_MAX_VCPUS 256

struct kvm_vm {
	struct kvm *k;
	struct tdx_module *m;
	struct physmem *pm;
	struct hostmem *hm;
	struct kvm_policy pol;
	enum vm_state state;
	bool dead;
	bool hkid_released;		/* tdx_mmu_release_hkid() ran (terminate or teardown) */
	bool leaked;			/* teardown could not reclaim a page: it stays the module's */
	char why[160];
	uint64_t tdr;
	uint64_t tdcx[TDX_TDCS_PAGES];
	int ntdcx;
	uint16_t hkid;
	struct tdx_td *td;
	int levels;
	uint64_t shared_bit;
	uint16_t max_vcpus;
	int nrunning;			/* vCPUs inside kvm_vcpu_run (in the TD, or halted) */
	struct kvm_vcpu *vcpus[KVM_MAX_VCPUS];
	int nvcpus;
	struct kvm_memslot slots[KVM_MAX_MEMSLOTS];
	struct gmem gmems[KVM_MAX_GMEMS];	/* guest_memfd files, fd = index */
	/*
	 * Memory attributes (KVM's per-VM xarray): sorted, disjoint, never
	 * adjacent private ranges; everything else is shared.  Written under
	 * slots_lock and the exclusive mmu_lock; read by faults (no seam
	 * point inside a lookup, so a lookup is atomic under the engine).
	 */
	struct attr_range *priv;
	uint32_t npriv, priv_cap;
	uint32_t priv_hint;		/* the range the last lookup hit */
	struct mmu mirror, direct;
	seam_mutex_t lock;		/* kvm->lock */
	seam_mutex_t slots_lock;
	seam_rwlock_t srcu;		/* readers: memslot users; writer: synchronize */
	seam_rwlock_t mmu_lock;
	uint64_t invalidate_seq;	/* bumped by every zap of attributes/gmem */
	uint64_t nr_premapped;
	int no_vcpu_enter;		/* kick-retry: vCPUs must not enter */
	/* huge pages */
	bool huge;			/* 2M private mappings possible (set at FINALIZE) */
	bool shared_split;		/* huge-nbr with the module's non-blocking resize */
	char notice[160];		/* what the design decided at FINALIZE, said once */
	struct gfnset inhibit;		/* guest-inhibited 2M ranges (huge-v5, huge-nbr) */
	uint64_t split_cache[SPLIT_CACHE_PAGES];
	int nsplit_cache;
	struct mmu_page *split_inflight;	/* the table of a split in progress */
	struct pamt_cache pamt_cache;	/* Dynamic PAMT pairs for the exclusive splits */
	struct kvm_vmm_ops vmm;
	struct kvm_vm_stats st;
};

/* fault results */
enum {
	RET_PF_CONTINUE = 0,
	RET_PF_RETRY,
	RET_PF_SPURIOUS,
	RET_PF_MEMFAULT,	/* exit to userspace (KVM_EXIT_MEMORY_FAULT) */
	RET_PF_ERR,		/* the VM was killed */
	RET_PF_NOMEM,		/* host memory exhausted; nothing changed */
	RET_PF_HUGE,		/* (walks) a 2M leaf covers the GFN: *leafp is its SPTE */
};

/* The exclusive mmu_lock, counted (kvm_vm_stats.mmu_write_locks). */
static inline void mmu_write_lock(struct kvm_vm *vm)
{
	seam_write_lock(&vm->mmu_lock);
	vm->st.mmu_write_locks++;
}

/* vm.c */
/* The memslot holding @gfn, or NULL (slots never overlap). */
static inline struct kvm_memslot *vm_slot_of(struct kvm_vm *vm, uint64_t gfn)
{
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		struct kvm_memslot *s = &vm->slots[i];
		if (s->used && gfn - s->base_gfn < s->npages)
			return s;
	}
	return NULL;
}

bool vm_gfn_private_slow(struct kvm_vm *vm, uint64_t gfn);

/* The private attribute of @gfn (the range of the last hit is tried first). */
static inline bool vm_gfn_private(struct kvm_vm *vm, uint64_t gfn)
{
	uint32_t h = vm->priv_hint;
	if (h < vm->npriv && gfn - vm->priv[h].start < vm->priv[h].end - vm->priv[h].start)
		return true;
	return vm_gfn_private_slow(vm, gfn);
}

/* Are all GFNs of [start, end) private? */
bool vm_range_private(const struct kvm_vm *vm, uint64_t start, uint64_t end);

void vm_kill(struct kvm_vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The shared page behind @gfn of @s (allocated if @alloc), or 0. */
uint64_t vm_shared_backing(struct kvm_vm *vm, struct kvm_memslot *s, uint64_t gfn, bool alloc);
/* A host page for the TD or the host, or 0 when host memory is exhausted. */
uint64_t vm_alloc_page(struct kvm_vm *vm);
/*
 * The host's clear of @n 4K pages from @hpa a TD gave back (REMOVE or
 * RECLAIM): tdx_clear_page()'s MOVDIR64B, charged clear_4k per page.
 */
void vm_clear_private(struct kvm_vm *vm, uint64_t hpa, uint64_t n);

/* mmu.c */
int mmu_init(struct mmu *mmu, int root_level, bool mirror, uint64_t root_sept_hpa);
void mmu_free_tables(struct kvm_vm *vm, struct mmu *mmu, bool reclaim);
/*
 * Map private @gfn (shared mmu_lock held) at @level (0 or 1), @hpa being the
 * 4K page backing @gfn itself; a 2M leaf maps the 2M-aligned range around it
 * (the folio's base).  A 2M request meeting an existing table maps 4K.  A 4K
 * request meeting a 2M leaf is the fault-path split: per design ignored,
 * refused, or done under the shared lock (huge-nbr).  Returns RET_PF_*.
 */
int mmu_map_private(struct kvm_vm *vm, uint64_t gfn, int level, uint64_t hpa,
		    uint64_t source_hpa, bool premap);
/*
 * Split the 2M mirror leaf covering @gfn, if any, under the exclusive
 * mmu_lock: BLOCK (kick and retry once on BUSY), TRACK and kick, DEMOTE
 * (BUSY: kick and retry once; INTERRUPTED_RESTARTABLE retried), the new
 * S-EPT page from the split cache.  0 (split or nothing to split),
 * -ENOMEM (the cache is empty: nothing changed), -EIO (the VM was killed).
 */
int mmu_split_2m(struct kvm_vm *vm, uint64_t gfn);
/* Split the 2M leaves that cross either end of [gfn, gfn + n) (exclusive lock). */
int mmu_split_ends(struct kvm_vm *vm, uint64_t gfn, uint64_t n);
/*
 * Promotion (policy "promote", beyond upstream), exclusive mmu_lock: if the
 * 4K leaves of @gfn's 2M range are 512 contiguous pages of one 2M folio
 * (@folio_2m says) and all accepted, merge them: BLOCK the table, TRACK,
 * kick, PROMOTE, free the S-EPT page.  1 promoted, 0 not a candidate,
 * -EIO (the VM was killed).
 */
int mmu_promote_2m(struct kvm_vm *vm, uint64_t gfn,
		   bool (*folio_2m)(struct kvm_vm *, uint64_t gfn, uint64_t hpa));
/* mmu_promote_2m() over every 2M range of 4K leaves: the number promoted, or -EIO. */
int mmu_promote_all(struct kvm_vm *vm, bool (*folio_2m)(struct kvm_vm *, uint64_t, uint64_t));
/* The mirror SPTE mapping @gfn (a 4K leaf, or the 2M leaf: *level 1), or 0. */
uint64_t mmu_private_spte(struct kvm_vm *vm, uint64_t gfn, int *level);
/* Is @gfn mapped by a 2M mirror leaf? */
bool mmu_huge_mapped(struct kvm_vm *vm, uint64_t gfn);
int mmu_map_shared(struct kvm_vm *vm, uint64_t gfn, uint64_t hpa);
/* Zap [gfn, gfn + n) (exclusive mmu_lock held); private leaves go through the module. */
void mmu_zap_private(struct kvm_vm *vm, uint64_t gfn, uint64_t n);
void mmu_zap_shared(struct kvm_vm *vm, uint64_t gfn, uint64_t n);
uint64_t *mmu_leaf(struct mmu *mmu, uint64_t gfn);
bool mmu_huge_fits(struct kvm_vm *vm, struct kvm_memslot *s, uint64_t gfn);
bool mmu_huge_lpage_ok(struct kvm_vm *vm, struct kvm_memslot *s, uint64_t gfn);

/*
 * The mapping level for a private fault, the one function every path asks:
 * the smallest of the host's largest huge page (2M; 1G is not used for
 * private memory), the vendor limit of the design (4K while building, and
 * always for "4k"; 4K too for a huge design whose module lacks what it
 * needs), the level of the exit's ACCEPT when it carries one (@has_info,
 * @hint), the explicit-demotion attribute for exits without level info,
 * the guest-inhibit flag of the 2M range, and what the memslot, memory
 * attributes (the whole 2M range inside the slot, all private) and the
 * guest_memfd folio (@order) allow.
 */
static inline int mmu_max_level(struct kvm_vm *vm, struct kvm_memslot *s, uint64_t gfn, int hint,
				bool has_info, int order)
{
	/* the vendor limit: the design, the module's features, RUNNABLE (vm->huge) */
	if (!vm->huge)
		return TDX_LEVEL_4K;
	int level = TDX_LEVEL_2M;
	if (has_info && hint < level)
		level = hint;	/* the guest's ACCEPT level is the most it wants */
	/* seed 000: without level info, 2M only for a TD that promised to accept first */
	if (!has_info && vm->pol.max_level == MAP_LEVEL_EXPLICIT &&
	    !(tdx_td_attributes(vm->td) & TD_ATTR_SEPT_EXPLICIT_DEMOTION))
		level = TDX_LEVEL_4K;
	if (level == TDX_LEVEL_2M && gfnset_has(&vm->inhibit, gfn))
		level = TDX_LEVEL_4K;	/* the guest accepted below 2M here */
	if (level == TDX_LEVEL_2M && (order < 9 || !mmu_huge_fits(vm, s, gfn)))
		level = TDX_LEVEL_4K;
	return level;
}

/*
 * Is the known bug @b re-introduced in @vm (policy "inject")?  Every use is
 * one marked branch at the place of the real bug; no injection, no cost
 * beyond this predicted-false test.
 */
static inline bool vm_inject(const struct kvm_vm *vm, enum kvm_inject b)
{
	return __builtin_expect((vm->pol.inject >> b) & 1, 0);
}

/* tdx.c */
/*
 * A BUSY the host retries: OPERAND_BUSY only.  PREVIOUS_TLB_EPOCH_BUSY from
 * TRACK (or any other error) is a host bug under KVM's protocol, so it
 * bugs the VM (KVM_BUG_ON), as tdx_operand_busy() leaves it.
 */
static inline bool tdx_busy_like(uint64_t st)
{
	return tdx_status_code(st) == TDX_OPERAND_BUSY;
}

uint64_t tdx_busy_slow(struct kvm_vm *vm, uint64_t (*op)(struct kvm_vm *, void *), void *arg,
		       bool exclusive, uint64_t st);

/*
 * Issue @op, handling BUSY by policy (see tdx_busy_slow).  The first
 * attempt is inline: it is the only one on the fault path.
 */
static inline uint64_t tdx_busy_retry(struct kvm_vm *vm, uint64_t (*op)(struct kvm_vm *, void *),
				      void *arg, bool exclusive)
{
	uint64_t st = op(vm, arg);
	if (__builtin_expect(!tdx_busy_like(st), 1))
		return st;
	return tdx_busy_slow(vm, op, arg, exclusive, st);
}
void tdx_kick_all(struct kvm_vm *vm);
/* Fill the split cache to @n pages (outside mmu_lock): 0 or -ENOMEM. */
int tdx_split_cache_topup(struct kvm_vm *vm, int n);
/* Serve a guest's demotion request for the 2M range of @gfn: 0, or -1 (VM dead). */
int tdx_demote_request(struct kvm_vm *vm, uint64_t gfn);
void tdx_request_exit_all(struct kvm_vm *vm);
int tdx_handle_exit(struct gvcpu *g);
uint64_t tdx_vmcall(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1);
/* Wake @v if it is halted, else make its next HLT return at once (kvm_vcpu_kick). */
void tdx_vcpu_wake(struct kvm_vcpu *v);
uint64_t tdx_shared_hpa(struct gvcpu *g, uint64_t gpa);
int tdx_before_enter(struct gvcpu *g);

#endif
