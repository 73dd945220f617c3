/* cfi.c — unwind rules per return address, read from .eh_frame the way libunwind 1.6 reads them,
 * for preload/unwind.c. Yields only the rules libunwind's fast trace (tdep_trace) applies; for
 * every other frame it says "leave it to libunwind". Reads loaded ELF data only; no allocation,
 * no lock (_dl_find_object), async-signal-safe.
 *
 * What libunwind does, and so what we copy (x86-64, libunwind 1.6 as in Debian 12): tdep_trace
 * (src/x86_64/Gtrace.c) asks unw_step once per return address and keeps what tdep_stash_frame
 * (src/x86_64/Gstash_frame.c) says about the frame:
 *   STANDARD  CFA = RSP or RBP + offset (|offset| < 2^28), the return address saved at CFA - 8,
 *             RBP and RSP unchanged or saved at CFA + offset (|offset| < 2^14, not -1);
 *   ALIGNED   gcc's realigned-stack (DRAP) frame: CFA = *(RBP + off), RBP saved at RBP + 0;
 *   LAST      unw_step returned 0: the return address or RBP is DW_CFA_undefined (_start, clone3);
 *   anything else (signal trampolines, PLT stubs, code without unwind info, other expressions,
 *   registers saved in registers...) makes tdep_trace fail and unw_backtrace start over with an
 *   unw_step loop: FL_RULE_LIBUNWIND. The row is the one in force at ra - 1 (the call), found
 *   through PT_GNU_EH_FRAME's binary-search table like libunwind's dwarf_callback and lookup(),
 *   built by the CIE's and FDE's programs like run_cfi_program (src/dwarf/Gparser.c). Where
 *   libunwind would fail, guess, or read past what it parsed, we answer FL_RULE_LIBUNWIND:
 *   libunwind then does whatever it does, so the result stays its result. */
#include "internal.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <string.h>

/* ---- reading .eh_frame ---- */
typedef struct rd {
    const uint8_t *p, *end;
    bool bad;
} rd_t;

static uint8_t rd_u8(rd_t *r)
{
    if (r->p + 1 > r->end) {
        r->bad = true;
        return 0;
    }
    return *r->p++;
}

static uint64_t rd_fixed(rd_t *r, int size, bool sign)
{
    if (r->p + size > r->end) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    if (size == 2) {
        uint16_t x;
        memcpy(&x, r->p, 2);
        v = sign ? (uint64_t)(int64_t)(int16_t)x : x;
    } else if (size == 4) {
        uint32_t x;
        memcpy(&x, r->p, 4);
        v = sign ? (uint64_t)(int64_t)(int32_t)x : x;
    } else {
        memcpy(&v, r->p, 8);
    }
    r->p += size;
    return v;
}

static uint64_t rd_uleb(rd_t *r)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        uint8_t b = rd_u8(r);
        if (r->bad)
            return 0;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            return v;
    }
}

static int64_t rd_sleb(rd_t *r)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = rd_u8(r);
        if (r->bad)
            return 0;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40))
        v |= ~0ull << shift;
    return (int64_t)v;
}

#define PE_OMIT 0xff
#define PE_ALIGNED 0x50
#define PE_INDIRECT 0x80

/* Reads a DW_EH_PE-encoded pointer as libunwind's dwarf_read_encoded_pointer does, for the
 * applications we accept (absolute and pc-relative); returns false for anything else. */
static bool rd_encoded(rd_t *r, uint8_t enc, uint64_t *out, bool need_value)
{
    *out = 0;
    if (enc == PE_OMIT)
        return true;
    if (enc == PE_ALIGNED) {
        uintptr_t a = ((uintptr_t)r->p + 7) & ~(uintptr_t)7;
        if (a > (uintptr_t)r->end) {
            r->bad = true;
            return false;
        }
        r->p = (const uint8_t *)a;
        *out = rd_fixed(r, 8, false);
        return !r->bad;
    }
    const uint8_t *at = r->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case 0x00: v = rd_fixed(r, 8, false); break;
    case 0x01: v = rd_uleb(r); break;
    case 0x02: v = rd_fixed(r, 2, false); break;
    case 0x03: v = rd_fixed(r, 4, false); break;
    case 0x04: v = rd_fixed(r, 8, false); break;
    case 0x09: v = rd_uleb(r); break; /* sic: libunwind reads sleb128 pointers as uleb128 */
    case 0x0a: v = rd_fixed(r, 2, true); break;
    case 0x0b: v = rd_fixed(r, 4, true); break;
    case 0x0c: v = rd_fixed(r, 8, true); break;
    default: return false;
    }
    if (r->bad)
        return false;
    if (v == 0) /* "0 is a special value and always absolute" */
        return true;
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += (uint64_t)(uintptr_t)at; break;
    default: return false;
    }
    if ((enc & PE_INDIRECT) && need_value)
        return false;
    *out = v;
    return true;
}

