/* SPDX-License-Identifier: MIT */
/*
 * cmd_map.c - tdxsim map: a picture of a TD's private memory.  Runs a
 * scenario as 'tdxsim run' does, stops it at the end or after --at STEP
 * engine steps, walks the module's S-EPT for the TD (read-only) and
 * coalesces adjacent entries of the same level and state into ranges.
 * Prints the ranges and the totals, and compares KVM's mirror with them;
 * --svg draws one strip per memslot, coloured by state, 4K pages hatched,
 * with a legend.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_opts.h"
#include "scenario.h"

#define MAP_NSTATES	16	/* the module's states fit in 4 bits */
#define MAP_NLEVELS	5
#define MAP_SVG_RECTS	4000	/* ranges drawn one by one, over all strips */
#define MAP_COLUMNS	1000	/* bar width in pixels; merged bars are one per column */
#define MAP_SCHED_SHOW	100	/* longer schedule strings are shown cut */
#define MAP_SHOW_DIFFS	8	/* differences between the mirror and the S-EPT shown */

/* One run of entries: [start, end) of @level entries in @state. */
struct map_range {
	uint64_t start, end;
	uint64_t entries;
	int level;
	unsigned state;
};

struct map {
	struct map_range *r;
	size_t n, cap;
	bool nomem;
	bool taken;		/* the snapshot ran */
	uint64_t locked;	/* entries whose lock was held */
	int levels;		/* S-EPT levels of the TD */
	uint64_t steps;		/* engine steps when it was taken */
	/* KVM's mirror, compared with the S-EPT */
	uint64_t *matched;	/* per range: mirror leaves found in it */
	size_t cur;		/* the range the mirror walk is at */
	uint64_t mirror_leaves, premapped, frozen;
	uint64_t extra;		/* mirror leaves the S-EPT does not have */
	uint64_t extra_gpa[MAP_SHOW_DIFFS];
	int extra_level[MAP_SHOW_DIFFS];
};

static const char *level_name(int level)
{
	static const char *const names[MAP_NLEVELS] = { "4K", "2M", "1G", "512G", "256T" };
	return level >= 0 && level < MAP_NLEVELS ? names[level] : "?";
}

static uint64_t level_bytes(int level)
{
	return 4096ull << (9 * level);
}

static int map_leaf(void *arg, const struct tdx_sept_leaf *l)
{
	struct map *m = arg;
	uint64_t end = l->gpa + level_bytes(l->level);
	m->locked += l->locked;
	if (m->n) {
		struct map_range *last = &m->r[m->n - 1];
		if (last->end == l->gpa && last->level == l->level && last->state == l->state) {
			last->end = end;
			last->entries++;
			return 0;
		}
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		struct map_range *r = realloc(m->r, cap * sizeof(*r));
		if (!r) {
			m->nomem = true;
			return -1;
		}
		m->r = r;
		m->cap = cap;
	}
	m->r[m->n++] = (struct map_range){ l->gpa, end, 1, l->level, l->state };
	return 0;
}

/* States of S-EPT page entries that KVM's mirror should have a leaf for. */
static bool mirrored_state(unsigned state)
{
	const char *n = tdx_sept_state_name(state);
	return !strcmp(n, "MAPPED") || !strcmp(n, "PENDING") || !strcmp(n, "BLOCKED") ||
	       !strcmp(n, "PENDING_BLOCKED");
}

/*
 * A leaf of KVM's mirror, in GPA order like the ranges: find the range
 * holding it; a leaf no range of its level and a mirrored state holds is
 * a difference.  A pre-faulted leaf has no S-EPT entry yet and a frozen
 * one is in flight: either may or may not have one, neither is a
 * difference.
 */
