/* SPDX-License-Identifier: MIT */
/*
 * tdx.c - the TDX side of the host (KVM's vmx/tdx.c): BUSY handling per
 * policy, kicking vCPUs, TD-exit handling (EPT violations, TDVMCALLs,
 * host-priority timeouts, kicks), and the vCPU's view of shared memory.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/engine.h"
#include "kvm_internal.h"

/*
 * tdx_busy_retry()'s slow path: @op answered @st, a BUSY; handle it by
 * policy.  Under the shared mmu_lock (a fault) a BUSY is returned so the
 * fault retries, after "retry-n" attempts if that policy is chosen.
 * Under the exclusive lock (a zap): "retry-n" retries up to N times;
 * "kick-retry" stops vCPUs from entering, kicks them out and retries once,
 * so a second BUSY is a bug and the caller kills the VM.
 */
uint64_t tdx_busy_slow(struct kvm_vm *vm, uint64_t (*op)(struct kvm_vm *, void *), void *arg,
		       bool exclusive, uint64_t st)
{
	vm->st.busy++;		/* every BUSY answer is counted once */
	if (vm->pol.busy == BUSY_RETRY_N) {
		for (int i = 1; i < vm->pol.retry_n && tdx_busy_like(st); i++) {
			seam_yield();
			st = op(vm, arg);
			vm->st.busy += tdx_busy_like(st);
		}
		return st;
	}
	/* INJECTED BUG busy-give-up: the zap takes the BUSY as final (the VM dies) */
	if (!exclusive || vm_inject(vm, INJECT_BUSY_GIVE_UP))
		return st;
	/* INJECTED BUG kick-no-stop: kicked vCPUs may enter again before the retry */
	bool stop = !vm_inject(vm, INJECT_KICK_NO_STOP);
	vm->no_vcpu_enter += stop;
	tdx_kick_all(vm);
	st = op(vm, arg);
	vm->st.busy += tdx_busy_like(st);
	vm->no_vcpu_enter -= stop;
	return st;
}

/*
 * Ask every vCPU inside the TD to exit, without waiting (KVM_REQ_VM_DEAD):
 * a dead VM's vCPUs leave at their next exit check and KVM_RUN fails.
 */
void tdx_request_exit_all(struct kvm_vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++) {
		struct gvcpu *g = &vm->vcpus[i]->g;
		if (g->v && g->in_guest_mode) {
			g->kick_req++;
			seam_event(SEAM_EV_KICK, (uint64_t)i, 0);
		}
		tdx_vcpu_wake(vm->vcpus[i]);	/* a halted vCPU wakes to see it */
	}
}

/*
 * Make every vCPU that is inside the TD exit, and wait until it has (KVM's
 * kvm_make_all_cpus_request with KVM_REQ_OUTSIDE_GUEST_MODE).  That walks
 * every vCPU whether it is in guest mode or not: the walk is charged on
 * every call (kick_vcpu per vCPU, kick_vcpu2 per vCPU squared, for the
 * contention of all of them answering), an IPI per vCPU in guest mode.
 * kvm_vm_stats.kicks counts the calls that found a vCPU to IPI.
 */
void tdx_kick_all(struct kvm_vm *vm)
{
	uint64_t n = (uint64_t)vm->nvcpus;
	seam_charge(SEAM_COST_KICK_VCPU, n);
	seam_charge(SEAM_COST_KICK_VCPU2, n * n);
	bool any = false;
	for (int i = 0; i < vm->nvcpus; i++) {
		struct gvcpu *g = &vm->vcpus[i]->g;
		if (g->v && g->in_guest_mode) {
			g->kick_req++;
			seam_event(SEAM_EV_KICK, (uint64_t)i, 0);
			any = true;
			seam_charge(SEAM_COST_IPI, 1);
		}
	}
	if (!any)
		return;
	vm->st.kicks++;
	/* wait until each kicked vCPU is out of guest mode: entering counts as in */
	for (int i = 0; i < vm->nvcpus; i++) {
		struct gvcpu *g = &vm->vcpus[i]->g;
		while (g->v && g->in_guest_mode && g->kick_ack < g->kick_req) {
			if (!engine_current()) {
				fprintf(stderr, "tdxsim: kicking vCPU %d, which runs in no task\n", i);
				abort();
			}
			seam_yield();
		}
	}
}

