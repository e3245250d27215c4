/* SPDX-License-Identifier: MIT */
/* guest.c - the guest API and the vCPU's enter/exit loop (see guest.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/engine.h"
#include "../module/physmem.h"
#include "guest.h"
#include "shadow.h"

void gvcpu_init(struct gvcpu *g, struct tdx_module *m, uint64_t tdvpr, int index,
		const struct gvcpu_host *host)
{
	memset(g, 0, sizeof(*g));
	g->m = m;
	g->tdvpr = tdvpr;
	g->v = tdx_vcpu_by_tdvpr(m, tdvpr);
	g->td = g->v ? tdx_td_by_tdvpr(m, tdvpr) : NULL;
	g->index = index;
	g->host = host;
	g->shared_bit = g->td ? tdx_td_shared_bit(g->td) : 0;
}

void gvcpu_kill(struct gvcpu *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->why, sizeof(g->why), fmt, ap);
	va_end(ap);
	g->dead = true;
	if (tdx_vcpu_in_td(g->v))
		tdx_td_exit(g->v, EXIT_REASON_TDCALL, 0, 0);	/* leave the TD cleanly */
	g->in_guest_mode = false;
	longjmp(g->stop, 1);
}

/* The host's exit handler declared the VM dead; its reason is in g->why. */
static void host_killed(struct gvcpu *g)
{
	char why[sizeof(g->why)];
	snprintf(why, sizeof(why), "%s", g->why[0] ? g->why : "by the host");
	gvcpu_kill(g, "VM killed: %s", why);
}

/* VP.ENTER until the vCPU is inside the TD. */
static void enter(struct gvcpu *g)
{
	struct tdx_regs out;
	for (;;) {
		/* like KVM: mode = IN_GUEST_MODE first, then check for reasons not to enter */
		g->in_guest_mode = true;
		if (g->host->before_enter && g->host->before_enter(g) < 0) {
			g->in_guest_mode = false;
			host_killed(g);
		}
		tdx_vcpu_set_rip(g->v, g->rip);
		uint64_t st = tdh_vp_enter(g->m, &out, g->tdvpr);
		if (st == TDX_SUCCESS)
			return;
		g->in_guest_mode = false;
		if (st == EXIT_REASON_EPT_VIOLATION) {
			/* the zero-step filter refused entry: a synthesized exit */
			g->st.zero_step_refusals++;
			g->st.exits++;
			g->st.ept_exits++;
			if (g->host->handle_exit(g) < 0)
				host_killed(g);
			continue;
		}
		if (tdx_status_code(st) == TDX_OPERAND_BUSY) {
			g->st.enter_busy++;
			seam_yield();
			continue;
		}
		gvcpu_kill(g, "TDH.VP.ENTER failed: %s (%#" PRIx64 ")", tdx_status_name(st), st);
	}
}

/* The vCPU left the TD: the host handles the exit, then we re-enter. */
static void exited(struct gvcpu *g)
{
	g->in_guest_mode = false;
	g->st.exits++;
	engine_trace(tdx_vcpu_exit_regs(g->v)->rax ^ tdx_vcpu_exit_regs(g->v)->r8);
	if (tdx_vcpu_exit_regs(g->v)->rax == EXIT_REASON_EPT_VIOLATION)
		g->st.ept_exits++;
	if (g->host->handle_exit(g) < 0)
		host_killed(g);
	enter(g);
}

int gvcpu_run(struct gvcpu *g, void (*prog)(struct gvcpu *g, void *arg), void *arg)
{
	if (!g->v) {
		snprintf(g->why, sizeof(g->why), "no such vCPU");
		return -1;
	}
	if (setjmp(g->stop))
		return -1;
	enter(g);
	prog(g, arg);
	tdx_td_exit(g->v, EXIT_REASON_TDCALL, 0, 0);	/* the program's last TDVMCALL */
	g->in_guest_mode = false;
	return 0;
}

/*
 * A kick (the host's IPI): leave the TD with an external-interrupt exit;
 * the kick counts as answered once the vCPU is out (its epoch released).
 */
static void check_kick(struct gvcpu *g)
{
	if (g->kick_ack == g->kick_req)
		return;
	uint64_t req = g->kick_req;
	tdx_td_exit(g->v, EXIT_REASON_EXTERNAL_INTERRUPT, 0, 0);
	g->in_guest_mode = false;
	g->kick_ack = req;
	exited(g);
}

/* ---- translation ---- */