static int mirror_leaf(void *arg, const struct kvm_mirror_leaf *l)
{
	struct map *m = arg;
	m->mirror_leaves++;
	m->premapped += l->premap;
	m->frozen += l->frozen;
	while (m->cur < m->n && m->r[m->cur].end <= l->gpa)
		m->cur++;
	const struct map_range *r = m->cur < m->n ? &m->r[m->cur] : NULL;
	if (r && r->start <= l->gpa && r->level == l->level && mirrored_state(r->state)) {
		m->matched[m->cur]++;
		return 0;
	}
	if (l->premap || l->frozen)
		return 0;
	if (m->extra < MAP_SHOW_DIFFS) {
		m->extra_gpa[m->extra] = l->gpa;
		m->extra_level[m->extra] = l->level;
	}
	m->extra++;
	return 0;
}

/* The mirror against the S-EPT: leaves on one side only. */
static void print_mirror(FILE *f, const struct map *m)
{
	uint64_t missing = 0, shown = 0;
	for (size_t i = 0; i < m->n; i++)
		if (mirrored_state(m->r[i].state))
			missing += m->r[i].entries - m->matched[i];
	fprintf(f, "KVM mirror: %" PRIu64 " lea%s (%" PRIu64 " pre-faulted, %" PRIu64 " frozen); ",
		m->mirror_leaves, m->mirror_leaves == 1 ? "f" : "ves", m->premapped, m->frozen);
	if (!m->extra && !missing) {
		fprintf(f, "agrees with the S-EPT\n");
		return;
	}
	fprintf(f, "%" PRIu64 " leaves the S-EPT lacks, %" PRIu64 " S-EPT entries it lacks\n",
		m->extra, missing);
	for (uint64_t i = 0; i < m->extra && i < MAP_SHOW_DIFFS; i++)
		fprintf(f, "  mirror only: 0x%016" PRIx64 "  %s\n", m->extra_gpa[i],
			level_name(m->extra_level[i]));
	for (size_t i = 0; i < m->n && shown < MAP_SHOW_DIFFS; i++)
		if (mirrored_state(m->r[i].state) && m->matched[i] < m->r[i].entries) {
			fprintf(f, "  S-EPT only:  0x%016" PRIx64 "-0x%016" PRIx64 "  %s  %s  (%" PRIu64
				   " of %" PRIu64 " entries)\n", m->r[i].start, m->r[i].end - 1,
				level_name(m->r[i].level), tdx_sept_state_name(m->r[i].state),
				m->r[i].entries - m->matched[i], m->r[i].entries);
			shown++;
		}
}

/* sc_run_opts.snapshot: the VM as the run left it, before teardown. */
static void map_snapshot(void *arg, struct kvm_vm *vm, const struct sc_result *r)
{
	struct map *m = arg;
	const struct tdx_td *td = kvm_vm_td(vm);
	if (!td)
		return;		/* INIT_VM did not get that far */
	m->taken = true;
	m->steps = r->counters[C_STEPS];
	m->levels = tdx_td_levels(td);
	if (tdx_td_sept_for_each_leaf(td, map_leaf, m))
		return;
	m->matched = calloc(m->n ? m->n : 1, sizeof(*m->matched));
	if (!m->matched) {
		m->nomem = true;
		return;
	}
	kvm_vm_mirror_for_each_leaf(vm, mirror_leaf, m);
}

/* ---- the text summary ---- */

static void print_bytes(FILE *f, uint64_t b)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;
	uint64_t v = b;
	while (v >= 1024 && !(v & 1023) && u < 5) {
		v >>= 10;
		u++;
	}
	fprintf(f, "%" PRIu64 " %s", v, units[u]);
}

struct map_total {
	uint64_t entries, pages;	/* pages: 4K pages covered */
};

static void print_total(FILE *f, const char *name, const struct map_total *t)
{
	fprintf(f, "  %-16s %10" PRIu64 " entr%-3s %12" PRIu64 " page%-2s ", name, t->entries,
		t->entries == 1 ? "y" : "ies", t->pages, t->pages == 1 ? "" : "s");
	print_bytes(f, t->pages * 4096);
	fprintf(f, "\n");
}

