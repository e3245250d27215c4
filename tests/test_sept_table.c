/* SPDX-License-Identifier: MIT */
/*
 * The S-EPT operation x state table as data.
 *
 * The expected table below is written from module-abi.md section 3 (and the
 * exceptions of sections 4, 5 and 7), independently of the module's
 * sept_rules[].  For every (operation, state) pair a fresh TD is built, one
 * entry is driven into the state with real SEAMCALLs (REMOVED only exists
 * during import, which is not simulated, so it is poked white-box), the
 * operation is applied and the status, the entry details (RDX out: level
 * bits 2:0, public state bits 15:8) and the state read back with SEPT.RD
 * are checked.
 *
 * Two passes:
 *   INIT  the TD in the INITIALIZED op state (no blocking or tracking needed
 *         before removal).  Leaf states live at level 0 (MAPPED made by
 *         PAGE.ADD), non-leaf states at level 1.  Operations that need
 *         level >= 1 (SEPT.ADD, SEPT.REMOVE) address leaf states at level 1
 *         where those can be made (FREE, REMOVED, PENDING, PENDING_BLOCKED).
 *   RUN   the TD RUNNABLE, every state at level 1 (2M).  MAPPED is made by
 *         AUG 2M + guest ACCEPT 2M; blocked states are tracked (one TRACK,
 *         no vCPU inside) right after BLOCK.  Remove-class operations on
 *         unblocked allowed states give GPA_RANGE_NOT_BLOCKED|RCX.
 */
#include <stdio.h>
#include <string.h>

#include "testlib.h"

/* ---- states (our own numbering) and their public numbers (section 3) ---- */
enum st {
	ST_FREE,
	ST_REMOVED,
	ST_NL_MAPPED,
	ST_NL_BLOCKED,
	ST_MAPPED,
	ST_BLOCKED,
	ST_PENDING,
	ST_PENDING_BLOCKED,
	NST
};

static const char *const st_name[NST] = {
	"FREE", "REMOVED", "NL_MAPPED", "NL_BLOCKED",
	"MAPPED", "BLOCKED", "PENDING", "PENDING_BLOCKED",
};

/* "FREE 0, BLOCKED 1, PENDING 2, PENDING_BLOCKED 3, MAPPED 4, REMOVED 5,
 *  NL_BLOCKED 0x81, NL_MAPPED 0x84" */
static const unsigned st_pub[NST] = {
	[ST_FREE] = 0,
	[ST_REMOVED] = 5,
	[ST_NL_MAPPED] = 0x84,
	[ST_NL_BLOCKED] = 0x81,
	[ST_MAPPED] = 4,
	[ST_BLOCKED] = 1,
	[ST_PENDING] = 2,
	[ST_PENDING_BLOCKED] = 3,
};

static bool st_is_nl(enum st s)
{
	return s == ST_NL_MAPPED || s == ST_NL_BLOCKED;
}

static bool st_is_blocked(enum st s)
{
	return s == ST_NL_BLOCKED || s == ST_BLOCKED || s == ST_PENDING_BLOCKED;
}

/* ---- operations ---- */
enum op {
	OP_SEPT_ADD,
	OP_SEPT_ADD_AE,		/* SEPT.ADD with ALLOW_EXISTING */
	OP_PAGE_ADD,
	OP_PAGE_AUG,
	OP_RANGE_BLOCK,
	OP_RANGE_UNBLOCK,
	OP_PAGE_REMOVE,
	OP_SEPT_REMOVE,
	OP_MR_EXTEND,
	OP_SEPT_RD,
	OP_ACCEPT,		/* guest TDG.MEM.PAGE.ACCEPT */
	OP_DEMOTE,
	OP_PROMOTE,
	OP_RELOCATE,
	OP_ATTR_RD,		/* guest TDG.MEM.PAGE.ATTR.RD */
	OP_ATTR_WR,		/* guest TDG.MEM.PAGE.ATTR.WR */
	NOP
};

static const char *const op_name[NOP] = {
	"SEPT.ADD", "SEPT.ADD(ALLOW_EXISTING)", "PAGE.ADD", "PAGE.AUG",
	"RANGE.BLOCK", "RANGE.UNBLOCK", "PAGE.REMOVE", "SEPT.REMOVE",
	"MR.EXTEND", "SEPT.RD", "ACCEPT", "PAGE.DEMOTE", "PAGE.PROMOTE", "PAGE.RELOCATE",
	"ATTR.RD", "ATTR.WR",
};

/*
 * Cell values: >= 0 the operation is allowed and leaves this state behind;
 * negative: the outcome when it is not allowed.
 */