static bool is_shared(struct gvcpu *g, uint64_t gpa)
{
	return (gpa & g->shared_bit) != 0;
}

/*
 * A TLB hit must point at a page the TD still owns: a stale translation to
 * a page the host already removed means the host broke the TLB-tracking
 * protocol (BLOCK, TRACK, kick before REMOVE).
 */
static void check_stale(struct gvcpu *g, uint64_t gpa, uint64_t hpa)
{
	if (tdx_hpa_owner(g->m, hpa) != g->td) {
		char msg[192];
		snprintf(msg, sizeof(msg),
			 "invariant 3 (TLB): vCPU %d used a stale TLB entry: GPA %#" PRIx64
			 " -> HPA %#" PRIx64 " no longer belongs to the TD (TLB tracking not done)",
			 g->index, gpa, hpa);
		if (engine_current())
			engine_invariant("%s", msg);
		fprintf(stderr, "tdxsim: %s\n", msg);
		abort();
	}
}

/*
 * A #VE in translate(): out of line, so that the translation the fault
 * path runs for every access stays small enough to be inlined.
 */
static __attribute__((noinline)) void take_ve(struct gvcpu *g, uint64_t gpa)
{
	g->st.ves++;
	if (!g->ve_handler)
		gvcpu_kill(g, "guest panic: unhandled #VE at GPA %#" PRIx64, gpa);
	if (g->in_ve)
		gvcpu_kill(g, "guest panic: #VE at GPA %#" PRIx64 " inside the #VE handler",
			   gpa);
	/*
	 * As Linux's #VE handler does before anything else, read
	 * the #VE's information with TDG.VP.VEINFO.GET: that frees
	 * VE_INFO, and a #VE while it is still valid is a #DF.
	 */
	struct tdx_regs r;
	uint64_t st = tdg_vp_veinfo_get(g->v, &r);
	if (st != TDX_SUCCESS)
		gvcpu_kill(g, "guest panic: TDG.VP.VEINFO.GET failed: %s",
			   tdx_status_name(st));
	struct tdx_ve_info ve = {
		.exit_reason = (uint32_t)r.rcx, .exit_qual = r.rdx, .gpa = r.r9,
	};
	g->in_ve = true;
	g->ve_handler(g, &ve);
	g->in_ve = false;
}

/*
 * Translate @gpa for an access; returns the HPA.  Handles exits and #VEs.
 * The caller accesses the HPA before its next scheduling point (charging
 * the access is one): an instruction's translation and access are atomic
 * to other CPUs, so the host cannot free the page in between (a shared
 * page zapped and freed by the VMM's conversion would otherwise take a
 * late write after it was handed to another GPA).
 */
static inline __attribute__((always_inline)) uint64_t translate(struct gvcpu *g, uint64_t gpa,
							   unsigned rwx)
{
	check_kick(g);
	if (is_shared(g, gpa)) {
		if (!g->host->shared_hpa)
			gvcpu_kill(g, "shared GPA %#" PRIx64 " has no backing", gpa);
		for (;;) {
			uint64_t hpa = g->host->shared_hpa(g, gpa & ~g->shared_bit);
			if (hpa != ~0ull)
				return hpa;
			tdx_vcpu_set_rip(g->v, g->rip);
			tdx_td_exit_shared_ept(g->v, gpa, rwx);
			exited(g);
		}
	}
	uint64_t gfn = gpa >> 12;
	unsigned i = gfn % GUEST_TLB_SIZE;
	uint64_t gen = tdx_vcpu_tlb_generation(g->v) + 1;
	if (g->tlb[i].gfn == gfn && g->tlb[i].gen == gen) {
		g->st.tlb_hits++;
		check_stale(g, gpa, g->tlb[i].hpa);
		return g->tlb[i].hpa | (gpa & 0xfff);
	}
	g->st.tlb_misses++;
	for (;;) {
		uint64_t hpa;
		tdx_vcpu_set_rip(g->v, g->rip);
		enum tdg_outcome o = tdx_guest_access(g->v, gpa, rwx, &hpa);
		if (o == TDG_RETURN) {
			g->tlb[i].gfn = gfn;
			g->tlb[i].hpa = hpa & ~0xfffull;
			g->tlb[i].gen = tdx_vcpu_tlb_generation(g->v) + 1;
			return hpa;
		}
		if (o == TDG_VE) {
			take_ve(g, gpa);
			continue;	/* the faulting instruction runs again */
		}
		if (o == TDG_DF)
			gvcpu_kill(g, "guest panic: #DF (a #VE at GPA %#" PRIx64
				   " while VE_INFO was still valid)", gpa);
		exited(g);
	}
}

