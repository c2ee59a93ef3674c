/* Hand-written C baseline ("the limit") for the NEXMark-style queries Q5 and Q7 of
 * bench/README.md, in the style of ../shared/bench/bench_c.c (whose input reading and field
 * parsing are copied here unchanged, so that both baselines read bids the same way).
 *
 *   bench_q Q5|Q7 csv|jsonl INPUT [OUTPUT]
 *
 * Q5  hot items: event time ts, lateness 2 s; sliding windows of 60 s every 10 s (windows
 *     [k*10000, k*10000 + 60000) ms); per window the auction with the most bids, ties broken
 *     by the smallest auction. Writes CSV "window_start,auction,count".
 *     Each bid is counted once, in its 10 s pane (an open-addressing table auction -> count per
 *     pane); when the window [s, s+60 s) fires, its six panes are summed into a scratch table
 *     and the top auction taken from it, and pane s, which no later window needs, is recycled.
 * Q7  highest bid: event time ts, lateness 2 s; tumbling 10 s windows; per window the bid with
 *     the highest price, ties broken by the smallest auction, then the smallest bidder. Writes
 *     CSV "window_start,auction,bidder,price".
 * A window fires when the watermark (max ts seen - 2000) reaches its end; at end of input every
 * open window fires. Late records (every window they belong to has fired) are counted (stderr)
 * and dropped. window_start is written in epoch ms.
 *
 * Single thread; input read() in 1 MiB blocks into a reused buffer; hand-rolled field parsing
 * (CSV: an SSE2 scan for delimiters, columns located by the header, RFC 4180 quotes handled by a
 * scalar fallback; JSON: keys matched by name, any order). Only the fields a query needs are
 * converted (Q5: auction, ts; Q7: auction, bidder, price, ts).
 * Build: cc -O2 -o bench_q bench_q.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LATENESS_MS 2000LL
#define PANE_MS 10000LL  /* Q5's slide and Q7's window size */
#define Q5_PANES 6       /* Q5's window: 60 s = 6 panes */

enum { F_AUCTION, F_BIDDER, F_PRICE, F_CHANNEL, F_URL, F_TS, NF };
static const char *FNAMES[NF] = {"auction", "bidder", "price", "channel", "url", "ts"};

typedef struct {
    int64_t auction, bidder, price, ts;
    const char *channel, *url;
    int channel_len, url_len;
} Bid;

static void die(const char *m) { fprintf(stderr, "bench_q: %s\n", m); exit(2); }

/* ---------- output buffer ---------- */
static FILE *out_f;
static char obuf[1 << 20];
static size_t olen;
static void oflush(void) { if (olen) { fwrite(obuf, 1, olen, out_f); olen = 0; } }
static inline void oensure(size_t n) { if (olen + n > sizeof obuf) oflush(); }
static inline void oput_i64(int64_t v) {
    char tmp[24]; int n = 0; uint64_t u;
    if (v < 0) { obuf[olen++] = '-'; u = (uint64_t)(-(v + 1)) + 1; } else u = (uint64_t)v;
    do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    while (n) obuf[olen++] = tmp[--n];
}
static inline void oput_c(char c) { obuf[olen++] = c; }
static inline void oput_s(const char *s) { size_t n = strlen(s); memcpy(obuf + olen, s, n); olen += n; }

/* ---------- parsing (as in bench_c.c) ---------- */
static inline const char *parse_int(const char *p, int64_t *out) {
    int neg = 0; uint64_t v = 0;
    if (*p == '-') { neg = 1; p++; }
    while ((unsigned)(*p - '0') < 10) { v = v * 10 + (uint64_t)(*p - '0'); p++; }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return p;
}

/* CSV: column index -> field id (or -1) */
static int csv_col[64];
static int csv_ncol;
static unsigned need_mask;

