/* SPDX-License-Identifier: MIT */
/*
 * guest.h - guest programs and the guest API.
 *
 * A guest program is a plain C function that runs on a vCPU task.  It reads
 * and writes guest memory, accepts pages and makes TDVMCALLs through the
 * functions below; each completed operation advances the vCPU's
 * instruction pointer.  Private accesses are translated through the S-EPT
 * with a per-vCPU TLB that is flushed only when the module flushes it (TD
 * entry in a new TLB epoch, VP.FLUSH), so stale translations behave as on
 * hardware.  An access the module refuses takes the EPT-violation exit or
 * the #VE the module chooses; on an exit the vCPU task runs the host's exit
 * handler and re-enters with VP.ENTER, so epochs, refcounts and zero-step
 * counting are real.
 */
#ifndef TDXSIM_GUEST_H
#define TDXSIM_GUEST_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/seam.h"
#include "../module/tdx_module.h"

struct gvcpu;
struct guest_shadow;

/* TDG.VP.VMCALL functions (GHCI) and their statuses. */
#define TDVMCALL_MAP_GPA		0x10001ull
#define TDVMCALL_DEMOTE			0x10100ull	/* proposed: explicit demotion (seed 000) */
#define TDVMCALL_HLT			12ull	/* Instruction.HLT (GHCI: the VMX exit reason) */
#define TDVMCALL_WRMSR			32ull	/* Instruction.WRMSR: a0 = MSR, a1 = value */
#define X2APIC_MSR_ICR			0x830ull	/* the x2APIC interrupt command register */
#define GUEST_IPI_VECTOR		0xfdull	/* the fixed vector guest_wake() sends */
#define GUEST_WAKE_OTHERS		(-1)	/* guest_wake(): every vCPU but the sender */
#define TDVMCALL_STATUS_SUCCESS		0x0ull
#define TDVMCALL_STATUS_RETRY		0x1ull
#define TDVMCALL_STATUS_INVALID_OPERAND	0x8000000000000000ull
#define TDVMCALL_STATUS_ALIGN_ERROR	0x8000000000000002ull

/* The host side a vCPU runs against (src/host provides one). */
struct gvcpu_host {
	/*
	 * Handle the TD exit whose registers are in tdx_vcpu_exit_regs(); the
	 * vCPU is outside the TD.  0: re-enter; -1: the VM is dead (the reason
	 * goes to gvcpu_kill()).
	 */
	int (*handle_exit)(struct gvcpu *g);
	/* A TDVMCALL (exit reason TDCALL): returns its status, 0 on success. */
	uint64_t (*vmcall)(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1);
	/* The HPA mapping shared GPA @gpa (shared bit stripped); ~0 if it is not
	 * mapped, which makes the access an EPT-violation exit. */
	uint64_t (*shared_hpa)(struct gvcpu *g, uint64_t gpa);
	/* Optional: called before every VP.ENTER (the host may hold entries
	 * off).  0: enter; -1: the VM is dead, do not enter (the reason is in
	 * g->why), as KVM_RUN checks KVM_REQ_VM_DEAD before every entry. */
	int (*before_enter)(struct gvcpu *g);
	void *ctx;
};

typedef void (*guest_ve_handler_t)(struct gvcpu *g, const struct tdx_ve_info *ve);

#define GUEST_TLB_SIZE 64

struct gvcpu_stats {
	uint64_t exits;			/* TD exits handled by the host */
	uint64_t ept_exits;		/* ... EPT violations among them */
	uint64_t zero_step_refusals;	/* VP.ENTERs refused by the stepping filter */
	uint64_t enter_busy;		/* VP.ENTER busy retries */
	uint64_t ves;			/* #VEs delivered */
	uint64_t accepts;		/* ACCEPT calls that completed */
	uint64_t accept_busy;		/* ACCEPT BUSY retries */
	uint64_t vmcalls;
	uint64_t halts;			/* guest_halt() calls (HLT exits) */
	uint64_t wakes;			/* guest_wake() calls (IPIs sent) */
	uint64_t tlb_hits, tlb_misses;
};