/* Checking mode: a read of private memory must return what the guest wrote there. */
static __attribute__((noinline, cold)) void shadow_read64(struct gvcpu *g, uint64_t gpa,
							 uint64_t hpa, uint64_t v)
{
	uint64_t want;
	if (!is_shared(g, gpa) && shadow_read(g->shadow, gpa & ~7ull, v, &want))
		engine_invariant("invariant 4 (guest data): vCPU %d read %#" PRIx64 " at GPA %#" PRIx64
				 " (HPA %#" PRIx64 "), but the guest last wrote %#" PRIx64 " there",
				 g->index, v, gpa & ~(uint64_t)7, hpa & ~(uint64_t)7, want);
}

static __attribute__((noinline, cold)) void shadow_write64(struct gvcpu *g, uint64_t gpa,
							  uint64_t v)
{
	if (!is_shared(g, gpa))
		shadow_write(g->shadow, gpa & ~7ull, v);
}

/* guest_copy()'s part: the words of [@gpa, @gpa + @n), one page, from or to @buf. */
static __attribute__((noinline, cold)) void shadow_copy(struct gvcpu *g, uint64_t gpa,
						       uint64_t hpa, const uint8_t *buf,
						       size_t n, bool write)
{
	if (is_shared(g, gpa))
		return;
	while (n) {
		unsigned off = gpa & 7, k = 8 - off;
		uint64_t want;
		if (k > n)
			k = (unsigned)n;
		if (write)
			shadow_write_bytes(g->shadow, gpa & ~7ull, buf, off, k);
		else if (shadow_read_bytes(g->shadow, gpa & ~7ull, buf, off, k, &want))
			engine_invariant("invariant 4 (guest data): vCPU %d read bytes at GPA %#" PRIx64
					 " (HPA %#" PRIx64 ") that differ from the word %#" PRIx64
					 " the guest last wrote there", g->index, gpa, hpa, want);
		gpa += k;
		hpa += k;
		buf += k;
		n -= k;
	}
}

uint64_t guest_read64(struct gvcpu *g, uint64_t gpa)
{
	uint64_t hpa = translate(g, gpa, EXITQ_READ);
	uint64_t v = physmem_read64(tdx_module_physmem(g->m), hpa & ~7ull);
	if (__builtin_expect(g->shadow != NULL, 0))
		shadow_read64(g, gpa, hpa, v);
	seam_charge(SEAM_COST_GUEST_ACCESS, 1);	/* after: see translate() */
	g->rip++;
	return v;
}

void guest_write64(struct gvcpu *g, uint64_t gpa, uint64_t val)
{
	uint64_t hpa = translate(g, gpa, EXITQ_WRITE);
	physmem_write64(tdx_module_physmem(g->m), hpa & ~7ull, val);
	if (__builtin_expect(g->shadow != NULL, 0))
		shadow_write64(g, gpa, val);
	seam_charge(SEAM_COST_GUEST_ACCESS, 1);
	g->rip++;
}

/* A byte range, page by page: each page translated for the access. */
static void guest_copy(struct gvcpu *g, uint64_t gpa, uint8_t *buf, size_t len, bool write)
{
	struct physmem *pm = tdx_module_physmem(g->m);
	while (len) {
		size_t n = 4096 - (gpa & 0xfff);
		if (n > len)
			n = len;
		uint64_t hpa = translate(g, gpa, write ? EXITQ_WRITE : EXITQ_READ);
		if (write)
			physmem_write(pm, hpa, buf, n);
		else
			physmem_read(pm, hpa, buf, n);
		if (g->shadow)
			shadow_copy(g, gpa, hpa, buf, n, write);
		seam_charge(SEAM_COST_GUEST_ACCESS, 1);
		buf += n;
		gpa += n;
		len -= n;
	}
	g->rip++;
}

void guest_read(struct gvcpu *g, uint64_t gpa, void *buf, size_t len)
{
	guest_copy(g, gpa, buf, len, false);
}

void guest_write(struct gvcpu *g, uint64_t gpa, const void *buf, size_t len)
{
	guest_copy(g, gpa, (uint8_t *)(uintptr_t)buf, len, true);
}