static const char *csv_header(const char *p, const char *end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) die("no header line");
    csv_ncol = 0;
    const char *s = p;
    for (;;) {
        const char *e = s;
        while (e < nl && *e != ',' && *e != '\r') e++;
        int id = -1;
        for (int f = 0; f < NF; f++)
            if ((size_t)(e - s) == strlen(FNAMES[f]) && !memcmp(s, FNAMES[f], (size_t)(e - s))) id = f;
        if (csv_ncol >= 64) die("too many columns");
        csv_col[csv_ncol++] = id;
        if (e >= nl || *e != ',') break;
        s = e + 1;
    }
    unsigned have = 0;
    for (int c = 0; c < csv_ncol; c++) if (csv_col[c] >= 0) have |= 1u << csv_col[c];
    if ((have & need_mask) != need_mask) die("csv header lacks a needed column");
    return nl + 1;
}

/* parses one CSV line starting at p (quoted fields allowed); returns the start of the next line */
static inline const char *csv_record(const char *p, const char *end, Bid *b) {
    for (int c = 0; c < csv_ncol; c++) {
        int id = csv_col[c];
        if (id >= 0 && (need_mask >> id) & 1) {
            if (id == F_CHANNEL || id == F_URL) {
                const char *s = p;
                while (p < end && *p != ',' && *p != '\n') p++;
                if (id == F_CHANNEL) { b->channel = s; b->channel_len = (int)(p - s); }
                else { b->url = s; b->url_len = (int)(p - s); }
            } else {
                int64_t v; p = parse_int(p, &v);
                switch (id) {
                case F_AUCTION: b->auction = v; break;
                case F_BIDDER: b->bidder = v; break;
                case F_PRICE: b->price = v; break;
                default: b->ts = v; break;
                }
            }
        } else if (c + 1 < csv_ncol) {
            const char *q = memchr(p, ',', (size_t)(end - p));
            p = q ? q : end;
        } else {
            const char *q = memchr(p, '\n', (size_t)(end - p));
            p = q ? q : end;
        }
        if (p < end && *p == '\r') p++;
        if (p < end && (*p == ',' || *p == '\n')) {
            if (*p == '\n') { return p + 1; }
            p++;
        }
    }
    const char *q = memchr(p, '\n', (size_t)(end - p));
    return q ? q + 1 : end;
}

/* Fast path: SSE2 structural scan (bench_c.c's): a bit mask of ',', '\n' and '"' per 64-byte
 * block, delimiters visited bit by bit, only the wanted fields converted; a '"' sends its line to
 * the scalar parser above. */
#include <emmintrin.h>
static inline uint64_t block_mask(const char *q) {
    const __m128i comma = _mm_set1_epi8(','), nl = _mm_set1_epi8('\n'), quo = _mm_set1_epi8('"');
    uint64_t m = 0;
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(q + 16 * i));
        __m128i e = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, nl)), _mm_cmpeq_epi8(v, quo));
        m |= (uint64_t)(uint32_t)_mm_movemask_epi8(e) << (16 * i);
    }
    return m;
}
static inline int64_t field_int(const char *s, const char *e) {
    int neg = 0; uint64_t v = 0;
    if (s < e && *s == '-') { neg = 1; s++; }
    while (s < e) { v = v * 10 + (uint64_t)(*s - '0'); s++; }
    return neg ? -(int64_t)v : (int64_t)v;
}
#define CSV_SCAN(P, END, B, ON_RECORD)                                                          \
    do {                                                                                        \
        const char *line_ = (P), *fs_ = (P);                                                    \
        int col_ = 0;                                                                           \
        const char *q_ = (P);                                                                   \
        while (q_ + 64 <= (END)) {                                                              \
            uint64_t m_ = block_mask(q_);                                                       \
            int resync_ = 0;                                                                    \
            while (m_) {                                                                        \
                const char *d_ = q_ + __builtin_ctzll(m_);                                      \
                m_ &= m_ - 1;                                                                   \
                char c_ = *d_;                                                                  \
                if (c_ == '"') {                                                                \
                    line_ = csv_record(line_, (END), &(B)); ON_RECORD;                          \
                    fs_ = line_; col_ = 0; q_ = line_; resync_ = 1; break;                      \
                }                                                                               \
                if (col_ < csv_ncol) {                                                          \
                    int id_ = csv_col[col_];                                                    \
                    if (id_ >= 0 && ((need_mask >> id_) & 1)) {                                 \
                        switch (id_) {                                                          \
                        case F_AUCTION: (B).auction = field_int(fs_, d_); break;                \
                        case F_BIDDER: (B).bidder = field_int(fs_, d_); break;                  \
                        case F_PRICE: (B).price = field_int(fs_, d_); break;                    \
                        case F_TS: (B).ts = field_int(fs_, d_); break;                          \
                        case F_CHANNEL: (B).channel = fs_; (B).channel_len = (int)(d_ - fs_); break; \
                        default: (B).url = fs_; (B).url_len = (int)(d_ - fs_); break;           \
                        }                                                                       \
                    }                                                                           \
                }                                                                               \
                fs_ = d_ + 1;                                                                   \
                if (c_ == '\n') {                                                               \
                    if (d_ > line_) { ON_RECORD; }                                              \
                    col_ = 0; line_ = fs_;                                                      \
                } else col_++;                                                                  \
            }                                                                                   \
            if (!resync_) q_ += 64;                                                             \
        }                                                                                       \
        while (line_ < (END)) { /* tail: scalar */                                              \
            if (*line_ == '\n') { line_++; continue; }                                          \
            line_ = csv_record(line_, (END), &(B)); ON_RECORD;                                  \
        }                                                                                       \
    } while (0)