enum {
	SI = -1,	/* EPT_ENTRY_STATE_INCORRECT|RCX, details, state unchanged */
	AB = -2,	/* GPA_RANGE_ALREADY_BLOCKED|RCX (not an error), details */
	NP = -3,	/* EPT_ENTRY_NOT_PRESENT|RCX (MR.EXTEND), details */
	AA = -4,	/* ACCEPT: PAGE_ALREADY_ACCEPTED + level */
	SM = -5,	/* ACCEPT: PAGE_SIZE_MISMATCH + level */
	EX = -6,	/* ACCEPT: EPT-violation TD exit, EEQ type ACCEPT */
	IP = -7,	/* PROMOTE: EPT_INVALID_PROMOTE_CONDITIONS|RCX (children FREE), details */
	X0 = -8,	/* ATTR.RD: EPT-violation TD exit, no extended info */
	X5 = -9,	/* ATTR.WR: EPT-violation TD exit, EEQ type 5 (ATTR_WR) */
};

#define FREE_	ST_FREE
#define REM_	ST_REMOVED
#define NLM_	ST_NL_MAPPED
#define NLB_	ST_NL_BLOCKED
#define MAP_	ST_MAPPED
#define BLK_	ST_BLOCKED
#define PND_	ST_PENDING
#define PB_	ST_PENDING_BLOCKED

/*
 * module-abi.md section 3:
 *   PAGE.ADD FREE; SEPT.ADD FREE (NL_MAPPED with ALLOW_EXISTING: success,
 *   R8 bit 63); PAGE.AUG FREE, REMOVED; RANGE.BLOCK NL_MAPPED, MAPPED,
 *   PENDING (already blocked: GPA_RANGE_ALREADY_BLOCKED); RANGE.UNBLOCK
 *   NL_BLOCKED, BLOCKED, PENDING_BLOCKED; PAGE.REMOVE MAPPED, BLOCKED,
 *   PENDING, PENDING_BLOCKED; SEPT.REMOVE NL_MAPPED, NL_BLOCKED; MR.EXTEND
 *   MAPPED (section 5: else EPT_ENTRY_NOT_PRESENT); ACCEPT PENDING.
 * Transitions: SEPT.ADD FREE->NL_MAPPED; PAGE.ADD FREE->MAPPED; AUG
 *   FREE/REMOVED->PENDING; ACCEPT PENDING->MAPPED; BLOCK NL_MAPPED->
 *   NL_BLOCKED, MAPPED->BLOCKED, PENDING->PENDING_BLOCKED; UNBLOCK the
 *   reverse; PAGE.REMOVE leaf->FREE; SEPT.REMOVE ->FREE.
 * SEPT.RD reads every state and changes nothing.
 * ACCEPT at the requested level (section 7): a present non-leaf ->
 *   PAGE_SIZE_MISMATCH (NL_BLOCKED included: the 1.5 source's test is
 *   "not FREE and not a leaf"); MAPPED -> PAGE_ALREADY_ACCEPTED;
 *   FREE/BLOCKED/PENDING_BLOCKED/REMOVED -> EPT-violation exit.
 */
static const int expect_tab[NOP][NST] = {
	/*                   FREE   REMOVED NL_MAP  NL_BLK  MAPPED  BLOCKED PENDING PEND_BLK */
	[OP_SEPT_ADD]      = { NLM_,  SI,     SI,     SI,     SI,     SI,     SI,     SI },
	[OP_SEPT_ADD_AE]   = { NLM_,  SI,     NLM_,   SI,     SI,     SI,     SI,     SI },
	[OP_PAGE_ADD]      = { MAP_,  SI,     SI,     SI,     SI,     SI,     SI,     SI },
	[OP_PAGE_AUG]      = { PND_,  PND_,   SI,     SI,     SI,     SI,     SI,     SI },
	[OP_RANGE_BLOCK]   = { SI,    SI,     NLB_,   AB,     BLK_,   AB,     PB_,    AB },
	[OP_RANGE_UNBLOCK] = { SI,    SI,     SI,     NLM_,   SI,     MAP_,   SI,     PND_ },
	[OP_PAGE_REMOVE]   = { SI,    SI,     SI,     SI,     FREE_,  FREE_,  FREE_,  FREE_ },
	[OP_SEPT_REMOVE]   = { SI,    SI,     FREE_,  FREE_,  SI,     SI,     SI,     SI },
	[OP_MR_EXTEND]     = { NP,    NP,     NP,     NP,     MAP_,   NP,     NP,     NP },
	[OP_SEPT_RD]       = { FREE_, REM_,   NLM_,   NLB_,   MAP_,   BLK_,   PND_,   PB_ },
	[OP_ACCEPT]        = { EX,    EX,     SM,     SM,     AA,     EX,     MAP_,   EX },
	/*
	 * huge-pages.md sections 2 and 3.  DEMOTE: a leaf -> NL_MAPPED over 512
	 * unblocked children.  PROMOTE: a non-leaf; the tables made here have
	 * FREE children, so the promote conditions fail.  RELOCATE: a 4K leaf,
	 * left unblocked.  ATTR.RD: MAPPED/PENDING read, anything else (a
	 * non-leaf is walked through to its FREE child, NL_BLOCKED stops the
	 * walk) exits without extended info.  ATTR.WR: a non-leaf at the level
	 * is PAGE_SIZE_MISMATCH; a state other than MAPPED/PENDING exits with
	 * type 5.
	 */
	[OP_DEMOTE]        = { SI,    SI,     SI,     SI,     NLM_,   NLM_,   NLM_,   NLM_ },
	[OP_PROMOTE]       = { SI,    SI,     IP,     IP,     SI,     SI,     SI,     SI },
	[OP_RELOCATE]      = { SI,    SI,     SI,     SI,     MAP_,   MAP_,   PND_,   PND_ },
	[OP_ATTR_RD]       = { X0,    X0,     X0,     X0,     MAP_,   X0,     PND_,   X0 },
	[OP_ATTR_WR]       = { X5,    X5,     SM,     SM,     MAP_,   X5,     PND_,   X5 },
};

