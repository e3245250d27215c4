/* SPDX-License-Identifier: MIT */
/*
 * dpamt.c - Dynamic PAMT on the host: the per-2M-range refcounts under the
 * global pamt_lock, the pair-page caches, and DEMOTE with its pair (see
 * dpamt.h and docs/design.md "Dynamic PAMT on the host").
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/engine.h"
#include "kvm_dpamt.h"
#include "kvm_internal.h"
#include "../engine/simheap.h"

#define RANGES_PER_DIR 512	/* refcounts per 1 GiB directory */

struct dpamt_host {
	seam_spinlock_t pamt_lock;	/* 0 <-> 1 transitions, and DEMOTE when locked */
	uint64_t base;			/* first byte of host memory (2M aligned) */
	uint64_t ndirs;
	uint32_t **dirs;		/* per 1 GiB: 512 refcounts, allocated on first use */
	uint64_t in_use;		/* ranges with a non-zero refcount */
	uint64_t adds, removes;
	/* kvm_get_running_vcpu(): per task (index 0: the direct driver) */
	struct kvm_vcpu *running[ENGINE_MAX_TASKS + 1];
	uint64_t (*split_alloc)(void *ctx, int sept);	/* test hook */
	void *split_ctx;
};

int dpamt_host_init(struct kvm *k)
{
	if (!k->plat.dynamic_pamt)
		return 0;
	struct dpamt_host *d = sim_calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->pamt_lock = (seam_spinlock_t)SEAM_MUTEX_INIT("pamt_lock", SEAM_LOCK_HOST_MISC);
	d->base = k->hm.base;
	d->ndirs = (k->hm.nblocks + RANGES_PER_DIR - 1) / RANGES_PER_DIR;
	d->dirs = sim_calloc(d->ndirs ? d->ndirs : 1, sizeof(*d->dirs));
	if (!d->dirs) {
		sim_free(d);
		return -ENOMEM;
	}
	k->dp = d;
	return 0;
}

void dpamt_host_fini(struct kvm *k)
{
	struct dpamt_host *d = k->dp;
	if (!d)
		return;
	for (uint64_t i = 0; i < d->ndirs; i++)
		sim_free(d->dirs[i]);
	sim_free(d->dirs);
	sim_free(d);
	k->dp = NULL;
}

/*
 * The refcount of @hpa's range, its directory allocated if @alloc (the
 * simulator's own memory, no seam point); NULL outside host memory or when
 * the simulator is out of memory.
 */
static uint32_t *refcount_of(struct dpamt_host *d, uint64_t hpa, bool alloc)
{
	if (hpa < d->base)
		return NULL;
	uint64_t r = (hpa - d->base) >> 21;
	if (r / RANGES_PER_DIR >= d->ndirs)
		return NULL;
	uint32_t **dir = &d->dirs[r / RANGES_PER_DIR];
	if (!*dir && alloc)
		*dir = sim_calloc(RANGES_PER_DIR, sizeof(**dir));
	return *dir ? &(*dir)[r % RANGES_PER_DIR] : NULL;
}

/* ---- caches ---- */

static uint64_t cache_take(struct pamt_cache *c)
{
	return c && c->n ? c->page[--c->n] : 0;
}

static void cache_put(struct pamt_cache *c, uint64_t page)
{
	c->page[c->n++] = page;
}

static int cache_topup(struct kvm_vm *vm, struct pamt_cache *c, bool split)
{
	struct dpamt_host *d = vm->k->dp;
	while (c->n < PAMT_CACHE_PAGES) {
		uint64_t page = split && d->split_alloc ? d->split_alloc(d->split_ctx, 0) : 0;
		if (!page)
			page = vm_alloc_page(vm);
		if (!page)
			return -ENOMEM;
		cache_put(c, page);
	}
	return 0;
}

static void free_page(struct kvm_vm *vm, uint64_t hpa)
{
	physmem_zero_page(vm->pm, hpa);
	hostmem_free_4k(vm->hm, hpa);
}

