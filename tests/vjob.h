/* SPDX-License-Identifier: MIT */
/*
 * vjob.h - the host tests' engine helpers: a vCPU of a KVM-style VM run
 * as an engine task, and a random-scheduler engine.  Include after
 * testlib.h (cmocka) and src/host/kvm.h.
 */
#ifndef TDXSIM_TESTS_VJOB_H
#define TDXSIM_TESTS_VJOB_H

/* One vCPU's program for vjob_task; rc is what KVM_RUN returned. */
struct vjob {
	struct kvm_vm *vm;
	int id;
	void (*prog)(struct gvcpu *g, void *arg);
	void *arg;
	int rc;
};

static inline void vjob_task(void *p)
{
	struct vjob *j = p;
	j->rc = kvm_vcpu_run(j->vm, j->id, j->prog, j->arg);
}

/* A random-scheduler engine of @seed with a step bound. */
static inline struct engine *engine_seeded(uint64_t seed, uint64_t bound)
{
	struct engine_config c = { .sched = SCHED_RANDOM, .seed = seed, .step_bound = bound,
				   .stack_size = 256 * 1024 };
	struct engine *e = engine_create(&c);
	assert_non_null(e);
	return e;
}

#endif
