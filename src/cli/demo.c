/* SPDX-License-Identifier: MIT */
/*
 * tdxsim demo: the build and run of a tiny TD, SEAMCALL by SEAMCALL.
 *   1. create the TD and two vCPUs;
 *   2. measure a 4-page "firmware" image with PAGE.ADD and MR.EXTEND;
 *   3. MR.FINALIZE and print MRTD;
 *   4. run vCPU 0: touch unaccepted memory (EPT violation), PAGE.AUG it,
 *      ACCEPT at 4K, write and read back;
 *   5. AUG a 2M page, ACCEPT at 4K inside it (size mismatch exit), then 2M.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../host/bringup.h"
#include "cli.h"

static int show(const char *what, uint64_t st)
{
	printf("  %-44s -> %s", what, tdx_status_name(st));
	if (tdx_status_operand(st))
		printf(" (operand %#x)", tdx_status_operand(st));
	printf("\n");
	return st == TDX_SUCCESS ? 0 : -1;
}

static const char *outcome_name(enum tdg_outcome o)
{
	static const char *const n[] = { "returned", "TD exit", "#VE", "interrupted", "#DF" };
	return n[o];
}

static void show_exit(struct tdx_vcpu *v)
{
	const struct tdx_regs *x = tdx_vcpu_exit_regs(v);
	printf("    TD exit: RAX=%#" PRIx64 " (EPT violation) RCX=%#" PRIx64
	       " RDX=%#" PRIx64 " (ext. type %" PRIu64 ") R8=GPA %#" PRIx64 "\n",
	       x->rax, x->rcx, x->rdx, (uint64_t)(x->rdx & EEQ_TYPE_MASK), x->r8);
}

int cmd_demo(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct tdx_module_config cfg;
	struct tdx_regs out;
	struct bringup b;
	struct bringup_opts o;
	int rc = 1;

	tdx_module_default_config(&cfg);
	struct tdx_module *m = tdx_module_create(&cfg);
	if (!m)
		return 1;
	bringup_init(&b, m);
	bringup_default_opts(&o);
	o.nvcpus = 2;

	printf("tdxsim demo: %" PRIu64 " GiB host memory, MAX_PA %u, 4-level S-EPT, 2 vCPUs\n\n",
	       cfg.phys_size >> 30, cfg.max_pa);
	printf("1. build the TD (MNG.CREATE, KEY.CONFIG, 6x MNG.ADDCX, MNG.INIT, VP.CREATE/ADDCX/INIT)\n");
	if (bringup_td(&b, &o)) {
		printf("  %s failed: %s\n", b.last_leaf, tdx_status_name(b.last_status));
		goto out;
	}
	printf("  TD created: TDR at %#" PRIx64 ", op state INITIALIZED, epoch %" PRIu64 "\n",
	       b.tdr, tdx_td_epoch(b.td));

	printf("\n2. measure a 4-page firmware image at GPA 0xfffc0000\n");
	uint8_t page[4096];
	for (int p = 0; p < 4; p++) {
		for (int i = 0; i < 4096; i++)
			page[i] = (uint8_t)(i * 7 + p);
		physmem_write(b.pm, b.shared_page, page, sizeof(page));
		uint64_t gpa = 0xfffc0000ull + (uint64_t)p * SZ_4K;
		if (bringup_sept_path(&b, gpa, TDX_LEVEL_4K)) {
			show("SEPT.ADD", b.last_status);
			goto out;
		}
		char what[64];
		snprintf(what, sizeof(what), "PAGE.ADD gpa %#" PRIx64, gpa);
		if (show(what, tdh_mem_page_add(m, &out, tdx_gpa_info(gpa, 0), b.tdr,
						bringup_page(&b), b.shared_page)))
			goto out;
		for (int c = 0; c < 16; c++)
			if (tdh_mr_extend(m, &out, gpa + (uint64_t)c * 256, b.tdr) != TDX_SUCCESS)
				goto out;
		printf("  %-44s -> TDX_SUCCESS\n", "16x MR.EXTEND (256 bytes each)");
	}

	printf("\n3. finalize\n");
	if (show("MR.FINALIZE", tdh_mr_finalize(m, &out, b.tdr)))
		goto out;
	uint8_t mrtd[TDX_MRTD_BYTES];
	tdx_td_mrtd(b.td, mrtd);
	printf("  MRTD = ");
	for (int i = 0; i < TDX_MRTD_BYTES; i++)
		printf("%02x", mrtd[i]);
	printf("\n");

	printf("\n4. run vCPU 0 and accept a 4K page at GPA 0x100000\n");
	struct tdx_vcpu *v = b.vcpu[0];
	uint64_t gpa = 0x100000, hpa, st;
	if (show("VP.ENTER vcpu 0", tdh_vp_enter(m, &out, b.tdvpr[0])))
		goto out;
	enum tdg_outcome r = tdx_guest_access(v, gpa, EXITQ_WRITE, &hpa);
	printf("  %-44s -> %s\n", "guest writes to 0x100000 before accepting", outcome_name(r));
	show_exit(v);
	bringup_sept_path(&b, gpa, TDX_LEVEL_4K);
	if (show("PAGE.AUG 4K", tdh_mem_page_aug(m, &out, tdx_gpa_info(gpa, 0), b.tdr,
						  bringup_page(&b))))
		goto out;
	show("VP.ENTER vcpu 0", tdh_vp_enter(m, &out, b.tdvpr[0]));
	r = tdg_mem_page_accept(v, tdx_gpa_info(gpa, 0), &st);
	printf("  %-44s -> %s, %s\n", "guest TDG.MEM.PAGE.ACCEPT 4K", outcome_name(r), tdx_status_name(st));
	r = tdx_guest_access(v, gpa + 8, EXITQ_WRITE, &hpa);
	physmem_write64(b.pm, hpa, 0x1234);
	printf("  %-44s -> %s, HPA %#" PRIx64 "\n", "guest writes 0x1234 to 0x100008",
	       outcome_name(r), hpa);
	r = tdg_mem_page_accept(v, tdx_gpa_info(gpa, 0), &st);
	printf("  %-44s -> %s, %s (level %u)\n", "guest ACCEPTs it again", outcome_name(r),
	       tdx_status_name(st), tdx_status_operand(st));

	printf("\n5. a 2M page at GPA 0x40000000\n");
	gpa = 0x40000000;
	tdx_td_exit(v, 0, 0, 0);	/* the guest asks the host for memory */
	bringup_sept_path(&b, gpa, TDX_LEVEL_2M);
	if (show("PAGE.AUG 2M", tdh_mem_page_aug(m, &out, tdx_gpa_info(gpa, 1), b.tdr,
						  bringup_page_2m(&b))))
		goto out;
	show("VP.ENTER vcpu 0", tdh_vp_enter(m, &out, b.tdvpr[0]));
	r = tdg_mem_page_accept(v, tdx_gpa_info(gpa, 0), &st);
	printf("  %-44s -> %s\n", "guest ACCEPTs 4K inside the 2M page", outcome_name(r));
	show_exit(v);
	show("VP.ENTER vcpu 0", tdh_vp_enter(m, &out, b.tdvpr[0]));
	r = tdg_mem_page_accept(v, tdx_gpa_info(gpa, 1), &st);
	printf("  %-44s -> %s, %s\n", "guest ACCEPTs 2M", outcome_name(r), tdx_status_name(st));
	r = tdg_mem_page_accept(v, tdx_gpa_info(gpa + SZ_4K, 0), &st);
	printf("  %-44s -> %s, %s (level %u)\n", "guest ACCEPTs 4K inside it", outcome_name(r),
	       tdx_status_name(st), tdx_status_operand(st));
	tdx_td_exit(v, 0, 0, 0);

	printf("\nTD owns %" PRIu64 " 4K units of memory; S-EPT and control pages included.\n",
	       tdx_td_child_count(b.td));
	rc = 0;
out:
	tdx_module_destroy(m);
	return rc;
}
