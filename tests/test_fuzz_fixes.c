/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer harnesses of tests/fuzz/ found (issue 13,
 * docs/fuzzing.md): one case per finding, each failing without its fix.
 */
#include <stdio.h>
#include <string.h>

#include "testlib.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"

static struct kvm *small_host(void)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 4 * SZ_1G;
	struct kvm *k = kvm_create(&p);
	assert_non_null(k);
	return k;
}

/*
 * fuzz_kvm: KVM_CREATE_GUEST_MEMFD of 0x26e8f8ff00000000 bytes ran out of
 * memory: the file's directory is one pointer per GiB of file, calloc'ed
 * at creation (32 GiB for a 2^62-byte file) and walked at free.  Files
 * larger than all memslots together can bind are now -EFBIG.
 */
static void test_gmem_huge_file(void **state)
{
	(void)state;
	BANNER("a guest_memfd larger than KVM_GMEM_MAX_SIZE is -EFBIG and costs nothing");
	struct kvm *k = small_host();
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	assert_non_null(vm);
	uint64_t before = kvm_vm_resident_bytes(vm);
	assert_int_equal(kvm_create_guest_memfd(vm, 0x26e8f8ff00000000ull, 0), -EFBIG);
	assert_int_equal(kvm_create_guest_memfd(vm, 1ull << 62, 0), -EFBIG);
	assert_int_equal(kvm_create_guest_memfd(vm, KVM_GMEM_MAX_SIZE + SZ_4K, 0), -EFBIG);
	assert_int_equal(kvm_vm_resident_bytes(vm), before);
	/* the largest one is still made, sparse: a MiB of directory */
	int fd = kvm_create_guest_memfd(vm, KVM_GMEM_MAX_SIZE, 0);
	assert_true(fd >= 0);
	assert_true(kvm_vm_resident_bytes(vm) - before <= (KVM_GMEM_MAX_SIZE >> 30) * 8 + 4096);
	assert_int_equal(kvm_destroy_vm(vm), 0);
	assert_int_equal(kvm_hostmem(k)->allocated, 0);
	kvm_destroy(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gmem_huge_file),
	};
	return cmocka_run_group_tests_name("fuzz findings (issue 13)", tests, NULL, NULL);
}
