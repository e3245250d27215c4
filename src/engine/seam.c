/* SPDX-License-Identifier: MIT */
/* seam.c - the direct driver's state behind src/engine/seam.h. */
#include "seam.h"

const struct seam_hooks *seam_active;
uint64_t seam_direct_clock_ns;

void seam_install(const struct seam_hooks *h)
{
	seam_active = h;
}