static uint64_t accept_loop(struct gvcpu *g, uint64_t gpa, int level)
{
	for (;;) {
		uint64_t st;
		check_kick(g);
		tdx_vcpu_set_rip(g->v, g->rip);
		enum tdg_outcome o = tdg_mem_page_accept(g->v, tdx_gpa_info(gpa, level), &st);
		if (o == TDG_RETURN) {
			if (tdx_status_code(st) == TDX_OPERAND_BUSY) {
				g->st.accept_busy++;
				seam_yield();
				continue;
			}
			g->st.accepts++;
			g->rip++;
			engine_trace(st);
			return st;
		}
		if (o == TDG_INTERRUPTED) {
			seam_yield();	/* the interrupt is taken; the TDCALL runs again */
			continue;
		}
		exited(g);	/* the host acts; the TDCALL runs again */
	}
}

/*
 * Checking mode: the shadow knows nothing of the pages while the ACCEPT is
 * in flight (its commit zeroes them at an instant the guest does not see).
 * A vCPU stopped inside leaves them unknown.
 */
static __attribute__((noinline, cold)) uint64_t shadow_accept(struct gvcpu *g, uint64_t gpa,
							     int level)
{
	uint64_t size = tdx_level_size(level), base = gpa & ~(size - 1) & ~g->shared_bit;
	shadow_accept_begin(g->shadow, base, size);
	uint64_t st = accept_loop(g, gpa, level);
	shadow_accept_end(g->shadow, base, size, st == TDX_SUCCESS);
	return st;
}

uint64_t guest_accept(struct gvcpu *g, uint64_t gpa, int level)
{
	if (__builtin_expect(g->shadow != NULL, 0))
		return shadow_accept(g, gpa, level);
	return accept_loop(g, gpa, level);
}

/*
 * ATTR.RD / ATTR.WR as ACCEPT runs them: BUSY is retried after a yield, a
 * TD exit (the host acts: maps, or demotes for ATTR.WR's type-5 exit)
 * re-runs the TDCALL.
 */
static uint64_t attr_call(struct gvcpu *g, bool write, uint64_t gpa, int level, uint64_t *rcx)
{
	for (;;) {
		uint64_t st, rdx;
		check_kick(g);
		tdx_vcpu_set_rip(g->v, g->rip);
		enum tdg_outcome o =
			write ? tdg_mem_page_attr_wr(g->v, tdx_gpa_info(gpa, level), 0, 0, &st, rcx, &rdx)
			      : tdg_mem_page_attr_rd(g->v, gpa, &st, rcx, &rdx);
		if (o == TDG_RETURN) {
			if (tdx_status_code(st) == TDX_OPERAND_BUSY) {
				seam_yield();
				continue;
			}
			g->rip++;
			return st;
		}
		exited(g);
	}
}

uint64_t guest_attr_rd(struct gvcpu *g, uint64_t gpa, uint64_t *rcx)
{
	return attr_call(g, false, gpa, 0, rcx);
}

uint64_t guest_attr_wr(struct gvcpu *g, uint64_t gpa, int level)
{
	uint64_t rcx;
	return attr_call(g, true, gpa, level, &rcx);
}

uint64_t guest_vp_info(struct gvcpu *g, struct tdx_regs *out)
{
	check_kick(g);
	tdx_vcpu_set_rip(g->v, g->rip);
	uint64_t st = tdg_vp_info(g->v, out);
	g->rip++;
	return st;
}

uint64_t guest_set_pending_ve(struct gvcpu *g, bool enable)
{
	uint64_t old;
	check_kick(g);
	tdx_vcpu_set_rip(g->v, g->rip);
	uint64_t st = tdg_vm_wr(g->v, 0, MD_TDCS_TD_CTLS, enable ? 0 : TD_CTLS_PENDING_VE_DISABLE,
				TD_CTLS_PENDING_VE_DISABLE, &old);
	g->rip++;
	return st;
}

uint64_t guest_vmcall(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1)
{
	check_kick(g);
	g->st.vmcalls++;
	g->vmcall_fn = fn;
	g->vmcall_a0 = a0;
	g->vmcall_a1 = a1;
	g->vmcall_r11 = 0;
	/* the TDCALL's own RIP: the module checks it for forward progress */
	tdx_vcpu_set_rip(g->v, g->rip);
	tdx_td_exit(g->v, EXIT_REASON_TDCALL, fn, a0);
	g->in_guest_mode = false;
	uint64_t st = g->host->vmcall ? g->host->vmcall(g, fn, a0, a1)
				      : TDVMCALL_STATUS_INVALID_OPERAND;
	g->vmcall_fn = 0;
	g->st.exits++;
	enter(g);
	g->rip++;
	return st;
}