static void print_summary(FILE *f, const struct map *m)
{
	struct map_total st[MAP_NSTATES] = { { 0 } }, lv[MAP_NLEVELS] = { { 0 } }, all = { 0 };
	for (size_t i = 0; i < m->n; i++) {
		const struct map_range *r = &m->r[i];
		uint64_t pages = (r->end - r->start) / 4096;
		fprintf(f, "0x%016" PRIx64 "-0x%016" PRIx64 "  %s  %s  (%" PRIu64 " entr%s)\n",
			r->start, r->end - 1, level_name(r->level), tdx_sept_state_name(r->state),
			r->entries, r->entries == 1 ? "y" : "ies");
		st[r->state % MAP_NSTATES].entries += r->entries;
		st[r->state % MAP_NSTATES].pages += pages;
		lv[r->level % MAP_NLEVELS].entries += r->entries;
		lv[r->level % MAP_NLEVELS].pages += pages;
		all.entries += r->entries;
		all.pages += pages;
	}
	if (!m->n)
		fprintf(f, "(no S-EPT entry maps anything)\n");
	fprintf(f, "by state:\n");
	for (unsigned s = 0; s < MAP_NSTATES; s++)
		if (st[s].entries)
			print_total(f, tdx_sept_state_name(s), &st[s]);
	fprintf(f, "by level:\n");
	for (int l = 0; l < MAP_NLEVELS; l++)
		if (lv[l].entries)
			print_total(f, level_name(l), &lv[l]);
	fprintf(f, "total:\n");
	print_total(f, "all", &all);
}

/* ---- the picture ---- */

static const struct {
	const char *state;
	const char *colour;
} colours[] = {
	{ "MAPPED", "#43a047" },	{ "PENDING", "#fdd835" },
	{ "BLOCKED", "#e53935" },	{ "PENDING_BLOCKED", "#fb8c00" },
	{ "REMOVED", "#8d6e63" },	{ "NL_BLOCKED", "#d81b60" },
	{ "NL_MAPPED", "#1e88e5" },	{ "FREE", "#eeeeee" },
};
#define MIXED_COLOUR "#7e57c2"
#define CLASS_MIXED 0xffff
#define CLASS_EMPTY 0xfffe

static const char *state_colour(unsigned state)
{
	const char *name = tdx_sept_state_name(state);
	for (size_t i = 0; i < sizeof(colours) / sizeof(colours[0]); i++)
		if (!strcmp(colours[i].state, name))
			return colours[i].colour;
	return "#000000";
}

/* The length of the valid UTF-8 sequence at @s (1 to 4), or 0. */
static int utf8_len(const unsigned char *s)
{
	int n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (s[0] < 0x80)
		return 1;
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * @s with XML's five special characters escaped, and what XML 1.0 does not
 * allow in a UTF-8 document (control characters, bytes that are not UTF-8)
 * as '?'.
 */
static void xml_puts(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = utf8_len(p);
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			if (!n || (*p < 0x20 && *p != '\t'))
				fputc('?', f);
			else
				fwrite(p, 1, (size_t)n, f);
		}
		p += n ? n : 1;
	}
}

/* A strip: one memslot, or the GPAs with entries outside every memslot. */
struct strip {
	uint64_t start, end;
	int slot;		/* -1: outside the memslots */
	bool shared;		/* a memslot without guest_memfd */
	size_t first, last;	/* the ranges that intersect it: [first, last) */
};

#define MAP_MAX_STRIPS	(2 * KVM_MAX_MEMSLOTS)
/* entries outside the memslots this far apart go to two strips */
#define MAP_OUTSIDE_GAP	(256ull << 20)
#ifndef SZ_2M
#define SZ_2M		0x200000ull
#endif

#define SVG_X0		60
#define SVG_BAR_H	28
#define SVG_STRIP_H	86
#define SVG_DETAIL_H	62	/* the detail bar under a strip, when there is one */
#define SVG_GAP_W	10	/* a cut gap in the detail bar */
#define SVG_MIN_W	4	/* the narrowest range in the detail bar */
#define MAP_DETAIL	64	/* at most this many ranges get a detail bar */
#define SVG_TOP		70

