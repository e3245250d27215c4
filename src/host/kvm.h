/* SPDX-License-Identifier: MIT */
/*
 * kvm.h - a KVM-style host for TDX guests over the software TDX module.
 *
 * The API mirrors KVM's ioctls (KVM_TDX_CAPABILITIES, KVM_TDX_INIT_VM,
 * KVM_TDX_INIT_VCPU, KVM_TDX_INIT_MEM_REGION, KVM_TDX_FINALIZE_VM,
 * KVM_PRE_FAULT_MEMORY, KVM_SET_MEMORY_ATTRIBUTES, KVM_SET_USER_MEMORY_REGION2
 * with guest_memfd, fallocate(PUNCH_HOLE) on guest_memfd, KVM_RUN) and
 * returns 0 or a negative errno as they do.  Design variants ("policies",
 * ../shared/reference/kvm-tdx.md) are chosen per VM at run time.
 */
#ifndef TDXSIM_KVM_H
#define TDXSIM_KVM_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "../guest/guest.h"

/* ---- the simulated platform ---- */
struct kvm_platform {
	bool ept_5level;	/* the CPU supports 5-level EPT */
	unsigned max_pa;	/* host MAX_PA, 32..52 */
	uint64_t mem_bytes;	/* host physical memory (the first GiB is not TDMR) */
	double fragmentation;	/* fraction of 2M blocks with a pinned 4K page */
	uint64_t seed;		/* where fragmentation lands */
	unsigned nr_hkids;
	uint64_t hp_timeout_ns;	/* the module's host-priority busy timeout (0: 1 s) */
	/* module features (tdx_module_config; huge-pages.md, docs/design.md) */
	bool dynamic_pamt;		/* the host enables Dynamic PAMT (MAX_PA <= 48) */
	bool enhanced_demote;		/* enhanced demote interruptibility (1.5.28+) */
	bool nonblocking_resize;	/* proposal: DEMOTE without BLOCK */
	bool explicit_demotion;		/* proposal: the SEPT_EXPLICIT_DEMOTION attribute */
};
void kvm_platform_default(struct kvm_platform *p);

/* ---- design variants ---- */
enum kvm_build_flow {
	BUILD_POPULATE = 0,	/* mainline: INIT_MEM_REGION maps and PAGE.ADDs */
	BUILD_PREFAULT,		/* seed 004's proposal (never merged): pre-fault, then add */
	BUILD_NR
};
enum kvm_busy_policy {
	BUSY_KICK_RETRY = 0,	/* mainline: stop entries, kick vCPUs, retry once */
	BUSY_RETRY_N,		/* out of tree: retry a BUSY SEAMCALL up to N times */
	BUSY_NR
};
/*
 * The private mapping level designs (kvm-tdx.md section 3, huge-pages.md
 * sections 5 and 6).  Every one maps 4K while the TD is being built.
 */
enum kvm_map_level {
	MAP_LEVEL_4K = 0,	/* mainline: the vendor limit is always 4K */
	MAP_LEVEL_HUGE_RFC1,	/* RFC v1: ACCEPT's level is the max; a fault that needs a
				 * split is ignored (seed 001's rare case never ends) */
	MAP_LEVEL_HUGE_V5,	/* the latest series: a 4K ACCEPT inside a 2M mapping splits
				 * under the exclusive lock and inhibits 2M there for good */
	MAP_LEVEL_HUGE_NBR,	/* huge-v5, and a fault splits under the shared lock with the
				 * module's proposed non-blocking resize */
	MAP_LEVEL_EXPLICIT,	/* seed 000: 2M without level info only with the
				 * SEPT_EXPLICIT_DEMOTION attribute; the guest asks to demote */
	MAP_LEVEL_NR
};
/* guest_memfd folios (per VM). */
enum kvm_folio {
	FOLIO_4K = 0,		/* upstream guest_memfd: 4K pages only */
	FOLIO_2M,		/* the HugeTLB-backed series: 2M folios where the host has them */
	FOLIO_NR
};
/*
 * How a TD is torn down (policy "teardown"; the KVM_TDX_TERMINATE_VM patch,
 * "KVM: TDX: Add sub-ioctl KVM_TDX_TERMINATE_VM", 2025).
 * Both end with nothing left: every page back to the host, every PAMT
 * entry free.  They differ in when the HKID goes.
 */
