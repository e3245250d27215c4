/* SPDX-License-Identifier: MIT */
/*
 * tdxsim measure: load a TDVF firmware image (an OVMF.fd built with TDX
 * support) into a simulated TD the way QEMU does (tdvf.c), finalize it,
 * and print the image's sections and the TD's MRTD.
 *
 * Exit status: 0; 1 for a broken image or a failed build; 2 for a bad
 * command line or a file that cannot be read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../host/kvm.h"
#include "../module/tdx_module.h"
#include "cli.h"
#include "tdvf.h"

#define USAGE "usage: tdxsim measure FIRMWARE.fd [--flow qemu9|qemu8]"

static void usage(FILE *f)
{
	fprintf(f, "%s\n\n"
		   "Load a TDVF firmware image into a simulated TD as QEMU does, finalize\n"
		   "it, and print the TDVF sections and the TD's MRTD.\n\n"
		   "  --flow qemu9  section by section, each page PAGE.ADDed and then its\n"
		   "                MR.EXTENDs (QEMU with mainline KVM; the default)\n"
		   "  --flow qemu8  every PAGE.ADD first, then every MR.EXTEND\n", USAGE);
}

static void print_sections(const char *file, const struct tdvf *t)
{
	printf("%s: %zu bytes, TDVF descriptor at offset %#zx, %d sections\n", file, t->len,
	       t->desc_offset, t->nsec);
	printf("  %-2s %-13s %-18s %-18s %-10s %-10s %-10s %s\n", "#", "type", "attributes",
	       "GPA", "mem size", "raw offset", "raw size", "loaded as");
	for (int i = 0; i < t->nsec; i++) {
		const struct tdvf_section *s = &t->sec[i];
		char attr[24];
		printf("  %-2d %-13s %-18s %#018" PRIx64 " %#-10" PRIx64 " %#-10" PRIx32 " %#-10"
		       PRIx32 " %s\n", i, tdvf_type_name(s->type),
		       tdvf_attr_name(s->attributes, attr, sizeof(attr)), s->gpa, s->mem_size,
		       s->data_offset, s->raw_size, tdvf_section_action(s));
	}
}

/* Build, finalize and print the MRTD; 0 or 1. */
static int measure(const char *file, const struct tdvf *t, enum tdvf_flow flow)
{
	char err[256];
	int rc = 1, e = 0;
	const char *what = "";
	struct kvm_platform p;
	kvm_platform_default(&p);
	struct kvm *k = kvm_create(&p);
	if (!k) {
		fprintf(stderr, "tdxsim measure: cannot create the simulated host\n");
		return 1;
	}
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	if (!vm) {
		fprintf(stderr, "tdxsim measure: KVM_CREATE_VM failed\n");
		kvm_destroy(k);
		return 1;
	}
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	int vcpu = -1;
	if ((e = kvm_tdx_init_vm(vm, &init))) {
		what = "KVM_TDX_INIT_VM";
	} else if ((vcpu = kvm_create_vcpu(vm)) < 0) {
		what = "KVM_CREATE_VCPU";
		e = vcpu;
	} else if ((e = kvm_tdx_init_vcpu(vm, vcpu))) {
		what = "KVM_TDX_INIT_VCPU";
	} else if (tdvf_build_td(k, vm, vcpu, t, flow, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", file, err);
		goto out;
	} else if ((e = kvm_tdx_finalize_vm(vm))) {
		what = "KVM_TDX_FINALIZE_VM";
	}
	if (e) {
		fprintf(stderr, "tdxsim measure: %s: %s\n", what, strerror(-e));
		goto out;
	}
	uint8_t mrtd[TDX_MRTD_BYTES];
	if (!tdx_td_mrtd(kvm_vm_td(vm), mrtd)) {
		fprintf(stderr, "tdxsim measure: no MRTD after FINALIZE\n");
		goto out;
	}
	uint64_t measured = 0;
	for (int i = 0; i < t->nsec; i++)
		if (!strcmp(tdvf_section_action(&t->sec[i]), "PAGE.ADD+MR.EXTEND"))
			measured += t->sec[i].mem_size / 4096;
	printf("flow %s: %" PRIu64 " pages PAGE.ADDed, %" PRIu64 " of them measured "
	       "(%" PRIu64 " MR.EXTENDs)\n", tdvf_flow_name(flow), kvm_vm_stats(vm)->page_adds,
	       measured, measured * 16);
	printf("MRTD: ");
	for (int i = 0; i < TDX_MRTD_BYTES; i++)
		printf("%02x", mrtd[i]);
	printf("\n");
	rc = 0;
out:
	kvm_destroy_vm(vm);
	kvm_destroy(k);
	return rc;
}

int cmd_measure(int argc, char **argv)
{
	const char *file = NULL;
	enum tdvf_flow flow = TDVF_FLOW_QEMU9;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--flow") || !strncmp(a, "--flow=", 7)) {
			const char *v = a[6] == '=' ? a + 7 : i + 1 < argc ? argv[++i] : NULL;
			if (!v) {
				fprintf(stderr, "tdxsim measure: --flow needs a value (qemu9 or qemu8)\n");
				return 2;
			}
			if (tdvf_flow_parse(v, &flow)) {
				fprintf(stderr, "tdxsim measure: unknown flow '%s' (qemu9 or qemu8)\n", v);
				return 2;
			}
			continue;
		}
		if (a[0] == '-' && a[1]) {
			fprintf(stderr, "tdxsim measure: unknown option '%s'; " USAGE "\n", a);
			return 2;
		}
		if (file) {
			fprintf(stderr, "tdxsim measure: extra argument '%s'; " USAGE "\n", a);
			return 2;
		}
		file = a;
	}
	if (!file) {
		fprintf(stderr, "tdxsim measure: no firmware file; " USAGE "\n");
		return 2;
	}
	struct tdvf t;
	char err[256];
	int r = tdvf_load_file(file, &t, err, sizeof(err));
	if (r) {
		fprintf(stderr, "%s: %s\n", file, err);
		return r == -2 ? 2 : 1;
	}
	print_sections(file, &t);
	fflush(stdout);
	int rc = measure(file, &t, flow);
	tdvf_free(&t);
	return rc;
}