static double gpa_x(const struct strip *s, uint64_t gpa)
{
	if (gpa <= s->start)
		return SVG_X0;
	if (gpa >= s->end)
		return SVG_X0 + MAP_COLUMNS;
	return SVG_X0 + (double)(gpa - s->start) * MAP_COLUMNS / (double)(s->end - s->start);
}

static void svg_rect(FILE *f, double x0, double x1, double y, int level, unsigned cls,
		     const struct map_range *r)
{
	double w = x1 - x0 < 1 ? 1 : x1 - x0;	/* a 4K page in a big slot still shows */
	bool mixed = cls == CLASS_MIXED;
	const char *state = mixed ? "mixed" : tdx_sept_state_name(cls >> 4);
	fprintf(f, "<rect class=\"%s\" x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" fill=\"%s\"",
		state, x0, y, w, SVG_BAR_H, mixed ? MIXED_COLOUR : state_colour(cls >> 4));
	if (!mixed && level > 0)
		fprintf(f, " stroke=\"#000000\" stroke-width=\"1\"");
	fprintf(f, ">");
	if (r)
		fprintf(f, "<title>0x%" PRIx64 "-0x%" PRIx64 " %s %s (%" PRIu64 " entr%s)</title>",
			r->start, r->end - 1, level_name(r->level), state, r->entries,
			r->entries == 1 ? "y" : "ies");
	fprintf(f, "</rect>\n");
	if (!mixed && level == 0)
		fprintf(f, "<rect class=\"hatch\" x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" "
			   "fill=\"url(#hatch4k)\"/>\n", x0, y, w, SVG_BAR_H);
}

/*
 * Draw @s's ranges one by one when they fit the budget, else one bar per
 * pixel column: a column holding one state at one level keeps its colour,
 * one holding several is "mixed".  Returns the bars drawn; *merged is set
 * when it merged.
 */
static size_t svg_strip(FILE *f, const struct map *m, const struct strip *s, double y,
			size_t budget, bool *merged, uint16_t *cls)
{
	size_t n = 0;
	if (s->last - s->first <= budget) {
		for (size_t i = s->first; i < s->last; i++) {
			const struct map_range *r = &m->r[i];
			svg_rect(f, gpa_x(s, r->start), gpa_x(s, r->end), y, r->level,
				 r->state << 4 | (unsigned)r->level, r);
			n++;
		}
		return n;
	}
	*merged = true;
	for (int c = 0; c < MAP_COLUMNS; c++)
		cls[c] = CLASS_EMPTY;
	uint64_t span = s->end - s->start;
	for (size_t i = s->first; i < s->last; i++) {
		const struct map_range *r = &m->r[i];
		uint64_t a = r->start < s->start ? s->start : r->start;
		uint64_t b = r->end > s->end ? s->end : r->end;
		uint64_t c0 = (uint64_t)((double)(a - s->start) / (double)span * MAP_COLUMNS);
		uint64_t c1 = (uint64_t)((double)(b - 1 - s->start) / (double)span * MAP_COLUMNS);
		uint16_t k = (uint16_t)(r->state << 4 | (unsigned)r->level);
		for (uint64_t c = c0; c <= c1 && c < MAP_COLUMNS; c++)
			cls[c] = cls[c] == CLASS_EMPTY || cls[c] == k ? k : CLASS_MIXED;
	}
	for (int c = 0; c < MAP_COLUMNS;) {
		int e = c + 1;
		while (e < MAP_COLUMNS && cls[e] == cls[c])
			e++;
		if (cls[c] != CLASS_EMPTY) {
			svg_rect(f, SVG_X0 + c, SVG_X0 + e, y, cls[c] & 15, cls[c], NULL);
			n++;
		}
		c = e;
	}
	return n;
}

static void svg_ticks(FILE *f, const struct strip *s, double y)
{
	for (int t = 0; t <= 4; t++) {
		uint64_t gpa = s->start + (s->end - s->start) / 4 * (uint64_t)t;
		if (t == 4)
			gpa = s->end;
		double x = SVG_X0 + MAP_COLUMNS * t / 4.0;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#000000\"/>\n",
			x, y, x, y + 5);
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"%s\">0x%" PRIx64
			   "</text>\n", x, y + 17, t == 0 ? "start" : t == 4 ? "end" : "middle", gpa);
	}
}

