/* SPDX-License-Identifier: MIT */
/*
 * seam.c - the direct driver's state behind src/engine/seam.h, and the
 * blocking locks host code uses.  The locks are written once, against the
 * hooks: under the engine "wait" blocks the task until a "wake"; under the
 * direct driver there is one task, so waiting would never end and is
 * reported as a deadlock.
 */
#include <stdio.h>
#include <stdlib.h>

#include "seam.h"

const struct seam_hooks *seam_active;
uint64_t seam_direct_clock_ns;
uint64_t *seam_solo_charges;

void seam_install(const struct seam_hooks *h)
{
	seam_active = h;
}

/* Hooked halves of the lock operations in seam.h: point, access, event. */
bool seam__bit_trylock_hooked(uint64_t *p, uint64_t bit, enum seam_lock_class cls)
{
	seam__point(p);
	bool ok = seam__bit_trylock_plain(p, bit);
	if (ok)
		seam__lock_event(cls, p, SEAM_EXCLUSIVE, true);
	return ok;
}

void seam__bit_unlock_hooked(uint64_t *p, uint64_t bit, enum seam_lock_class cls)
{
	seam__lock_event(cls, p, SEAM_EXCLUSIVE, false);
	seam__point(p);
	*p &= ~bit;
}

bool seam__sharex_try_hooked(seam_sharex_t *l, enum seam_lock_mode mode,
			     enum seam_lock_class cls)
{
	seam__point(l);
	bool ok = seam__sharex_try_plain(l, mode);
	if (ok)
		seam__lock_event(cls, l, mode, true);
	return ok;
}

void seam__sharex_release_hooked(seam_sharex_t *l, enum seam_lock_mode mode,
				 enum seam_lock_class cls)
{
	seam__lock_event(cls, l, mode, false);
	seam__point(l);
	seam__sharex_release_plain(l, mode);
}

static void wait_on(const void *obj, const char *what, const char *name)
{
	if (seam_active && seam_active->wait) {
		seam_active->wait(seam_active->ctx, obj, what);
		return;
	}
	fprintf(stderr, "tdxsim: deadlock: the only task waits for %s '%s'\n", what,
		name ? name : "?");
	abort();
}

static void wake(const void *obj)
{
	if (seam_active && seam_active->wake)
		seam_active->wake(seam_active->ctx, obj);
}

void seam_mutex_lock(seam_mutex_t *m)
{
	seam__point(m);
	while (m->held)
		wait_on(m, "mutex", m->name);
	m->held = 1;
	seam__lock_event(m->cls, m, SEAM_EXCLUSIVE, true);
}

void seam_mutex_unlock(seam_mutex_t *m)
{
	seam__lock_event(m->cls, m, SEAM_EXCLUSIVE, false);
	m->held = 0;
	wake(m);
	seam__point(m);
}

void seam_spin_lock(seam_spinlock_t *s)
{
	seam__point(s);
	while (s->held)
		wait_on(s, "spinlock", s->name);
	s->held = 1;
	seam__lock_event(s->cls, s, SEAM_EXCLUSIVE, true);
}

void seam_spin_unlock(seam_spinlock_t *s)
{
	seam_mutex_unlock(s);
}

void seam__read_lock_slow(seam_rwlock_t *l)
{
	seam__point(l);
	while (l->writer || l->writers_waiting)
		wait_on(l, "rwlock (shared)", l->name);
	l->readers++;
	seam__lock_event(l->cls, l, SEAM_SHARED, true);
}

void seam__read_unlock_slow(seam_rwlock_t *l)
{
	seam__lock_event(l->cls, l, SEAM_SHARED, false);
	l->readers--;
	if (l->readers == 0)
		wake(l);
	seam__point(l);
}

void seam_write_lock(seam_rwlock_t *l)
{
	seam__point(l);
	if (l->writer || l->readers) {
		l->writers_waiting++;
		while (l->writer || l->readers)
			wait_on(l, "rwlock (exclusive)", l->name);
		l->writers_waiting--;
	}
	l->writer = 1;
	seam__lock_event(l->cls, l, SEAM_EXCLUSIVE, true);
}

void seam_write_unlock(seam_rwlock_t *l)
{
	seam__lock_event(l->cls, l, SEAM_EXCLUSIVE, false);
	l->writer = 0;
	wake(l);
	seam__point(l);
}

void seam_completion_wait(seam_completion_t *c)
{
	seam__point(c);
	while (!c->done)
		wait_on(c, c->name ? c->name : "completion", c->name);
}

void seam_complete(seam_completion_t *c)
{
	c->done = 1;
	wake(c);
	seam__point(c);
}
