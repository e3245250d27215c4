/* SPDX-License-Identifier: MIT */
/*
 * check.c - checking mode, the host's side and the whole set: the module's
 * invariants (1, 5), pages owned by a TD and by the host (1), KVM's mirror
 * against the S-EPT (2), every vCPU's TLB (3) and the guests' shadow (4).
 * docs/design.md, "Checking mode", gives each rule and why it is sound.
 *
 * Plain reads only: no lock, no seam operation, nothing changed.
 */
#include <inttypes.h>
#include <stdio.h>

#include "kvm_internal.h"

static inline struct mmu_page *child_of(uint64_t spte)
{
	return (struct mmu_page *)(uintptr_t)(spte & ~0xfull);
}

struct mirror_check {
	struct kvm_vm *vm;
	char *msg;
	size_t len;
};

static int mirror_bad(struct mirror_check *c, uint64_t gfn, int level, const char *mirror,
		      uint64_t mhpa, const struct tdx_sept_leaf *e)
{
	snprintf(c->msg, c->len,
		 "invariant 2 (mirror): GPA %#" PRIx64 " level %d: the mirror has %s (HPA %#" PRIx64
		 "), the S-EPT has %s (HPA %#" PRIx64 ")", gfn << 12, level, mirror, mhpa,
		 tdx_sept_state_name(e->state), e->hpa);
	return 2;
}

/*
 * The mirror table @pt (its entries at pt->level, the first covering
 * @base) against its S-EPT page, entry by entry.  A frozen SPTE is a
 * SEAMCALL in flight (the freeze protocol): it and what lies under it may
 * be either side of the module's commit, and are skipped.
 */
static int mirror_table(struct mirror_check *c, const struct mmu_page *pt, uint64_t base)
{
	uint64_t buf[512];	/* one per level */
	const uint64_t *w = tdx_sept_table_words(c->vm->m, pt->sept_hpa, buf);
	for (unsigned i = 0; i < 512; i++) {
		uint64_t s = pt->spte[i], gfn = base + ((uint64_t)i << (9 * pt->level));
		struct tdx_sept_leaf e;
		if (s == SPTE_FROZEN || (!s && !w))
			continue;	/* in flight; or nothing on either side */
		tdx_sept_decode(w ? w[i] : 0, &e);
		if (!(s & SPTE_PRESENT)) {
			if (!tdx_sept_state_absent(e.state))
				return mirror_bad(c, gfn, pt->level, "nothing", 0, &e);
		} else if (s & SPTE_PREMAP) {
			/* pre-faulted: the module is told at INIT_MEM_REGION */
			if (!tdx_sept_state_absent(e.state))
				return mirror_bad(c, gfn, pt->level, "a pre-faulted leaf",
						  s & SPTE_HPA_MASK, &e);
		} else if (s & SPTE_LEAF) {
			if (!tdx_sept_state_leaf(e.state) || e.hpa != (s & SPTE_HPA_MASK))
				return mirror_bad(c, gfn, pt->level, "a leaf", s & SPTE_HPA_MASK, &e);
		} else {
			const struct mmu_page *ch = child_of(s);
			if (!tdx_sept_state_table(e.state) || e.hpa != ch->sept_hpa)
				return mirror_bad(c, gfn, pt->level, "a table", ch->sept_hpa, &e);
			int r = mirror_table(c, ch, gfn);
			if (r)
				return r;
		}
	}
	return 0;
}

/*
 * Invariant 2.  Sound because every change of a mirror SPTE and of its
 * S-EPT entry is either (a) under the shared mmu_lock with the SPTE frozen
 * from before the SEAMCALL to after the mirror update (skipped entry by
 * entry), or (b) under the exclusive mmu_lock, whose holder updates the
 * mirror after its SEAMCALLs (BLOCK, TRACK, REMOVE, write-backs; DEMOTE;
 * PROMOTE), so nothing is compared while a writer holds it.  A dead VM has
 * given up (a zap that failed half-way stays as it is until teardown), and
 * a TD that is not running (built or torn down outside a run) is left out.
 */