/*
 * Does @s get a detail bar?  When a few ranges (MAP_DETAIL at most) are
 * drawn one by one and one of them is too narrow to see in the linear bar.
 */
static bool svg_has_detail(const struct map *m, const struct strip *s)
{
	size_t n = s->last - s->first;
	if (!n || n > MAP_DETAIL)
		return false;
	for (size_t i = s->first; i < s->last; i++)
		if (gpa_x(s, m->r[i].end) - gpa_x(s, m->r[i].start) < 3)
			return true;
	return false;
}

static void svg_gap(FILE *f, double x, double y, uint64_t bytes)
{
	fprintf(f, "<rect class=\"gap\" x=\"%.2f\" y=\"%.0f\" width=\"%d\" height=\"%d\" "
		   "fill=\"#ffffff\" stroke=\"#9e9e9e\"><title>0x%" PRIx64 " bytes not mapped"
		   "</title></rect>\n", x, y, SVG_GAP_W, SVG_BAR_H, bytes);
	fprintf(f, "<path d=\"M%.2f %.0f l4 -8 M%.2f %.0f l4 -8\" stroke=\"#616161\"/>\n", x + 1,
		y + SVG_BAR_H / 2 + 4, x + 5, y + SVG_BAR_H / 2 + 4);
}

/*
 * The detail bar: the ranges of @s side by side, each at least SVG_MIN_W
 * wide and the rest shared by size, the unmapped gaps between them cut to
 * SVG_GAP_W; the first GPA of each range under it while they fit.
 */
static size_t svg_detail(FILE *f, const struct map *m, const struct strip *s, double y)
{
	size_t n = s->last - s->first, gaps = 0, bars = 0;
	uint64_t bytes = 0, at = s->start;
	for (size_t i = s->first; i < s->last; i++) {
		const struct map_range *r = &m->r[i];
		gaps += r->start > at;
		at = r->end;
		bytes += r->end - r->start;
	}
	gaps += at < s->end;
	double spare = MAP_COLUMNS - (double)gaps * SVG_GAP_W - (double)n * SVG_MIN_W;
	double x = SVG_X0, label_end = 0;
	fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"11\" fill=\"#424242\">detail: the "
		   "ranges side by side, unmapped gaps cut</text>\n", SVG_X0, y - 4);
	at = s->start;
	for (size_t i = s->first; i <= s->last; i++) {
		const struct map_range *r = i < s->last ? &m->r[i] : NULL;
		uint64_t next = r ? r->start : s->end;
		if (next > at) {
			svg_gap(f, x, y, next - at);
			x += SVG_GAP_W;
		}
		if (!r)
			break;
		double w = SVG_MIN_W + spare * (double)(r->end - r->start) / (double)bytes;
		svg_rect(f, x, x + w, y, r->level, r->state << 4 | (unsigned)r->level, r);
		bars++;
		if (x >= label_end) {
			fprintf(f, "<text x=\"%.2f\" y=\"%.0f\" font-size=\"10\">0x%" PRIx64 "</text>\n",
				x, y + SVG_BAR_H + 12, r->start);
			label_end = x + 8 + 6.2 * 18;	/* room for the longest label */
		}
		x += w;
		at = r->end;
	}
	return bars;
}

struct svg_info {
	const char *name;	/* scenario path */
	const char *description;
	const char *when;	/* "end of the run (ok)", "step 500" */
};

