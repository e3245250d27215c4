/* SPDX-License-Identifier: MIT */
/*
 * The TD HOB and the firmware that reads it: the VMM's HOB list
 * (src/cli/tdhob.c, QEMU's split of its RAM entries and tdvf-hob.c's
 * layout), byte for byte; the TDVF builder writing it into the TD_HOB
 * section before PAGE.ADD (MRTD unchanged); the firmware guest
 * (src/guest/tdvf_fw.c) accepting exactly the unaccepted ranges with
 * OVMF's algorithm, alone and with APs sharing the chunks round robin;
 * broken HOBs as guest panics; the scenario keys.  The cases that need
 * Debian's OVMF.fd skip without it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "../src/cli/scenario.h"
#include "../src/cli/tdhob.h"
#include "../src/cli/tdvf.h"
#include "../src/guest/hob.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"
#include "../src/module/physmem.h"

#define OVMF_PATH "/usr/share/ovmf/OVMF.fd"

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* The test's own HOB list: PHIT, descriptors (type, start, length), end. */
struct res { uint32_t type; uint64_t start, len; };

static size_t expected_hob(uint8_t *buf, size_t cap, uint64_t gpa, const struct res *r, int n)
{
	memset(buf, 0, cap);
	size_t len = 56 + 48 * (size_t)n + 8;
	put16(buf, 1);
	put16(buf + 2, 56);
	put32(buf + 8, 9);
	put64(buf + 48, gpa + len);
	for (int i = 0; i < n; i++) {
		uint8_t *d = buf + 56 + 48 * i;
		put16(d, 3);
		put16(d + 2, 48);
		put32(d + 24, r[i].type);
		put32(d + 28, 7);
		put64(d + 32, r[i].start);
		put64(d + 40, r[i].len);
	}
	put16(buf + 56 + 48 * n, 0xffff);
	put16(buf + 56 + 48 * n + 2, 8);
	return len;
}

static void assert_layout(const struct tdhob_ram *got, const struct res *want, int n)
{
	for (int i = 0; i < got->n && i < n; i++)
		if (got->e[i].gpa != want[i].start || got->e[i].len != want[i].len ||
		    (got->e[i].type == TDHOB_RAM_ADDED ? 0u : 7u) != want[i].type)
			print_error("entry %d: [%#" PRIx64 " +%#" PRIx64 ") type %d, want [%#" PRIx64
				    " +%#" PRIx64 ") %u\n", i, got->e[i].gpa, got->e[i].len,
				    got->e[i].type, want[i].start, want[i].len, want[i].type);
	assert_int_equal(got->n, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(got->e[i].gpa, want[i].start);
		assert_int_equal(got->e[i].len, want[i].len);
		assert_int_equal(got->e[i].type == TDHOB_RAM_ADDED ? 0 : 7, want[i].type);
	}
}

/* ---- the VMM's HOB ---- */

