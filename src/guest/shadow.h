/* SPDX-License-Identifier: MIT */
/*
 * shadow.h - the guest shadow's updates, for guest.c (see guest.h,
 * "checking mode").  None has a scheduling point.
 */
#ifndef TDXSIM_GUEST_SHADOW_H
#define TDXSIM_GUEST_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

struct guest_shadow;

/* The guest stored @val at private @gpa (8-aligned). */
void shadow_write(struct guest_shadow *s, uint64_t gpa, uint64_t val);
/*
 * The guest stored bytes [@off, @off + @n) of the word at @gpa (8-aligned)
 * from @b: the word is known afterwards only if it was before, or is whole.
 */
void shadow_write_bytes(struct guest_shadow *s, uint64_t gpa, const uint8_t *b, unsigned off,
			unsigned n);
/*
 * A private read of @gpa returned @val: 0 if that is what the shadow
 * expects (or it knows nothing of the word), else 1 with *@want.
 */
int shadow_read(const struct guest_shadow *s, uint64_t gpa, uint64_t val, uint64_t *want);
/* As shadow_read() for bytes [@off, @off + @n) of the word at @gpa. */
int shadow_read_bytes(const struct guest_shadow *s, uint64_t gpa, const uint8_t *b,
		      unsigned off, unsigned n, uint64_t *want);
/* An ACCEPT of [@gpa, @gpa + @size) begins: those pages are unknown until it ends. */
void shadow_accept_begin(struct guest_shadow *s, uint64_t gpa, uint64_t size);
/*
 * ... and ended with @success.  SUCCESS zeroed the pages at its commit: a
 * page nobody wrote since the ACCEPT began is all zero now; one a guest
 * wrote meanwhile (after the commit, or before it into a page the host
 * then replaced) is forgotten.  Any other status changed no content.
 */
void shadow_accept_end(struct guest_shadow *s, uint64_t gpa, uint64_t size, bool success);
/* The guest converts [@gpa, @gpa + @size) (MapGPA): the content is given up. */
void shadow_forget_range(struct guest_shadow *s, uint64_t gpa, uint64_t size);

#endif