/* libunwind's dwarf_where_t, in its order. */
enum { W_UNDEF, W_SAME, W_CFAREL, W_REG, W_EXPR, W_VAL_EXPR };
#define NREGS 17 /* DWARF_NUM_PRESERVED_REGS on x86-64: rax..r15 and the return address */
#define COL_CFA 17
#define COL_OFF 18
#define D_RBP 6
#define D_RSP 7
#define D_RA 16
#define MAX_REMEMBER 4

typedef struct row {
    uint8_t where[NREGS + 2];
    int64_t val[NREGS + 2];
} row_t;

typedef struct cie {
    uint64_t code_align, ra_col;
    int64_t data_align;
    uint8_t fde_enc, lsda_enc;
    bool sized;
    const uint8_t *instr, *instr_end;
} cie_t;

static void set_reg(row_t *r, unsigned reg, uint8_t where, int64_t val)
{
    r->where[reg] = where;
    r->val[reg] = val;
}

/* run_cfi_program of libunwind's src/dwarf/Gparser.c, for the opcodes it implements; false for
 * errors and for opcodes it would reject or mis-step over (we leave those frames to it). */
static bool run_cfi(rd_t *r, const cie_t *c, row_t *cur, const row_t *init, uint64_t ip,
                    uint64_t end_ip)
{
    row_t stack[MAX_REMEMBER];
    int depth = 0;
    while (ip <= end_ip && r->p < r->end) {
        uint8_t op = rd_u8(r);
        uint64_t operand = 0, reg, v;
        if (op & 0xc0) {
            operand = op & 0x3f;
            op &= 0xc0;
        }
        switch (op) {
        case 0x40: /* advance_loc */
            ip += operand * c->code_align;
            break;
        case 0x80: /* offset */
            if (operand >= NREGS)
                return false;
            v = rd_uleb(r);
            set_reg(cur, (unsigned)operand, W_CFAREL, (int64_t)(v * (uint64_t)c->data_align));
            break;
        case 0xc0: /* restore */
            if (operand >= NREGS)
                return false;
            set_reg(cur, (unsigned)operand, init->where[operand], init->val[operand]);
            break;
        case 0x00: /* nop */
            break;
        case 0x02: ip += rd_u8(r) * c->code_align; break;
        case 0x03: ip += rd_fixed(r, 2, false) * c->code_align; break;
        case 0x04: ip += rd_fixed(r, 4, false) * c->code_align; break;
        case 0x05: /* offset_extended */
        case 0x2f: /* GNU_negative_offset_extended */
            reg = rd_uleb(r);
            v = rd_uleb(r);
            if (reg >= NREGS)
                return false;
            v *= (uint64_t)c->data_align;
            set_reg(cur, (unsigned)reg, W_CFAREL, op == 0x05 ? (int64_t)v : -(int64_t)v);
            break;
        case 0x11: /* offset_extended_sf */
            reg = rd_uleb(r);
            v = (uint64_t)rd_sleb(r);
            if (reg >= NREGS)
                return false;
            set_reg(cur, (unsigned)reg, W_CFAREL, (int64_t)(v * (uint64_t)c->data_align));
            break;
        case 0x06: /* restore_extended */
            reg = rd_uleb(r);
            if (reg >= NREGS)
                return false;
            set_reg(cur, (unsigned)reg, init->where[reg], init->val[reg]);
            break;
        case 0x07: /* undefined */
        case 0x08: /* same_value */
            reg = rd_uleb(r);
            if (reg >= NREGS)
                return false;
            set_reg(cur, (unsigned)reg, op == 0x07 ? W_UNDEF : W_SAME, 0);
            break;
        case 0x09: /* register */
            reg = rd_uleb(r);
            v = rd_uleb(r);
            if (reg >= NREGS || v >= NREGS) /* libunwind indexes its table with v unchecked */
                return false;
            set_reg(cur, (unsigned)reg, W_REG, (int64_t)v);
            break;
        case 0x0a: /* remember_state */
            if (depth == MAX_REMEMBER)
                return false;
            stack[depth++] = *cur;
            break;
        case 0x0b: /* restore_state */
            if (depth == 0)
                return false;
            *cur = stack[--depth];
            break;
        case 0x0c: /* def_cfa */
            reg = rd_uleb(r);
            v = rd_uleb(r);
            if (reg >= NREGS)
                return false;
            set_reg(cur, COL_CFA, W_REG, (int64_t)reg);
            set_reg(cur, COL_OFF, 0, (int64_t)v);
            break;
        case 0x12: /* def_cfa_sf */
            reg = rd_uleb(r);
            v = (uint64_t)rd_sleb(r);
            if (reg >= NREGS)
                return false;
            set_reg(cur, COL_CFA, W_REG, (int64_t)reg);
            set_reg(cur, COL_OFF, 0, (int64_t)(v * (uint64_t)c->data_align));
            break;
        case 0x0d: /* def_cfa_register */
            reg = rd_uleb(r);
            if (reg >= NREGS)
                return false;
            set_reg(cur, COL_CFA, W_REG, (int64_t)reg);
            break;
        case 0x0e: /* def_cfa_offset */
            set_reg(cur, COL_OFF, 0, (int64_t)rd_uleb(r));
            break;
        case 0x13: /* def_cfa_offset_sf */
            set_reg(cur, COL_OFF, 0, (int64_t)((uint64_t)rd_sleb(r) * (uint64_t)c->data_align));
            break;
        case 0x0f: /* def_cfa_expression: remember where the block starts (at its length) */
            set_reg(cur, COL_CFA, W_EXPR, (int64_t)(uintptr_t)r->p);
            v = rd_uleb(r);
            if (v > (uint64_t)(r->end - r->p))
                return false;
            r->p += v;
            break;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = rd_uleb(r);
            if (reg >= NREGS)
                return false;
            set_reg(cur, (unsigned)reg, op == 0x10 ? W_EXPR : W_VAL_EXPR,
                    (int64_t)(uintptr_t)r->p);
            v = rd_uleb(r);
            if (v > (uint64_t)(r->end - r->p))
                return false;
            r->p += v;
            break;
        case 0x2e: /* GNU_args_size */
            rd_uleb(r);
            break;
        default: /* set_loc, val_offset*, MIPS/SPARC/user ops: not ours to guess */
            return false;
        }
        if (r->bad)
            return false;
    }
    return true;
}

