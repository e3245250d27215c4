/* SPDX-License-Identifier: MIT */
/* tdhob.c - the VMM's TD HOB: RAM entries split as QEMU splits them, and the HOB list (tdhob.h). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../guest/hob.h"
#include "tdhob.h"

void tdhob_ram_init(struct tdhob_ram *r)
{
	memset(r, 0, sizeof(*r));
}

static int append(struct tdhob_ram *r, uint64_t gpa, uint64_t len, enum tdhob_ram_type type)
{
	if (r->n == TDHOB_MAX_ENTRIES)
		return -1;
	r->e[r->n++] = (struct tdhob_entry){ gpa, len, type };
	return 0;
}

int tdhob_ram_add(struct tdhob_ram *r, uint64_t gpa, uint64_t len, enum tdhob_ram_type type)
{
	if (!len || ((gpa | len) & 0xfff) || gpa + len < gpa)
		return -1;
	for (int i = 0; i < r->n; i++)
		if (gpa < r->e[i].gpa + r->e[i].len && r->e[i].gpa < gpa + len)
			return -1;
	return append(r, gpa, len, type);
}

int tdhob_ram_accept(struct tdhob_ram *r, uint64_t gpa, uint64_t len)
{
	uint64_t end = gpa + len;
	for (int i = 0; i < r->n; i++) {
		struct tdhob_entry *e = &r->e[i];
		uint64_t e_end = e->gpa + e->len;
		if (end <= e->gpa || e_end <= gpa)
			continue;	/* half-open: touching is not meeting */
		if (gpa < e->gpa || e_end < end || e->type != TDHOB_RAM_UNACCEPTED)
			return -1;
		/* room for the head and the tail first, so a full list changes nothing */
		int need = (e->gpa < gpa) + (end < e_end);
		if (r->n + need > TDHOB_MAX_ENTRIES)
			return -1;
		uint64_t head = e->gpa;
		e->gpa = gpa;
		e->len = len;
		e->type = TDHOB_RAM_ADDED;
		if (head < gpa)
			append(r, head, gpa - head, TDHOB_RAM_UNACCEPTED);
		if (end < e_end)
			append(r, end, e_end - end, TDHOB_RAM_UNACCEPTED);
		return 0;
	}
	return 1;
}

static int by_gpa(const void *a, const void *b)
{
	const struct tdhob_entry *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

void tdhob_ram_sort(struct tdhob_ram *r)
{
	qsort(r->e, (size_t)r->n, sizeof(r->e[0]), by_gpa);
}

size_t tdhob_bytes(const struct tdhob_ram *r)
{
	return HOB_PHIT_BYTES + (size_t)r->n * HOB_RESOURCE_BYTES + HOB_HEADER_BYTES;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* A generic header; Reserved is 0 (the buffer is zeroed). */
static void header(uint8_t *p, uint16_t type, uint16_t len)
{
	put16(p, type);
	put16(p + 2, len);
}

long tdhob_write(const struct tdhob_ram *r, uint64_t gpa, uint8_t *buf, size_t len, char *err,
		 size_t errlen)
{
	size_t need = tdhob_bytes(r);
	if (need > len) {
		snprintf(err, errlen, "TD_HOB overrun: the HOB list for %d RAM ranges needs %zu "
			 "bytes, the TD_HOB section has %zu", r->n, need, len);
		return -1;
	}
	memset(buf, 0, len);
	uint8_t *p = buf;
	header(p, HOB_TYPE_HANDOFF, HOB_PHIT_BYTES);
	put32(p + HOB_PHIT_VERSION, HOB_HANDOFF_TABLE_VERSION);
	/* BootMode 0 (BOOT_WITH_FULL_CONFIGURATION); memory top/bottom left 0, as QEMU does */
	put64(p + HOB_PHIT_END_OF_HOB_LIST, gpa + need);	/* past the end HOB, as QEMU */
	p += HOB_PHIT_BYTES;
	for (int i = 0; i < r->n; i++, p += HOB_RESOURCE_BYTES) {
		const struct tdhob_entry *e = &r->e[i];
		bool added = e->type == TDHOB_RAM_ADDED;
		header(p, HOB_TYPE_RESOURCE_DESCRIPTOR, HOB_RESOURCE_BYTES);
		put32(p + HOB_RES_TYPE, added ? EFI_RESOURCE_SYSTEM_MEMORY
					      : EFI_RESOURCE_MEMORY_UNACCEPTED);
		put32(p + HOB_RES_ATTRIBUTE, added ? TDVF_HOB_ATTR_PRIVATE
						   : TDVF_HOB_ATTR_UNACCEPTED);
		put64(p + HOB_RES_START, e->gpa);
		put64(p + HOB_RES_LENGTH, e->len);
	}
	header(p, HOB_TYPE_END_OF_HOB_LIST, HOB_HEADER_BYTES);
	return (long)need;
}