void dpamt_cache_free(struct kvm_vm *vm, struct pamt_cache *c)
{
	while (c->n)
		free_page(vm, c->page[--c->n]);
}

static struct kvm_vcpu **running_slot(struct dpamt_host *d)
{
	return &d->running[engine_task_id() + 1];
}

struct kvm_vcpu *dpamt_vcpu_load(struct kvm_vcpu *v)
{
	struct dpamt_host *d = v->vm->k->dp;
	if (!v->vm->pol.dpamt || !d)
		return NULL;
	struct kvm_vcpu **slot = running_slot(d), *prev = *slot;
	*slot = v;
	return prev;
}

void dpamt_vcpu_unload(struct kvm_vcpu *v, struct kvm_vcpu *prev)
{
	struct dpamt_host *d = v->vm->k->dp;
	if (v->vm->pol.dpamt && d)
		*running_slot(d) = prev;
}

/* The running vCPU of this task, if it belongs to @vm. */
static struct kvm_vcpu *running_vcpu(struct kvm_vm *vm)
{
	struct kvm_vcpu *v = *running_slot(vm->k->dp);
	return v && v->vm == vm ? v : NULL;
}

struct pamt_cache *dpamt_fault_cache(struct kvm_vm *vm)
{
	if (!vm->pol.dpamt)
		return NULL;
	struct kvm_vcpu *v = running_vcpu(vm);
	/* no vCPU (a VM ioctl): the per-VM cache, filled by its caller */
	return v ? &v->pamt_cache : &vm->pamt_cache;
}

int dpamt_vcpu_topup(struct kvm_vm *vm)
{
	if (!vm->pol.dpamt)
		return 0;
	return cache_topup(vm, dpamt_fault_cache(vm), false);
}

int dpamt_vm_topup(struct kvm_vm *vm)
{
	if (!vm->pol.dpamt)
		return 0;
	return cache_topup(vm, &vm->pamt_cache, true);
}

uint64_t dpamt_split_page_alloc(struct kvm_vm *vm)
{
	struct dpamt_host *d = vm->k->dp;
	uint64_t page = 0;
	if (vm->pol.dpamt && d->split_alloc)
		page = d->split_alloc(d->split_ctx, 1);
	return page ? page : vm_alloc_page(vm);
}

/* ---- refcounts ---- */

static void count_add(struct kvm_vm *vm, struct dpamt_host *d)
{
	vm->st.pamt_adds++;
	d->adds++;
	d->in_use++;
}

int dpamt_get(struct kvm_vm *vm, uint64_t hpa, struct pamt_cache *c)
{
	struct dpamt_host *d = vm->k->dp;
	if (!vm->pol.dpamt)
		return 0;
	uint32_t *rc = refcount_of(d, hpa, true);
	if (!rc)
		return -ENOMEM;
	/* atomic_inc_not_zero(): the range has its pair already */
	if (*rc) {
		++*rc;
		return 0;
	}
	/* the pair first: nothing to undo if there is none */
	uint64_t p0 = c ? cache_take(c) : vm_alloc_page(vm);
	uint64_t p1 = p0 ? (c ? cache_take(c) : vm_alloc_page(vm)) : 0;
	if (!p1) {
		if (p0)
			c ? cache_put(c, p0) : free_page(vm, p0);
		return -ENOMEM;
	}
	uint64_t st = TDX_SUCCESS, range = hpa & ~(SZ_2M - 1);
	bool used = false;
	seam_spin_lock(&d->pamt_lock);
	if (*rc) {
		++*rc;		/* added by another CPU while we waited */
	} else {
		struct tdx_regs out;
		st = tdh_phymem_pamt_add(vm->m, &out, range | PAMT_2M, p0, p1);
		if (st == TDX_SUCCESS) {
			*rc = 1;
			used = true;
			count_add(vm, d);
		}
	}
	seam_spin_unlock(&d->pamt_lock);
	if (used)
		return 0;	/* the module holds the pair until PAMT.REMOVE */
	/* not needed (another CPU added the range) or refused: the pages go back */
	if (c) {
		cache_put(c, p1);
		cache_put(c, p0);
	} else {
		free_page(vm, p1);
		free_page(vm, p0);
	}
	if (st != TDX_SUCCESS) {
		/*
		 * KVM_BUG_ON: under pamt_lock nothing the host does may make
		 * PAMT.ADD fail; an unlocked DEMOTE holding a pair page of
		 * this range does (OPERAND_BUSY|RCX, the race of 2026-06).
		 */
		vm_kill(vm, "TDH.PHYMEM.PAMT.ADD of range %#" PRIx64 ": %s (%#" PRIx64 ")", range,
			tdx_status_name(st), st);
		return -EIO;
	}
	return 0;
}

