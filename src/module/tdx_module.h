/* SPDX-License-Identifier: MIT */
/*
 * tdx_module.h - the software TDX module's interface.
 *
 * Host side: one typed function per SEAMCALL leaf, named after it
 * (tdh_mem_page_aug), taking the input registers as typed arguments and
 * writing the output registers KVM reads into *out.  Each returns the
 * completion status (RAX).  tdx_seamcall() decodes a raw register file and
 * dispatches to the same functions.
 *
 * Guest side: tdg_* functions run "inside" a vCPU that VP.ENTER entered.
 * They return a status when the TDCALL returns to the guest, or report that
 * the vCPU left the TD (a TD exit, whose registers are in the vCPU's exit
 * record) or took a #VE.
 *
 * Nothing here blocks: contention is reported as a BUSY status.
 */
#ifndef TDXSIM_TDX_MODULE_H
#define TDXSIM_TDX_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tdx_abi.h"

struct tdx_module;
struct tdx_td;
struct tdx_vcpu;

/* Register file of a SEAMCALL (in and out). */
struct tdx_regs {
	uint64_t rax, rcx, rdx, r8, r9, r10, r11, r12, r13, r14, r15;
};

struct tdx_module_config {
	uint64_t phys_size;	/* bytes of host physical memory */
	unsigned max_pa;	/* host physical address width, 32..52 */
	bool ept_5level;	/* the platform supports 5-level EPT */
	unsigned nr_hkids;	/* private key ids available to TDs, 1..65535 */
	uint64_t hp_timeout_ns;	/* host-priority busy timeout (0: default 1 s) */
	/*
	 * Dynamic PAMT, the model of TDH.SYS.CONFIG R8 bit 16
	 * (TDX_SYS_CONFIG_DYNAMIC_PAMT): the 4K PAMT of a 2M range exists only
	 * between TDH.PHYMEM.PAMT.ADD and PAMT.REMOVE.  Needs max_pa <= 48.
	 */
	bool dynamic_pamt;
	/*
	 * Module features (TDX_FEATURES0, tdx_module_features0()).
	 * enhanced_demote_interruptibility (bit 51): DEMOTE never returns
	 * INTERRUPTED_RESTARTABLE (first in module 1.5.28).  The other two are
	 * proposals no real module enumerates (docs/design.md, "Proposed
	 * features"): sept_explicit_demotion (bit 62) lets MNG.INIT accept the
	 * TD attribute of seed 000; nonblocking_resize (bit 63) lets DEMOTE
	 * split an unblocked leaf without TLB tracking.
	 */
	bool enhanced_demote_interruptibility;
	bool sept_explicit_demotion;
	bool nonblocking_resize;
	/* TDMRs; if ntdmr == 0, one TDMR covers [1G, phys_size rounded down to 1G) */
	int ntdmr;
	struct { uint64_t base, size; } tdmr[16];
};

/* A usable default: 64 GiB, MAX_PA 46, 5-level EPT, 64 keys. */
void tdx_module_default_config(struct tdx_module_config *c);

/* NULL (with a message on stderr) if the configuration is invalid. */
struct tdx_module *tdx_module_create(const struct tdx_module_config *c);
void tdx_module_destroy(struct tdx_module *m);

/* Simulated physical memory, for the host and for tests. */
struct physmem *tdx_module_physmem(struct tdx_module *m);

/* Raw SEAMCALL: leaf in regs->rax bits 15:0, result in regs->rax. */
void tdx_seamcall(struct tdx_module *m, struct tdx_regs *regs);

/* Name of a leaf ("TDH.MEM.PAGE.AUG") or NULL. */
const char *tdx_leaf_name(unsigned leaf);
/* Name of a status code ignoring the operand ("TDX_OPERAND_BUSY"). */
const char *tdx_status_name(uint64_t status);

/* Every completion status this module can return, ending with {0, NULL}. */
struct tdx_status_desc {
	uint64_t code;
	const char *name;
};
extern const struct tdx_status_desc tdx_status_catalog[];

/*
 * Platform event: a host interrupt is pending on logical CPU @cpu (the
 * engine's task id; 0 under the direct driver), which makes interruptible
 * leaves (CACHE.WB, DEMOTE, PROMOTE) called on that CPU stop early.
 * tdx_module_set_host_interrupt() posts or clears it on every CPU.
 */