/* The levels each operation is run at, -1 ending the list (all zero: pair_level()). */
static const int op_levels[NOP][4] = {
	[OP_DEMOTE] = { 1, 2, -1 },
	[OP_PROMOTE] = { 1, 2, -1 },
	[OP_RELOCATE] = { 0, -1 },
	[OP_ATTR_RD] = { 0, 1, 2, -1 },
	[OP_ATTR_WR] = { 0, 1, 2, -1 },
};

/* An allowed state, whether or not the operation then succeeds. */
static bool cell_allowed(int cell)
{
	return cell >= 0 || cell == IP;
}


/* Remove-class leaves (section 4 step 8): blocked + tracked once RUNNABLE. */
static bool op_is_remove_class(enum op op)
{
	return op == OP_RANGE_UNBLOCK || op == OP_PAGE_REMOVE || op == OP_SEPT_REMOVE ||
	       op == OP_DEMOTE || op == OP_PROMOTE || op == OP_RELOCATE;
}

/* ---- passes and the explicit skip list ---- */
enum pass { PASS_INIT, PASS_RUN, NPASS };

static const char *const pass_name[NPASS] = { "INITIALIZED", "RUNNABLE" };

struct skip {
	int pass;		/* enum pass, -1: both */
	enum op op;
	int st;			/* -1: every state */
	int level;		/* -1: every level */
	const char *why;
};

/*
 * Pairs that cannot be addressed, listed rather than silently dropped.
 * Each entry must be hit by the loop (checked).
 */