static bool parse_cie(const uint8_t *at, cie_t *c)
{
    rd_t r = {at, at + 8, false};
    uint32_t len = (uint32_t)rd_fixed(&r, 4, false);
    if (len == 0xffffffffu || len < 4) /* 64-bit DWARF: gcc never emits it in .eh_frame */
        return false;
    r.end = r.p + len;
    c->instr_end = r.end;
    if (rd_fixed(&r, 4, false) != 0) /* CIE id is 0 in .eh_frame */
        return false;
    uint8_t version = rd_u8(&r);
    if (version != 1 && version != 3 && version != 4)
        return false;
    char aug[5] = {0};
    for (int i = 0;;) {
        uint8_t ch = rd_u8(&r);
        if (r.bad)
            return false;
        if (!ch)
            break;
        if (i < 4)
            aug[i++] = (char)ch;
    }
    c->code_align = rd_uleb(&r);
    c->data_align = rd_sleb(&r);
    c->ra_col = version == 1 ? rd_u8(&r) : rd_uleb(&r);
    c->fde_enc = 0x04; /* udata8 */
    c->lsda_enc = PE_OMIT;
    c->sized = false;
    int i = 0;
    if (aug[0] == 'z') {
        c->sized = true;
        rd_uleb(&r);
        i = 1;
    }
    for (; i < 5 && aug[i]; i++) {
        uint64_t ignored;
        switch (aug[i]) {
        case 'L': c->lsda_enc = rd_u8(&r); break;
        case 'R': c->fde_enc = rd_u8(&r); break;
        case 'P':
            if (!rd_encoded(&r, rd_u8(&r), &ignored, false))
                return false;
            break;
        default: /* 'S' (signal frames) and anything unknown: libunwind's business */
            return false;
        }
    }
    c->instr = r.p;
    return !r.bad;
}