#define TDX_MAX_LOGICAL_CPUS 256
/* -1 if @cpu is outside [0, TDX_MAX_LOGICAL_CPUS). */
int tdx_module_post_host_interrupt(struct tdx_module *m, int cpu, bool pending);
void tdx_module_set_host_interrupt(struct tdx_module *m, bool pending);

/* TDX_FEATURES0 as TDH.SYS.RD reports it (TDX_FEATURES0_* in tdx_abi.h). */
uint64_t tdx_module_features0(const struct tdx_module *m);
/* Did the host enable Dynamic PAMT (tdx_module_config.dynamic_pamt)? */
bool tdx_module_dynamic_pamt(const struct tdx_module *m);

/* ---- TD and vCPU lifecycle ---- */
uint64_t tdh_mng_create(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr, uint64_t hkid);
uint64_t tdh_mng_key_config(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr);
uint64_t tdh_mng_addcx(struct tdx_module *m, struct tdx_regs *out, uint64_t tdcx, uint64_t tdr);
uint64_t tdh_mng_init(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr, uint64_t td_params_hpa);
uint64_t tdh_vp_create(struct tdx_module *m, struct tdx_regs *out, uint64_t tdvpr, uint64_t tdr);
uint64_t tdh_vp_addcx(struct tdx_module *m, struct tdx_regs *out, uint64_t tdcx, uint64_t tdvpr);
uint64_t tdh_vp_init(struct tdx_module *m, struct tdx_regs *out, uint64_t tdvpr, uint64_t initial_rcx);
uint64_t tdh_vp_enter(struct tdx_module *m, struct tdx_regs *out, uint64_t tdvpr);
uint64_t tdh_vp_flush(struct tdx_module *m, struct tdx_regs *out, uint64_t tdvpr);
uint64_t tdh_mng_vpflushdone(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr);
uint64_t tdh_phymem_cache_wb(struct tdx_module *m, struct tdx_regs *out, uint64_t resume);
uint64_t tdh_mng_key_freeid(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr);
uint64_t tdh_phymem_page_reclaim(struct tdx_module *m, struct tdx_regs *out, uint64_t hpa);
uint64_t tdh_phymem_page_wbinvd(struct tdx_module *m, struct tdx_regs *out, uint64_t hpa);
/*
 * Dynamic PAMT: give the module the pair of 4K pages (, ) that hold
 * the 4K PAMT of the 2M range  (HPA | level 1), and take it back
 * (RDX and R8 out of PAMT.REMOVE).
 */
uint64_t tdh_phymem_pamt_add(struct tdx_module *m, struct tdx_regs *out, uint64_t range_info, uint64_t hpa0, uint64_t hpa1);
uint64_t tdh_phymem_pamt_remove(struct tdx_module *m, struct tdx_regs *out, uint64_t range_info);

/* ---- memory ---- */
/* Version 0 leaves R8 as given; version 1 reports in R8 whether the page was used. */
uint64_t tdh_mem_sept_add(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t td_handle, uint64_t sept_hpa);
uint64_t tdh_mem_sept_add_v1(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t td_handle, uint64_t sept_hpa);
uint64_t tdh_mem_sept_remove(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t tdr);
uint64_t tdh_mem_sept_remove_v1(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t tdr);
uint64_t tdh_mem_page_add(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t tdr, uint64_t hpa, uint64_t source_hpa);
uint64_t tdh_mem_page_aug(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t tdr, uint64_t hpa);
uint64_t tdh_mem_page_remove(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t tdr);
uint64_t tdh_mem_range_block(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t tdr);
uint64_t tdh_mem_range_unblock(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t tdr);
uint64_t tdh_mem_track(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr);
uint64_t tdh_mem_sept_rd(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info, uint64_t tdr);
uint64_t tdh_mr_extend(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa, uint64_t tdr);
uint64_t tdh_mr_finalize(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr);
/* Huge pages (docs/design.md "Huge pages"). */
uint64_t tdh_mem_page_demote(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info,
			     uint64_t tdr, uint64_t sept_hpa, uint64_t pamt0, uint64_t pamt1);