static const struct skip skips[] = {
	/* PAGE.ADD is 4K-only: it cannot address a level-1 (non-leaf) entry */
	{ PASS_INIT, OP_PAGE_ADD, ST_NL_MAPPED, -1, "PAGE.ADD is level 0 only" },
	{ PASS_INIT, OP_PAGE_ADD, ST_NL_BLOCKED, -1, "PAGE.ADD is level 0 only" },
	/*
	 * SEPT.ADD / SEPT.REMOVE need level >= 1, and a 2M MAPPED leaf needs
	 * a guest ACCEPT, i.e. VP.ENTER, i.e. RUNNABLE (covered by PASS_RUN).
	 */
	{ PASS_INIT, OP_SEPT_ADD, ST_MAPPED, -1, "level>=1 MAPPED needs ACCEPT (RUNNABLE)" },
	{ PASS_INIT, OP_SEPT_ADD, ST_BLOCKED, -1, "level>=1 BLOCKED needs ACCEPT (RUNNABLE)" },
	{ PASS_INIT, OP_SEPT_ADD_AE, ST_MAPPED, -1, "level>=1 MAPPED needs ACCEPT (RUNNABLE)" },
	{ PASS_INIT, OP_SEPT_ADD_AE, ST_BLOCKED, -1, "level>=1 BLOCKED needs ACCEPT (RUNNABLE)" },
	{ PASS_INIT, OP_SEPT_REMOVE, ST_MAPPED, -1, "level>=1 MAPPED needs ACCEPT (RUNNABLE)" },
	{ PASS_INIT, OP_SEPT_REMOVE, ST_BLOCKED, -1, "level>=1 BLOCKED needs ACCEPT (RUNNABLE)" },
	/*
	 * MR.EXTEND takes a GPA, not GPA+level, and walks to the leaf: a GPA
	 * under an NL_MAPPED entry reaches the child below, so NL_MAPPED is
	 * never the entry it addresses.  (NL_BLOCKED stops the walk and is
	 * tested: EPT_ENTRY_NOT_PRESENT with level 1 in the details.)
	 */
	{ PASS_INIT, OP_MR_EXTEND, ST_NL_MAPPED, -1, "MR.EXTEND walks through NL_MAPPED" },
	/* ACCEPT runs in a vCPU: VP.ENTER needs RUNNABLE */
	{ PASS_INIT, OP_ACCEPT, -1, -1, "guest ACCEPT needs VP.ENTER (RUNNABLE)" },
	/*
	 * PAGE.ADD and MR.EXTEND run in INITIALIZED only: in RUNNABLE the op
	 * state check (section 4 step 2) precedes the state check.  Those are
	 * checked for OP_STATE_INCORRECT in test_runnable_build_leaves.
	 */
	{ PASS_RUN, OP_PAGE_ADD, -1, -1, "PAGE.ADD is INITIALIZED-only" },
	{ PASS_RUN, OP_MR_EXTEND, -1, -1, "MR.EXTEND is INITIALIZED-only" },
	/* there is no non-leaf entry at 4K */
	{ -1, OP_RELOCATE, ST_NL_MAPPED, 0, "no non-leaf at 4K" },
	{ -1, OP_RELOCATE, ST_NL_BLOCKED, 0, "no non-leaf at 4K" },
	{ PASS_RUN, OP_ATTR_RD, ST_NL_MAPPED, 0, "no non-leaf at 4K" },
	{ PASS_RUN, OP_ATTR_RD, ST_NL_BLOCKED, 0, "no non-leaf at 4K" },
	{ PASS_RUN, OP_ATTR_WR, ST_NL_MAPPED, 0, "no non-leaf at 4K" },
	{ PASS_RUN, OP_ATTR_WR, ST_NL_BLOCKED, 0, "no non-leaf at 4K" },
	/* ATTR.RD/WR are TDCALLs: VP.ENTER needs RUNNABLE */
	{ PASS_INIT, OP_ATTR_RD, -1, -1, "guest TDCALL needs VP.ENTER (RUNNABLE)" },
	{ PASS_INIT, OP_ATTR_WR, -1, -1, "guest TDCALL needs VP.ENTER (RUNNABLE)" },
	/*
	 * A MAPPED 1G leaf while INITIALIZED takes 512 MAPPED 2M leaves, each
	 * 512 PAGE.ADDs and a PROMOTE: 262,144 measured PAGE.ADDs per pair.
	 * RUNNABLE covers MAPPED/BLOCKED 1G leaves (AUG + ACCEPT 2M).
	 */
	{ PASS_INIT, OP_DEMOTE, ST_MAPPED, 2, "1G MAPPED while INITIALIZED: 262,144 PAGE.ADDs" },
	{ PASS_INIT, OP_DEMOTE, ST_BLOCKED, 2, "1G MAPPED while INITIALIZED: 262,144 PAGE.ADDs" },
	{ PASS_INIT, OP_PROMOTE, ST_MAPPED, 2, "1G MAPPED while INITIALIZED: 262,144 PAGE.ADDs" },
	{ PASS_INIT, OP_PROMOTE, ST_BLOCKED, 2, "1G MAPPED while INITIALIZED: 262,144 PAGE.ADDs" },
};
#define NSKIPS (sizeof(skips) / sizeof(skips[0]))

static int skip_index(enum pass p, enum op op, enum st s, int level)
{
	for (size_t i = 0; i < NSKIPS; i++)
		if ((skips[i].pass < 0 || skips[i].pass == (int)p) && skips[i].op == op &&
		    (skips[i].st < 0 || skips[i].st == (int)s) &&
		    (skips[i].level < 0 || skips[i].level == level))
			return (int)i;
	return -1;
}

/* The level at which a pass addresses @s for @op. */
static int pair_level(enum pass p, enum op op, enum st s)
{
	if (p == PASS_RUN || st_is_nl(s))
		return 1;
	if (op == OP_SEPT_ADD || op == OP_SEPT_ADD_AE || op == OP_SEPT_REMOVE)
		return 1;
	return 0;
}

/* ---- driving an entry into a state ---- */
#define GPA 0x80200000ull	/* 2M aligned, so valid at level 0 and 1 */
#define GPA_1G 0xc0000000ull	/* for level 2 */