static int check_mirror(struct kvm_vm *vm, char *msg, size_t len)
{
	if (vm->dead || !vm->td || !vm->mirror.root || vm->mmu_lock.writer ||
	    tdx_td_lifecycle(vm->td) != TD_KEYS_CONFIGURED || !tdx_td_sept_root(vm->td))
		return 0;
	if (vm->mirror.root->sept_hpa != tdx_td_sept_root(vm->td)) {
		snprintf(msg, len, "invariant 2 (mirror): the mirror's root is S-EPT page %#" PRIx64
			 ", the TD's is %#" PRIx64, vm->mirror.root->sept_hpa,
			 tdx_td_sept_root(vm->td));
		return 2;
	}
	struct mirror_check c = { vm, msg, len };
	return mirror_table(&c, vm->mirror.root, 0);
}

/* ---- invariant 1, the host's part ---- */

static bool host_allocated(const struct hostmem *h, uint64_t hpa)
{
	if (hpa < h->base || hpa >= h->base + h->nblocks * SZ_2M)
		return true;	/* not the allocator's: control pages from elsewhere */
	return hostmem_is_allocated(h, hpa);
}

struct owned_check {
	struct kvm_vm *vm;
	char *msg;
	size_t len;
};

/* Every page the S-EPT holds must be allocated: a free page is the host's again. */
static int owned_leaf(void *arg, const struct tdx_sept_leaf *l)
{
	struct owned_check *c = arg;
	if (tdx_sept_state_absent(l->state))
		return 0;
	uint64_t n = l->level ? 512 : 1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t hpa = l->hpa + i * SZ_4K, gpa = l->gpa + i * SZ_4K;
		if (!host_allocated(c->vm->hm, hpa)) {
			snprintf(c->msg, c->len,
				 "invariant 1 (PAMT): HPA %#" PRIx64 " (GPA %#" PRIx64 ", %s) is the "
				 "TD's, but the host allocator has it free", hpa, gpa,
				 tdx_sept_state_name(l->state));
			return 1;
		}
	}
	return 0;
}

/* No page the VMM's shared memory uses may be a TD's. */
static int shared_pages(struct kvm_vm *vm, char *msg, size_t len)
{
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct kvm_memslot *s = &vm->slots[i];
		if (!s->used || !s->shared.dirs)
			continue;
		for (uint64_t d = 0; d < s->shared.ndirs; d++) {
			uint64_t **dir = s->shared.dirs[d];
			for (unsigned l = 0; dir && l < 512; l++) {
				const uint64_t *leaf = dir[l];
				for (unsigned p = 0; leaf && p < 512; p++) {
					uint64_t hpa = leaf[p];
					if (!hpa)
						continue;
					struct tdx_td *td = tdx_hpa_owner(vm->m, hpa);
					enum pamt_type t = pamt_peek_type(vm->pm, hpa, PAMT_4K);
					if (!td && t == PT_NDA)
						continue;
					snprintf(msg, len,
						 "invariant 1 (PAMT): HPA %#" PRIx64 " backs shared GFN %#"
						 PRIx64 " of memslot %d, but the PAMT has it as type %u%s",
						 hpa, s->base_gfn + (d << GMEM_DIR_SHIFT) + l * 512 + p, i,
						 td ? PT_REG : t, td ? " of a TD" : "");
					return 1;
				}
			}
		}
	}
	return 0;
}

static int check_host_pages(struct kvm_vm *vm, char *msg, size_t len)
{
	if (vm->dead || !vm->td || vm->mmu_lock.writer || !tdx_td_quiescent(vm->td) ||
	    tdx_td_lifecycle(vm->td) != TD_KEYS_CONFIGURED)
		return 0;
	struct owned_check c = { vm, msg, len };
	int r = tdx_td_sept_for_each_leaf(vm->td, owned_leaf, &c);
	return r ? r : shared_pages(vm, msg, len);
}

int kvm_vm_check(struct kvm_vm *vm, char *msg, size_t len)
{
	int r = tdx_module_check(vm->m, msg, len);
	if (!r)
		r = check_host_pages(vm, msg, len);
	if (!r)
		r = check_mirror(vm, msg, len);
	for (int i = 0; i < vm->nvcpus && !r; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->initialized)
			r = guest_check_tlb(&vm->vcpus[i]->g, msg, len);
	if (!r && vm->nvcpus && vm->vcpus[0] && vm->vcpus[0]->g.shadow)
		r = guest_shadow_check(vm->vcpus[0]->g.shadow, vm->m, vm->td, msg, len);
	return r;
}

void kvm_vm_set_shadow(struct kvm_vm *vm, struct guest_shadow *s)
{
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i])
			gvcpu_set_shadow(&vm->vcpus[i]->g, s);
}