/* JSON Lines: one flat object per line, keys in any order, values int/string/other */
static inline const char *skip_ws(const char *p) { while (*p == ' ' || *p == '\t' || *p == '\r') p++; return p; }

static inline int key_id(const char *k, int n) {
    switch (n) {
    case 7: if (!memcmp(k, "auction", 7)) return F_AUCTION; if (!memcmp(k, "channel", 7)) return F_CHANNEL; break;
    case 6: if (!memcmp(k, "bidder", 6)) return F_BIDDER; break;
    case 5: if (!memcmp(k, "price", 5)) return F_PRICE; break;
    case 3: if (!memcmp(k, "url", 3)) return F_URL; break;
    case 2: if (!memcmp(k, "ts", 2)) return F_TS; break;
    }
    return -1;
}

static inline const char *json_record(const char *p, const char *end, Bid *b) {
    p = skip_ws(p);
    if (*p != '{') { const char *q = memchr(p, '\n', (size_t)(end - p)); return q ? q + 1 : end; }
    p++;
    for (;;) {
        p = skip_ws(p);
        if (*p == '}') { p++; break; }
        if (*p != '"') break;
        const char *k = ++p;
        while (*p != '"') p++;
        int id = key_id(k, (int)(p - k));
        p = skip_ws(p + 1);
        if (*p == ':') p = skip_ws(p + 1);
        if (*p == '"') {
            const char *s = ++p;
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) { p = end; break; }
                int bs = 0; const char *r = q - 1;
                while (r >= s && *r == '\\') { bs++; r--; }
                p = q + 1;
                if (!(bs & 1)) break;
            }
            if (id == F_CHANNEL) { b->channel = s; b->channel_len = (int)(p - 1 - s); }
            else if (id == F_URL) { b->url = s; b->url_len = (int)(p - 1 - s); }
        } else if (*p == '-' || (unsigned)(*p - '0') < 10) {
            int64_t v; p = parse_int(p, &v);
            switch (id) {
            case F_AUCTION: b->auction = v; break;
            case F_BIDDER: b->bidder = v; break;
            case F_PRICE: b->price = v; break;
            case F_TS: b->ts = v; break;
            default: break;
            }
            while (*p != ',' && *p != '}' && *p != '\n') p++; /* fraction/exponent: ignored */
        } else {
            while (*p != ',' && *p != '}' && *p != '\n') p++;
        }
        p = skip_ws(p);
        if (*p == ',') { p++; continue; }
        if (*p == '}') { p++; break; }
        break;
    }
    const char *q = memchr(p, '\n', (size_t)(end - p));
    return q ? q + 1 : end;
}

/* ---------- time ---------- */
static inline int64_t floor_div(int64_t a, int64_t b) { int64_t q = a / b; if ((a % b) && ((a < 0) != (b < 0))) q--; return q; }

static int64_t max_ts = INT64_MIN;
static int64_t late_count;