static struct kvm_vcpu *vcpu_of(struct gvcpu *g)
{
	return g->host->ctx;
}

/*
 * Fill the split cache up to @n S-EPT pages (outside the mmu_lock, as KVM
 * tops up its caches before taking it).  0, or -ENOMEM with the cache as
 * full as memory allowed.
 */
int tdx_split_cache_topup(struct kvm_vm *vm, int n)
{
	if (n > SPLIT_CACHE_PAGES)
		n = SPLIT_CACHE_PAGES;
	while (vm->nsplit_cache < n) {
		uint64_t page = dpamt_split_page_alloc(vm);
		if (!page)
			return -ENOMEM;
		vm->split_cache[vm->nsplit_cache++] = page;
	}
	return dpamt_vm_topup(vm);	/* and the DEMOTE pairs next to it */
}

/*
 * INJECTED BUG stale-pfn: the rest of a private fault in Linux's order
 * (guest_memfd's invalidate lock held only around kvm_gmem_get_pfn(), the
 * invalidation sequence alone guarding the pfn afterwards) but without
 * rechecking that sequence under mmu_lock: a punch that freed @hpa
 * meanwhile leaves it mapped in the TD.  Called with the invalidate lock
 * held shared; drops it.
 */
static __attribute__((noinline)) int fault_stale_pfn(struct kvm_vm *vm, struct kvm_memslot *s,
						     uint64_t gfn, int hint, bool has_info,
						     int order, uint64_t hpa)
{
	seam_read_unlock(&s->gmem->invalidate_lock);
	seam_read_lock(&vm->mmu_lock);
	int level = mmu_max_level(vm, s, gfn, hint, has_info, order);
	int r = mmu_map_private(vm, gfn, level, hpa, 0, false);
	seam_read_unlock(&vm->mmu_lock);
	return r;
}

/* One attempt at resolving a fault (srcu read held).  RET_PF_*. */
static int page_fault(struct kvm_vm *vm, uint64_t gfn, bool private, int hint, bool has_info)
{
	uint64_t seq = seam_load64(&vm->invalidate_seq);
	struct kvm_memslot *s = vm_slot_of(vm, gfn);
	if (!s)
		return RET_PF_MEMFAULT;		/* no memslot: userspace decides */
	if (s->deleting)
		return RET_PF_RETRY;		/* KVM_MEMSLOT_INVALID */
	if (vm_gfn_private(vm, gfn) != private)
		return RET_PF_MEMFAULT;		/* attributes disagree: convert */
	int r;
	if (private) {
		if (!s->gmem)
			return RET_PF_MEMFAULT;	/* kvm_slot_can_be_private() is false */
		/* huge-nbr may split under the shared lock: its page comes first */
		if (vm->shared_split && tdx_split_cache_topup(vm, 1))
			return RET_PF_NOMEM;
		/* Dynamic PAMT pairs for the page and its tables, before mmu_lock */
		if (__builtin_expect(vm->pol.dpamt, 0) && dpamt_vcpu_topup(vm))
			return RET_PF_NOMEM;
		seam_read_lock(&s->gmem->invalidate_lock);
		int order = 0;
		uint64_t hpa = gmem_get_pfn(vm->k, s->gmem, gfn - s->base_gfn + s->gmem_pgoff, true,
					    &order);
		if (!hpa) {
			seam_read_unlock(&s->gmem->invalidate_lock);
			return RET_PF_NOMEM;
		}
		if (vm_inject(vm, INJECT_STALE_PFN))
			return fault_stale_pfn(vm, s, gfn, hint, has_info, order, hpa);
		seam_read_lock(&vm->mmu_lock);
		if (seq != seam_load64(&vm->invalidate_seq)) {
			vm->st.retries++;
			r = RET_PF_RETRY;	/* an invalidation ran meanwhile */
		} else {
			/*
			 * The level under the lock, as kvm_tdp_mmu_map() calls
			 * kvm_mmu_hugepage_adjust(): an ACCEPT handler that split
			 * and inhibited this range under the write lock is seen.
			 * (Computed before the lock, a 2M map slipped in after the
			 * split and the 4K fault then met it for ever.)
			 */
			int level = mmu_max_level(vm, s, gfn, hint, has_info, order);
			r = mmu_map_private(vm, gfn, level, hpa, 0, false);
		}
		seam_read_unlock(&vm->mmu_lock);
		seam_read_unlock(&s->gmem->invalidate_lock);
	} else {
		uint64_t hpa = vm_shared_backing(vm, s, gfn, true);
		if (!hpa)
			return RET_PF_NOMEM;
		seam_read_lock(&vm->mmu_lock);
		if (seq != seam_load64(&vm->invalidate_seq)) {
			vm->st.retries++;
			r = RET_PF_RETRY;
		} else {
			r = mmu_map_shared(vm, gfn, hpa);
		}
		seam_read_unlock(&vm->mmu_lock);
	}
	return r;	/* RET_PF_SPURIOUS too: the caller watches for progress */
}

