/* SPDX-License-Identifier: MIT */
/*
 * kvm_dpamt.h - inspecting the host's Dynamic PAMT (src/host/dpamt.c), for
 * tests and tools.  The host side is described in docs/design.md
 * ("Dynamic PAMT on the host").
 */
#ifndef TDXSIM_KVM_DPAMT_H
#define TDXSIM_KVM_DPAMT_H

#include <stdint.h>

struct kvm;

/* The refcount of the 2M range holding @hpa (0 without Dynamic PAMT). */
uint32_t kvm_dpamt_refcount(const struct kvm *k, uint64_t hpa);
/* 2M ranges whose refcount is not 0. */
uint64_t kvm_dpamt_ranges_in_use(const struct kvm *k);
/* PAMT.ADDs and PAMT.REMOVEs the host made, over all its VMs. */
void kvm_dpamt_counts(const struct kvm *k, uint64_t *adds, uint64_t *removes);
/*
 * Test hook: the pages the per-VM caches of the split paths get (pair
 * pages and the split cache's S-EPT pages, as @sept says) come from
 * @alloc (a page the caller took from kvm_hostmem(): it goes back there
 * when freed); 0 from @alloc, or @alloc NULL, is the host allocator.
 * Lets a test put a DEMOTE's pair where another TD is adding a range.
 */
void kvm_dpamt_set_split_alloc(struct kvm *k, uint64_t (*alloc)(void *ctx, int sept), void *ctx);

#endif