enum kvm_teardown {
	TEARDOWN_ZAP = 0,	/* mainline before KVM_TDX_TERMINATE_VM: every private
				 * leaf removed while the HKID is live (BLOCK, TRACK,
				 * kick, REMOVE, WBINVD, clear), then the HKID freed */
	TEARDOWN_TERMINATE,	/* KVM_TDX_TERMINATE_VM first: the HKID freed at once,
				 * then every private page RECLAIMed and cleared */
	TEARDOWN_NR
};
/*
 * Known host bugs, re-introduced on purpose (policy "inject", a set;
 * docs/known-bugs.md says where each came from).  Each is one marked
 * branch at the place the real bug was; a scenario in scenarios/bug-*.ini
 * exposes it through the simulator's own checks, never by the injection
 * announcing itself.  None is set by default.
 */
enum kvm_inject {
	INJECT_NO_SLOT_BREAK = 0,	/* local retry ignores a memslot being deleted
					 * (the deadlock fixed in 6.18) */
	INJECT_REMOVE_NO_TRACK,		/* PAGE.REMOVE after BLOCK without TRACK and kick */
	INJECT_TRACK_NO_KICK,		/* TRACK, but the vCPUs are not kicked out */
	INJECT_FROZEN_LEAK,		/* a failed SEAMCALL leaves the mirror SPTE frozen */
	INJECT_ZAP_WHOLE_2M,		/* a partial conversion or punch zaps the whole 2M
					 * leaf instead of splitting it */
	INJECT_BUSY_GIVE_UP,		/* a BUSY under the exclusive lock is not retried */
	INJECT_STALE_PFN,		/* a fault maps its pfn without rechecking the
					 * invalidation sequence */
	INJECT_KICK_NO_STOP,		/* kick-retry kicks without stopping vCPU entry */
	INJECT_IGNORED_SPLIT,		/* huge-v5 ignores a fault's split as RFC v1 did */
	INJECT_NR
};
#define KVM_INJECT(b)	(1u << (b))
/* The name of injection @b ("track-no-kick"), "?" out of range. */
const char *kvm_inject_name(enum kvm_inject b);
/* Its one-line description, for tdxsim list policies. */
const char *kvm_inject_help(enum kvm_inject b);

struct kvm_policy {
	enum kvm_build_flow build;
	enum kvm_busy_policy busy;
	int retry_n;			/* BUSY_RETRY_N: attempts (>= 1) */
	bool local_retry;		/* private EPT violations retried inside the host */
	bool local_retry_slot_break;	/* ... but not for a memslot being deleted (6.18) */
	enum kvm_map_level max_level;
	enum kvm_folio folio;		/* "folio": 4k or 2m */
	bool promote;			/* "promote": merge 512 accepted 4K leaves back to 2M */
	bool dpamt;			/* "dpamt": Dynamic PAMT (needs the module feature) */
	bool dpamt_demote_locked;	/* "dpamt_demote_locked": DEMOTE inside pamt_lock (the
					 * 2026-06 fix; off re-opens the DEMOTE vs PAMT.ADD race) */
	uint32_t livelock_exits;	/* "livelock_exits": a vCPU without forward progress
					 * for this many EPT-violation exits (or host-local
					 * retries) in a row ends the run as a livelock; 0: off */
	bool inhibit_check;		/* "inhibit_check": huge-v5 reads a 2M range's permission
					 * without the lock before taking it for a 4K ACCEPT
					 * (default on; off: the draft without it) */
	uint32_t inject;		/* "inject": KVM_INJECT() bits of the known bugs
					 * re-introduced (name[,name], or none); 0 in real use */
	enum kvm_teardown teardown;	/* "teardown": zap or terminate */
};
void kvm_policy_default(struct kvm_policy *p);
/* Set one variant by name ("build", "busy", "retry_n", "local_retry",
 * "slot_break", "level", "folio", "promote", "dpamt", "dpamt_demote_locked",
 * "livelock_exits", "inject", "teardown");
 * 0 or -EINVAL. */