/* Is @gfn in a memslot that is being deleted? */
static bool gfn_in_deleting_slot(struct kvm_vm *vm, uint64_t gfn)
{
	struct kvm_memslot *s = vm_slot_of(vm, gfn);
	return s && s->deleting;
}

/*
 * An exit to userspace from inside the exit handler: the VMM runs outside
 * the SRCU read side, as after KVM_RUN returns, then calls KVM_RUN again.
 */
#define VMM_EXIT(vm, call)                                 \
	({                                                 \
		seam_read_unlock(&(vm)->srcu);             \
		__typeof__(call) r__ = (call);             \
		seam_read_lock(&(vm)->srcu);               \
		r__;                                       \
	})

/*
 * huge-v5's tdx_handle_mismatched_accept(): the guest accepts below 2M at
 * @gfn.  With the lockless pre-check (policy inhibit_check, the default;
 * step 1 of the series' fault sequence) the range's 2M permission is read
 * first, without the lock: a range already inhibited, or one 2M cannot map
 * anyway (memslot, attributes: KVM's lpage_info), needs nothing, so
 * only the first such ACCEPT of a 2M range takes mmu_lock exclusive.
 * Without it (the draft the check was added to) every 4K ACCEPT exit takes
 * it.  Under the lock: split a 2M leaf there, and only after that set the
 * one-way flag (in that order, so that no fault maps 2M between the flag
 * and the split).  0, or -1 when the VM died.
 */
static int handle_mismatched_accept(struct kvm_vm *vm, uint64_t gfn, bool fits)
{
	if (vm->pol.inhibit_check && (!fits || gfnset_has(&vm->inhibit, gfn)))
		return 0;
	if (tdx_split_cache_topup(vm, 1)) {
		vm_kill(vm, "out of host memory splitting GPA %#" PRIx64, gfn << 12);
		return -1;
	}
	mmu_write_lock(vm);
	vm->st.accept_write_locks++;
	int r = mmu_split_2m(vm, gfn);
	if (!r) {
		r = gfnset_add(&vm->inhibit, gfn);
		if (r == 0)
			vm->st.inhibits++;	/* level+1; the 1G flag too (4K accept): unused */
		r = r < 0 ? r : 0;
	}
	seam_write_unlock(&vm->mmu_lock);
	if (r == -ENOMEM && !vm->dead)
		vm_kill(vm, "out of memory splitting GPA %#" PRIx64, gfn << 12);
	return vm->dead ? -1 : 0;
}

/*
 * explicit-demotion (seed 000): the guest asks for the 2M range of @gfn to
 * be mapped at 4K (TDVMCALL, or the module's ATTR.WR exit), served under
 * the exclusive lock.  0, or -1 when the VM died.
 */
