/* SPDX-License-Identifier: MIT */
/* tdvf_fw.c - the TDVF-like firmware phase: TD HOB validation and OVMF's accept algorithm (tdvf_fw.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../engine/seam.h"
#include "../engine/simheap.h"
#include "guest.h"
#include "hob.h"
#include "tdvf_fw.h"

#define SZ_4K_	0x1000ull
#define SZ_2M_	0x200000ull

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* EFI_BOOT_MODE values OVMF's ValidateHobList accepts */
static bool boot_mode_known(uint32_t m)
{
	return m <= 0x07 || (m >= 0x10 && m <= 0x12) || m == 0x20;
}

static bool is_memory(uint32_t type)
{
	return type == EFI_RESOURCE_SYSTEM_MEMORY || type == EFI_RESOURCE_MEMORY_UNACCEPTED;
}

/* One resource descriptor at @p (HobLength checked): its checks, then kept in @out. */
static int parse_resource(const uint8_t *p, size_t off, uint64_t gpa_limit,
			  struct tdvf_hob_range *out, int max, int *n, char *err, size_t errlen)
{
	struct tdvf_hob_range r = {
		.type = rd32(p + HOB_RES_TYPE), .attributes = rd32(p + HOB_RES_ATTRIBUTE),
		.start = rd64(p + HOB_RES_START), .len = rd64(p + HOB_RES_LENGTH),
	};
	if (r.type > EFI_RESOURCE_MEMORY_UNACCEPTED)
		return bad(err, errlen, "HOB at offset %#zx: unknown resource type %#" PRIx32, off,
			   r.type);
	if (r.attributes & ~HOB_RES_ATTRIBUTES_KNOWN)
		return bad(err, errlen, "HOB at offset %#zx: unknown resource attributes %#" PRIx32,
			   off, r.attributes);
	if (is_memory(r.type)) {
		if (!r.len || ((r.start | r.len) & (SZ_4K_ - 1)))
			return bad(err, errlen, "HOB at offset %#zx: memory range %#" PRIx64 " + %#"
				   PRIx64 " is empty or not 4K aligned", off, r.start, r.len);
		if (r.start + r.len < r.start || r.start + r.len > gpa_limit)
			return bad(err, errlen, "HOB at offset %#zx: memory range [%#" PRIx64 ", %#"
				   PRIx64 ") is outside the TD's private GPA space (below %#" PRIx64
				   ")", off, r.start, r.start + r.len, gpa_limit);
		for (int i = 0; i < *n; i++) {
			const struct tdvf_hob_range *o = &out[i];
			if (is_memory(o->type) && r.start < o->start + o->len &&
			    o->start < r.start + r.len)
				return bad(err, errlen, "HOB at offset %#zx: memory range [%#" PRIx64
					   ", %#" PRIx64 ") overlaps [%#" PRIx64 ", %#" PRIx64 ")",
					   off, r.start, r.start + r.len, o->start, o->start + o->len);
		}
	}
	if (*n == max)
		return bad(err, errlen, "HOB at offset %#zx: more than %d resource descriptors",
			   off, max);
	out[(*n)++] = r;
	return 0;
}