int dpamt_get_pf(struct kvm_vm *vm, uint64_t hpa)
{
	int r = dpamt_get(vm, hpa, dpamt_fault_cache(vm));
	return !r ? RET_PF_CONTINUE : r == -ENOMEM ? RET_PF_NOMEM : RET_PF_ERR;
}

/* PAMT.REMOVE of @range (pamt_lock held): the pair comes back to the host. */
static void range_remove(struct kvm_vm *vm, struct dpamt_host *d, uint64_t range)
{
	struct tdx_regs out;
	uint64_t st = tdh_phymem_pamt_remove(vm->m, &out, range | PAMT_2M);
	if (st != TDX_SUCCESS) {
		/* a refcount that is wrong: the module still has a page there */
		vm_kill(vm, "TDH.PHYMEM.PAMT.REMOVE of range %#" PRIx64 ": %s (%#" PRIx64 ")",
			range, tdx_status_name(st), st);
		return;
	}
	vm->st.pamt_removes++;
	d->removes++;
	d->in_use--;
	free_page(vm, out.rdx);
	free_page(vm, out.r8);
}

void dpamt_put(struct kvm_vm *vm, uint64_t hpa)
{
	struct dpamt_host *d = vm->k->dp;
	if (!vm->pol.dpamt)
		return;
	uint32_t *rc = refcount_of(d, hpa, false);
	if (!rc || !*rc) {
		vm_kill(vm, "Dynamic PAMT: no reference on the range of %#" PRIx64, hpa);
		return;
	}
	/* atomic_dec_and_lock(): the lock only for the last reference */
	if (*rc > 1) {
		--*rc;
		return;
	}
	seam_spin_lock(&d->pamt_lock);
	if (!--*rc)
		range_remove(vm, d, hpa & ~(SZ_2M - 1));
	seam_spin_unlock(&d->pamt_lock);
}

/* ---- splits ---- */

int dpamt_split_prepare(struct kvm_vm *vm, uint64_t sept, uint64_t pair[2], bool exclusive)
{
	pair[0] = pair[1] = 0;
	if (!vm->pol.dpamt)
		return 0;
	struct pamt_cache *c = exclusive ? &vm->pamt_cache : dpamt_fault_cache(vm);
	/* the pair first, so that a failed get has nothing to give back */
	pair[0] = cache_take(c);
	pair[1] = pair[0] ? cache_take(c) : 0;
	if (!pair[1]) {
		if (pair[0])
			cache_put(c, pair[0]);
		pair[0] = 0;
		return -ENOMEM;
	}
	int r = dpamt_get(vm, sept, c);
	if (r) {
		cache_put(c, pair[1]);
		cache_put(c, pair[0]);
		pair[0] = pair[1] = 0;
	}
	return r;
}