int tdx_demote_request(struct kvm_vm *vm, uint64_t gfn)
{
	if (!mmu_huge_mapped(vm, gfn))
		return 0;	/* nothing 2M there: nothing to do */
	if (tdx_split_cache_topup(vm, 1)) {
		vm_kill(vm, "out of host memory splitting GPA %#" PRIx64, gfn << 12);
		return -1;
	}
	mmu_write_lock(vm);
	int r = mmu_split_2m(vm, gfn);
	seam_write_unlock(&vm->mmu_lock);
	if (r == -ENOMEM && !vm->dead)
		vm_kill(vm, "out of memory splitting GPA %#" PRIx64, gfn << 12);
	return vm->dead ? -1 : 0;
}

/*
 * Forward progress: the same vCPU exiting for the same GPA at the same RIP
 * with the host changing nothing it can see, livelock_exits times in a row
 * (the policy; default KVM_LIVELOCK_EXITS), is a livelock (seed 001's rare
 * case under huge-rfc1): the run ends with a report that says who, where and
 * what the host did each time, instead of running into the step bound.
 */
static __attribute__((noinline)) void watch_progress(struct kvm_vm *vm, struct gvcpu *g,
						     uint64_t gpa, int r)
{
	static const char *const did[LL_NR] = {
		[LL_SPURIOUS] = "found it mapped already (a spurious fault)",
		[LL_RETRY] = "had to retry (an SPTE frozen, the module BUSY, or an invalidation)",
		[LL_SPLIT_IGNORED] = "ignored the split of the 2M leaf there",
		[LL_SPLIT_REFUSED] = "refused to split the 2M leaf there under the shared lock",
	};
	struct kvm_vcpu *v = vcpu_of(g);
	if (v->ll_gpa != gpa || v->ll_rip != g->rip) {
		v->ll_gpa = gpa;
		v->ll_rip = g->rip;
		v->ll_count = 0;
		memset(v->ll_did, 0, sizeof(v->ll_did));
	}
	enum ll_did d = r == RET_PF_RETRY ? LL_RETRY
			: !mmu_huge_mapped(vm, gpa >> 12) ? LL_SPURIOUS
			: (vm->pol.max_level == MAP_LEVEL_HUGE_V5 || vm->pol.max_level == MAP_LEVEL_HUGE_NBR) &&
			  !vm_inject(vm, INJECT_IGNORED_SPLIT)
			? LL_SPLIT_REFUSED : LL_SPLIT_IGNORED;
	v->ll_did[d]++;
	if (++v->ll_count < vm->pol.livelock_exits || !vm->pol.livelock_exits || !engine_current())
		return;
	char what[384];
	size_t len = 0;
	for (int i = 0; i < LL_NR; i++)
		if (v->ll_did[i])
			len += (size_t)snprintf(what + len, sizeof(what) - len, "%s%" PRIu64 " times %s",
						len ? ", " : "", v->ll_did[i], did[i]);
	engine_livelock("vcpu%d makes no progress: %" PRIu64 " EPT-violation exits in a row at "
			"GPA %#" PRIx64 ", RIP %#" PRIx64 "; the host %s (level=%s)", g->index,
			v->ll_count, gpa, g->rip, what, kvm_policy_level_name(vm->pol.max_level));
}

/* What the VM's faults and zaps changed so far: a local retry waits for it to move. */
static uint64_t vm_progress(const struct kvm_vm *vm)
{
	const struct kvm_vm_stats *st = &vm->st;
	return st->private_maps + st->maps_2m + st->zapped + st->shared_maps + st->sept_adds +
	       st->conversions + st->splits_exclusive + st->splits_shared + st->promotions;
}

/*
 * A local retry that never ends: the host retries a private fault inside
 * KVM, never re-entering the guest (so the exit watch above sees nothing),
 * while nothing in the VM changes.  livelock_exits retries in a row without
 * progress end the run as a livelock naming the vCPU and the GPA.
 */