uint64_t tdh_mem_page_promote(struct tdx_module *m, struct tdx_regs *out, unsigned version,
			      uint64_t gpa_info, uint64_t tdr);
uint64_t tdh_mem_page_relocate(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa_info,
			       uint64_t tdr, uint64_t target_hpa);

/* ---- guest side ---- */

/* What happened to a guest-side operation. */
enum tdg_outcome {
	TDG_RETURN = 0,		/* returned to the guest; status/result valid */
	TDG_EXIT,		/* the vCPU left the TD: see tdx_vcpu_exit_regs() */
	TDG_VE,			/* a #VE was injected: see tdx_vcpu_ve() */
	TDG_INTERRUPTED,	/* an interrupt is pending: re-execute the TDCALL */
	TDG_DF,			/* a #VE while VE_INFO was still valid: #DF instead */
};

/* TDG.MEM.PAGE.ACCEPT.  *status is valid when the outcome is TDG_RETURN. */
enum tdg_outcome tdg_mem_page_accept(struct tdx_vcpu *v, uint64_t gpa_info, uint64_t *status);

/*
 * TDG.MEM.PAGE.ATTR.RD: *rcx = the GPA aligned to its leaf | level | bit 62
 * if PENDING, *rdx = attributes; valid when the outcome is TDG_RETURN and
 * *status is TDX_SUCCESS.
 */
enum tdg_outcome tdg_mem_page_attr_rd(struct tdx_vcpu *v, uint64_t gpa, uint64_t *status,
				      uint64_t *rcx, uint64_t *rdx);
/*
 * TDG.MEM.PAGE.ATTR.WR of GPA/level with @attrs under @mask (both 0 without
 * L2 VMs).  A walk that stops above the level exits with extended-info
 * type 5 (EEQ_TYPE_ATTR_WR): the guest's demotion request.
 */
enum tdg_outcome tdg_mem_page_attr_wr(struct tdx_vcpu *v, uint64_t gpa_info, uint64_t attrs,
				      uint64_t mask, uint64_t *status, uint64_t *rcx,
				      uint64_t *rdx);

/* TDG.VP.INFO: always TDX_SUCCESS; *out gets RCX, RDX, R8..R11. */
uint64_t tdg_vp_info(struct tdx_vcpu *v, struct tdx_regs *out);
/*
 * TDG.VM.RD / TDG.VM.WR (version 0) of the TD-scope field @field of VM
 * @vm (0: the TD).  *value / *old is R8 out (0 on failure).
 */
uint64_t tdg_vm_rd(struct tdx_vcpu *v, uint64_t vm, uint64_t field, uint64_t *value);
uint64_t tdg_vm_wr(struct tdx_vcpu *v, uint64_t vm, uint64_t field, uint64_t value,
		   uint64_t mask, uint64_t *old);

/*
 * A guest load/store/fetch of private @gpa: translates through the S-EPT.
 * TDG_RETURN with *hpa on success; TDG_EXIT (EPT-violation TD exit) or
 * TDG_VE (#VE for a PENDING page when PENDING_VE_DISABLE is 0) otherwise,
 * or TDG_DF when that #VE finds VE_INFO still valid (the guest did not read
 * the previous #VE's info with tdg_vp_veinfo_get()).
 */
enum tdg_outcome tdx_guest_access(struct tdx_vcpu *v, uint64_t gpa, unsigned exitq_rwx, uint64_t *hpa);

/*
 * TDG.VP.VEINFO.GET (TDCALL leaf 3): the last #VE's information, which
 * marks VE_INFO free again.  Returns TDX_SUCCESS with RCX = exit reason,
 * RDX = exit qualification, R8 = guest linear address (not modelled: 0),
 * R9 = GPA, R10 = instruction length and info (0), or
 * TDX_NO_VALID_VE_INFO with all five 0 when no #VE is pending.  Always
 * returns to the guest.
 */
uint64_t tdg_vp_veinfo_get(struct tdx_vcpu *v, struct tdx_regs *out);

/*
 * Leave the TD for a reason the guest or the platform raised (TDVMCALL,
 * external interrupt, kick).  @exit_reason becomes RAX of VP.ENTER.
 */