int tdvf_hob_parse(const uint8_t *buf, size_t len, uint64_t gpa_limit,
		   struct tdvf_hob_range *out, int max, int *n, char *err, size_t errlen)
{
	*n = 0;
	for (size_t off = 0;;) {
		if (len < HOB_HEADER_BYTES || off > len - HOB_HEADER_BYTES)
			return bad(err, errlen, "no end-of-list HOB in the %zu bytes of the TD_HOB",
				   len);
		const uint8_t *p = buf + off;
		uint16_t type = rd16(p), hlen = rd16(p + 2);
		if (rd32(p + 4))
			return bad(err, errlen, "HOB at offset %#zx: Reserved is %#" PRIx32 ", not 0",
				   off, rd32(p + 4));
		if (!hlen || (hlen & 7))
			return bad(err, errlen, "HOB at offset %#zx: HobLength %u (zero or not a "
				   "multiple of 8)", off, hlen);
		if (hlen > len - off)
			return bad(err, errlen, "HOB at offset %#zx: HobLength %u runs past the end "
				   "of the TD_HOB (%zu bytes)", off, hlen, len);
		if (!off && type != HOB_TYPE_HANDOFF)
			return bad(err, errlen, "the HOB list starts with type %#x, not the PHIT "
				   "(HANDOFF, 1)", type);
		unsigned want = 0;	/* the fixed length of the type, 0: variable */
		switch (type) {
		case HOB_TYPE_END_OF_HOB_LIST:
			return 0;
		case HOB_TYPE_HANDOFF:
			want = HOB_PHIT_BYTES;
			break;
		case HOB_TYPE_RESOURCE_DESCRIPTOR:
			want = HOB_RESOURCE_BYTES;
			break;
		case HOB_TYPE_GUID_EXTENSION:
			if (hlen < HOB_GUID_MIN_BYTES)
				return bad(err, errlen, "HOB at offset %#zx: a GUID HOB of %u bytes "
					   "(less than %u)", off, hlen, HOB_GUID_MIN_BYTES);
			break;
		case HOB_TYPE_FV:
			want = HOB_FV_BYTES;
			break;
		case HOB_TYPE_FV2:
			want = HOB_FV2_BYTES;
			break;
		case HOB_TYPE_FV3:
			want = HOB_FV3_BYTES;
			break;
		case HOB_TYPE_CPU:
			want = HOB_CPU_BYTES;
			break;
		default:
			return bad(err, errlen, "HOB at offset %#zx: unknown type %#x", off, type);
		}
		if (want && hlen != want)
			return bad(err, errlen, "HOB at offset %#zx: type %#x has HobLength %u, not %u",
				   off, type, hlen, want);
		if (type == HOB_TYPE_HANDOFF) {
			if (off)
				return bad(err, errlen, "HOB at offset %#zx: a second PHIT", off);
			if (!boot_mode_known(rd32(p + HOB_PHIT_BOOT_MODE)))
				return bad(err, errlen, "PHIT: unknown boot mode %#" PRIx32,
					   rd32(p + HOB_PHIT_BOOT_MODE));
			if (rd64(p + HOB_PHIT_FREE_MEMORY_TOP) & (SZ_4K_ - 1))
				return bad(err, errlen, "PHIT: EfiFreeMemoryTop %#" PRIx64 " is not "
					   "4K aligned", rd64(p + HOB_PHIT_FREE_MEMORY_TOP));
		} else if (type == HOB_TYPE_CPU) {
			for (int i = 10; i < 16; i++)
				if (p[i])
					return bad(err, errlen, "HOB at offset %#zx: CPU HOB reserved "
						   "bytes not zero", off);
		} else if (type == HOB_TYPE_RESOURCE_DESCRIPTOR &&
			   parse_resource(p, off, gpa_limit, out, max, n, err, errlen)) {
			return -1;
		}
		off += hlen;
	}
}

struct tdvf_fw *tdvf_fw_create(int nvcpus)
{
	if (nvcpus < 1)
		return NULL;
	struct tdvf_fw *fw = sim_calloc(1, sizeof(*fw) + (size_t)nvcpus * sizeof(fw->st[0]));
	if (fw)
		fw->nvcpus = nvcpus;
	return fw;
}

void tdvf_fw_destroy(struct tdvf_fw *fw)
{
	sim_free(fw);
}

/* ---- accepting ---- */

/* One vCPU's view while it runs the firmware. */
struct fwc {
	struct gvcpu *g;
	struct tdvf_fw *fw;
	struct tdvf_fw_stats *st;
	int n;			/* vCPUs */
	uint64_t chunk;
};

static bool already(uint64_t st)
{
	return tdx_status_code(st) == TDX_PAGE_ALREADY_ACCEPTED;
}

static void accept_4k(struct fwc *c, uint64_t gpa)
{
	uint64_t st = guest_accept(c->g, gpa, 0);
	if (st == TDX_SUCCESS)
		c->st->accepts_4k++;
	else if (already(st))
		c->st->already++;
	else
		gvcpu_kill(c->g, "guest panic: TDVF: accept 4K at %#" PRIx64 ": %s", gpa,
			   tdx_status_name(st));
}

/* TdAcceptPages at 2M, as 512 4K pages where the host mapped 4K. */
static void accept_2m(struct fwc *c, uint64_t gpa)
{
	uint64_t st = guest_accept(c->g, gpa, 1);
	if (st == TDX_SUCCESS) {
		c->st->accepts_2m++;
	} else if (already(st)) {
		c->st->already++;
	} else if (tdx_status_code(st) == TDX_PAGE_SIZE_MISMATCH) {
		c->st->fallbacks_2m++;
		for (uint64_t p = 0; p < 512; p++)
			accept_4k(c, gpa + p * SZ_4K_);
	} else {
		gvcpu_kill(c->g, "guest panic: TDVF: accept 2M at %#" PRIx64 ": %s", gpa,
			   tdx_status_name(st));
	}
}

static void accept_4k_range(struct fwc *c, uint64_t lo, uint64_t hi)
{
	for (uint64_t a = lo; a < hi; a += SZ_4K_)
		accept_4k(c, a);
}