static void test_hob_bytes(void **state)
{
	(void)state;
	BANNER("RAM entries split around added ranges as QEMU does, sorted; the HOB bytes exact");
	struct tdhob_ram r;
	tdhob_ram_init(&r);
	assert_int_equal(tdhob_ram_add(&r, 0x100000, 16ull << 20, TDHOB_RAM_UNACCEPTED), 0);
	assert_int_equal(tdhob_ram_add(&r, 0x4000000, 0x200000, TDHOB_RAM_UNACCEPTED), 0);
	/* the middle, then the head of what is left, then a whole entry */
	assert_int_equal(tdhob_ram_accept(&r, 0x809000, 0x2000), 0);
	assert_int_equal(tdhob_ram_accept(&r, 0x80b000, 0x1000), 0);
	assert_int_equal(tdhob_ram_accept(&r, 0x4000000, 0x200000), 0);
	assert_int_equal(tdhob_ram_accept(&r, 0x100000, 0x1000), 0);
	/* not RAM: nothing to describe; partly RAM, or RAM added already: refused */
	assert_int_equal(tdhob_ram_accept(&r, 0x2000000, 0x1000), 1);
	assert_int_equal(tdhob_ram_accept(&r, 0x10ff000, 0x2000), -1);
	assert_int_equal(tdhob_ram_accept(&r, 0x809000, 0x1000), -1);
	assert_int_equal(tdhob_ram_add(&r, 0x10ff000, 0x1000, TDHOB_RAM_ADDED), -1);
	assert_int_equal(tdhob_ram_add(&r, 0x3000000, 0x800, TDHOB_RAM_ADDED), -1);
	tdhob_ram_sort(&r);
	static const struct res want[] = {
		{ 0, 0x100000, 0x1000 },
		{ 7, 0x101000, 0x708000 },
		{ 0, 0x809000, 0x2000 },
		{ 0, 0x80b000, 0x1000 },
		{ 7, 0x80c000, 0x1100000 - 0x80c000 },
		{ 0, 0x4000000, 0x200000 },
	};
	assert_layout(&r, want, 6);
	static uint8_t got[8192], exp[8192];
	char err[160];
	assert_int_equal(tdhob_write(&r, 0x809000, got, sizeof(got), err, sizeof(err)),
			 (long)expected_hob(exp, sizeof(exp), 0x809000, want, 6));
	assert_memory_equal(got, exp, sizeof(got));
	assert_int_equal(tdhob_bytes(&r), 56 + 6 * 48 + 8);
	/* too small a TD_HOB is a clear error, never an overrun */
	assert_int_equal(tdhob_write(&r, 0x809000, got, 100, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TD_HOB overrun"));
	print_message("    %s\n", err);
	/* a full list refuses a split and changes nothing */
	struct tdhob_ram full;
	tdhob_ram_init(&full);
	for (int i = 0; i < TDHOB_MAX_ENTRIES; i++)
		assert_int_equal(tdhob_ram_add(&full, (uint64_t)i << 30, 1ull << 30,
					       TDHOB_RAM_UNACCEPTED), 0);
	assert_int_equal(tdhob_ram_add(&full, 1ull << 40, 4096, TDHOB_RAM_ADDED), -1);
	assert_int_equal(tdhob_ram_accept(&full, 0x1000, 0x1000), -1);
	assert_int_equal(full.n, TDHOB_MAX_ENTRIES);
	assert_int_equal(full.e[0].len, 1ull << 30);
}

/* Debian's OVMF.fd, or skip. */
static bool load_ovmf(struct tdvf *t)
{
	char err[256];
	if (access(OVMF_PATH, R_OK) || tdvf_load_file(OVMF_PATH, t, err, sizeof(err))) {
		print_message("    %s is not usable (Debian package ovmf): skipped\n", OVMF_PATH);
		return false;
	}
	return true;
}

/* OVMF.fd's sections in a 2 GiB slot at 0: QEMU's RAM entries for it */
static const struct res ovmf_2g[] = {
	{ 7, 0x0, 0x800000 },
	{ 0, 0x800000, 0x6000 },	/* TEMP_MEM */
	{ 7, 0x806000, 0x3000 },
	{ 0, 0x809000, 0x2000 },	/* TD_HOB */
	{ 0, 0x80b000, 0x2000 },	/* TEMP_MEM */
	{ 7, 0x80d000, 0x3000 },
	{ 0, 0x810000, 0x10000 },	/* TEMP_MEM */
	{ 7, 0x820000, 0x80000000 - 0x820000 },
};

static void test_hob_ovmf(void **state)
{
	(void)state;
	BANNER("OVMF.fd in a 2 GiB slot at 0: the TD_HOB page the TD gets is QEMU's list; MRTD unchanged");
	struct tdvf t;
	if (!load_ovmf(&t))
		skip();
	struct tdhob_ram ram, lay;
	char err[256];
	tdhob_ram_init(&ram);
	assert_int_equal(tdhob_ram_add(&ram, 0, 2 * SZ_1G, TDHOB_RAM_UNACCEPTED), 0);
	assert_int_equal(tdvf_hob_layout(&t, &ram, &lay, err, sizeof(err)), 0);
	assert_layout(&lay, ovmf_2g, 8);
	assert_int_equal(tdvf_hob_gpa(&t), 0x809000);
	/* without RAM (tdxsim measure): TD_HOB and TEMP_MEM are added RAM of their own */
	assert_int_equal(tdvf_hob_layout(&t, NULL, &lay, err, sizeof(err)), 0);
	static const struct res own[] = {
		{ 0, 0x800000, 0x6000 }, { 0, 0x809000, 0x2000 }, { 0, 0x80b000, 0x2000 },
		{ 0, 0x810000, 0x10000 },
	};
	assert_layout(&lay, own, 4);
	/* a slot that holds a section only in part is refused */
	struct tdhob_ram bad;
	tdhob_ram_init(&bad);
	assert_int_equal(tdhob_ram_add(&bad, 0x80a000, 0x100000, TDHOB_RAM_UNACCEPTED), 0);
	assert_int_equal(tdvf_hob_layout(&t, &bad, &lay, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "partly inside the TD's RAM"));

	/* the TD: the HOB page in TD memory, and MRTD with and without the RAM */
	uint8_t mrtd[2][48];
	for (int with = 0; with < 2; with++) {
		struct kvm_platform p;
		kvm_platform_default(&p);
		p.mem_bytes = 4 * SZ_1G;
		struct kvm *k = kvm_create(&p);
		assert_non_null(k);
		struct kvm_vm *vm = kvm_create_vm(k, NULL);
		assert_non_null(vm);
		struct kvm_tdx_init_vm init;
		kvm_tdx_init_vm_default(&init, 48);
		assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
		assert_int_equal(kvm_create_vcpu(vm), 0);
		assert_int_equal(kvm_tdx_init_vcpu_data(vm, 0, tdvf_hob_gpa(&t)), 0);
		if (with)
			assert_int_equal(kvm_vmm_add_private_ram(vm, 8, 0, 2 * SZ_1G), 0);
		assert_int_equal(tdvf_build_td_ram(k, vm, 0, &t, TDVF_FLOW_QEMU9, with ? &ram : NULL,
						   err, sizeof(err)), 0);
		assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
		assert_true(tdx_td_mrtd(kvm_vm_td(vm), mrtd[with]));
		if (with) {
			static uint8_t page[8192], exp[8192];
			struct physmem *pm = tdx_module_physmem(kvm_module(k));
			for (int pg = 0; pg < 2; pg++)
				physmem_read(pm, kvm_vm_private_hpa(vm, 0x809000 + 4096ull * pg),
					     page + 4096 * pg, 4096);
			expected_hob(exp, sizeof(exp), 0x809000, ovmf_2g, 8);
			assert_memory_equal(page, exp, sizeof(page));
			/* the rest of the slot is not added: unaccepted RAM */
			assert_false(kvm_vm_private_mapped(vm, 0x806000));
			assert_int_equal(kvm_vm_stats(vm)->page_adds, 538);
		}
		assert_int_equal(kvm_destroy_vm(vm), 0);
		assert_int_equal(kvm_hostmem(k)->allocated, 0);
		kvm_destroy(k);
	}
	assert_memory_equal(mrtd[0], mrtd[1], 48);
	tdvf_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hob_bytes),
		cmocka_unit_test(test_hob_ovmf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