static uint64_t entry_details(int level, unsigned pub)
{
	return (uint64_t)(level & 7) | ((uint64_t)(pub & 0xff) << 8);
}

static void do_block(struct fx *f, enum pass p, uint64_t gpa, int level)
{
	fx_block(f, gpa, level);
	if (p == PASS_RUN)
		fx_track(f);	/* no vCPU inside: one TRACK completes tracking */
}

static void make_state(struct fx *f, enum pass p, uint64_t gpa, int level, enum st s)
{
	enum tdg_outcome o;
	switch (s) {
	case ST_FREE:
		fx_path(f, gpa, level);
		break;
	case ST_REMOVED:
		/* made only by import, which is not simulated: white box */
		fx_path(f, gpa, level);
		*fx_entry(f, gpa, level) = septe_make(SEPT_REMOVED, 0);
		break;
	case ST_NL_MAPPED:
	case ST_NL_BLOCKED:
		assert_true(level >= 1);
		fx_path(f, gpa, level - 1);	/* the entry at @level gets a table */
		if (s == ST_NL_BLOCKED)
			do_block(f, p, gpa, level);
		break;
	case ST_MAPPED:
	case ST_BLOCKED:
		if (level == 0 && p == PASS_INIT) {
			fx_add(f, gpa);
		} else if (level == 2 || (level == 1 && p == PASS_INIT)) {
			/* only PROMOTE makes these (PAGE.ADD and ACCEPT stop at 2M) */
			fx_huge_leaf(f, gpa, level, true);
		} else {
			assert_int_equal(p, PASS_RUN);
			fx_aug(f, gpa, level);
			assert_status(fx_accept(f, 0, gpa, level, &o), TDX_SUCCESS);
			assert_int_equal(o, TDG_RETURN);
		}
		if (s == ST_BLOCKED)
			do_block(f, p, gpa, level);
		break;
	case ST_PENDING:
	case ST_PENDING_BLOCKED:
		if (level == 2)
			fx_huge_leaf(f, gpa, level, false);
		else
			fx_aug(f, gpa, level);
		if (s == ST_PENDING_BLOCKED)
			do_block(f, p, gpa, level);
		break;
	default:
		fail();
	}
	/* the setup itself is checked through the public interface */
	assert_int_equal(fx_pub_state(f, gpa, level), st_pub[s]);
}

/* ---- one pair ---- */

/* The pair being run, printed by the teardown if an assertion fails. */
static char cur_pair[160];

static int print_failing_pair(void **state)
{
	(void)state;
	if (cur_pair[0])
		print_error("    failing pair: %s\n", cur_pair);
	cur_pair[0] = 0;
	return 0;
}