int kvm_policy_set(struct kvm_policy *p, const char *key, const char *val);
/* A one-line description of @p, e.g. "build=populate busy=kick-retry ...". */
void kvm_policy_describe(const struct kvm_policy *p, char *buf, unsigned len);
/* The name of a level design ("huge-v5"), "?" out of range. */
const char *kvm_policy_level_name(enum kvm_map_level l);
/* The name of a teardown path ("zap", "terminate"), "?" out of range. */
const char *kvm_policy_teardown_name(enum kvm_teardown t);
/* Is every field of @p in range?  0 or -EINVAL. */
int kvm_policy_check(const struct kvm_policy *p);

struct kvm;
struct kvm_vm;

/* A host: the module, its TDMR memory and the host page allocator. */
struct kvm *kvm_create(const struct kvm_platform *p);
void kvm_destroy(struct kvm *k);
struct tdx_module *kvm_module(struct kvm *k);
struct hostmem *kvm_hostmem(struct kvm *k);

/* KVM_TDX_CAPABILITIES */
struct kvm_tdx_capabilities {
	uint64_t supported_attrs;
	uint64_t supported_xfam;
	unsigned max_vcpus_per_td;
	bool gpaw_52;			/* 52-bit guest physical addresses (5-level) */
};
int kvm_tdx_capabilities(struct kvm *k, struct kvm_tdx_capabilities *caps);

/*
 * KVM_CREATE_VM(KVM_X86_TDX_VM) with its design variants (NULL: defaults).
 * NULL when @pol is out of range (KVM_CREATE_VM's -EINVAL) or memory is short.
 */
struct kvm_vm *kvm_create_vm(struct kvm *k, const struct kvm_policy *pol);
/*
 * Tear down in KVM's order and free @vm.  Policy "teardown": zap removes
 * every private leaf while the HKID is live, then flushes, frees the key
 * and reclaims what is left; terminate calls kvm_tdx_terminate_vm() first
 * and then reclaims every page.  -EBUSY (nothing done, @vm still valid)
 * while a vCPU runs; -EIO if a page could not be reclaimed (it stays with
 * the module); 0 otherwise.
 */
int kvm_destroy_vm(struct kvm_vm *vm);
/*
 * KVM_TDX_TERMINATE_VM: -EBUSY, with nothing changed, while any vCPU is in
 * KVM_RUN (kvm_trylock_all_vcpus() fails); -EIO for a VM already dead.
 * Otherwise the VM is dead from here on (every later VM and vCPU call is
 * -EIO) and its HKID is released as tdx_mmu_release_hkid() does:
 * TDH.VP.FLUSH of each vCPU, TDH.MNG.VPFLUSHDONE, TDH.PHYMEM.CACHE.WB
 * (resumed while interrupted), TDH.MNG.KEY.FREEID.  The TD is then in
 * TD_TEARDOWN: its pages need only TDH.PHYMEM.PAGE.RECLAIM, no BLOCK,
 * TRACK, kick, REMOVE or WBINVD, which is what makes kvm_destroy_vm()
 * faster.  0 on success (also for a VM without a TD: nothing to release).
 */
int kvm_tdx_terminate_vm(struct kvm_vm *vm);
/*
 * After a run that was abandoned with vCPUs still inside the TD (a
 * deadlock or livelock outcome), the TD cannot be torn down: free only the
 * host's own memory, then destroy the whole struct kvm.
 */
void kvm_vm_free_abandoned(struct kvm_vm *vm);