/* Write the picture; returns the bars drawn, *merged when strips were merged. */
static size_t write_svg(FILE *f, const struct scenario *sc, const struct map *m,
			const struct svg_info *in, bool *merged)
{
	struct strip strips[MAP_MAX_STRIPS];
	int ns = 0;
	/* memslots in GPA order */
	bool done[KVM_MAX_MEMSLOTS] = { false };
	for (;;) {
		int best = -1;
		for (int i = 0; i < KVM_MAX_MEMSLOTS; i++)
			if (sc->slots[i].used && !done[i] &&
			    (best < 0 || sc->slots[i].gpa < sc->slots[best].gpa))
				best = i;
		if (best < 0)
			break;
		done[best] = true;
		strips[ns++] = (struct strip){ sc->slots[best].gpa,
					       sc->slots[best].gpa + sc->slots[best].size, best,
					       !sc->slots[best].gmem, 0, 0 };
	}
	/*
	 * Entries outside the scenario's memslots (a TDVF image's sections make
	 * their own, a deleted slot keeps what it could not zap): strips of
	 * their own, a new one where they are more than MAP_OUTSIDE_GAP apart,
	 * 2M aligned outward.  Strips are in GPA order within each kind.
	 */
	int nslots = ns;
	for (size_t i = 0; i < m->n; i++) {
		const struct map_range *r = &m->r[i];
		bool in_slot = false;
		for (int j = 0; j < nslots && !in_slot; j++)
			in_slot = r->start < strips[j].end && r->end > strips[j].start;
		if (in_slot)
			continue;
		uint64_t lo = r->start & ~(SZ_2M - 1), hi = (r->end + SZ_2M - 1) & ~(SZ_2M - 1);
		struct strip *last = ns > nslots ? &strips[ns - 1] : NULL;
		if (last && (lo <= last->end + MAP_OUTSIDE_GAP || ns == MAP_MAX_STRIPS)) {
			last->end = hi > last->end ? hi : last->end;
			continue;
		}
		strips[ns++] = (struct strip){ lo, hi, -1, false, 0, 0 };
	}
	for (int j = 0; j < ns; j++) {
		struct strip *s = &strips[j];
		size_t i = 0;
		while (i < m->n && m->r[i].end <= s->start)
			i++;
		s->first = i;
		while (i < m->n && m->r[i].start < s->end)
			i++;
		s->last = i;
	}
	/* which states appear, for the legend */
	bool present[MAP_NSTATES] = { false }, levels[MAP_NLEVELS] = { false };
	for (size_t i = 0; i < m->n; i++) {
		present[m->r[i].state % MAP_NSTATES] = true;
		levels[m->r[i].level % MAP_NLEVELS] = true;
	}
	double strip_y[MAP_MAX_STRIPS + 1];
	strip_y[0] = SVG_TOP;
	for (int j = 0; j < ns; j++)
		strip_y[j + 1] = strip_y[j] + SVG_STRIP_H +
				 (svg_has_detail(m, &strips[j]) ? SVG_DETAIL_H : 0);
	int legend_y = (int)strip_y[ns] + 10;
	int height = legend_y + 90;
	int width = SVG_X0 + MAP_COLUMNS + 40;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n", width, height, width, height);
	fprintf(f, "<defs><pattern id=\"hatch4k\" width=\"6\" height=\"6\" "
		   "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
		   "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#000000\" "
		   "stroke-opacity=\"0.45\" stroke-width=\"2\"/></pattern></defs>\n");
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width,
		height);
	fprintf(f, "<title>tdxsim map: ");
	xml_puts(f, in->name);
	fprintf(f, ", %s</title>\n", in->when);
	fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"18\" font-weight=\"bold\">tdxsim map: ", SVG_X0);
	xml_puts(f, in->name);
	fprintf(f, "</text>\n<text x=\"%d\" y=\"48\" font-size=\"12\">", SVG_X0);
	if (in->description[0]) {
		xml_puts(f, in->description);
		fprintf(f, " - ");
	}
	fprintf(f, "%s; %d-level S-EPT</text>\n", in->when, m->levels);
	size_t budget = ns ? MAP_SVG_RECTS / (size_t)ns : 0;
	size_t bars = 0;
	uint16_t cls[MAP_COLUMNS];
	for (int j = 0; j < ns; j++) {
		const struct strip *s = &strips[j];
		double y = strip_y[j];
		uint64_t entries = 0;
		for (size_t i = s->first; i < s->last; i++)
			entries += m->r[i].entries;
		fprintf(f, "<g class=\"strip\">\n<text x=\"%d\" y=\"%.0f\" font-size=\"12\">", SVG_X0,
			y + 12);
		if (s->slot >= 0)
			fprintf(f, "memslot %d%s: ", s->slot, s->shared ? " (no guest_memfd)" : "");
		else
			fprintf(f, "outside the scenario's memslots: ");
		fprintf(f, "0x%" PRIx64 "-0x%" PRIx64 ", %" PRIu64 " S-EPT entr%s in %zu range%s",
			s->start, s->end - 1, entries, entries == 1 ? "y" : "ies", s->last - s->first,
			s->last - s->first == 1 ? "" : "s");
		fprintf(f, "</text>\n");
		/* the background: FREE (nothing mapped) */
		fprintf(f, "<rect class=\"FREE\" x=\"%d\" y=\"%.0f\" width=\"%d\" height=\"%d\" "
			   "fill=\"%s\" stroke=\"#9e9e9e\"/>\n", SVG_X0, y + 20, MAP_COLUMNS, SVG_BAR_H,
			state_colour(0));
		bool m1 = false;
		bars += svg_strip(f, m, s, y + 20, budget, &m1, cls);
		if (m1) {
			*merged = true;
			fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">"
				   "merged: one bar per pixel column</text>\n", SVG_X0 + MAP_COLUMNS,
				y + 12);
		}
		svg_ticks(f, s, y + 20 + SVG_BAR_H);
		if (svg_has_detail(m, s))
			bars += svg_detail(f, m, s, y + SVG_STRIP_H + 6);
		fprintf(f, "</g>\n");
	}
	/* the legend: the states present (and FREE), the levels, mixed bars */
	fprintf(f, "<g class=\"legend\">\n<text x=\"%d\" y=\"%d\" font-size=\"12\" "
		   "font-weight=\"bold\">legend</text>\n", SVG_X0, legend_y + 12);
	int x = SVG_X0, row = legend_y + 22;
	present[0] = true;
	for (unsigned st = 0; st < MAP_NSTATES; st++) {
		if (!present[st])
			continue;
		fprintf(f, "<rect class=\"key\" x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" "
			   "fill=\"%s\" stroke=\"#9e9e9e\"/><text x=\"%d\" y=\"%d\" font-size=\"12\">%s%s"
			   "</text>\n", x, row, state_colour(st), x + 20, row + 12,
			tdx_sept_state_name(st), st ? "" : " (not mapped)");
		x += 150;
		if (x > SVG_X0 + MAP_COLUMNS - 150) {
			x = SVG_X0;
			row += 22;
		}
	}
	if (*merged)
		fprintf(f, "<rect class=\"key\" x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" "
			   "fill=\"%s\"/><text x=\"%d\" y=\"%d\" font-size=\"12\">mixed (several "
			   "states or levels in one column)</text>\n", x, row, MIXED_COLOUR, x + 20,
			row + 12);
	row += 26;
	x = SVG_X0;
	fprintf(f, "<rect class=\"key\" x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"#bdbdbd\"/>"
		   "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"url(#hatch4k)\"/>"
		   "<text x=\"%d\" y=\"%d\" font-size=\"12\">4K pages (hatched)%s</text>\n",
		x, row, x, row, x + 20, row + 12, levels[0] ? "" : ": none");
	x += 200;
	fprintf(f, "<rect class=\"key\" x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"#bdbdbd\" "
		   "stroke=\"#000000\"/><text x=\"%d\" y=\"%d\" font-size=\"12\">2M or larger "
		   "(solid, outlined)%s</text>\n", x, row, x + 20, row + 12,
		levels[1] || levels[2] || levels[3] || levels[4] ? "" : ": none");
	fprintf(f, "</g>\n</svg>\n");
	return bars;
}