/* Panes (Q5) and windows (Q7) live in a ring indexed by their number (start / 10 s) modulo
 * RING; the numbers open at one time span a few more than the window plus the lateness, so a
 * span of RING or more means the input is far more out of order than this baseline expects. */
#define RING 64

/* ---------- Q5: a count table per 10 s pane ---------- */
typedef struct { int64_t key; int64_t count; } Slot; /* count == 0: empty */
typedef struct { Slot *slots; uint64_t mask; uint64_t used; } Tab;

static inline uint64_t hash64(int64_t k) { uint64_t x = (uint64_t)k * 0x9E3779B97F4A7C15ULL; return x ^ (x >> 29); }

static void tab_init(Tab *t, uint64_t cap) {
    t->mask = cap - 1; t->used = 0;
    t->slots = calloc(cap, sizeof(Slot));
    if (!t->slots) die("oom");
}
static void tab_clear(Tab *t) { memset(t->slots, 0, (t->mask + 1) * sizeof(Slot)); t->used = 0; }
static void tab_grow(Tab *t) {
    uint64_t nm = t->mask * 2 + 1;
    Slot *ns = calloc(nm + 1, sizeof(Slot));
    if (!ns) die("oom");
    for (uint64_t i = 0; i <= t->mask; i++) {
        Slot *s = &t->slots[i];
        if (!s->count) continue;
        uint64_t h = hash64(s->key) & nm;
        while (ns[h].count) h = (h + 1) & nm;
        ns[h] = *s;
    }
    free(t->slots); t->slots = ns; t->mask = nm;
}
static inline void tab_add(Tab *t, int64_t key, int64_t n) {
    uint64_t h = hash64(key) & t->mask;
    for (;;) {
        Slot *s = &t->slots[h];
        if (s->count == 0) {
            s->key = key; s->count = n;
            if (++t->used * 2 > t->mask) tab_grow(t);
            return;
        }
        if (s->key == key) { s->count += n; return; }
        h = (h + 1) & t->mask;
    }
}

static Tab panes[RING];      /* pane p in panes[p % RING] */
static int pane_live[RING];  /* the slot holds pane number pane_no[] with at least one bid */
static int64_t pane_no[RING];
static Tab pool[RING];       /* emptied tables, kept for the next panes (their memory stays warm) */
static int npool;
static Tab scratch;          /* one window's six panes summed */
static int64_t q5_fired = INT64_MIN; /* every window numbered below this has fired */
static int64_t q5_lo = INT64_MAX, q5_hi = INT64_MIN; /* lowest, highest pane numbers seen */
static int64_t q5_next_end = INT64_MAX; /* end (ms) of the next window to fire */

static inline Tab *pane_of(int64_t p) {
    int r = (int)(p & (RING - 1));
    if (!pane_live[r]) {
        pane_live[r] = 1; pane_no[r] = p;
        if (npool) panes[r] = pool[--npool];
        else tab_init(&panes[r], 16384);
    } else if (pane_no[r] != p) die("input too far out of order for the pane ring");
    return &panes[r];
}
/* fire window w: [w*10 s, w*10 s + 60 s), the panes w .. w+5; then pane w is no longer needed */
static void q5_fire_window(int64_t w) {
    int n = 0; Tab *only = NULL;
    for (int64_t p = w; p < w + Q5_PANES; p++) {
        int r = (int)(p & (RING - 1));
        if (pane_live[r] && pane_no[r] == p) { n++; only = &panes[r]; }
    }
    if (n) {
        Tab *t = only;
        if (n > 1) {
            tab_clear(&scratch);
            for (int64_t p = w; p < w + Q5_PANES; p++) {
                int r = (int)(p & (RING - 1));
                if (!pane_live[r] || pane_no[r] != p) continue;
                Tab *pt = &panes[r];
                for (uint64_t i = 0; i <= pt->mask; i++)
                    if (pt->slots[i].count) tab_add(&scratch, pt->slots[i].key, pt->slots[i].count);
            }
            t = &scratch;
        }
        int64_t best_k = 0, best_c = 0;
        for (uint64_t i = 0; i <= t->mask; i++) {
            const Slot *s = &t->slots[i];
            if (s->count > best_c || (s->count == best_c && s->count && s->key < best_k)) { best_c = s->count; best_k = s->key; }
        }
        oensure(96);
        oput_i64(w * PANE_MS); oput_c(','); oput_i64(best_k); oput_c(','); oput_i64(best_c); oput_c('\n');
    }
    int r = (int)(w & (RING - 1));
    if (pane_live[r] && pane_no[r] == w) { tab_clear(&panes[r]); pool[npool++] = panes[r]; pane_live[r] = 0; }
}
/* fire every window whose end is <= wm, in ascending order; windows after the last pane that
 * holds a bid are empty, so they are skipped at once (a gap in the input) */