static uint64_t align_2m(uint64_t a)
{
	return (a + SZ_2M_ - 1) & ~(SZ_2M_ - 1);
}

/*
 * BspAcceptMemoryResourceRange: the head to 2M alignment at 4K, then (when
 * more than 2 MiB is left, strictly, as OVMF tests it) the 2M multiple at
 * 2M, the rest at 4K.
 */
static void bsp_accept(struct fwc *c, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	uint64_t head = align_2m(start) < end ? align_2m(start) : end;
	accept_4k_range(c, start, head);
	start = head;
	if (end - start > SZ_2M_) {
		uint64_t mid = start + ((end - start) & ~(SZ_2M_ - 1));
		for (uint64_t a = start; a < mid; a += SZ_2M_)
			accept_2m(c, a);
		start = mid;
	}
	accept_4k_range(c, start, end);
}

/* BspApAcceptMemoryResourceRange: rank @i's chunks of the 2M-aligned [start, end). */
static void my_chunks(struct fwc *c, int i, uint64_t start, uint64_t end, uint64_t chunk)
{
	uint64_t stride = (uint64_t)c->n * chunk;
	for (uint64_t a = start + chunk * (uint64_t)i; a < end; a += stride) {
		uint64_t hi = end - a < chunk ? end : a + chunk;
		for (uint64_t p = a; p < hi; p += SZ_2M_)
			accept_2m(c, p);
		c->st->chunks++;
		if (a > UINT64_MAX - stride)
			break;
	}
}

/* The BSP posts @cmd and wakes every AP (one broadcast IPI). */
static void post(struct fwc *c, enum tdvf_fw_cmd cmd, uint64_t start, uint64_t end)
{
	struct tdvf_fw *fw = c->fw;
	fw->cmd = cmd;
	fw->start = start;
	fw->end = end;
	fw->chunk = c->chunk;
	fw->done = 0;
	fw->seq++;
	c->st->commands++;
	guest_wake(c->g, GUEST_WAKE_OTHERS);
}

/*
 * MpAcceptMemoryResourceRange: the head by the BSP; a rest of at most one
 * chunk by the BSP; else the 2M-aligned middle shared (the BSP takes rank
 * 0's chunks, then halts until the last AP wakes it), the tail by the BSP.
 */
static void mp_accept(struct fwc *c, uint64_t start, uint64_t end)
{
	uint64_t head = align_2m(start) < end ? align_2m(start) : end;
	bsp_accept(c, start, head);
	start = head;
	if (start >= end)
		return;
	if (end - start <= c->chunk) {
		bsp_accept(c, start, end);
		return;
	}
	uint64_t mid = start + ((end - start) & ~(SZ_2M_ - 1));
	post(c, TDVF_FW_CMD_ACCEPT, start, mid);
	my_chunks(c, 0, start, mid, c->chunk);
	while (c->fw->done < c->n - 1)
		guest_halt(c->g);
	accept_4k_range(c, mid, end);	/* OVMF leaves it (see tdvf_fw.h) */
}

/* The BSP stops the APs and panics. */
static void __attribute__((noreturn)) bsp_panic(struct fwc *c, const char *why)
{
	if (c->n > 1) {
		c->fw->stopped = true;
		post(c, TDVF_FW_CMD_EXIT, 0, 0);
	}
	gvcpu_kill(c->g, "guest panic: TDVF: %s", why);
	__builtin_unreachable();
}

/* ProcessHobList: the APs' stacks, then every unaccepted range below accept_end. */
static void accept_memory(struct fwc *c, uint64_t accept_end)
{
	const struct tdvf_fw *fw = c->fw;
	uint64_t done_to = 0;	/* PhysicalEnd of phase 1 */
	if (c->n > 1) {
		/* AcceptMemoryForAPsStack */
		uint64_t stack = align_2m((uint64_t)c->n * TDVF_FW_AP_STACK);
		bool found = false;
		for (int i = 0; i < fw->nranges && !found; i++) {
			const struct tdvf_hob_range *r = &fw->ranges[i];
			if (r->type != EFI_RESOURCE_MEMORY_UNACCEPTED)
				continue;
			uint64_t end = r->start + r->len;
			if (r->len >= stack) {
				found = true;
				if (r->len > c->chunk)
					end = r->start + stack;
			}
			bsp_accept(c, r->start, end);
			done_to = end;
		}
		if (!found) {
			char why[128];
			snprintf(why, sizeof(why), "no unaccepted range of %#" PRIx64 " bytes for "
				 "the stacks of %d APs", stack, c->n - 1);
			bsp_panic(c, why);
		}
	}
	/* AcceptMemory (an end inside a page stops before that page) */
	accept_end = accept_end ? accept_end & ~(SZ_4K_ - 1) : UINT64_MAX;
	if (accept_end <= done_to)
		return;
	for (int i = 0; i < fw->nranges; i++) {
		const struct tdvf_hob_range *r = &fw->ranges[i];
		if (r->type != EFI_RESOURCE_MEMORY_UNACCEPTED)
			continue;
		uint64_t start = r->start, end = r->start + r->len;
		if (end <= done_to)
			continue;	/* accepted in phase 1 */
		if (start >= accept_end)
			break;
		if (start < done_to)
			start = done_to;
		if (end > accept_end)
			end = accept_end;
		if (c->n == 1)
			bsp_accept(c, start, end);
		else
			mp_accept(c, start, end);
		if (end == accept_end)
			break;
	}
}

