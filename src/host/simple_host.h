/* SPDX-License-Identifier: MIT */
/*
 * simple_host.h - a minimal host exit handler for running guest programs
 * before the KVM-style MMU exists: an EPT violation on a private GPA is
 * answered by building the S-EPT path (SEPT.ADD) and PAGE.AUG of a fresh
 * page at the level the exit asks for (4K without level information); a
 * guest access to a PENDING page with #VE disabled kills the VM, as KVM
 * does; BUSY from the module is retried (or, to show why that matters,
 * left to a refault: give_up_on_busy).
 * Shared GPAs are backed by host memory below the first TDMR.
 */
#ifndef TDXSIM_SIMPLE_HOST_H
#define TDXSIM_SIMPLE_HOST_H

#include "../guest/guest.h"
#include "bringup.h"

struct simple_host {
	struct gvcpu_host ops;
	struct bringup *b;
	bool dead;
	char why[128];
	uint64_t maps;		/* PAGE.AUGs that succeeded */
	uint64_t busy;		/* SEAMCALLs answered BUSY */
	bool give_up_on_busy;	/* leave BUSY to a refault instead of retrying */
	/* optional TDVMCALL handler (NULL: every TDVMCALL is INVALID_OPERAND) */
	uint64_t (*vmcall)(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1);
};

void simple_host_init(struct simple_host *h, struct bringup *b);
int simple_host_handle_exit(struct gvcpu *g);

#endif