static void q5_fire_upto(int64_t wm) {
    if (q5_lo == INT64_MAX) return; /* no bid yet */
    if (q5_fired == INT64_MIN) q5_fired = q5_lo - (Q5_PANES - 1);
    /* the first window not to fire: window w ends at (w + 6) * 10 s */
    int64_t stop = wm == INT64_MAX ? q5_hi + 1 : floor_div(wm, PANE_MS) - Q5_PANES + 1;
    while (q5_fired < stop && q5_fired <= q5_hi) q5_fire_window(q5_fired++);
    if (q5_fired < stop) q5_fired = stop;
    q5_next_end = (q5_fired + Q5_PANES) * PANE_MS;
}
static inline void q5_record(const Bid *b) {
    if (b->ts > max_ts) {
        max_ts = b->ts;
        if (max_ts - LATENESS_MS >= q5_next_end) q5_fire_upto(max_ts - LATENESS_MS);
    }
    int64_t p = floor_div(b->ts, PANE_MS);
    if (p < q5_fired) { late_count++; return; } /* every window holding it has fired */
    if (p < q5_lo) {
        q5_lo = p;
        if (q5_fired == INT64_MIN) q5_next_end = (p + 1) * PANE_MS; /* window p-5 ends at pane p's end */
    }
    if (p > q5_hi) q5_hi = p;
    Tab *t = pane_of(p); /* dies when panes RING apart are open together */
    /* tab_add, inlined for the common case */
    uint64_t h = hash64(b->auction) & t->mask;
    for (;;) {
        Slot *s = &t->slots[h];
        if (s->key == b->auction && s->count) { s->count++; return; }
        if (s->count == 0) {
            s->key = b->auction; s->count = 1;
            if (++t->used * 2 > t->mask) tab_grow(t);
            return;
        }
        h = (h + 1) & t->mask;
    }
}

/* ---------- Q7: the best bid per 10 s window ---------- */
typedef struct { int64_t no, auction, bidder, price; int live; } Best;
static Best q7w[RING];
static int64_t q7_fired = INT64_MIN; /* every window numbered below this has fired */
static int64_t q7_lo = INT64_MAX, q7_hi = INT64_MIN;
static int64_t q7_next_end = INT64_MAX;

static void q7_fire_upto(int64_t wm) {
    if (q7_lo == INT64_MAX) return;
    if (q7_fired == INT64_MIN) q7_fired = q7_lo;
    int64_t stop = wm == INT64_MAX ? q7_hi + 1 : floor_div(wm, PANE_MS); /* the first window not to fire */
    for (; q7_fired < stop && q7_fired <= q7_hi; q7_fired++) {
        Best *x = &q7w[q7_fired & (RING - 1)];
        if (x->live && x->no == q7_fired) {
            oensure(96);
            oput_i64(x->no * PANE_MS); oput_c(','); oput_i64(x->auction); oput_c(',');
            oput_i64(x->bidder); oput_c(','); oput_i64(x->price); oput_c('\n');
            x->live = 0;
        }
    }
    if (q7_fired < stop) q7_fired = stop;
    q7_next_end = (q7_fired + 1) * PANE_MS;
}
static inline void q7_record(const Bid *b) {
    if (b->ts > max_ts) {
        max_ts = b->ts;
        if (max_ts - LATENESS_MS >= q7_next_end) q7_fire_upto(max_ts - LATENESS_MS);
    }
    int64_t w = floor_div(b->ts, PANE_MS);
    if (w < q7_fired) { late_count++; return; }
    if (w < q7_lo) { q7_lo = w; if (q7_fired == INT64_MIN) q7_next_end = (w + 1) * PANE_MS; }
    if (w > q7_hi) q7_hi = w;
    Best *x = &q7w[w & (RING - 1)];
    if (!x->live) {
        x->live = 1; x->no = w; x->auction = b->auction; x->bidder = b->bidder; x->price = b->price;
        return;
    }
    if (x->no != w) die("input too far out of order for the window ring");
    if (b->price > x->price ||
        (b->price == x->price && (b->auction < x->auction || (b->auction == x->auction && b->bidder < x->bidder)))) {
        x->auction = b->auction; x->bidder = b->bidder; x->price = b->price;
    }
}