void tdx_td_exit(struct tdx_vcpu *v, uint64_t exit_reason, uint64_t rcx, uint64_t rdx);
/* An EPT violation on a shared GPA (the host's shared EPT): a TD exit. */
void tdx_td_exit_shared_ept(struct tdx_vcpu *v, uint64_t gpa, unsigned exitq_rwx);

/* #VE information delivered to the guest. */
struct tdx_ve_info {
	uint32_t exit_reason;
	uint64_t exit_qual;
	uint64_t gpa;
};

/* The registers VP.ENTER returned at the last TD exit. */
const struct tdx_regs *tdx_vcpu_exit_regs(const struct tdx_vcpu *v);
const struct tdx_ve_info *tdx_vcpu_ve(const struct tdx_vcpu *v);
bool tdx_vcpu_in_td(const struct tdx_vcpu *v);
void tdx_vcpu_set_interrupt_pending(struct tdx_vcpu *v, bool pending);
/* The guest's instruction pointer (the module reads it at TD exits). */
void tdx_vcpu_set_rip(struct tdx_vcpu *v, uint64_t rip);
/* The RCX the vCPU starts with: TDH.VP.INIT's initial RCX (the TDVF boot parameter). */
uint64_t tdx_vcpu_initial_rcx(const struct tdx_vcpu *v);
/* Bumps whenever the vCPU's TLB is flushed (VP.ENTER in a new epoch, VP.FLUSH). */
uint64_t tdx_vcpu_tlb_generation(const struct tdx_vcpu *v);

/* Zero-step mitigation state of a vCPU (for tests and reports). */
struct tdx_zero_step {
	unsigned epf_count;	/* EPT violations counted at the current RIP */
	unsigned logged;	/* GPAs logged past the threshold */
	uint64_t filter_runs;	/* VP.ENTERs that ran the stepping filter */
	uint64_t refused;	/* ... and refused entry */
};
void tdx_vcpu_zero_step(const struct tdx_vcpu *v, struct tdx_zero_step *zs);

/* ---- lookups and inspection (not part of the ABI) ---- */
struct tdx_td *tdx_td_by_tdr(struct tdx_module *m, uint64_t tdr);
struct tdx_vcpu *tdx_vcpu_by_tdvpr(struct tdx_module *m, uint64_t tdvpr);
struct tdx_td *tdx_td_by_tdvpr(struct tdx_module *m, uint64_t tdvpr);
/* The TD that owns the page holding @hpa (as PT_REG at any size), or NULL. */
struct tdx_td *tdx_hpa_owner(struct tdx_module *m, uint64_t hpa);
/* MRTD: true and 48 bytes once MR.FINALIZE has run. */
bool tdx_td_mrtd(const struct tdx_td *td, uint8_t mrtd[TDX_MRTD_BYTES]);
enum td_op_state tdx_td_op_state(const struct tdx_td *td);
enum td_lifecycle tdx_td_lifecycle(const struct tdx_td *td);
uint64_t tdx_td_epoch(const struct tdx_td *td);
uint64_t tdx_td_child_count(const struct tdx_td *td);
uint64_t tdx_td_attributes(const struct tdx_td *td);
int tdx_td_levels(const struct tdx_td *td);
bool tdx_td_gpaw(const struct tdx_td *td);
/* GPA shared bit for this TD (bit 47 or 51). */
uint64_t tdx_td_shared_bit(const struct tdx_td *td);

/*
 * The S-EPT as it stands, read-only (for maps and reports).  A leaf is an
 * entry that is not FREE and that the module's walk stops at: MAPPED,
 * BLOCKED, PENDING and PENDING_BLOCKED pages at their level, REMOVED
 * entries, and NL_BLOCKED tables (reported whole, as the walk cannot go
 * through them).  @state is the module's own state (tdx_sept_state_name()).
 */