static void run_pair(enum pass p, enum op op, enum st s, int level)
{
	struct fx f;
	struct tdx_regs out;
	const uint64_t gpa = level == 2 ? GPA_1G : GPA;
	const int cell = expect_tab[op][s];
	const uint32_t rcx = OPND_RCX;
	uint64_t st = ~0ull;
	enum tdg_outcome o = TDG_RETURN;

	snprintf(cur_pair, sizeof(cur_pair), "%s %s on %s (level %d)", pass_name[p],
		 op_name[op], st_name[s], level);
	if (p == PASS_INIT)
		fx_init(&f, NULL);
	else
		fx_init_runnable(&f, NULL);
	make_state(&f, p, gpa, level, s);

	memset(&out, 0xa5, sizeof(out));
	const uint64_t info = tdx_gpa_info(gpa, level);
	uint64_t page = 0, old_hpa = septe_hpa(*fx_entry(&f, gpa, level));
	uint64_t rcx_out = 0, rdx_out = 0;
	switch (op) {
	case OP_SEPT_ADD:
		st = tdh_mem_sept_add(f.m, &out, info, f.b.tdr, bringup_page(&f.b));
		break;
	case OP_SEPT_ADD_AE:
		page = bringup_page(&f.b);
		st = tdh_mem_sept_add_v1(f.m, &out, info, f.b.tdr | TDR_HANDLE_ALLOW_EXISTING, page);
		break;
	case OP_PAGE_ADD:
		st = tdh_mem_page_add(f.m, &out, info, f.b.tdr, bringup_page(&f.b),
				      f.b.shared_page);
		break;
	case OP_PAGE_AUG:
		st = tdh_mem_page_aug(f.m, &out, info, f.b.tdr,
				      level ? bringup_page_2m(&f.b) : bringup_page(&f.b));
		break;
	case OP_RANGE_BLOCK:
		st = tdh_mem_range_block(f.m, &out, info, f.b.tdr);
		break;
	case OP_RANGE_UNBLOCK:
		st = tdh_mem_range_unblock(f.m, &out, info, f.b.tdr);
		break;
	case OP_PAGE_REMOVE:
		st = tdh_mem_page_remove(f.m, &out, info, f.b.tdr);
		break;
	case OP_SEPT_REMOVE:
		st = tdh_mem_sept_remove(f.m, &out, info, f.b.tdr);
		break;
	case OP_MR_EXTEND:
		st = tdh_mr_extend(f.m, &out, gpa, f.b.tdr);
		break;
	case OP_SEPT_RD:
		st = tdh_mem_sept_rd(f.m, &out, info, f.b.tdr);
		break;
	case OP_ACCEPT:
		st = fx_accept(&f, 0, gpa, level, &o);
		break;
	case OP_DEMOTE:
		page = bringup_page(&f.b);
		st = tdh_mem_page_demote(f.m, &out, info, f.b.tdr, page, 0, 0);
		break;
	case OP_PROMOTE:
		st = tdh_mem_page_promote(f.m, &out, 0, info, f.b.tdr);
		break;
	case OP_RELOCATE:
		page = bringup_page(&f.b);
		st = tdh_mem_page_relocate(f.m, &out, info, f.b.tdr, page);
		break;
	case OP_ATTR_RD:
	case OP_ATTR_WR:
		fx_enter(&f, 0);
		if (op == OP_ATTR_RD)
			o = tdg_mem_page_attr_rd(f.b.vcpu[0], gpa, &st, &rcx_out, &rdx_out);
		else
			o = tdg_mem_page_attr_wr(f.b.vcpu[0], info, 0, 0, &st, &rcx_out, &rdx_out);
		fx_leave(&f, 0);
		break;
	default:
		fail();
	}

	enum st after = s;	/* the state expected afterwards */
	if (op == OP_ATTR_RD || op == OP_ATTR_WR) {
		const struct tdx_regs *x = tdx_vcpu_exit_regs(f.b.vcpu[0]);
		switch (cell) {
		case X0:
		case X5:
			assert_int_equal(o, TDG_EXIT);
			assert_int_equal(x->rax, 48);
			assert_int_equal(x->r8, gpa & ~0xfffull);
			if (cell == X0) {
				assert_int_equal(x->rcx, 0);	/* no qualification */
				assert_int_equal(x->rdx, 0);	/* no extended info */
			} else {
				assert_int_equal(x->rdx & 0xf, 5);	/* EEQ type ATTR_WR */
				assert_int_equal((x->rdx >> 32) & 7, (uint64_t)level);
			}
			break;
		case SM:
			assert_int_equal(o, TDG_RETURN);
			assert_status(st, TDX_PAGE_SIZE_MISMATCH | (uint32_t)level);
			break;
		default: {
			assert_true(cell >= 0);
			assert_int_equal(o, TDG_RETURN);
			assert_status(st, TDX_SUCCESS);
			uint64_t pend = s == ST_PENDING ? ATTR_RCX_PENDING : 0;
			/* ATTR.RD: the leaf's GPA and level; ATTR.WR: its input */
			assert_int_equal(rcx_out, info | pend);
			assert_int_equal(rdx_out, 0);
			break;
		}
		}
	} else if (op == OP_ACCEPT) {
		switch (cell) {
		case AA:
			assert_int_equal(o, TDG_RETURN);
			assert_status(st, TDX_PAGE_ALREADY_ACCEPTED | (uint32_t)level);
			break;
		case SM:
			assert_int_equal(o, TDG_RETURN);
			assert_status(st, TDX_PAGE_SIZE_MISMATCH | (uint32_t)level);
			break;
		case EX: {
			assert_int_equal(o, TDG_EXIT);
			const struct tdx_regs *x = tdx_vcpu_exit_regs(f.b.vcpu[0]);
			assert_int_equal(x->rax, 48);
			assert_int_equal(x->rdx & 0xf, 1);		/* EEQ type ACCEPT */
			assert_int_equal((x->rdx >> 32) & 7, (uint64_t)level);
			assert_int_equal(x->r8, gpa & ~0xfffull);
			assert_false(tdx_vcpu_in_td(f.b.vcpu[0]));
			break;
		}
		default:
			assert_true(cell >= 0);
			assert_int_equal(o, TDG_RETURN);
			assert_status(st, TDX_SUCCESS);
			after = (enum st)cell;
			break;
		}
	} else if (cell_allowed(cell) && p == PASS_RUN && op_is_remove_class(op) &&
		   !st_is_blocked(s)) {
		/* section 4 step 8: the entry must be blocked once RUNNABLE */
		assert_status(st, TDX_GPA_RANGE_NOT_BLOCKED | rcx);
	} else if (cell >= 0) {
		assert_status(st, TDX_SUCCESS);
		after = (enum st)cell;
		if (op == OP_SEPT_ADD_AE) {
			/* version 1's R8: bit 63 when the table existed, NULL_PA when used */
			if (s == ST_NL_MAPPED)
				assert_int_equal(out.r8, page | SEPT_ADD_R8_EXISTED);
			else
				assert_int_equal(out.r8, TDX_NULL_PA);
		}
		if (op == OP_DEMOTE) {
			/* 512 unblocked children, stepped by the child size */
			const int cl = level - 1;
			const enum st kid = st_is_blocked(s) ? (s == ST_BLOCKED ? ST_MAPPED : ST_PENDING) : s;
			for (int i = 0; i < 512; i += 511) {
				uint64_t g = gpa + (uint64_t)i * tdx_level_size(cl);
				assert_int_equal(fx_pub_state(&f, g, cl), st_pub[kid]);
				assert_int_equal(septe_hpa(*fx_entry(&f, g, cl)),
						 old_hpa + (uint64_t)i * tdx_level_size(cl));
			}
			assert_int_equal(pamt_peek_type(f.pm, page, PAMT_4K), PT_EPT);
		}
		if (op == OP_RELOCATE) {
			assert_int_equal(out.rcx, old_hpa);
			assert_int_equal(septe_hpa(*fx_entry(&f, gpa, 0)), page);
			assert_int_equal(pamt_peek_type(f.pm, old_hpa, PAMT_4K), PT_NDA);
			assert_int_equal(pamt_peek_type(f.pm, page, PAMT_4K), PT_REG);
		}
		if (op == OP_SEPT_RD)
			assert_int_equal(out.rdx, entry_details(level, st_pub[s]));
	} else {
		uint64_t want;
		int det_level = level;
		switch (cell) {
		case SI:
			want = TDX_EPT_ENTRY_STATE_INCORRECT | rcx;
			break;
		case AB:
			want = TDX_GPA_RANGE_ALREADY_BLOCKED | rcx;
			assert_false(tdx_status_is_error(st));	/* not an error */
			break;
		case IP:
			want = TDX_EPT_INVALID_PROMOTE_CONDITIONS | rcx;
			break;
		case NP:
			want = TDX_EPT_ENTRY_NOT_PRESENT | rcx;
			/* MR.EXTEND walks to a leaf from GPA: where it stopped */
			det_level = st_is_nl(s) ? 1 : level;
			break;
		default:
			fail();
			return;
		}
		assert_status(st, want);
		assert_int_equal(out.rdx, entry_details(det_level, st_pub[s]));
	}

	/* the state read back through SEPT.RD */
	unsigned got = fx_pub_state(&f, gpa, level);
	if (got != st_pub[after])
		print_error("state %#x, expected %s (%#x)\n", got, st_name[after], st_pub[after]);
	assert_int_equal(got, st_pub[after]);
	fx_fini(&f);
}