static __attribute__((noinline)) void watch_local_retry(struct kvm_vm *vm, struct gvcpu *g,
							uint64_t gpa, uint64_t *n, uint64_t *mark)
{
	uint64_t now = vm_progress(vm);
	if (now != *mark) {
		*mark = now;
		*n = 0;
	}
	if (++*n < vm->pol.livelock_exits || !vm->pol.livelock_exits || !engine_current())
		return;
	engine_livelock("vcpu%d makes no progress: the host retried the fault at GPA %#" PRIx64
			" %" PRIu64 " times in a row inside KVM (RET_PF_RETRY each time: an SPTE "
			"frozen, the module BUSY, or an invalidation) without re-entering the guest, "
			"and nothing in the VM changed meanwhile (level=%s)", g->index, gpa, *n,
			kvm_policy_level_name(vm->pol.max_level));
}

/*
 * The huge designs' work around a private fault (cold: only VMs that may
 * map 2M).  Before: explicit-demotion serves the module's ATTR.WR type-5
 * exit as a demotion request (once, not on a local retry); huge-v5 (and
 * huge-nbr without the module feature) run the mismatched-ACCEPT handler
 * for an ACCEPT below 2M.  After: huge-nbr, which split in the fault under
 * the shared lock, sets the inhibit flag once the fault is done.
 */
static __attribute__((noinline)) int huge_before_fault(struct kvm_vm *vm, uint64_t gfn,
						       uint64_t type, bool retry, int req_level)
{
	if (!retry && type == EEQ_TYPE_ATTR_WR && vm->pol.max_level == MAP_LEVEL_EXPLICIT) {
		vm->st.demote_requests++;	/* a 4K ATTR.WR over a 2M leaf */
		return tdx_demote_request(vm, gfn);
	}
	if (req_level >= TDX_LEVEL_2M)
		return 0;
	/* KVM's lpage_info: what the slot and attributes allow, the inhibit
	 * flag aside (the series' boot counts were taken before it existed);
	 * the folio is not part of it */
	struct kvm_memslot *s = vm_slot_of(vm, gfn);
	bool fits = s && mmu_huge_lpage_ok(vm, s, gfn);
	if (!retry && fits)
		vm->st.accepts_4k_huge_possible++;
	/* INJECTED BUG ignored-split: no split here either (fault_split ignores it) */
	if (!vm->shared_split && !vm_inject(vm, INJECT_IGNORED_SPLIT) &&
	    (vm->pol.max_level == MAP_LEVEL_HUGE_V5 || vm->pol.max_level == MAP_LEVEL_HUGE_NBR))
		return handle_mismatched_accept(vm, gfn, fits);
	return 0;
}

static __attribute__((noinline)) void huge_after_fault(struct kvm_vm *vm, uint64_t gfn,
						       int req_level, int r)
{
	if (req_level < TDX_LEVEL_2M && vm->shared_split &&
	    (r == RET_PF_CONTINUE || r == RET_PF_SPURIOUS) && gfnset_add(&vm->inhibit, gfn) == 0)
		vm->st.inhibits++;	/* after the split, as v5 orders it */
}

