/* SPDX-License-Identifier: MIT */
/*
 * TDH.MNG.INIT (leaf 21): configure the TD from TD_PARAMS and start MRTD.
 * TD_PARAMS is read from (shared) physical memory at RDX.  The checks and
 * their order follow the 1.5 module; CPUID configuration values are
 * accepted without validation (the simulator has no CPU model).
 */
#include <string.h>

#include "internal.h"

#define ATTR_FIXED0 (TD_ATTR_DEBUG | TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_MIGRATABLE | \
		     TD_ATTR_PKS | TD_ATTR_PERFMON | TD_ATTR_SEPT_EXPLICIT_DEMOTION)
#define CONFIG_FLAGS_FIXED0 (TD_CONFIG_GPAW | TD_CONFIG_FLEXIBLE_PENDING_VE | TD_CONFIG_NO_RBP_MOD)
#define ARCH_CAPS_ALLOWED (BIT64(4) | BIT64(19) | BIT64(20) | BIT64(24))

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool bits_equal(uint64_t v, uint64_t mask)
{
	return (v & mask) == 0 || (v & mask) == mask;
}

static uint64_t check_xfam(uint64_t xfam)
{
	if ((xfam & ~TDX_XFAM_FIXED0) || (xfam & TDX_XFAM_FIXED1) != TDX_XFAM_FIXED1)
		return err(TDX_OPERAND_INVALID, OPND_XFAM);
	uint64_t avx512 = BIT64(5) | BIT64(6) | BIT64(7);
	if (!bits_equal(xfam, avx512) || ((xfam & avx512) && !(xfam & BIT64(2))))
		return err(TDX_OPERAND_INVALID, OPND_XFAM);
	if (!bits_equal(xfam, BIT64(11) | BIT64(12)) || !bits_equal(xfam, BIT64(17) | BIT64(18)))
		return err(TDX_OPERAND_INVALID, OPND_XFAM);
	return TDX_SUCCESS;
}

static uint64_t check_eptp(struct tdx_module *m, uint64_t eptp, uint64_t config_flags)
{
	uint64_t pwl = (eptp & EPTP_PWL_MASK) >> EPTP_PWL_SHIFT;
	const uint64_t bad = err(TDX_OPERAND_INVALID, OPND_EPTP_CONTROLS);
	if ((eptp & EPTP_MT_MASK) != EPTP_MT_WB)
		return bad;
	if (pwl < 3 || pwl > 4 || (pwl == 4 && !m->cfg.ept_5level))
		return bad;
	if (eptp & ~(EPTP_MT_MASK | EPTP_PWL_MASK))	/* A/D, SSS, 11:8, base, 63:52 */
		return bad;
	if (pwl == 4 && m->cfg.max_pa < 49)
		return bad;
	if ((config_flags & TD_CONFIG_GPAW) && pwl != 4)
		return bad;
	return TDX_SUCCESS;
}

static uint64_t check_params(struct tdx_module *m, const struct td_params *p)
{
	uint64_t st;
	uint64_t a = p->attributes;
	if ((a & ~ATTR_FIXED0) ||
	    ((a & TD_ATTR_MIGRATABLE) && (a & (TD_ATTR_DEBUG | TD_ATTR_PERFMON))))
		return err(TDX_OPERAND_INVALID, OPND_ATTRIBUTES);
	/* the proposed attribute exists only where the module advertises it */
	if ((a & TD_ATTR_SEPT_EXPLICIT_DEMOTION) && !m->cfg.sept_explicit_demotion)
		return err(TDX_OPERAND_INVALID, OPND_ATTRIBUTES);
	st = check_xfam(p->xfam);
	if (st)
		return st;
	if (p->max_vcpus == 0)
		return err(TDX_OPERAND_INVALID, OPND_MAX_VCPUS);
	/* L2 VMs are not simulated: only 0 is accepted (the real limit is 3) */
	if (p->num_l2_vms != 0)
		return err(TDX_OPERAND_INVALID, OPND_NUM_L2_VMS);
	if (!all_zero(p->reserved0, sizeof(p->reserved0)))
		return err(TDX_OPERAND_INVALID, OPND_RDX);
	if (p->config_flags & ~CONFIG_FLAGS_FIXED0)
		return err(TDX_OPERAND_INVALID, OPND_EXEC_CONTROLS);
	st = check_eptp(m, p->eptp_controls, p->config_flags);
	if (st)
		return st;
	if (p->tsc_frequency < 4 || p->tsc_frequency > 400)
		return err(TDX_OPERAND_INVALID, OPND_TSC_FREQUENCY);
	if (!all_zero(p->reserved1, sizeof(p->reserved1)))
		return err(TDX_OPERAND_INVALID, OPND_RDX);
	if (p->msr_config_ctls & ~1u)
		return err(TDX_OPERAND_INVALID, OPND_RDX);
	if (!all_zero(p->reserved2, sizeof(p->reserved2)) ||
	    !all_zero(p->reserved3, sizeof(p->reserved3)))
		return err(TDX_OPERAND_INVALID, OPND_RDX);
	if ((p->ia32_arch_caps_config && !(p->msr_config_ctls & 1)) ||
	    (p->ia32_arch_caps_config & ~ARCH_CAPS_ALLOWED))
		return err(TDX_OPERAND_INVALID, OPND_ARCH_CAPS_CONFIG);
	return TDX_SUCCESS;
}

uint64_t tdh_mng_init(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr, uint64_t params_hpa)
{
	struct td_ctx c;
	struct td_params p;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MNG_INIT, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_EXCLUSIVE, OPND_RCX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_MNG_INIT, LOCK_NONE);
	if (st)
		goto out;
	if ((params_hpa & (sizeof(p) - 1)) || (params_hpa >> m->pm.max_pa) ||
	    !physmem_valid(&m->pm, params_hpa + sizeof(p) - 1) ||
	    pamt_peek_type(&m->pm, params_hpa, PAMT_4K) != PT_NDA) {
		st = err(TDX_OPERAND_INVALID, OPND_RDX);
		goto out;
	}
	physmem_read(&m->pm, params_hpa, &p, sizeof(p));
	st = check_params(m, &p);
	if (st)
		goto out;
	struct tdx_td *td = c.td;
	if (mrtd_start(td)) {
		st = TDX_OPERAND_INVALID;	/* libcrypto failure: nothing was changed */
		goto out;
	}
	/* all checks passed */
	td->attributes = p.attributes;
	td->xfam = p.xfam;
	td->config_flags = p.config_flags;
	td->eptp_controls = p.eptp_controls;
	td->max_vcpus = p.max_vcpus;
	td->gpaw = (p.config_flags & TD_CONFIG_GPAW) != 0;
	td->root_level = (int)((p.eptp_controls & EPTP_PWL_MASK) >> EPTP_PWL_SHIFT);
	td->pending_ve_disable = (p.attributes & TD_ATTR_SEPT_VE_DISABLE) != 0;
	td->td_epoch = 1;
	td->refcount[0] = td->refcount[1] = 0;
	td->num_vcpus = 0;
	td->num_assoc_vcpus = 0;
	td->op_state = OP_STATE_INITIALIZED;
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MNG_INIT, st);
}