static void run_pass(enum pass p)
{
	unsigned ran = 0, skipped = 0, cells = 0;
	unsigned hits[NSKIPS];
	memset(hits, 0, sizeof(hits));
	for (int op = 0; op < NOP; op++) {
		for (int s = 0; s < NST; s++) {
			int one[2] = { pair_level(p, (enum op)op, (enum st)s), -1 };
			const int *levels = op_levels[op][0] || op_levels[op][1] ? op_levels[op] : one;
			for (int li = 0; levels[li] >= 0; li++) {
				cells++;
				int k = skip_index(p, (enum op)op, (enum st)s, levels[li]);
				if (k >= 0) {
					hits[k]++;
					skipped++;
					continue;
				}
				run_pair(p, (enum op)op, (enum st)s, levels[li]);
				ran++;
			}
		}
	}
	/* every skip-list entry of this pass names a real, unaddressable pair */
	for (size_t i = 0; i < NSKIPS; i++)
		if (skips[i].pass < 0 || skips[i].pass == (int)p)
			assert_true(hits[i] > 0);
	cur_pair[0] = 0;
	assert_int_equal(ran + skipped, cells);
	print_message("    %s: %u pairs checked, %u skipped (listed)\n", pass_name[p], ran,
		      skipped);
}

/* ---- test cases ---- */

static void test_table_initialized(void **state)
{
	(void)state;
	BANNER("op x state table, TD INITIALIZED: leaf states at 4K, non-leaf at 2M");
	run_pass(PASS_INIT);
}