static int handle_ept_violation(struct kvm_vm *vm, struct gvcpu *g, const struct tdx_regs *x)
{
	uint64_t gpa = x->r8;
	bool private = !(gpa & vm->shared_bit);
	uint64_t gfn = (gpa & ~vm->shared_bit) >> 12;
	uint64_t type = x->rdx & EEQ_TYPE_MASK;
	vm->st.faults++;
	seam_charge(SEAM_COST_EPT_VIOLATION, 1);
	if (private && type == EEQ_TYPE_PENDING_EPT_VIOLATION) {
		vm_kill(vm, "guest access before accepting (GPA %#" PRIx64 ")", gpa);
		return -1;
	}
	/* the guest's ACCEPT level is the most it wants; no information: huge allowed */
	bool has_info = private && type == EEQ_TYPE_ACCEPT;
	int hint = has_info ? (int)((x->rdx >> EEQ_ACCEPT_REQ_LEVEL_SHIFT) & 7) : TDX_LEVEL_2M;
	/* only private GPAs are retried locally: only they trigger zero-step */
	bool local_retry = vm->pol.local_retry && private;
	bool huge = __builtin_expect(vm->huge, 0) && private;
	int r;
	uint64_t retries = 0, mark = 0;
	if (huge && huge_before_fault(vm, gfn, type, false, has_info ? hint : TDX_LEVEL_2M) < 0)
		return -1;
	for (;;) {
		r = page_fault(vm, gfn, private, hint, has_info);
		if (huge)
			huge_after_fault(vm, gfn, has_info ? hint : TDX_LEVEL_2M, r);
		if (r != RET_PF_RETRY || !local_retry || vm->dead)
			break;
		/* local retry: do not re-enter the guest (zero-step), but give up
		 * for a memslot being deleted, or deletion waits for us forever */
		/* INJECTED BUG no-slot-break: the 6.18 fix undone */
		if (vm->pol.local_retry_slot_break && !vm_inject(vm, INJECT_NO_SLOT_BREAK) &&
		    gfn_in_deleting_slot(vm, gfn))
			break;
		vm->st.local_retries++;
		watch_local_retry(vm, g, gpa, &retries, &mark);
		/* another walk of the fault path: time passes, so under the timed
		 * scheduler the vCPU that froze the SPTE gets to finish */
		seam_charge(SEAM_COST_EPT_VIOLATION, 1);
		seam_yield();
		if (huge && huge_before_fault(vm, gfn, type, true, has_info ? hint : TDX_LEVEL_2M) < 0)
			return -1;
	}
	/* no progress: a fault that found nothing to do, or a split it did not make */
	if (__builtin_expect(r == RET_PF_CONTINUE, 1)) {
		vcpu_of(g)->ll_count = 0;
	} else if (r == RET_PF_SPURIOUS || r == RET_PF_RETRY) {
		if (private)
			watch_progress(vm, g, gpa & ~(SZ_4K - 1), r);
		r = RET_PF_CONTINUE;
	}
	if (r == RET_PF_NOMEM) {
		/* KVM_RUN fails with -ENOMEM; the VMM cannot go on */
		vm_kill(vm, "out of host memory for GPA %#" PRIx64, gpa);
		return -1;
	}
	if (r == RET_PF_MEMFAULT) {
		vm->st.memory_faults++;
		int bad = VMM_EXIT(vm, vm->vmm.memory_fault(vm, g->index, gfn << 12, SZ_4K, private,
							      vm->vmm.ctx));
		if (bad) {
			if (!vm->dead)
				vm_kill(vm, "userspace gave up on a memory fault at GPA %#" PRIx64, gpa);
			return -1;
		}
	}
	return vm->dead ? -1 : 0;
}

int tdx_handle_exit(struct gvcpu *g)
{
	struct kvm_vm *vm = vcpu_of(g)->vm;
	const struct tdx_regs *x = tdx_vcpu_exit_regs(g->v);
	int r = 0;
	/* TDVMCALLs are answered by tdx_vmcall; kicks and other exits just
	 * re-enter.  The exit is handled inside the SRCU read side (vcpu_run
	 * holds it everywhere but in the guest). */
	seam_read_lock(&vm->srcu);
	/* an exit slows with every other vCPU running in the TD (calibrated
	 * model: many vCPUs exiting at once, docs/calibration.md) */
	seam_charge(SEAM_COST_EXIT_CONTENTION, (uint64_t)(vm->nrunning - 1));
	if (vm->dead) {
		r = -1;
	} else if (x->rax >> 62) {
		/* TDX_ERROR or TDX_NON_RECOVERABLE in the TD-exit status (e.g.
		 * HOST_PRIORITY_BUSY_TIMEOUT): KVM's unhandled_exit, an internal
		 * error for the VMM (tdx_handle_exit()) */
		vm->st.internal_errors++;
		uint64_t status = x->rax;
		if (VMM_EXIT(vm, vm->vmm.internal_error(vm, g->index, status, vm->vmm.ctx))) {
			if (!vm->dead)
				vm_kill(vm, "KVM_EXIT_INTERNAL_ERROR: TD exit %s (%#" PRIx64 ")",
					tdx_status_name(status), status);
			r = -1;
		}
	} else if (x->rax == EXIT_REASON_EPT_VIOLATION) {
		r = handle_ept_violation(vm, g, x);
	}
	seam_read_unlock(&vm->srcu);
	if (vm->dead) {
		snprintf(g->why, sizeof(g->why), "%s", vm->why);
		return -1;
	}
	return r;
}