/*
 * Every VM and vCPU call below returns -EIO once the VM is dead (killed by a
 * guest fault or bugged by a host error), as KVM's ioctls do after
 * kvm_vm_dead(); guest_memfd calls (file operations) still work.
 */

/* KVM_TDX_INIT_VM */
struct kvm_cpuid_entry {
	uint32_t function, index;
	uint32_t eax, ebx, ecx, edx;
};
#define KVM_TDX_MAX_CPUID 32		/* KVM_MAX_CPUID_ENTRIES of this host */
struct kvm_tdx_init_vm {
	uint64_t attributes;
	uint64_t xfam;
	uint16_t max_vcpus;		/* 0: KVM_MAX_VCPUS (256) */
	int nent;
	struct kvm_cpuid_entry entries[KVM_TDX_MAX_CPUID];
};
/*
 * Guest MAXPHYADDR comes from the first CPUID 0x80000008 entry, EAX[23:16]:
 * 48 (4-level, GPAW 0) or 52 (5-level, GPAW 1, needs 5-level EPT); anything
 * else or a missing entry is -EINVAL; more than KVM_TDX_MAX_CPUID entries is
 * -E2BIG.  KVM works on a copy: @init is not modified.  A vCPU already
 * created is -EBUSY.  A memslot that the chosen GPA width cannot map
 * privately (at or above the shared bit) is -EINVAL.  A failure undoes
 * everything (HKID, pages): INIT_VM may be called again.
 */
int kvm_tdx_init_vm(struct kvm_vm *vm, const struct kvm_tdx_init_vm *init);
/* Fill @init for a guest MAXPHYADDR of @maxphyaddr (48 or 52). */
void kvm_tdx_init_vm_default(struct kvm_tdx_init_vm *init, unsigned maxphyaddr);

/*
 * KVM_CREATE_VCPU: the vCPU id or -errno.  Only after INIT_VM and before
 * FINALIZE (-EIO otherwise, tdx_vcpu_create); at most max_vcpus (-EINVAL).
 */
int kvm_create_vcpu(struct kvm_vm *vm);
/* KVM_TDX_INIT_VCPU (-EINVAL twice, or outside INIT_VM..FINALIZE) */
int kvm_tdx_init_vcpu(struct kvm_vm *vm, int id);
/*
 * KVM_TDX_INIT_VCPU with struct kvm_tdx_cmd.data = @data: the vCPU's
 * initial RCX (TDH.VP.INIT), where QEMU passes the TD_HOB's GPA to every
 * vCPU (tdx_post_init_vcpus).  kvm_tdx_init_vcpu() passes 0.
 */
int kvm_tdx_init_vcpu_data(struct kvm_vm *vm, int id, uint64_t data);

/* ---- guest_memfd (KVM_CREATE_GUEST_MEMFD) ---- */
#define KVM_MAX_GMEMS 32
/*
 * The largest guest_memfd this host makes: as much as all memslots
 * together can bind (KVM_MAX_MEMSLOTS * KVM_MEM_MAX_NR_PAGES pages, 128
 * TiB).  Linux takes up to 2^63 - 1 bytes; the file's directory costs 8
 * bytes per GiB of file, so a 2^62-byte one would cost 32 GiB here.
 */
#define KVM_GMEM_MAX_SIZE	(1ull << 47)
/*
 * A guest_memfd file of @size bytes (page aligned, non-zero; @flags 0):
 * returns its descriptor (>= 0) or -EINVAL, -EMFILE (too many files),
 * -EFBIG (larger than KVM_GMEM_MAX_SIZE, this host's limit).
 * It lives until the VM is destroyed.
 */
int kvm_create_guest_memfd(struct kvm_vm *vm, uint64_t size, uint64_t flags);
/*
 * fallocate(PUNCH_HOLE | KEEP_SIZE) on @fd: zaps the private mappings of
 * every memslot bound to [offset, offset + len) under the exclusive
 * mmu_lock, then frees the pages.  -EBADF, -EINVAL (unaligned, len 0,
 * negative offset), -EFBIG (offset + len wraps); past the end: nothing.
 * A page the TD still holds (its VM died before the zap could remove it)
 * stays with the file until teardown reclaims it.
 */