struct gvcpu {
	struct tdx_module *m;
	struct tdx_td *td;
	struct tdx_vcpu *v;
	uint64_t tdvpr;
	int index;			/* vCPU number, for reports */
	const struct gvcpu_host *host;
	uint64_t rip;			/* advances on every completed operation */
	uint64_t shared_bit;
	struct {
		uint64_t gfn;		/* GPA >> 12 */
		uint64_t hpa;		/* HPA of that 4K page */
		uint64_t gen;		/* TLB generation + 1 when filled (0: empty) */
	} tlb[GUEST_TLB_SIZE];
	guest_ve_handler_t ve_handler;
	bool in_ve;			/* inside the #VE handler */
	bool in_guest_mode;		/* KVM's IN_GUEST_MODE: entering or inside the TD */
	uint64_t kick_req;		/* kicks the host sent (it waits for an exit) */
	uint64_t kick_ack;		/* kicks answered by a TD exit */
	uint64_t vmcall_fn, vmcall_a0, vmcall_a1; /* the TDVMCALL being handled */
	uint64_t vmcall_r11;		/* the host's R11 output (MapGPA: where to resume) */
	/*
	 * Checking mode: the TD's record of what its guests wrote (shared by
	 * its vCPUs), or NULL: then no access does any work for it.
	 */
	struct guest_shadow *shadow;
	bool dead;
	char why[192];			/* why the vCPU stopped */
	jmp_buf stop;
	struct gvcpu_stats st;
};

void gvcpu_init(struct gvcpu *g, struct tdx_module *m, uint64_t tdvpr, int index,
		const struct gvcpu_host *host);
/*
 * Run @prog on the vCPU: VP.ENTER, the program, a final TD exit.  Call it
 * from the vCPU's task.  0 when the program ran to its end; -1 when the
 * vCPU stopped (the VM was killed, the guest panicked): see g->why.
 */
