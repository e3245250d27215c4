/* SPDX-License-Identifier: MIT */
/*
 * dpamt.h - Dynamic PAMT on the host (src/host only; the test interface
 * is kvm_dpamt.h).  The KVM Dynamic PAMT series (huge-pages.md section 7):
 *
 * - A refcount per 2M range of host memory counts the 4K pages the TDs of
 *   this host have in the range (control pages, S-EPT pages, 4K private
 *   pages).  0 -> 1 gives the module a pair of 4K pages (PAMT.ADD), 1 -> 0
 *   takes it back (PAMT.REMOVE); both transitions happen under one global
 *   pamt_lock (a host spinlock, class HOST_MISC: inside mmu_lock, before
 *   every module lock).  Other changes are lock-free (atomic under the
 *   engine: no seam point), as atomic_inc_not_zero() / atomic_dec_and_lock()
 *   are in the series.
 * - A 2M page needs no pair.  DEMOTE hands the module a pair for the 2M
 *   page's own range, which then counts 512 (the children); PROMOTE gives
 *   it back.
 * - Pair pages come from caches filled before mmu_lock is taken: one per
 *   vCPU for the fault path (found through the running vCPU, as
 *   kvm_get_running_vcpu() finds it), one per VM for the exclusive split
 *   paths, filled next to the split cache.  Nothing allocates a pair page
 *   under mmu_lock.  Paths without mmu_lock (INIT_VM, INIT_VCPU) allocate
 *   the pair directly.
 *
 * Everything is a no-op for a VM whose policy has dpamt off.
 */
#ifndef TDXSIM_HOST_DPAMT_H
#define TDXSIM_HOST_DPAMT_H

#include <stdbool.h>
#include <stdint.h>

struct kvm;
struct kvm_vm;
struct kvm_vcpu;

/* Pair pages one 4K fault can need: 4 SEPT.ADDs + the leaf, plus a shared split. */
#define PAMT_CACHE_PAGES 16

struct pamt_cache {
	uint64_t page[PAMT_CACHE_PAGES];
	int n;
};

/* Host-wide state (kvm.c's struct kvm owns it); NULL without the module feature. */
int dpamt_host_init(struct kvm *k);
void dpamt_host_fini(struct kvm *k);

/*
 * Take a reference on the 2M range of the 4K page @hpa for a TD page: on
 * 0 -> 1 PAMT.ADD with a pair from @c (NULL: allocated now, only where no
 * mmu_lock is held).  0, -ENOMEM (no pair page: nothing changed), -EIO
 * (PAMT.ADD failed: the VM was killed with the status named).
 */
int dpamt_get(struct kvm_vm *vm, uint64_t hpa, struct pamt_cache *c);
/* Give the reference back once the module gave @hpa back; PAMT.REMOVE on 1 -> 0. */
void dpamt_put(struct kvm_vm *vm, uint64_t hpa);

/*
 * dpamt_get(@c NULL) on each of @pages (control pages, before the SEAMCALLs
 * that take them): 0, or the error with no reference left taken.
 */
int dpamt_get_pages(struct kvm_vm *vm, const uint64_t *pages, int n);
void dpamt_put_pages(struct kvm_vm *vm, const uint64_t *pages, int n);

/* The cache a fault under the shared mmu_lock takes pairs from: the running vCPU's. */
struct pamt_cache *dpamt_fault_cache(struct kvm_vm *vm);
/* Fill the running vCPU's cache (outside mmu_lock): 0 or -ENOMEM. */
int dpamt_vcpu_topup(struct kvm_vm *vm);
/* Fill the per-VM cache of the exclusive split paths (outside mmu_lock): 0 or -ENOMEM. */
int dpamt_vm_topup(struct kvm_vm *vm);
/* A page for the split cache (the test hook of kvm_dpamt.h, else the host allocator). */
uint64_t dpamt_split_page_alloc(struct kvm_vm *vm);
/* Give every cached page of @c back to the host allocator. */
void dpamt_cache_free(struct kvm_vm *vm, struct pamt_cache *c);

/*
 * The vCPU ioctls (KVM_RUN, INIT_MEM_REGION, PRE_FAULT_MEMORY) make @v the
 * running vCPU of the calling task (vcpu_load); the previous one is
 * returned for dpamt_vcpu_unload().
 */
struct kvm_vcpu *dpamt_vcpu_load(struct kvm_vcpu *v);
void dpamt_vcpu_unload(struct kvm_vcpu *v, struct kvm_vcpu *prev);

/*
 * A split of the 2M page @hpa (the S-EPT page @sept from the split cache):
 * take @sept's reference and the DEMOTE pair (@pair[2], 0 with dpamt off)
 * from the per-VM cache (@exclusive) or the fault cache.  0, -ENOMEM, -EIO.
 * dpamt_split_abort() undoes it when the DEMOTE failed.
 */
int dpamt_split_prepare(struct kvm_vm *vm, uint64_t sept, uint64_t pair[2], bool exclusive);
void dpamt_split_abort(struct kvm_vm *vm, uint64_t sept, uint64_t pair[2], bool exclusive);
/*
 * TDH.MEM.PAGE.DEMOTE of the 2M leaf at @gpa_info (2M page @hpa) with the
 * pair in R12/R13; inside pamt_lock with dpamt_demote_locked (the 2026-06
 * fix), else outside it.  On success the range of @hpa counts 512.
 */
uint64_t dpamt_demote(struct kvm_vm *vm, uint64_t gpa_info, uint64_t sept, uint64_t hpa,
		      const uint64_t pair[2]);
/*
 * For PROMOTE (not used by this host yet): the module gave back the pair
 * (R12/R13 out) of the range of 2M page @hpa, and the S-EPT page @sept.
 */
void dpamt_promoted(struct kvm_vm *vm, uint64_t hpa, uint64_t pair0, uint64_t pair1,
		    uint64_t sept);

/* RET_PF_* of dpamt_get(dpamt_fault_cache()) for the fault path. */
int dpamt_get_pf(struct kvm_vm *vm, uint64_t hpa);

#endif