int kvm_gmem_punch_hole(struct kvm_vm *vm, int fd, uint64_t offset, uint64_t len);

/* ---- memory slots (KVM_SET_USER_MEMORY_REGION2) ---- */
#define KVM_MEM_GUEST_MEMFD	(1u << 2)
#define KVM_MAX_MEMSLOTS	16
#define KVM_MEM_MAX_NR_PAGES	((1ull << 31) - 1)	/* 8 TiB */
struct kvm_userspace_memory_region2 {
	uint32_t slot;
	uint32_t flags;			/* KVM_MEM_GUEST_MEMFD or 0 (shared only) */
	uint64_t guest_phys_addr;
	uint64_t memory_size;		/* 0 deletes the slot */
	uint64_t guest_memfd_offset;	/* with KVM_MEM_GUEST_MEMFD */
	int guest_memfd;		/* with KVM_MEM_GUEST_MEMFD */
};
/*
 * KVM's checks and errors: unaligned or wrapping, too large, an unknown
 * flag, a bad slot: -EINVAL; an overlap with another slot: -EEXIST; a
 * guest_memfd that is not one (-EBADF), or whose [offset, offset + size)
 * is outside the file or overlaps another binding (-EINVAL).  A
 * guest_memfd slot cannot be changed, only deleted (-EINVAL); a shared-
 * only slot may be set again unchanged (0) or moved (KVM_MR_MOVE).  GPAs must
 * be below the host MAX_PA and, once INIT_VM chose the GPA width, below
 * the shared bit (KVM's kvm_is_gfn_alias()).
 */
int kvm_set_user_memory_region2(struct kvm_vm *vm, const struct kvm_userspace_memory_region2 *r);

/* ---- memory attributes (KVM_SET_MEMORY_ATTRIBUTES), per VM ---- */
#define KVM_MEMORY_ATTRIBUTE_PRIVATE	(1ull << 3)
/*
 * Set [gpa, gpa + size) to @attributes (KVM_MEMORY_ATTRIBUTE_PRIVATE or
 * 0).  Attributes belong to the VM (default shared), not to memslots, and
 * are stored as ranges.  The mappings of the old kind are zapped first
 * (exclusive mmu_lock); nothing is freed: discarding guest_memfd pages is
 * the VMM's hole punch.  -EINVAL (unaligned, size 0, wrapping, unknown
 * bits, the shared bit set), -ENOMEM.
 */
int kvm_set_memory_attributes(struct kvm_vm *vm, uint64_t gpa, uint64_t size, uint64_t attributes);

/* ---- build ---- */
#define KVM_TDX_MEASURE_MEMORY_REGION	(1u << 0)
struct kvm_tdx_init_mem_region {
	const void *source;		/* page-aligned user memory (NULL: -EFAULT) */
	uint64_t gpa;
	uint64_t nr_pages;
};
/*
 * KVM_TDX_INIT_MEM_REGION, a vCPU call (vCPU @vcpu initialized, else
 * -EINVAL): page by page, PAGE.ADD and with KVM_TDX_MEASURE_MEMORY_REGION
 * the 16 MR.EXTENDs.  Progress is reported by advancing @r (source, gpa,
 * nr_pages), also on failure.  A GFN that is not private or not in a
 * guest_memfd slot is -EINVAL, an MR.EXTEND error -EIO, host memory -ENOMEM.
 */
int kvm_tdx_init_mem_region(struct kvm_vm *vm, int vcpu, uint32_t flags,
			    struct kvm_tdx_init_mem_region *r);
/* KVM_TDX_FINALIZE_VM: MR.FINALIZE; BUSY is -EBUSY, any other error -EIO (VM dead). */
int kvm_tdx_finalize_vm(struct kvm_vm *vm);