int gvcpu_run(struct gvcpu *g, void (*prog)(struct gvcpu *g, void *arg), void *arg);
/* Stop the vCPU (from the guest program or a host handler): never returns. */
void gvcpu_kill(struct gvcpu *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the guest API (inside a program) ---- */
uint64_t guest_read64(struct gvcpu *g, uint64_t gpa);
void guest_write64(struct gvcpu *g, uint64_t gpa, uint64_t val);
void guest_read(struct gvcpu *g, uint64_t gpa, void *buf, size_t len);
void guest_write(struct gvcpu *g, uint64_t gpa, const void *buf, size_t len);
/*
 * TDG.MEM.PAGE.ACCEPT at @level (0: 4K, 1: 2M).  Exits to the host and
 * busy/interrupted outcomes are handled inside; returns the final status
 * (SUCCESS, PAGE_ALREADY_ACCEPTED|level, PAGE_SIZE_MISMATCH|level, ...).
 */
uint64_t guest_accept(struct gvcpu *g, uint64_t gpa, int level);
/*
 * TDG.MEM.PAGE.ATTR.RD of @gpa (*rcx: GPA aligned to its leaf | level |
 * bit 62 if pending) and ATTR.WR of @gpa at @level with no attribute
 * change: the real module's way to ask the host to demote a larger leaf
 * (the TDCALL exits until the host has).  Return the final status.
 */
uint64_t guest_attr_rd(struct gvcpu *g, uint64_t gpa, uint64_t *rcx);
uint64_t guest_attr_wr(struct gvcpu *g, uint64_t gpa, int level);
/* TDG.VP.INFO into *out. */
uint64_t guest_vp_info(struct gvcpu *g, struct tdx_regs *out);
/*
 * Pending-page #VE on (@enable) or off through TDG.VM.WR of TD_CTLS, as
 * Linux's disable_sept_ve() does; needs FLEXIBLE_PENDING_VE.
 */
uint64_t guest_set_pending_ve(struct gvcpu *g, bool enable);
/* TDG.VP.VMCALL: returns the host's TDVMCALL status. */
uint64_t guest_vmcall(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1);
/*
 * MapGPA: convert [gpa, gpa+size) to shared (@shared) or private.  On
 * RETRY it resumes from the GPA the host returns in R11, as Linux's
 * tdx_map_gpa() does (at most 3 retries without progress).
 */
uint64_t guest_map_gpa(struct gvcpu *g, uint64_t gpa, uint64_t size, bool shared);
/* The proposed explicit-demotion request for the 2M range holding @gpa. */
uint64_t guest_request_demote(struct gvcpu *g, uint64_t gpa);
/*
 * PAUSE in a spin loop: a pending kick (the host's IPI) makes the vCPU
 * exit first, as an interrupt would on a real CPU, then other tasks run.
 * A guest that waits for another vCPU must spin with this, or a host that
 * kicks and waits for the exit would wait forever.
 */
void guest_relax(struct gvcpu *g);
/*
 * The guest's own work: @n units of cost kind @kind (fw_boot, kernel_boot,
 * memmap_4k, buddy_4k, ap_bringup, ...) on the vCPU's virtual clock.
 */
void guest_compute(struct gvcpu *g, enum seam_cost kind, uint64_t n);
/*
 * Accept [gpa, gpa + size) as OVMF and Linux do: 2M where aligned (4K
 * pages one by one where the host mapped 4K: PAGE_SIZE_MISMATCH), 4K at
 * the unaligned ends.  An ACCEPT that fails otherwise is a guest panic.
 * Adds the 4K ACCEPTs it issued and the 2M ones that succeeded to *n4k and
 * *n2m (either may be NULL).
 */
void guest_accept_range(struct gvcpu *g, uint64_t gpa, uint64_t size, uint64_t *n4k,
			uint64_t *n2m);
/*
 * HLT (TDVMCALL<Instruction.HLT>, as Linux's tdx_safe_halt()): the vCPU
 * exits to the host, which blocks its task until a wakeup (guest_wake()
 * from another vCPU, an interrupt, the VM's death), then re-enters.  While
 * halted the vCPU is not in guest mode: the host's kicks do not wait for
 * it, and it costs the engine no steps.  A wakeup sent before the HLT
 * makes it return at once, so "while (!cond) guest_halt(g);" after the
 * waker set cond and woke us cannot sleep for ever.  Costs a TD exit and
 * a TD entry.
 */
void guest_halt(struct gvcpu *g);
/*
 * Wake vCPU @target (or GUEST_WAKE_OTHERS: every other vCPU) with an IPI:
 * an x2APIC ICR write (TDVMCALL<Instruction.WRMSR>), which the host turns
 * into a wakeup of each halted target.  Costs a TD exit, one IPI and a TD
 * entry.  Returns the TDVMCALL status (INVALID_OPERAND for a vCPU the TD
 * lacks).
 */
uint64_t guest_wake(struct gvcpu *g, int target);
/*
 * The boot parameter the vCPU started with in RCX: TDH.VP.INIT's initial
 * RCX, where QEMU puts the TD_HOB's GPA (TDVF design guide, "vCPU
 * initial state"); 0 when the VMM passed nothing.
 */
uint64_t guest_boot_param(struct gvcpu *g);
/* Install the #VE handler (used when PENDING_VE_DISABLE is 0). */
void guest_set_ve_handler(struct gvcpu *g, guest_ve_handler_t h);
/* The GPA's shared alias (with the TD's shared bit set). */
uint64_t guest_shared(struct gvcpu *g, uint64_t gpa);

/*
 * ---- checking mode (docs/design.md "Checking mode") ----
 *
 * Invariant 4, guest data.  A shadow records, per private 4K page of the
 * TD, the words its guests wrote; a page a guest accepted is known to be
 * zero except for what was written since.  Every private read of a known
 * word must return it, or the run ends as an invariant violation.  What the
 * guest gives up on purpose is forgotten: the pages of a MapGPA (either
 * way: content across a conversion is gone by design), and a page's words
 * while an ACCEPT of it is in flight (SUCCESS then makes it zero, unless a
 * guest wrote it meanwhile: then it is forgotten).  A page the host takes
 * away without the guest asking (a punch, a conversion by the VMM) is
 * not forgotten, but it cannot be read again without an ACCEPT.
 */
struct guest_shadow *guest_shadow_create(void);
void guest_shadow_destroy(struct guest_shadow *s);
/* Attach @s to @g (after gvcpu_init; every vCPU of one TD gets the same one). */
void gvcpu_set_shadow(struct gvcpu *g, struct guest_shadow *s);
/*
 * Check @s against memory: every known word of a page the S-EPT of @td
 * maps as accepted (MAPPED or BLOCKED) must be in memory.  Only while @td
 * is quiescent (tdx_td_quiescent: content moves inside RELOCATE, PROMOTE,
 * DEMOTE).  0, or 4 with "invariant 4 (guest data): ..." in @msg.
 */
int guest_shadow_check(const struct guest_shadow *s, struct tdx_module *m, struct tdx_td *td,
		       char *msg, size_t len);
/*
 * Invariant 3, TLB: no translation in @g's TLB that it would use without
 * a flush (tdx_vcpu_tlb_live) points at a page its TD does not own.  The
 * same test every TLB hit makes, for all entries.  0, or 3 with
 * "invariant 3 (TLB): ..." in @msg.
 */
int guest_check_tlb(const struct gvcpu *g, char *msg, size_t len);
/* Tests: what @s knows of the word at private @gpa (false: nothing). */
bool guest_shadow_word(const struct guest_shadow *s, uint64_t gpa, uint64_t *val);

#endif