/* Is @gpa (shared bit included) a GPA the TD can use? */
static bool legal_gpa(struct kvm_vm *vm, uint64_t gpa)
{
	return !(gpa >> (vm->levels == 5 ? 52 : 48));
}

/*
 * MapGPA: KVM checks the range, then exits to userspace 2M a time
 * (KVM_HC_MAP_GPA_RANGE); between chunks a pending event ends the call
 * with RETRY and R11 = where to resume (tdx_map_gpa() and
 * tdx_complete_vmcall_map_gpa()).
 */
static uint64_t map_gpa(struct kvm_vm *vm, struct kvm_vcpu *v, uint64_t gpa, uint64_t size)
{
	struct gvcpu *g = &v->g;
	g->vmcall_r11 = gpa;
	if (gpa + size <= gpa || !legal_gpa(vm, gpa) || !legal_gpa(vm, gpa + size - 1) ||
	    ((gpa ^ (gpa + size - 1)) & vm->shared_bit))
		return TDVMCALL_STATUS_INVALID_OPERAND;
	if ((gpa | size) & (SZ_4K - 1))
		return TDVMCALL_STATUS_ALIGN_ERROR;
	bool private = !(gpa & vm->shared_bit);
	v->map_gpa_next = gpa;
	v->map_gpa_end = gpa + size;
	for (;;) {
		uint64_t n = v->map_gpa_end - v->map_gpa_next;
		if (n > SZ_2M)
			n = SZ_2M;
		vm->st.map_gpa_exits++;
		uint64_t ret = vm->vmm.map_gpa_range(vm, v->id, v->map_gpa_next & ~vm->shared_bit,
						     n >> 12, private, vm->vmm.ctx);
		if (ret) {
			/* tdx_complete_vmcall_map_gpa(): -EBUSY is RETRY, -EINVAL an
			 * invalid operand, anything else fails KVM_RUN */
			g->vmcall_r11 = v->map_gpa_next;
			if (ret == (uint64_t)-EBUSY)
				return TDVMCALL_STATUS_RETRY;
			if (ret != (uint64_t)-EINVAL)
				vm_kill(vm, "KVM_RUN: MapGPA exit answered with hypercall.ret %" PRId64,
					(int64_t)ret);
			return TDVMCALL_STATUS_INVALID_OPERAND;
		}
		v->map_gpa_next += SZ_2M;
		if (v->map_gpa_next >= v->map_gpa_end)
			return TDVMCALL_STATUS_SUCCESS;
		if (v->irq_pending) {
			g->vmcall_r11 = v->map_gpa_next;
			return TDVMCALL_STATUS_RETRY;
		}
	}
}

void tdx_vcpu_wake(struct kvm_vcpu *v)
{
	v->wake_pending = true;
	if (v->halted)
		seam_complete(&v->halt_wait);
}

/*
 * TDVMCALL<Instruction.HLT>, which KVM turns into EXIT_REASON_HLT and
 * kvm_emulate_halt_noskip(): the vCPU is out of guest mode, so kicks do not
 * wait for it, and its task blocks (no engine steps) until a wakeup: an
 * IPI, a posted interrupt, the VM's death.  A wakeup that came first ends
 * the HLT at once.  Holds no lock while blocked.
 */
static uint64_t halt(struct kvm_vm *vm, struct kvm_vcpu *v)
{
	vm->st.halt_exits++;
	v->halt_wait.name = "HLT (kvm_vcpu_halt)";
	v->halted = true;
	while (!v->wake_pending && !v->irq_pending && !vm->dead) {
		v->halt_wait.done = 0;
		seam_completion_wait(&v->halt_wait);
	}
	v->halted = false;
	v->wake_pending = false;
	return TDVMCALL_STATUS_SUCCESS;
}

/*
 * TDVMCALL<Instruction.WRMSR> of the x2APIC ICR (KVM's kvm_x2apic_icr_write):
 * a fixed IPI to the x2APIC ID in bits 63:32 (our vCPU index), or with the
 * destination shorthand "all excluding self" (bits 19:18 = 3) to every
 * other vCPU.  The sender pays one IPI; each target is woken if halted.
 */