struct kvm_pre_fault_memory {
	uint64_t gpa;
	uint64_t size;
	uint64_t flags;			/* must be 0 */
};
/*
 * KVM_PRE_FAULT_MEMORY, a vCPU call: maps [gpa, gpa + size) as if vCPU
 * @vcpu faulted on it (private GFNs in the mirror, shared ones in the
 * direct root), advancing @r as it goes.  Returns 0 once at least one
 * page was mapped (the rest stays in @r), else the first error:
 * -EOPNOTSUPP before FINALIZE (unless the "prefault" build flow), -EINVAL
 * (unaligned, the shared bit), -ENOENT (no memslot), -EAGAIN (memslot
 * being deleted), -EFAULT (attributes and backing disagree), -ENOMEM, -EIO.
 */
int kvm_pre_fault_memory(struct kvm_vm *vm, int vcpu, struct kvm_pre_fault_memory *r);

/* ---- running ---- */

/*
 * Userspace (the VMM): the exits KVM_RUN hands to it.  Each is called on
 * the vCPU's task, as a VMM thread handles its vCPU's exit and calls
 * KVM_RUN again.  NULL members get the default VMM's answer (QEMU's).
 */
struct kvm_vmm_ops {
	/* KVM_EXIT_MEMORY_FAULT: vCPU @vcpu used [gpa, gpa + size) as @private
	 * against the attributes, or where there is no memslot or no
	 * guest_memfd.  0 runs again; else KVM_RUN fails and the VM stops. */
	int (*memory_fault)(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t size,
			    bool private, void *ctx);
	/* KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) for TDVMCALL MapGPA, at most
	 * 2M a time: GPA (shared bit stripped), pages, direction (@private:
	 * KVM_MAP_GPA_RANGE_ENCRYPTED).  Returns hypercall.ret: 0 success,
	 * -EBUSY (the guest gets RETRY), -EINVAL (INVALID_OPERAND); anything
	 * else makes KVM_RUN fail (the VM stops). */
	uint64_t (*map_gpa_range)(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t npages,
				  bool private, void *ctx);
	/* KVM_EXIT_INTERNAL_ERROR (KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON)
	 * with data[0] = the TD-exit status, e.g. HOST_PRIORITY_BUSY_TIMEOUT.
	 * 0 runs again; else the VM stops (QEMU stops it). */
	int (*internal_error)(struct kvm_vm *vm, int vcpu, uint64_t vp_enter_ret, void *ctx);
	void *ctx;
};
void kvm_set_vmm_ops(struct kvm_vm *vm, const struct kvm_vmm_ops *ops);

/* KVM_RUN on the calling task: runs @prog on vCPU @id until it ends. 0 or -errno. */
int kvm_vcpu_run(struct kvm_vm *vm, int id, void (*prog)(struct gvcpu *g, void *arg),
		 void *arg);
struct gvcpu *kvm_vcpu_guest(struct kvm_vm *vm, int id);
/*
 * Post an interrupt to vCPU @id (KVM_INTERRUPT / a posted interrupt): it is
 * delivered at the next TD entry; until then it is a pending event that
 * makes a long MapGPA return RETRY (tdx_complete_vmcall_map_gpa).
 */
int kvm_vcpu_post_interrupt(struct kvm_vm *vm, int id);

/* ---- what a VMM does (QEMU's choices), for tests and custom VMMs ---- */
/*
 * A TD's RAM: a guest_memfd of @size bound to memslot @slot at @gpa, and
 * the range set private.  Returns the guest_memfd or -errno.
 */
int kvm_vmm_add_private_ram(struct kvm_vm *vm, int slot, uint64_t gpa, uint64_t size);
/*
 * QEMU's kvm_convert_memory(): set the attributes, then discard the other
 * kind's memory: a hole punch of the guest_memfd (to shared) or of the
 * shared backing (to private).  Refused (-EINVAL) where a GPA has no
 * memslot, or no guest_memfd when converting to private.
 */
