/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tdvf - the TDVF firmware parser (src/cli/tdvf.c) under libFuzzer.
 *
 * The input is a firmware image.  tdvf_parse() must refuse it cleanly or
 * describe sections that lie inside the image and the rules it documents
 * (the checks below).  An image it accepts goes down the path of `tdxsim
 * measure`: a host and a TD, tdvf_build_td() in the flow the image's first
 * byte picks, KVM_TDX_FINALIZE_VM and the MRTD, with the invariants
 * checked after the build and after FINALIZE; then kvm_destroy_vm() must
 * leave no host page allocated.  Images whose sections add up to more than
 * MAX_BUILD_PAGES pages are parsed only (building is page by page).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "../../src/cli/tdvf.h"
#include "../../src/host/hostmem.h"
#include "../../src/host/kvm.h"
#include "../../src/module/tdx_module.h"

#define MAX_BUILD_PAGES	512

/* What tdvf.h promises about an image it accepted. */
static void check_parsed(const struct tdvf *t, const uint8_t *img, size_t len)
{
	if (t->image != img || t->len != len || t->nsec < 2 || t->nsec > TDVF_MAX_SECTIONS ||
	    t->desc_offset + 16 + 32 * (size_t)t->nsec > len)
		fuzz_fail("tdvf_parse: image %p/%zu, %d sections, descriptor at %#zx", t->image,
			  t->len, t->nsec, t->desc_offset);
	for (int i = 0; i < t->nsec; i++) {
		const struct tdvf_section *s = &t->sec[i];
		if ((s->gpa | s->mem_size) & 0xfff || !s->mem_size || s->gpa + s->mem_size < s->gpa ||
		    s->raw_size > s->mem_size ||
		    (s->raw_size && (uint64_t)s->data_offset + s->raw_size > len))
			fuzz_fail("tdvf_parse accepted section %d: data %#x+%#x, GPA %#" PRIx64
				  "+%#" PRIx64, i, s->data_offset, s->raw_size, s->gpa, s->mem_size);
		for (int j = 0; j < i; j++) {
			const struct tdvf_section *o = &t->sec[j];
			if (s->gpa < o->gpa + o->mem_size && o->gpa < s->gpa + s->mem_size)
				fuzz_fail("tdvf_parse accepted overlapping sections %d and %d", j, i);
		}
	}
	char buf[48];
	for (int i = 0; i < t->nsec; i++) {
		(void)tdvf_type_name(t->sec[i].type);
		(void)tdvf_attr_name(t->sec[i].attributes, buf, sizeof(buf));
		(void)tdvf_section_action(&t->sec[i]);
	}
}

/* tdxsim measure's path (measure.c): build, finalize, read the MRTD. */
static void measure(const struct tdvf *t, enum tdvf_flow flow)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4ull << 30;
	struct kvm *k = kvm_create(&p);
	if (!k)
		fuzz_fail("kvm_create failed");
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	if (!vm)
		fuzz_fail("KVM_CREATE_VM failed");
	struct tdx_module *m = kvm_module(k);
	struct hostmem *hm = kvm_hostmem(k);
	struct kvm_tdx_init_vm init;
	char err[256];
	kvm_tdx_init_vm_default(&init, 48);
	int vcpu = -1, e;
	if ((e = kvm_tdx_init_vm(vm, &init)) || (vcpu = kvm_create_vcpu(vm)) < 0 ||
	    (e = kvm_tdx_init_vcpu(vm, vcpu)))
		fuzz_fail("setting up the TD failed: %d", e ? e : vcpu);
	snprintf(fuzz_last_call, sizeof(fuzz_last_call), "tdvf_build_td (%s)", tdvf_flow_name(flow));
	int built = tdvf_build_td(k, vm, vcpu, t, flow, err, sizeof(err));
	FUZZ_CHECK(m, vm, hm);
	if (!built) {
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "KVM_TDX_FINALIZE_VM");
		e = kvm_tdx_finalize_vm(vm);
		FUZZ_CHECK(m, vm, hm);
		uint8_t mrtd[TDX_MRTD_BYTES];
		if (!e && !tdx_td_mrtd(kvm_vm_td(vm), mrtd))
			fuzz_fail("no MRTD after a successful FINALIZE");
	}
	const char *why;
	bool dead = kvm_vm_dead(vm, &why);
	int rc = kvm_destroy_vm(vm);
	if ((rc && !dead) || hm->allocated || fuzz_pamt_in_use(m))
		fuzz_fail("teardown returned %d (VM %s), %" PRIu64 " host pages allocated, %" PRIu64
			  " PAMT entries in use", rc, dead ? why : "alive", hm->allocated,
			  fuzz_pamt_in_use(m));
	kvm_destroy(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdvf t;
	char err[256];
	snprintf(fuzz_last_call, sizeof(fuzz_last_call), "tdvf_parse");
	if (tdvf_parse(data, size, &t, err, sizeof(err))) {
		if (!memchr(err, 0, sizeof(err)) || !err[0])
			fuzz_fail("tdvf_parse failed without a message");
		return 0;
	}
	check_parsed(&t, data, size);
	uint64_t pages = 0;
	for (int i = 0; i < t.nsec; i++)
		pages += t.sec[i].mem_size >> 12;
	if (pages <= MAX_BUILD_PAGES)
		measure(&t, size && (data[0] & 1) ? TDVF_FLOW_QEMU8 : TDVF_FLOW_QEMU9);
	tdvf_free(&t);
	return 0;
}