/* ---------- main: the read loop of bench_c.c ---------- */
#define READ_LOOP(ON_RECORD)                                                                    \
    for (;;) {                                                                                  \
        ssize_t k = read(fd, buf + have, cap - have);                                           \
        if (k < 0) die("read failed");                                                          \
        have += (size_t)k;                                                                      \
        if (have == 0) break;                                                                   \
        size_t upto;                                                                            \
        if (k == 0) {                                                                           \
            if (buf[have - 1] != '\n') buf[have++] = '\n';                                      \
            upto = have;                                                                        \
        } else {                                                                                \
            const char *last = memrchr(buf, '\n', have);                                        \
            if (!last) { if (have == cap) die("line longer than the buffer"); continue; }       \
            upto = (size_t)(last - buf) + 1;                                                    \
        }                                                                                       \
        const char *p = buf, *end = buf + upto;                                                 \
        if (!header_done) { p = csv_header(p, end); header_done = 1; }                          \
        if (json) {                                                                             \
            while (p < end) {                                                                   \
                if (*p == '\n') { p++; continue; }                                              \
                p = json_record(p, end, &b);                                                    \
                ON_RECORD;                                                                      \
            }                                                                                   \
        } else {                                                                                \
            CSV_SCAN(p, end, b, ON_RECORD);                                                     \
        }                                                                                       \
        memmove(buf, buf + upto, have - upto);                                                  \
        have -= upto;                                                                           \
        if (k == 0) break;                                                                      \
    }

int main(int argc, char **argv) {
    if (argc < 4 || argv[1][0] != 'Q' || (argv[1][1] != '5' && argv[1][1] != '7')) {
        fprintf(stderr, "usage: bench_q Q5|Q7 csv|jsonl INPUT [OUTPUT]\n");
        return 1;
    }
    int q = argv[1][1] - '0';
    int json = !strcmp(argv[2], "jsonl") || !strcmp(argv[2], "json");
    int fd = open(argv[3], O_RDONLY);
    if (fd < 0) die("cannot open input");
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    out_f = stdout;
    if (argc > 4 && argv[4][0]) { out_f = fopen(argv[4], "w"); if (!out_f) die("cannot open output"); }

    if (q == 5) {
        need_mask = (1u << F_AUCTION) | (1u << F_TS);
        oput_s("window_start,auction,count\n");
        tab_init(&scratch, 65536);
    } else {
        need_mask = (1u << F_AUCTION) | (1u << F_BIDDER) | (1u << F_PRICE) | (1u << F_TS);
        oput_s("window_start,auction,bidder,price\n");
    }

    /* read() into a 1 MiB buffer that stays in cache; whole lines are parsed, the partial last
     * line is moved to the front */
    const size_t cap = 1u << 20;
    char *buf = malloc(cap + 128);
    if (!buf) die("oom");
    size_t have = 0;
    int header_done = json;
    Bid b; memset(&b, 0, sizeof b);
    if (q == 5) { READ_LOOP(q5_record(&b)); }
    else { READ_LOOP(q7_record(&b)); }
    free(buf);
    if (q == 5) q5_fire_upto(INT64_MAX);
    else q7_fire_upto(INT64_MAX);
    oflush();
    if (out_f != stdout) fclose(out_f); else fflush(stdout);
    if (late_count) fprintf(stderr, "bench_q: %lld late records dropped\n", (long long)late_count);
    return 0;
}