uint64_t guest_map_gpa(struct gvcpu *g, uint64_t gpa, uint64_t size, bool shared)
{
	uint64_t start = gpa, end = gpa + size;
	int stuck = 0;
	if (g->shadow)
		shadow_forget_range(g->shadow, gpa & ~g->shared_bit, size);
	for (;;) {
		uint64_t a0 = shared ? start | g->shared_bit : start;
		uint64_t st = guest_vmcall(g, TDVMCALL_MAP_GPA, a0, end - start);
		if (st != TDVMCALL_STATUS_RETRY)
			return st;
		/* R11 comes from the untrusted host: check it */
		uint64_t next = g->vmcall_r11 & ~g->shared_bit;
		if (next < start || next >= end)
			return TDVMCALL_STATUS_INVALID_OPERAND;
		if (next == start) {
			if (++stuck == 3)
				return st;
			continue;
		}
		start = next;
		stuck = 0;
	}
}

uint64_t guest_request_demote(struct gvcpu *g, uint64_t gpa)
{
	return guest_vmcall(g, TDVMCALL_DEMOTE, gpa, 0);
}

void guest_relax(struct gvcpu *g)
{
	check_kick(g);
	seam_yield();
	g->rip++;
}

void guest_compute(struct gvcpu *g, enum seam_cost kind, uint64_t n)
{
	(void)g;
	seam_charge(kind, n);
}

static bool accept_ok(uint64_t st)
{
	return st == TDX_SUCCESS || tdx_status_code(st) == TDX_PAGE_ALREADY_ACCEPTED;
}

void guest_accept_range(struct gvcpu *g, uint64_t gpa, uint64_t size, uint64_t *n4k,
			uint64_t *n2m)
{
	uint64_t end = gpa + size, a4 = 0, a2 = 0;
	while (gpa < end) {
		if (!(gpa & (SZ_2M - 1)) && end - gpa >= SZ_2M) {
			uint64_t st = guest_accept(g, gpa, 1);
			if (accept_ok(st)) {
				a2++;
				gpa += SZ_2M;
				continue;
			}
			if (tdx_status_code(st) != TDX_PAGE_SIZE_MISMATCH)
				gvcpu_kill(g, "guest panic: accept 2M at %#" PRIx64 ": %s", gpa,
					   tdx_status_name(st));
			/* the host mapped 4K here: accept the 512 pages one by one */
			for (uint64_t a = gpa; a < gpa + SZ_2M; a += SZ_4K, a4++)
				if (!accept_ok(guest_accept(g, a, 0)))
					gvcpu_kill(g, "guest panic: accept 4K at %#" PRIx64, a);
			gpa += SZ_2M;
			continue;
		}
		uint64_t st = guest_accept(g, gpa, 0);
		a4++;
		if (!accept_ok(st))
			gvcpu_kill(g, "guest panic: accept 4K at %#" PRIx64 ": %s", gpa,
				   tdx_status_name(st));
		gpa += SZ_4K;
	}
	if (n4k)
		*n4k += a4;
	if (n2m)
		*n2m += a2;
}

void guest_halt(struct gvcpu *g)
{
	g->st.halts++;
	guest_vmcall(g, TDVMCALL_HLT, 0, 0);
}

uint64_t guest_wake(struct gvcpu *g, int target)
{
	/* a negative target other than GUEST_WAKE_OTHERS names no x2APIC ID */
	uint64_t dest = target < 0 ? 0xffffffffull : (uint64_t)target;
	uint64_t icr = target == GUEST_WAKE_OTHERS ? 3ull << 18 | GUEST_IPI_VECTOR
						   : dest << 32 | GUEST_IPI_VECTOR;
	g->st.wakes++;
	return guest_vmcall(g, TDVMCALL_WRMSR, X2APIC_MSR_ICR, icr);
}

uint64_t guest_boot_param(struct gvcpu *g)
{
	return tdx_vcpu_initial_rcx(g->v);
}

void guest_set_ve_handler(struct gvcpu *g, guest_ve_handler_t h)
{
	g->ve_handler = h;
}

uint64_t guest_shared(struct gvcpu *g, uint64_t gpa)
{
	return gpa | g->shared_bit;
}