static bool simple_where(const row_t *row, unsigned reg)
{
    uint8_t w = row->where[reg];
    if (w == W_UNDEF || w == W_SAME)
        return true;
    if (w != W_CFAREL)
        return false;
    int64_t v = row->val[reg];
    return v > -(1 << 14) && v < (1 << 14) && v != -1;
}

/* gcc's realigned-stack (DRAP) pattern that libunwind traces (dwarf_stack_aligned): CFA =
 * *(RBP + off), RBP saved at RBP + 0. */
static bool aligned_pattern(const row_t *row, int32_t *off)
{
    rd_t r = {(const uint8_t *)(uintptr_t)row->val[D_RBP], NULL, false};
    r.end = r.p + 16;
    if (rd_uleb(&r) != 2 || rd_u8(&r) != 0x76 /* DW_OP_breg6 */ || rd_sleb(&r) != 0 || r.bad)
        return false;
    r.p = (const uint8_t *)(uintptr_t)row->val[COL_CFA];
    r.end = r.p + 16;
    if (rd_uleb(&r) != 3 || rd_u8(&r) != 0x76)
        return false;
    int64_t o = rd_sleb(&r);
    if (rd_u8(&r) != 0x06 /* DW_OP_deref */ || r.bad)
        return false;
    *off = (int32_t)o;
    return true;
}

/* A location expression that is exactly DW_OP_breg6 <off> (RBP + off): gcc's DRAP prologues save
 * registers that way, and libunwind evaluates it without reading memory or failing. */
static bool breg6_expr(int64_t at)
{
    rd_t r = {(const uint8_t *)(uintptr_t)at, NULL, false};
    r.end = r.p + 16;
    uint64_t len = rd_uleb(&r);
    const uint8_t *start = r.p;
    if (rd_u8(&r) != 0x76)
        return false;
    rd_sleb(&r);
    return !r.bad && (uint64_t)(r.p - start) == len;
}

/* libunwind's stash and unw_step verdicts for the row in force at the call (ra - 1). */
static void classify(const row_t *row, const cie_t *c, fl_rule_t *out)
{
    *out = (fl_rule_t){.kind = FL_RULE_LIBUNWIND};
    if (c->ra_col != D_RA)
        return;
    /* apply_reg_state evaluates every register's rule: general expressions could fail or read
     * anywhere, and register-to-register rules can make RBP's or the return address's location
     * null (tdep_trace then stops or gives up). Keep to the rules it evaluates without touching
     * memory; RBP, RSP and the return address are checked below. */
    for (unsigned i = 0; i < NREGS; i++) {
        uint8_t w = row->where[i];
        if (w == W_UNDEF || w == W_SAME || w == W_CFAREL)
            continue;
        if (i == D_RBP || i == D_RSP || i == D_RA)
            continue;
        if (w == W_REG || (w == W_EXPR && breg6_expr(row->val[i])))
            continue;
        return;
    }
    if (row->where[D_RA] != W_UNDEF && (row->where[D_RA] != W_CFAREL || row->val[D_RA] != -8))
        return;
    if (!simple_where(row, D_RSP))
        return;
    int32_t aoff;
    if (row->where[COL_CFA] == W_EXPR && row->where[D_RBP] == W_EXPR) {
        if (!aligned_pattern(row, &aoff))
            return;
        if (row->where[D_RA] == W_UNDEF) {
            out->kind = FL_RULE_LAST;
            return;
        }
        out->kind = FL_RULE_ALIGNED;
        out->cfa_off = aoff;
        return;
    }
    if (row->where[COL_CFA] != W_REG ||
        (row->val[COL_CFA] != D_RBP && row->val[COL_CFA] != D_RSP) || !simple_where(row, D_RBP))
        return;
    int64_t off = row->val[COL_OFF];
    if (off <= -(1 << 28) || off >= (1 << 28))
        return;
    /* unw_step returns 0 (end of the chain) when the return address or RBP is undefined. */
    if (row->where[D_RA] == W_UNDEF || row->where[D_RBP] == W_UNDEF) {
        out->kind = FL_RULE_LAST;
        return;
    }
    out->kind = FL_RULE_STANDARD;
    out->cfa_rsp = row->val[COL_CFA] == D_RSP;
    out->cfa_off = (int32_t)off;
    out->rbp_saved = row->where[D_RBP] == W_CFAREL;
    out->rbp_off = out->rbp_saved ? (int16_t)row->val[D_RBP] : 0;
}