void dpamt_split_abort(struct kvm_vm *vm, uint64_t sept, uint64_t pair[2], bool exclusive)
{
	if (!vm->pol.dpamt)
		return;
	struct pamt_cache *c = exclusive ? &vm->pamt_cache : dpamt_fault_cache(vm);
	cache_put(c, pair[1]);
	cache_put(c, pair[0]);
	pair[0] = pair[1] = 0;
	dpamt_put(vm, sept);
}

uint64_t dpamt_demote(struct kvm_vm *vm, uint64_t gpa_info, uint64_t sept, uint64_t hpa,
		      const uint64_t pair[2])
{
	struct tdx_regs out;
	if (!vm->pol.dpamt)
		return tdh_mem_page_demote(vm->m, &out, gpa_info, vm->tdr, sept, 0, 0);
	struct dpamt_host *d = vm->k->dp;
	bool locked = vm->pol.dpamt_demote_locked;
	/*
	 * The fix of 2026-06: DEMOTE locks its pair pages' PAMT entries shared,
	 * PAMT.ADD the range's 2M entry exclusive; a pair page inside a range
	 * another CPU is adding makes one of them OPERAND_BUSY.  Under
	 * pamt_lock they cannot overlap.
	 */
	if (locked)
		seam_spin_lock(&d->pamt_lock);
	uint64_t st = tdh_mem_page_demote(vm->m, &out, gpa_info, vm->tdr, sept, pair[0], pair[1]);
	if (st == TDX_SUCCESS) {
		/* the 2M page's range has the pair now, for its 512 children */
		uint32_t *rc = refcount_of(d, hpa, true);
		if (rc) {
			d->in_use += !*rc;	/* 0 before: a 2M page holds no reference */
			*rc = TDX_ENTRIES_PER_PAGE;
		}
	}
	if (locked)
		seam_spin_unlock(&d->pamt_lock);
	return st;
}

void dpamt_promoted(struct kvm_vm *vm, uint64_t hpa, uint64_t pair0, uint64_t pair1,
		    uint64_t sept)
{
	struct dpamt_host *d = vm->k->dp;
	if (!vm->pol.dpamt)
		return;
	uint32_t *rc = refcount_of(d, hpa, false);
	seam_spin_lock(&d->pamt_lock);
	if (rc && *rc) {
		*rc = 0;	/* the 512 children are one 2M page again */
		d->in_use--;
	}
	seam_spin_unlock(&d->pamt_lock);
	free_page(vm, pair0);
	free_page(vm, pair1);
	dpamt_put(vm, sept);
}

/* ---- kvm_dpamt.h ---- */

uint32_t kvm_dpamt_refcount(const struct kvm *k, uint64_t hpa)
{
	if (!k->dp)
		return 0;
	uint32_t *rc = refcount_of(k->dp, hpa, false);
	return rc ? *rc : 0;
}

uint64_t kvm_dpamt_ranges_in_use(const struct kvm *k)
{
	return k->dp ? k->dp->in_use : 0;
}

void kvm_dpamt_counts(const struct kvm *k, uint64_t *adds, uint64_t *removes)
{
	*adds = k->dp ? k->dp->adds : 0;
	*removes = k->dp ? k->dp->removes : 0;
}

void kvm_dpamt_set_split_alloc(struct kvm *k, uint64_t (*alloc)(void *ctx, int sept), void *ctx)
{
	if (!k->dp)
		return;
	k->dp->split_alloc = alloc;
	k->dp->split_ctx = ctx;
}

/* ---- control pages (no mmu_lock: pairs are allocated as needed) ---- */

int dpamt_get_pages(struct kvm_vm *vm, const uint64_t *pages, int n)
{
	for (int i = 0; i < n; i++) {
		int r = dpamt_get(vm, pages[i], NULL);
		if (r) {
			dpamt_put_pages(vm, pages, i);
			return r;
		}
	}
	return 0;
}

void dpamt_put_pages(struct kvm_vm *vm, const uint64_t *pages, int n)
{
	for (int i = 0; i < n; i++)
		dpamt_put(vm, pages[i]);
}