/* An AP: serve mailbox commands in HLT until EXIT. */
static int ap_loop(struct fwc *c, int rank)
{
	struct tdvf_fw *fw = c->fw;
	uint64_t seen = 0;
	for (;;) {
		while (fw->seq == seen)
			guest_halt(c->g);
		seen = fw->seq;
		if (fw->cmd == TDVF_FW_CMD_EXIT)
			return fw->stopped ? -1 : 0;
		c->st->commands++;
		my_chunks(c, rank, fw->start, fw->end, fw->chunk);
		if (++fw->done == c->n - 1)
			guest_wake(c->g, fw->bsp_index);
	}
}

int tdvf_fw_run(struct gvcpu *g, struct tdvf_fw *fw, int vcpu, int nvcpus,
		const struct tdvf_fw_cfg *cfg)
{
	if (!fw || nvcpus < 1 || nvcpus > fw->nvcpus || vcpu < 0 || vcpu >= nvcpus)
		gvcpu_kill(g, "guest panic: TDVF: vCPU rank %d of %d (the mailbox has %d)", vcpu,
			   nvcpus, fw ? fw->nvcpus : 0);
	struct fwc c = { g, fw, &fw->st[vcpu], nvcpus, cfg->chunk ? cfg->chunk : TDVF_FW_CHUNK };
	if (vcpu)
		return ap_loop(&c, vcpu);
	fw->bsp_index = g->index;
	seam_charge(SEAM_COST_FW_BOOT, 1);	/* the firmware's own work (0 unless costed) */
	char why[256];
	if (c.chunk & (SZ_2M_ - 1)) {
		snprintf(why, sizeof(why), "chunk size %#" PRIx64 " is not a multiple of 2M", c.chunk);
		bsp_panic(&c, why);
	}
	/* the HOB: where the VMM said (RCX), as much as the TD_HOB holds */
	uint64_t hob = cfg->hob ? cfg->hob : guest_boot_param(g);
	uint64_t size = cfg->hob_size ? cfg->hob_size : 4096;
	if (size > TDVF_FW_HOB_MAX)
		size = TDVF_FW_HOB_MAX;
	struct tdx_regs info;
	uint64_t st = guest_vp_info(g, &info);
	if (st != TDX_SUCCESS) {
		snprintf(why, sizeof(why), "TDG.VP.INFO: %s", tdx_status_name(st));
		bsp_panic(&c, why);
	}
	unsigned gpaw = (unsigned)(info.rcx & 63);
	if (gpaw < 32 || gpaw > 52) {
		snprintf(why, sizeof(why), "TDG.VP.INFO: GPAW %u", gpaw);
		bsp_panic(&c, why);
	}
	uint64_t limit = 1ull << (gpaw - 1);	/* the shared bit */
	if (!hob || (hob & (SZ_4K_ - 1)) || hob >= limit || size > limit - hob) {
		snprintf(why, sizeof(why), "no TD HOB: boot parameter %#" PRIx64 " is not a private "
			 "4K-aligned GPA", hob);
		bsp_panic(&c, why);
	}
	guest_read(g, hob, fw->hob, size);
	char err[192];
	if (tdvf_hob_parse(fw->hob, size, limit, fw->ranges, TDVF_FW_MAX_RANGES, &fw->nranges,
			   err, sizeof(err))) {
		snprintf(why, sizeof(why), "bad TD HOB at %#" PRIx64 ": %s", hob, err);
		bsp_panic(&c, why);
	}
	accept_memory(&c, cfg->accept_end);
	if (nvcpus > 1)
		post(&c, TDVF_FW_CMD_EXIT, 0, 0);
	return 0;
}
