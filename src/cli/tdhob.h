/* SPDX-License-Identifier: MIT */
/*
 * tdhob.h - the TD HOB a VMM builds for TDVF, as QEMU does
 * (target/i386/kvm/tdx.c's RAM entries, hw/i386/tdvf-hob.c's list; the
 * format is in src/guest/hob.h).
 *
 * QEMU keeps a list of RAM entries: every E820 RAM range starts
 * UNACCEPTED; each range it PAGE.ADDs (TD_HOB and TEMP_MEM sections) is
 * cut out of the entry holding it with tdx_accept_ram_range() (the entry
 * shrinks to the added range, which becomes ADDED, and what was before and
 * after it become UNACCEPTED entries of their own, appended); the list is
 * then sorted by address.  The HOB is a PHIT (EfiEndOfHobList: the GPA just
 * past the end HOB, every other field 0 as QEMU leaves them), one resource
 * descriptor per entry (ADDED: SYSTEM_MEMORY, UNACCEPTED:
 * MEMORY_UNACCEPTED, both with PRESENT|INITIALIZED|TESTED, owner GUID 0),
 * and the end-of-list HOB.
 */
#ifndef TDXSIM_TDHOB_H
#define TDXSIM_TDHOB_H

#include <stddef.h>
#include <stdint.h>

/* 32 memslots, each split around at most a few added ranges */
#define TDHOB_MAX_ENTRIES	80

enum tdhob_ram_type {
	TDHOB_RAM_UNACCEPTED = 0,	/* private RAM the guest must accept (TDX_RAM_UNACCEPTED) */
	TDHOB_RAM_ADDED = 1,		/* PAGE.ADDed before the TD ran (TDX_RAM_ADDED) */
};

struct tdhob_entry {
	uint64_t gpa, len;		/* [gpa, gpa + len), 4K aligned */
	enum tdhob_ram_type type;
};

struct tdhob_ram {
	struct tdhob_entry e[TDHOB_MAX_ENTRIES];
	int n;
};

void tdhob_ram_init(struct tdhob_ram *r);
/*
 * A RAM range: an E820 RAM entry (UNACCEPTED), or RAM of its own that the
 * VMM added (ADDED).  0; -1 when it is empty, not 4K aligned, wraps,
 * overlaps an entry or the list is full.
 */
int tdhob_ram_add(struct tdhob_ram *r, uint64_t gpa, uint64_t len, enum tdhob_ram_type type);
/*
 * QEMU's tdx_accept_ram_range(): [gpa, gpa + len) was PAGE.ADDed, so the
 * UNACCEPTED entry holding it is split around it.  0; 1 when no entry
 * meets the range (it is not RAM: nothing to describe); -1 when it is
 * only partly inside one, meets an ADDED entry, or the list is full.
 */
int tdhob_ram_accept(struct tdhob_ram *r, uint64_t gpa, uint64_t len);
/* Sort the entries by address (QEMU's qsort with tdx_ram_entry_compare). */
void tdhob_ram_sort(struct tdhob_ram *r);
/* The bytes of the HOB list for @r: PHIT, one descriptor per entry, end. */
size_t tdhob_bytes(const struct tdhob_ram *r);
/*
 * Write the HOB list for @r, to be loaded at @gpa, into @buf (@len bytes;
 * the rest is zeroed).  The number of bytes written, or -1 with @err when
 * @len is too small (QEMU's "TD_HOB overrun").
 */
long tdhob_write(const struct tdhob_ram *r, uint64_t gpa, uint8_t *buf, size_t len, char *err,
		 size_t errlen);

#endif