struct tdx_sept_leaf {
	uint64_t gpa;		/* first GPA the entry covers */
	int level;		/* 0 4K, 1 2M, 2 1G, ... */
	unsigned state;
	uint64_t hpa;		/* the page (or table) it points at */
	bool locked;		/* its entry lock is held (a SEAMCALL in flight) */
};
/* Return nonzero to stop the walk (that value is returned). */
typedef int (*tdx_sept_leaf_fn)(void *arg, const struct tdx_sept_leaf *leaf);
/*
 * @fn for every leaf of @td in GPA order.  Takes no lock and has no
 * scheduling point: only for a TD nothing is running on.
 */
int tdx_td_sept_for_each_leaf(const struct tdx_td *td, tdx_sept_leaf_fn fn, void *arg);
/* "FREE", "REMOVED", "NL_MAPPED", ..., "PENDING_BLOCKED"; "?" out of range. */
const char *tdx_sept_state_name(unsigned state);

/*
 * ---- checking mode (invariants.c; docs/design.md "Checking mode") ----
 * All of these read state directly: no lock, no seam operation, nothing
 * allocated, so they may run at any scheduling point (the engine's check
 * hook runs with the seam unhooked) and from tests and fuzzers.
 */
/*
 * Invariants 1 (PAMT: no page owned twice, at two sizes or by two TDs;
 * each quiescent TD's child count equals its control pages plus what its
 * S-EPT holds, and equals what the PAMT gives it; every S-EPT leaf maps a
 * PT_REG page of its TD at its size, every table is a PT_EPT page of the
 * TD; no page mapped twice) and 5 (each TD's epoch refcounts count the
 * vCPUs inside in that parity, give or take the vCPUs in VP.ENTER).  0, or
 * the invariant's number with "invariant N (name): ..." in @msg.
 */
int tdx_module_check(struct tdx_module *m, char *msg, size_t len);
/*
 * No host SEAMCALL is under way on @td: its TDR's PAMT entry is held once
 * per vCPU inside the TD and by nothing else, and no vCPU outside the TD
 * is in a vCPU leaf.  Between two such instants every change a leaf makes
 * to the PAMT, the S-EPT and the child count is complete.
 */
bool tdx_td_quiescent(const struct tdx_td *td);
/* @v is outside the TD with its TDVPR held: in VP.ENTER (or another vCPU leaf). */
bool tdx_vcpu_in_epoch_change(const struct tdx_vcpu *v);
/*
 * Would a translation @v's TLB holds now be used without a flush?  Yes
 * while it is inside the TD, or outside with no new TD epoch since its last
 * VP.ENTER (the next VP.ENTER flushes only when the epoch moved).
 */
bool tdx_vcpu_tlb_live(const struct tdx_vcpu *v);
/* The root S-EPT page of @td, 0 before MNG.ADDCX gave it. */
uint64_t tdx_td_sept_root(const struct tdx_td *td);
/* Entry @index of the S-EPT page @table_hpa (gpa and level left 0). */
void tdx_sept_entry_at(struct tdx_module *m, uint64_t table_hpa, unsigned index,
		       struct tdx_sept_leaf *out);
/*
 * The 512 raw entries of the S-EPT page @table_hpa (in simulated memory, or
 * copied into @buf), NULL when all are FREE; tdx_sept_decode() reads one
 * (gpa and level left 0).  For walks that visit whole tables.
 */
const uint64_t *tdx_sept_table_words(struct tdx_module *m, uint64_t table_hpa, uint64_t buf[512]);
void tdx_sept_decode(uint64_t raw, struct tdx_sept_leaf *out);
/*
 * Where the module's walk for @gpa stops: the leaf (any level), a
 * REMOVED entry or a table it cannot walk through.  false if it meets a
 * FREE entry.
 */
bool tdx_td_sept_lookup(const struct tdx_td *td, uint64_t gpa, struct tdx_sept_leaf *out);
/* Is a leaf in @state accepted memory (MAPPED, or BLOCKED on its way out)? */
bool tdx_sept_state_accepted(unsigned state);
/* Does @state map nothing (FREE, REMOVED)? */
bool tdx_sept_state_absent(unsigned state);
/* Is @state an unblocked leaf (MAPPED, PENDING): what a present mirror leaf says? */
bool tdx_sept_state_leaf(unsigned state);
/* Is @state a table the walk goes through (NL_MAPPED)? */
bool tdx_sept_state_table(unsigned state);

#endif /* TDXSIM_TDX_MODULE_H */