static void test_table_runnable(void **state)
{
	(void)state;
	BANNER("op x state table, TD RUNNABLE: every state at 2M, remove-class needs BLOCK+TRACK");
	run_pass(PASS_RUN);
}

static void test_runnable_build_leaves(void **state)
{
	(void)state;
	BANNER("PAGE.ADD and MR.EXTEND in RUNNABLE: OP_STATE_INCORRECT before any state check");
	static const enum st leaf_states[] = { ST_FREE, ST_PENDING };
	for (size_t i = 0; i < sizeof(leaf_states) / sizeof(leaf_states[0]); i++) {
		struct fx f;
		fx_init_runnable(&f, NULL);
		enum st s = leaf_states[i];
		if (s == ST_FREE)
			fx_path(&f, GPA, 0);
		else
			fx_aug(&f, GPA, 0);
		assert_status(tdh_mem_page_add(f.m, &f.out, tdx_gpa_info(GPA, 0), f.b.tdr,
					       bringup_page(&f.b), f.b.shared_page),
			      TDX_OP_STATE_INCORRECT);
		assert_status(tdh_mr_extend(f.m, &f.out, GPA, f.b.tdr), TDX_OP_STATE_INCORRECT);
		assert_int_equal(fx_pub_state(&f, GPA, 0), st_pub[s]);
		fx_fini(&f);
	}
}

/* The module's own table must agree with the one written here. */
static void test_sept_rules_agree(void **state)
{
	(void)state;
	BANNER("the module's sept_rules[] agrees with the table from module-abi.md");
	static const enum sept_state to_mod[NST] = {
		[ST_FREE] = SEPT_FREE,
		[ST_REMOVED] = SEPT_REMOVED,
		[ST_NL_MAPPED] = SEPT_NL_MAPPED,
		[ST_NL_BLOCKED] = SEPT_NL_BLOCKED,
		[ST_MAPPED] = SEPT_MAPPED,
		[ST_BLOCKED] = SEPT_BLOCKED,
		[ST_PENDING] = SEPT_PENDING,
		[ST_PENDING_BLOCKED] = SEPT_PENDING_BLOCKED,
	};
	static const int to_sop[NOP] = {
		[OP_SEPT_ADD] = SOP_SEPT_ADD,
		[OP_SEPT_ADD_AE] = -1,	/* not a row of its own */
		[OP_PAGE_ADD] = SOP_PAGE_ADD,
		[OP_PAGE_AUG] = SOP_PAGE_AUG,
		[OP_RANGE_BLOCK] = SOP_RANGE_BLOCK,
		[OP_RANGE_UNBLOCK] = SOP_RANGE_UNBLOCK,
		[OP_PAGE_REMOVE] = SOP_PAGE_REMOVE,
		[OP_SEPT_REMOVE] = SOP_SEPT_REMOVE,
		[OP_MR_EXTEND] = SOP_MR_EXTEND,
		[OP_SEPT_RD] = SOP_SEPT_RD,
		[OP_ACCEPT] = SOP_ACCEPT,
		[OP_DEMOTE] = SOP_PAGE_DEMOTE,
		[OP_PROMOTE] = SOP_PAGE_PROMOTE,
		[OP_RELOCATE] = SOP_PAGE_RELOCATE,
		[OP_ATTR_RD] = SOP_ATTR_RD,
		[OP_ATTR_WR] = SOP_ATTR_WR,
	};
	for (int s = 0; s < NST; s++)
		assert_int_equal(sept_public_state[to_mod[s]], st_pub[s]);
	for (int op = 0; op < NOP; op++) {
		if (to_sop[op] < 0)
			continue;
		const struct sept_rule *r = &sept_rules[to_sop[op]];
		for (int s = 0; s < NST; s++) {
			int cell = expect_tab[op][s];
			bool allowed = (r->allowed >> to_mod[s]) & 1;
			if (allowed != cell_allowed(cell))
				print_error("sept_rules %s/%s: allowed=%d, expected %d\n",
					    op_name[op], st_name[s], allowed, cell_allowed(cell));
			assert_int_equal(allowed, cell_allowed(cell));
			if (cell < 0 || op == OP_PROMOTE)
				continue;
			unsigned nxt = r->next[to_mod[s]];
			/* SEPT_NR_STATES means "unchanged" in the module's table */
			if (cell == s)
				assert_true(nxt == to_mod[s] || nxt == SEPT_NR_STATES);
			else
				assert_int_equal(nxt, to_mod[cell]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_table_initialized, print_failing_pair),
		cmocka_unit_test_teardown(test_table_runnable, print_failing_pair),
		cmocka_unit_test(test_runnable_build_leaves),
		cmocka_unit_test(test_sept_rules_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