int kvm_vmm_convert(struct kvm_vm *vm, uint64_t gpa, uint64_t size, bool private);
/*
 * Read/write the shared memory behind @gpa (shared bit ignored), as the VMM
 * can: -EFAULT outside every memslot; memory never written reads zero.
 */
int kvm_vm_read_shared(struct kvm_vm *vm, uint64_t gpa, void *buf, uint64_t len);
int kvm_vm_write_shared(struct kvm_vm *vm, uint64_t gpa, const void *buf, uint64_t len);
/* madvise(DONTNEED) of the shared memory behind [gpa, gpa + size). */
int kvm_vmm_discard_shared(struct kvm_vm *vm, uint64_t gpa, uint64_t size);

/* ---- inspection ---- */
struct kvm_vm_stats {
	uint64_t faults;		/* EPT violations handled */
	uint64_t private_maps;		/* 4K leaves installed by PAGE.AUG (2M ones: maps_2m) */
	uint64_t page_adds;		/* PAGE.ADDs */
	uint64_t sept_adds;
	uint64_t shared_maps;
	uint64_t zapped;		/* private leaves removed */
	uint64_t busy;			/* SEAMCALLs answered BUSY */
	uint64_t kicks;			/* kicks that had a vCPU in guest mode to IPI
					 * (tdx_kick_all calls that found none: not counted,
					 * though their walk is charged, kick_vcpu) */
	uint64_t retries;		/* fault retries (frozen SPTE, BUSY, invalidation) */
	uint64_t local_retries;		/* ... retried inside the host */
	uint64_t memory_faults;		/* exits to the VMM for conversion */
	uint64_t conversions;		/* attribute changes that changed something */
	uint64_t map_gpa_exits;		/* MapGPA hypercall exits (one per 2M chunk) */
	uint64_t internal_errors;	/* KVM_EXIT_INTERNAL_ERROR exits */
	uint64_t mmu_write_locks;	/* exclusive mmu_lock acquisitions */
	/* huge pages */
	uint64_t maps_2m;		/* 2M leaves installed (2M PAGE.AUG) */
	uint64_t splits_exclusive;	/* 2M leaves split under the exclusive mmu_lock */
	uint64_t splits_shared;		/* ... under the shared lock (non-blocking resize) */
	uint64_t splits_ignored;	/* faults that needed a split and did nothing (huge-rfc1,
					 * explicit-demotion's fault path) */
	uint64_t splits_refused;	/* splits a design refuses under the shared lock */
	uint64_t inhibits;		/* 2M ranges marked guest-inhibited (one-way) */
	uint64_t accepts_4k_huge_possible; /* 4K ACCEPT exits where the slot and attributes
					 * allowed 2M (lpage_info; the inhibit flag aside) */
	uint64_t accept_write_locks;	/* exclusive mmu_lock taken for a 4K ACCEPT (huge-v5) */
	uint64_t promotions;		/* 512 4K leaves merged back into a 2M leaf */
	uint64_t demote_interrupted;	/* DEMOTEs answered INTERRUPTED_RESTARTABLE */
	uint64_t demote_requests;	/* guest demotion requests (TDVMCALL, ATTR.WR exit) */
	uint64_t pamt_adds, pamt_removes; /* Dynamic PAMT pairs given and taken back */
	/* halted vCPUs (tdx.c) */
	uint64_t halt_exits;		/* TDVMCALL<HLT>: the vCPU blocked until a wakeup */
	uint64_t ipis;			/* x2APIC ICR writes that sent an IPI */
};
/*
 * Promotion, beyond upstream (policy "promote"; a khugepaged-like pass the
 * VMM or a timer runs): every 2M range whose 512 4K leaves are accepted,
 * contiguous and backed by one 2M guest_memfd folio is merged back with
 * BLOCK, TRACK, kick and PROMOTE.  The number promoted, -EOPNOTSUPP (the
 * policy is off or the VM cannot map 2M), -EIO.
 */