/* ---- the command ---- */

int cmd_map(int argc, char **argv)
{
	struct opts o;
	int ret = cli_parse_opts(&o, "map", argc, argv, "sSega", 1);
	if (ret)
		return ret;
	static struct scenario sc;
	FILE *svg = NULL;
	if (cli_load(&o, &sc))
		return 1;
	ret = 1;
	/* an output that cannot be written is a bad command line, found before the run */
	if (o.svg && !(svg = fopen(o.svg, "w"))) {
		ret = cli_usage_err("map", "%s: %s", o.svg, strerror(errno));
		goto out;
	}
	struct map m = { 0 };
	struct sc_result r;
	struct sc_run_opts run = cli_run_opts(&o, o.seed);
	run.stop_at = o.at;
	run.snapshot = map_snapshot;
	run.snapshot_arg = &m;
	if (scenario_run(&sc, &run, &r)) {
		fprintf(stderr, "tdxsim map: %s: %s\n", o.file, r.message);
		goto out_map;
	}
	if (!m.taken) {
		fprintf(stderr, "tdxsim map: %s: no TD to map: %s: %s\n", o.file,
			sc_outcome_name(r.outcome), r.message);
		goto out_result;
	}
	if (m.nomem) {
		fprintf(stderr, "tdxsim map: out of memory for the ranges\n");
		goto out_result;
	}
	/* stopped at --at, or the run's own end */
	uint64_t bound = sc.step_bound ? sc.step_bound : 1000000;
	bool stopped = o.at && o.at < bound && r.outcome == SC_LIVELOCK;
	char when[128];
	if (stopped)
		snprintf(when, sizeof(when), "at step %" PRIu64 " (the run was stopped there)", o.at);
	else if (r.outcome == SC_SETUP_ERROR)
		snprintf(when, sizeof(when), "where building the TD failed (no vCPU ran)");
	else
		snprintf(when, sizeof(when), "at the end of the run (%s), step %" PRIu64,
			 sc_outcome_name(r.outcome), m.steps);
	printf("map: %s%s%s%s\n", sc.path, sc.description[0] ? " (" : "", sc.description,
	       sc.description[0] ? ")" : "");
	printf("snapshot: %s\n", when);
	if (o.at && !stopped)
		printf("note: the run ended before step %" PRIu64 "; this is its end\n", o.at);
	if (r.outcome != SC_OK && !stopped)
		printf("outcome: %s%s%s\n", sc_outcome_name(r.outcome), r.message[0] ? ": " : "",
		       r.message);
	size_t slen = strlen(r.schedule);
	if (slen <= MAP_SCHED_SHOW)
		printf("schedule: %s\n", r.schedule);
	else
		printf("schedule: %.*s... (%zu characters; 'tdxsim run' saves it whole)\n",
		       MAP_SCHED_SHOW, r.schedule, slen);
	printf("S-EPT: %d levels, %zu range%s\n", m.levels, m.n, m.n == 1 ? "" : "s");
	if (m.locked)
		printf("note: %" PRIu64 " entr%s locked (a SEAMCALL in flight)\n", m.locked,
		       m.locked == 1 ? "y" : "ies");
	print_summary(stdout, &m);
	print_mirror(stdout, &m);
	if (svg) {
		struct svg_info in = { sc.path, sc.description, when };
		bool merged = false;
		size_t bars = write_svg(svg, &sc, &m, &in, &merged);
		int bad = ferror(svg);
		bad |= fclose(svg);
		svg = NULL;
		if (bad) {
			fprintf(stderr, "tdxsim map: %s: write error\n", o.svg);
			unlink(o.svg);
			goto out_result;
		}
		printf("svg: %s, %zu bar%s%s\n", o.svg, bars, bars == 1 ? "" : "s",
		       merged ? " (too many ranges: some strips merged into one bar per pixel "
				"column, 'mixed' where states or levels differ)" : "");
	}
	ret = 0;
out_result:
	sc_result_free(&r);
out_map:
	free(m.r);
	free(m.matched);
out:
	scenario_free(&sc);
	if (svg) {
		fclose(svg);
		if (ret)
			unlink(o.svg);
	}
	return ret;
}