/* libunwind's list of _U_dyn_register'ed procedures (exported, not declared in its headers). */
extern unw_word_t _U_dyn_info_list_addr(void);

static bool dyn_info_registered(void)
{
    const unw_dyn_info_list_t *l = (const unw_dyn_info_list_t *)(uintptr_t)_U_dyn_info_list_addr();
    return l && __atomic_load_n(&l->first, __ATOMIC_ACQUIRE) != NULL;
}

/* The rule for the frame that returns to ra; *cacheable is false when the answer may change (no
 * object there yet, or someone registered dynamic unwind info). */
static void derive(uintptr_t ra, fl_rule_t *out, bool *cacheable)
{
    uintptr_t ip = ra - 1; /* the call instruction: libunwind's use_prev_instr */
    *out = (fl_rule_t){.kind = FL_RULE_LIBUNWIND};
    *cacheable = true;
    /* _dl_find_object (glibc 2.35+) is lock-free and async-signal-safe; libunwind walks
     * dl_iterate_phdr for the same answer: the object whose segments hold ip and its
     * PT_GNU_EH_FRAME. */
    struct dl_find_object fo;
    if (_dl_find_object((void *)ip, &fo) != 0) {
        *cacheable = false;
        return;
    }
    if (dyn_info_registered()) { /* _U_dyn_register'ed info overrides .eh_frame in libunwind */
        *cacheable = false;
        return;
    }
    const uint8_t *hdr = fo.dlfo_eh_frame;
    if (!hdr || hdr[0] != 1)
        return;
    rd_t r = {hdr + 4, hdr + 4 + 32, false};
    uint64_t ignored, count;
    if (!rd_encoded(&r, hdr[1], &ignored, false) || !rd_encoded(&r, hdr[2], &count, true))
        return;
    if (hdr[3] != 0x3b) /* datarel|sdata4: otherwise libunwind searches linearly */
        return;
    /* The binary search of libunwind's lookup(), on the same truncated 32-bit offsets. */
    const uint8_t *tab = r.p;
    int32_t rel = (int32_t)(uint32_t)(ip - (uintptr_t)hdr);
    uint64_t lo = 0, hi = count;
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;
        int32_t start;
        memcpy(&start, tab + mid * 8, 4);
        if (rel < start)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (hi == 0)
        return;
    int32_t fde_off;
    memcpy(&fde_off, tab + (hi - 1) * 8 + 4, 4);
    const uint8_t *fde = hdr + fde_off;

    rd_t f = {fde, fde + 8, false};
    uint32_t len = (uint32_t)rd_fixed(&f, 4, false);
    if (len == 0 || len == 0xffffffffu)
        return;
    f.end = f.p + len;
    const uint8_t *cie_ptr_at = f.p;
    int32_t cie_off = (int32_t)rd_fixed(&f, 4, true);
    if (cie_off == 0 || f.bad)
        return;
    cie_t c;
    if (!parse_cie(cie_ptr_at - cie_off, &c))
        return;
    uint64_t start_ip, range, aug_len = 0;
    if (!rd_encoded(&f, c.fde_enc, &start_ip, true) ||
        !rd_encoded(&f, c.fde_enc & 0x0f, &range, true))
        return;
    const uint8_t *aug_end = NULL;
    if (c.sized) {
        aug_len = rd_uleb(&f);
        aug_end = f.p + aug_len;
    }
    if (!rd_encoded(&f, c.lsda_enc, &ignored, false) || f.bad)
        return;
    const uint8_t *instr = c.sized ? aug_end : f.p;
    if (ip < start_ip || ip >= start_ip + range)
        return;

    row_t init, row;
    for (unsigned i = 0; i < NREGS + 2; i++)
        set_reg(&init, i, W_SAME, 0);
    rd_t ci = {c.instr, c.instr_end, false};
    if (!run_cfi(&ci, &c, &init, &init, 0, ~0ull))
        return;
    row = init;
    if (instr > f.end)
        return;
    rd_t fi = {instr, f.end, false};
    if (!run_cfi(&fi, &c, &row, &init, start_ip, ip))
        return;
    classify(&row, &c, out);
}

bool fl_cfi_rule(uintptr_t ra, fl_rule_t *out)
{
    bool cacheable;
    derive(ra, out, &cacheable);
    return cacheable;
}