int kvm_vm_promote(struct kvm_vm *vm);
const struct kvm_vm_stats *kvm_vm_stats(const struct kvm_vm *vm);
/*
 * What the design decided at FINALIZE when it could not do what it is
 * (e.g. huge-v5 on a module without enhanced demote interruptibility maps
 * 4K), said once; "" when nothing.
 */
const char *kvm_vm_notice(const struct kvm_vm *vm);
struct tdx_td *kvm_vm_td(const struct kvm_vm *vm);
uint64_t kvm_vm_tdr(const struct kvm_vm *vm);
bool kvm_vm_dead(const struct kvm_vm *vm, const char **why);
/* Is private @gpa mapped in the mirror (and so in the S-EPT)? */
bool kvm_vm_private_mapped(struct kvm_vm *vm, uint64_t gpa);
/* The HPA the mirror maps private @gpa to, or 0. */
uint64_t kvm_vm_private_hpa(struct kvm_vm *vm, uint64_t gpa);
/* Is @gpa (shared bit ignored) mapped in the direct (shared) root? */
bool kvm_vm_shared_mapped(struct kvm_vm *vm, uint64_t gpa);
/* The HPA the direct root maps @gpa (shared bit ignored) to, or 0. */
uint64_t kvm_vm_shared_hpa(struct kvm_vm *vm, uint64_t gpa);
/* Is @gpa private by the VM's memory attributes? */
bool kvm_vm_gpa_private(const struct kvm_vm *vm, uint64_t gpa);
/* Live folios of guest_memfd @fd (2M and 4K); -EBADF for a bad descriptor. */
int kvm_vm_gmem_folios(const struct kvm_vm *vm, int fd, uint64_t *n2m, uint64_t *n4k);
/* Simulator bytes the host's structures use (mirror, gmem, attributes, backing maps). */
uint64_t kvm_vm_resident_bytes(const struct kvm_vm *vm);

/*
 * KVM's mirror of the S-EPT, read-only (no lock, no scheduling point: for a
 * VM nothing runs on): @fn for every leaf SPTE, and every frozen one (a
 * SEAMCALL for it in flight), in GPA order.  Nonzero from @fn stops the
 * walk and is returned.
 */
struct kvm_mirror_leaf {
	uint64_t gpa;
	int level;		/* 0 4K, 1 2M */
	uint64_t hpa;		/* 0 when frozen */
	bool premap;		/* pre-faulted, not yet in the S-EPT (prefault flow) */
	bool frozen;
};
typedef int (*kvm_mirror_leaf_fn)(void *arg, const struct kvm_mirror_leaf *leaf);
int kvm_vm_mirror_for_each_leaf(const struct kvm_vm *vm, kvm_mirror_leaf_fn fn, void *arg);

/*
 * Checking mode (check.c; docs/design.md "Checking mode"): every invariant
 * of the VM, its TD and the module, read directly (no lock, no scheduling
 * point), sound at any scheduling point of a run:
 *   1 PAMT: no page owned twice or by a TD and the host; child counts
 *   2 mirror: the mirror equals the S-EPT, leaf and table, where no SPTE
 *     is frozen and no exclusive mmu_lock holder is half-way
 *   3 TLB: no live translation to a page the TD does not own
 *   4 guest data: memory holds what the guests wrote (kvm_vm_set_shadow)
 *   5 epochs: refcounts count the vCPUs inside each epoch
 * 0, or the number of the first invariant found broken, with "invariant N
 * (name): ..." naming the GPA or HPA in @msg.
 */
int kvm_vm_check(struct kvm_vm *vm, char *msg, size_t len);
/* Give every vCPU of @vm the guest shadow @s (invariant 4; NULL: none). */
struct guest_shadow;
void kvm_vm_set_shadow(struct kvm_vm *vm, struct guest_shadow *s);

#endif