static uint64_t send_ipi(struct kvm_vm *vm, struct kvm_vcpu *src, uint64_t icr)
{
	unsigned shorthand = (icr >> 18) & 3;
	uint64_t dest = icr >> 32;
	if (shorthand == 3) {
		for (int i = 0; i < vm->nvcpus; i++)
			if (i != src->id)
				tdx_vcpu_wake(vm->vcpus[i]);
	} else if (shorthand == 0 && dest < (uint64_t)vm->nvcpus) {
		tdx_vcpu_wake(vm->vcpus[dest]);
	} else {
		return TDVMCALL_STATUS_INVALID_OPERAND;
	}
	vm->st.ipis++;
	seam_charge(SEAM_COST_IPI, 1);
	return TDVMCALL_STATUS_SUCCESS;
}

uint64_t tdx_vmcall(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1)
{
	struct kvm_vcpu *v = vcpu_of(g);
	struct kvm_vm *vm = v->vm;
	if (fn == TDVMCALL_MAP_GPA)
		return map_gpa(vm, v, a0, a1);
	if (fn == TDVMCALL_HLT)
		return halt(vm, v);
	if (fn == TDVMCALL_WRMSR)
		return a0 == X2APIC_MSR_ICR ? send_ipi(vm, v, a1) : TDVMCALL_STATUS_INVALID_OPERAND;
	if (fn == TDVMCALL_DEMOTE) {
		/* with 4K mappings there is nothing to demote */
		if (vm->pol.max_level == MAP_LEVEL_4K || !vm->huge)
			return TDVMCALL_STATUS_SUCCESS;
		/* seed 000's request exists only in explicit-demotion */
		if (vm->pol.max_level != MAP_LEVEL_EXPLICIT)
			return TDVMCALL_STATUS_INVALID_OPERAND;
		if (a0 & vm->shared_bit || !legal_gpa(vm, a0))
			return TDVMCALL_STATUS_INVALID_OPERAND;
		vm->st.demote_requests++;
		seam_read_lock(&vm->srcu);
		int r = tdx_demote_request(vm, a0 >> 12);
		seam_read_unlock(&vm->srcu);
		return r ? TDVMCALL_STATUS_INVALID_OPERAND : TDVMCALL_STATUS_SUCCESS;
	}
	return TDVMCALL_STATUS_INVALID_OPERAND;
}

uint64_t tdx_shared_hpa(struct gvcpu *g, uint64_t gpa)
{
	struct kvm_vm *vm = vcpu_of(g)->vm;
	uint64_t *leaf = mmu_leaf(&vm->direct, gpa >> 12);
	uint64_t s = leaf ? seam_load64(leaf) : 0;
	if (s == SPTE_FROZEN || !(s & SPTE_PRESENT))
		return ~0ull;	/* not mapped: an EPT violation on the shared GPA */
	return (s & SPTE_HPA_MASK) | (gpa & 0xfff);
}

/* kick-retry is stopping vCPUs: stay out of the TD until it is done. */
static __attribute__((noinline)) void wait_vcpu_enter(struct kvm_vm *vm, struct gvcpu *g)
{
	while (vm->no_vcpu_enter && !vm->dead) {
		g->in_guest_mode = false;	/* tdx_vcpu_pre_run: not now */
		seam_yield();
		g->in_guest_mode = true;
	}
}

int tdx_before_enter(struct gvcpu *g)
{
	struct kvm_vcpu *v = vcpu_of(g);
	if (__builtin_expect(v->vm->no_vcpu_enter != 0, 0))
		wait_vcpu_enter(v->vm, g);
	/* KVM_REQ_VM_DEAD: a VM that died while this vCPU was outside the TD
	 * (in a TDVMCALL's exit to the VMM, say) is not entered again */
	if (__builtin_expect(v->vm->dead, 0)) {
		snprintf(g->why, sizeof(g->why), "%s", v->vm->why);
		return -1;
	}
	v->irq_pending = false;		/* delivered with this entry */
	return 0;
}
