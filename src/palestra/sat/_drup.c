/* _drup.c: the DRUP checker of palestra.sat.drup (forward, reverse unit propagation), compiled.
 *
 * The same checker as drup._Checker (read its docstrings first): a clause set with a
 * persistent top-level assignment at its unit-propagation fixpoint and two watched literals;
 * a lemma is accepted when assigning its literals false propagates to a conflict; deletions of
 * a clause that is the reason of a top-level literal, or of a clause not in the set, are
 * ignored (counted). Whether a lemma is RUP does not depend on the order in which unit
 * propagation visits clauses, so the verdicts, the failing step and the counts are those of
 * the Python checker.
 *
 * Input (built by palestra.sat.drup from a CNF and a proof):
 *
 *   cnf     int32 clauses of the formula, each ended by 0; every literal within num_vars.
 *   proof   either int32 steps [kind, lit .. lit, 0] (kind 0 add, 1 delete), parsed from text
 *           by the Python side, or the bytes of a binary DRAT proof (a / d, then literals as
 *           7-bit varints of 2 * var + negative, then a 0 byte), as CaDiCaL writes it.
 *
 * check(num_vars, cnf, proof, binary) -> (outcome, step, lemmas, deletions, ignored, lits)
 *
 *   outcome 0 empty clause derived at step (1-based), 1 lemma at step is not RUP, 2 no more
 *           steps and the clause set propagates to a conflict, 3 no more steps and no
 *           conflict, 4 malformed binary step, 5 a literal beyond num_vars at step.
 *   lits    the literals of the step named (a list), else None.
 *
 * Literals are coded L = 2 * var + (lit < 0); value[L] is 1 true, -1 false, 0 free. Clauses
 * live in one int pool, each as [id, size, literals], and are never freed (a deleted clause is only unwatched and unlinked
 * from the index); the index is a hash table keyed by an order-independent hash of the
 * clause's literal set, each bucket a list of clause ids, newest first. Every array grows on
 * demand; a failed allocation is MemoryError. Malformed int32 input (a literal beyond
 * num_vars, a missing final 0) is ValueError, never a crash.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_vec.h"

typedef uint64_t u64;

typedef struct {
    i32 start, size;  /* literal codes in pool[start .. start + size) */
    i32 next;         /* next clause of the same hash bucket */
    u64 hash;
    char taut, alive, watched, marked;
} clause_t;

typedef struct {
    i32 n;            /* variables */
    signed char *value; /* by literal code, 2n + 2 */
    i32 *reason;      /* by variable: clause id or -1 */
    vec *watches;     /* by literal code */
    i32 *trail;
    i32 trail_size, qhead;
    vec pool;
    clause_t *clauses;
    i32 nclauses, cap_clauses;
    i32 *buckets;
    i32 nbuckets;     /* power of two */
    i32 *stamp;       /* by literal code, for dedup and set comparison */
    i32 stamp_no;
    vec tmp, tmp2;
    int refuted;
    i32 conflict;     /* the falsified clause of the last conflict (-1: a lemma literal) */
    i32 refute_clause; /* the clause found falsified when refuted became 1 */
    i32 deleted;      /* the clause the last delete_clause removed */
    i32 refute_step;  /* the step at which refuted became 1 */
    i32 step;         /* the proof step being read: stamps the trail */
    i32 *tstep;       /* by trail position: the step its literal was assigned at */
    i32 *pos;         /* by variable: trail position */
    char *seen;       /* by variable, for marking antecedents */
} checker;

/* The mark of backward checking, kept also in the pool beside the clause's size (the word
 * before its literals), where propagation reads it without a visit to the clause table. */
#define MARKED ((i32)1 << 30)

static inline i32 code(i32 lit) { return lit > 0 ? 2 * lit : 2 * (-lit) + 1; }
static inline i32 decode(i32 L) { return (L & 1) ? -(L >> 1) : (L >> 1); }

static u64 mix(u64 x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void checker_free(checker *c) {
    if (c->watches)
        for (i32 L = 0; L < 2 * c->n + 2; L++) free(c->watches[L].data);
    free(c->watches);
    free(c->value);
    free(c->reason);
    free(c->trail);
    free(c->tstep);
    free(c->pos);
    free(c->seen);
    free(c->pool.data);
    free(c->clauses);
    free(c->buckets);
    free(c->stamp);
    free(c->tmp.data);
    free(c->tmp2.data);
}

static int checker_init(checker *c, i32 n) {
    memset(c, 0, sizeof *c);
    c->n = n;
    size_t lits = (size_t)2 * n + 2;
    c->value = calloc(lits, 1);
    c->reason = malloc(((size_t)n + 1) * sizeof(i32));
    c->watches = calloc(lits, sizeof(vec));
    c->trail = malloc(((size_t)n + 1) * sizeof(i32));
    c->tstep = malloc(((size_t)n + 1) * sizeof(i32));
    c->pos = malloc(((size_t)n + 1) * sizeof(i32));
    c->seen = calloc((size_t)n + 1, 1);
    c->refute_clause = -1;
    c->stamp = calloc(lits, sizeof(i32));
    c->nbuckets = 1 << 12;
    c->buckets = malloc((size_t)c->nbuckets * sizeof(i32));
    if (!c->value || !c->reason || !c->watches || !c->trail || !c->tstep || !c->pos || !c->seen || !c->stamp || !c->buckets)
        return -1;
    for (i32 v = 0; v <= n; v++) c->reason[v] = -1;
    for (i32 b = 0; b < c->nbuckets; b++) c->buckets[b] = -1;
    return 0;
}

static inline void assign(checker *c, i32 L, i32 reason) {
    c->value[L] = 1;
    c->value[L ^ 1] = -1;
    c->reason[L >> 1] = reason;
    c->pos[L >> 1] = c->trail_size;
    c->tstep[c->trail_size] = c->step;
    c->trail[c->trail_size++] = L;
}

static void undo(checker *c, i32 mark) {
    for (i32 k = mark; k < c->trail_size; k++) {
        i32 L = c->trail[k];
        c->value[L] = c->value[L ^ 1] = 0;
        c->reason[L >> 1] = -1;
    }
    c->trail_size = mark;
    c->qhead = mark;
}

/* Watch the clause whose literals start at pool offset off (pool[off - 2] is its id,
 * pool[off - 1] its size) on L, with a blocker. */
static inline int watch(checker *c, i32 L, i32 off, i32 blocker) {
    vec *w = &c->watches[L];
    if (w->size + 2 > w->cap && vec_grow(w, w->size + 2)) return -1;
    w->data[w->size++] = off;
    w->data[w->size++] = blocker;
    return 0;
}

/* Visit the watches of false_lit (a literal just made false): mode 0 every clause, 1 only
 * marked (core) clauses, 2 only unmarked ones. Returns 1 on a conflict (c->conflict set),
 * 0 otherwise, -1 out of memory. A watch is a pair (pool offset of the clause's literals,
 * blocker): a literal of the clause whose truth means the clause needs no visit (MiniSat's
 * blocking literal). */
static inline int scan(checker *c, i32 false_lit, int mode) {
    signed char *value = c->value;
    i32 *pool = c->pool.data;
    vec *ws = &c->watches[false_lit];
    i32 *d = ws->data;
    i32 i = 0, j = 0, end = ws->size;
    int conflict = 0;
    while (i < end) {
        i32 off = d[i], blk = d[i + 1];
        i += 2;
        if (value[blk] == 1) {
            d[j++] = off;
            d[j++] = blk;
            continue;
        }
        i32 *lits = pool + off;
        if (mode && ((lits[-1] & MARKED) ? mode != 1 : mode == 1)) {
            d[j++] = off;
            d[j++] = blk;
            continue;
        }
        i32 size = lits[-1] & ~MARKED;
        if (lits[0] == false_lit) {
            lits[0] = lits[1];
            lits[1] = false_lit;
        }
        i32 other = lits[0];
        if (other != blk && value[other] == 1) {
            d[j++] = off;
            d[j++] = other;
            continue;
        }
        i32 k;
        for (k = 2; k < size; k++) {
            if (value[lits[k]] != -1) break;
        }
        if (k < size) {
            i32 w = lits[k];
            lits[1] = w;
            lits[k] = false_lit;
            if (watch(c, w, off, other)) return -1;
            continue;
        }
        d[j++] = off;
        d[j++] = other;
        if (value[other] == -1) {
            while (i < end) d[j++] = d[i++];
            conflict = 1;
            c->conflict = lits[-2];
        } else {
            assign(c, other, lits[-2]);
        }
    }
    ws->size = j;
    return conflict;
}

/* Unit propagation from qhead; 1 on a conflict, 0 at the fixpoint, -1 out of memory. */
static int propagate(checker *c) {
    while (c->qhead < c->trail_size) {
        int r = scan(c, c->trail[c->qhead++] ^ 1, 0);
        if (r) return r;
    }
    return 0;
}

/* Core-first unit propagation (drat-trim's): marked clauses to their fixpoint, then the
 * unmarked watches of one more literal, and back to the marked ones as soon as that assigned
 * anything. The fixpoint, and so whether there is a conflict, is that of propagate; the
 * conflict found tends to use clauses already marked, so backward checking marks (and then
 * checks) fewer lemmas. */
static int propagate_core_first(checker *c) {
    i32 qall = c->qhead;
    for (;;) {
        while (c->qhead < c->trail_size) {
            int r = scan(c, c->trail[c->qhead++] ^ 1, 1);
            if (r) return r;
        }
        if (qall >= c->trail_size) return 0;
        i32 before = c->trail_size;
        while (qall < c->trail_size && c->trail_size == before) {
            int r = scan(c, c->trail[qall++] ^ 1, 2);
            if (r) return r;
        }
    }
}

/* The literal codes of lits[0..n) deduplicated (first occurrence kept) into c->tmp;
 * returns 1 if the clause is a tautology, -1 out of memory. */
static int dedup(checker *c, const i32 *codes, i32 n) {
    c->tmp.size = 0;
    c->stamp_no++;
    int taut = 0;
    for (i32 k = 0; k < n; k++) {
        i32 L = codes[k];
        if (c->stamp[L] == c->stamp_no) continue;
        c->stamp[L] = c->stamp_no;
        if (vec_push(&c->tmp, L)) return -1;
    }
    for (i32 k = 0; k < c->tmp.size; k++)
        if (c->stamp[c->tmp.data[k] ^ 1] == c->stamp_no) taut = 1;
    return taut;
}

static u64 set_hash(const i32 *codes, i32 n) {
    u64 h = 0;
    for (i32 k = 0; k < n; k++) h += mix((u64)codes[k]);
    return h;
}

/* Add the clause in c->tmp (deduplicated codes); -1 out of memory. */
static int add_clause(checker *c, int taut) {
    if (c->nclauses == c->cap_clauses) {
        i32 cap = c->cap_clauses ? 2 * c->cap_clauses : 1024;
        clause_t *d = realloc(c->clauses, (size_t)cap * sizeof(clause_t));
        if (!d) return -1;
        c->clauses = d;
        c->cap_clauses = cap;
    }
    if (c->nclauses >= c->nbuckets) { /* rehash at load 1 */
        i32 nb = 2 * c->nbuckets;
        i32 *b = malloc((size_t)nb * sizeof(i32));
        if (!b) return -1;
        for (i32 k = 0; k < nb; k++) b[k] = -1;
        for (i32 id = 0; id < c->nclauses; id++) c->clauses[id].next = -2;
        /* relink the live chains, keeping newest first: walk ids ascending, push front */
        for (i32 id = 0; id < c->nclauses; id++) {
            if (!c->clauses[id].alive) continue;
            i32 bk = (i32)(c->clauses[id].hash & (u64)(nb - 1));
            c->clauses[id].next = b[bk];
            b[bk] = id;
        }
        free(c->buckets);
        c->buckets = b;
        c->nbuckets = nb;
    }
    i32 size = c->tmp.size;
    i32 id = c->nclauses++;
    clause_t *cl = &c->clauses[id];
    if (vec_push(&c->pool, id) || vec_push(&c->pool, size)) return -1;
    cl->start = c->pool.size;
    cl->size = size;
    cl->taut = (char)taut;
    cl->alive = 1;
    cl->watched = 0;
    cl->marked = 0;
    cl->hash = set_hash(c->tmp.data, size);
    i32 bk = (i32)(cl->hash & (u64)(c->nbuckets - 1));
    cl->next = c->buckets[bk];
    c->buckets[bk] = id;
    if (c->refuted || taut) {
        for (i32 k = 0; k < size; k++)
            if (vec_push(&c->pool, c->tmp.data[k])) return -1;
        return 0;
    }
    /* non-false literals first, each group in its order */
    signed char *value = c->value;
    for (i32 k = 0; k < size; k++)
        if (value[c->tmp.data[k]] != -1 && vec_push(&c->pool, c->tmp.data[k])) return -1;
    for (i32 k = 0; k < size; k++)
        if (value[c->tmp.data[k]] == -1 && vec_push(&c->pool, c->tmp.data[k])) return -1;
    i32 *lits = c->pool.data + cl->start;
    if (size == 0 || value[lits[0]] == -1) {
        c->refuted = 1;
        c->refute_clause = id;
        c->refute_step = c->step;
        return 0;
    }
    if (size >= 2) {
        cl->watched = 1;
        if (watch(c, lits[0], cl->start, lits[1]) || watch(c, lits[1], cl->start, lits[0])) return -1;
    }
    if ((size == 1 || value[lits[1]] == -1) && value[lits[0]] == 0) {
        assign(c, lits[0], id);
        int r = propagate(c);
        if (r < 0) return -1;
        if (r) {
            c->refuted = 1;
            c->refute_clause = c->conflict;
            c->refute_step = c->step;
        }
    }
    return 0;
}

static void unwatch(checker *c, i32 L, i32 off) {
    vec *ws = &c->watches[L];
    for (i32 k = 0; k < ws->size; k += 2) {
        if (ws->data[k] == off) {
            memmove(ws->data + k, ws->data + k + 2, (size_t)(ws->size - k - 2) * sizeof(i32));
            ws->size -= 2;
            return;
        }
    }
}

/* Delete one copy of the clause whose literal codes are in c->tmp2 (any order, maybe with
 * repeats); 1 deleted, 0 ignored, -1 out of memory. */
static int delete_clause(checker *c) {
    /* the set of codes, marked */
    c->stamp_no++;
    i32 distinct = 0;
    c->tmp.size = 0;
    for (i32 k = 0; k < c->tmp2.size; k++) {
        i32 L = c->tmp2.data[k];
        if (c->stamp[L] == c->stamp_no) continue;
        c->stamp[L] = c->stamp_no;
        if (vec_push(&c->tmp, L)) return -1;
        distinct++;
    }
    u64 h = set_hash(c->tmp.data, distinct);
    i32 bk = (i32)(h & (u64)(c->nbuckets - 1));
    i32 prev = -1;
    for (i32 id = c->buckets[bk]; id >= 0; prev = id, id = c->clauses[id].next) {
        clause_t *cl = &c->clauses[id];
        if (cl->hash != h || cl->size != distinct) continue;
        const i32 *lits = c->pool.data + cl->start;
        int same = 1;
        for (i32 k = 0; k < cl->size; k++)
            if (c->stamp[lits[k]] != c->stamp_no) { same = 0; break; }
        if (!same) continue;
        /* the newest copy: a top-level reason is kept */
        if (cl->size > 0 && c->reason[lits[0] >> 1] == id) return 0;
        c->deleted = id;
        if (prev < 0) c->buckets[bk] = cl->next;
        else c->clauses[prev].next = cl->next;
        cl->alive = 0;
        if (cl->watched && !c->refuted) { /* once refuted the clause set no longer matters */
            unwatch(c, lits[0], cl->start);
            unwatch(c, lits[1], cl->start);
        }
        return 1;
    }
    return 0;
}

/* Is the clause in c->tmp2 (codes) RUP?  1 yes, 0 no, -1 out of memory. */
static void mark_core(checker *c);

/* Is the clause in c->tmp2 (codes) RUP?  1 yes, 0 no, -1 out of memory. With core, the
 * clauses the conflict used are marked (backward checking). */
static int is_rup(checker *c, int core) {
    if (c->refuted) return 1;
    i32 mark = c->trail_size;
    int conflict = 0;
    for (i32 k = 0; k < c->tmp2.size; k++) {
        i32 L = c->tmp2.data[k];
        if (c->value[L] == 1) {
            conflict = 1;
            c->conflict = -1 - (L >> 1); /* the variable of a true lemma literal */
            break;
        }
        if (c->value[L] == 0) assign(c, L ^ 1, -1);
    }
    if (!conflict) conflict = core ? propagate_core_first(c) : propagate(c);
    if (conflict > 0 && core) mark_core(c);
    undo(c, mark);
    return conflict;
}

/* Mark the clauses of the implication graph of the last conflict: the falsified clause and,
 * back along the trail, the reason of every literal it depends on. */
static void mark_core(checker *c) {
    i32 *pool = c->pool.data;
    i32 pending = 0; /* variables seen and not yet visited: the walk stops at none */
    if (c->conflict >= 0) {
        clause_t *cl = &c->clauses[c->conflict];
        cl->marked = 1;
        pool[cl->start - 1] |= MARKED;
        for (i32 k = 0; k < cl->size; k++) {
            i32 u = pool[cl->start + k] >> 1;
            if (!c->seen[u]) {
                c->seen[u] = 1;
                pending++;
            }
        }
    } else {
        c->seen[-1 - c->conflict] = 1;
        pending = 1;
    }
    for (i32 t = c->trail_size - 1; t >= 0 && pending > 0; t--) {
        i32 v = c->trail[t] >> 1;
        if (!c->seen[v]) continue;
        c->seen[v] = 0;
        pending--;
        i32 r = c->reason[v];
        if (r < 0) continue;
        clause_t *cl = &c->clauses[r];
        cl->marked = 1;
        pool[cl->start - 1] |= MARKED;
        for (i32 k = 0; k < cl->size; k++) {
            i32 u = pool[cl->start + k] >> 1;
            if (u != v && !c->seen[u]) {
                c->seen[u] = 1;
                pending++;
            }
        }
    }
}

/* Watch a clause deleted later again, in a state before its deletion: the two literals
 * that are not false, or false latest on the trail. */
static int rewatch(checker *c, i32 id) {
    clause_t *cl = &c->clauses[id];
    i32 *lits = c->pool.data + cl->start;
    for (i32 t = 0; t < 2; t++) {
        i32 best = t, best_key = -1;
        for (i32 k = t; k < cl->size; k++) {
            i32 L = lits[k];
            i32 key = c->value[L] != -1 ? INT32_MAX : c->pos[L >> 1];
            if (key > best_key) {
                best = k;
                best_key = key;
            }
        }
        i32 x = lits[t];
        lits[t] = lits[best];
        lits[best] = x;
    }
    return watch(c, lits[0], cl->start, lits[1]) || watch(c, lits[1], cl->start, lits[0]) ? -1 : 0;
}

/* Backward checking: from the refutation, undo the steps one by one, and check each marked
 * lemma in the clause set just before it was added, marking what its check used. Returns
 * the failing step, 0 when all marked lemmas are RUP, -1 out of memory; *checked counts the
 * lemmas checked. */
static i32 backward(checker *c, const vec *log, i32 last, long *checked) {
    c->conflict = c->refute_clause;
    mark_core(c);
    c->refuted = 0;
    for (i32 s = last; s >= 1; s--) {
        while (c->trail_size > 0 && c->tstep[c->trail_size - 1] >= s) {
            i32 L = c->trail[--c->trail_size];
            c->value[L] = c->value[L ^ 1] = 0;
            c->reason[L >> 1] = -1;
        }
        c->qhead = c->trail_size;
        i32 kind = log->data[2 * (s - 1)], id = log->data[2 * (s - 1) + 1];
        if (id < 0) continue;
        clause_t *cl = &c->clauses[id];
        if (kind == 1) {
            if (cl->watched && rewatch(c, id)) return -1;
            continue;
        }
        if (cl->watched) {
            unwatch(c, c->pool.data[cl->start], cl->start);
            unwatch(c, c->pool.data[cl->start + 1], cl->start);
        }
        if (!cl->marked) continue;
        c->tmp2.size = 0;
        for (i32 k = 0; k < cl->size; k++)
            if (vec_push(&c->tmp2, c->pool.data[cl->start + k])) return -1;
        c->step = s;
        (*checked)++;
        int rup = is_rup(c, 1);
        if (rup < 0) return -1;
        if (!rup) return s;
    }
    return 0;
}

/* The next step of a binary DRAT proof at *pos: kind (0 add, 1 delete) and its codes in
 * c->tmp2. Returns 1 read, 0 at the end, -1 malformed, -2 literal beyond n, -3 no memory. */
static int next_binary(checker *c, const unsigned char *buf, Py_ssize_t len, Py_ssize_t *pos,
                       int *kind) {
    Py_ssize_t p = *pos;
    while (p < len && (buf[p] == '\n' || buf[p] == ' ' || buf[p] == '\r' || buf[p] == '\t')) p++;
    if (p >= len) {
        *pos = p;
        return 0;
    }
    if (buf[p] == 'a') *kind = 0;
    else if (buf[p] == 'd') *kind = 1;
    else return -1;
    p++;
    c->tmp2.size = 0;
    int beyond = 0;
    for (;;) {
        u64 u = 0;
        int shift = 0;
        for (;;) {
            if (p >= len || shift > 35) return -1;
            unsigned char b = buf[p++];
            u |= (u64)(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80)) break;
        }
        if (u == 0) break;
        if (u < 2) return -1;
        if ((u >> 1) > (u64)c->n) beyond = 1;
        else if (vec_push(&c->tmp2, (i32)u)) return -3;
    }
    *pos = p;
    return beyond ? -2 : 1;
}

/* The next step of int32 steps [kind, lit .., 0] at *pos; same returns as next_binary. */
static int next_steps(checker *c, const i32 *buf, Py_ssize_t len, Py_ssize_t *pos, int *kind) {
    Py_ssize_t p = *pos;
    if (p >= len) return 0;
    *kind = buf[p++] ? 1 : 0;
    c->tmp2.size = 0;
    for (;;) {
        if (p >= len) return -1;
        i32 lit = buf[p++];
        if (lit == 0) break;
        if (lit == INT32_MIN || (lit < 0 ? -lit : lit) > c->n) return -2;
        if (vec_push(&c->tmp2, code(lit))) return -3;
    }
    *pos = p;
    return 1;
}

static PyObject *lits_list(checker *c) {
    PyObject *out = PyList_New(c->tmp2.size);
    if (!out) return NULL;
    for (i32 k = 0; k < c->tmp2.size; k++) {
        PyObject *x = PyLong_FromLong(decode(c->tmp2.data[k]));
        if (!x) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k, x);
    }
    return out;
}

static PyObject *check(PyObject *self, PyObject *args) {
    (void)self;
    int n, binary, back;
    Py_buffer cnf, proof;
    if (!PyArg_ParseTuple(args, "iy*y*pp", &n, &cnf, &proof, &binary, &back)) return NULL;
    PyObject *result = NULL;
    checker c;
    vec log = {NULL, 0, 0}; /* backward: per step, kind and clause id (-1: none) */
    if (n < 0 || n > (1 << 28) || cnf.len % 4 || (!binary && proof.len % 4)) {
        PyErr_SetString(PyExc_ValueError, "bad arguments");
        PyBuffer_Release(&cnf);
        PyBuffer_Release(&proof);
        return NULL;
    }
    if (checker_init(&c, n)) goto nomem;
    {
        const i32 *f = cnf.buf;
        Py_ssize_t m = cnf.len / 4, start = 0;
        for (Py_ssize_t k = 0; k < m; k++) {
            if (f[k] != 0) {
                i32 lit = f[k];
                if (lit == INT32_MIN || (lit < 0 ? -lit : lit) > n) {
                    PyErr_SetString(PyExc_ValueError, "formula literal beyond num_vars");
                    goto done;
                }
                continue;
            }
            c.tmp2.size = 0;
            for (Py_ssize_t q = start; q < k; q++)
                if (vec_push(&c.tmp2, code(f[q]))) goto nomem;
            int taut = dedup(&c, c.tmp2.data, c.tmp2.size);
            if (taut < 0 || add_clause(&c, taut)) goto nomem;
            start = k + 1;
        }
        if (start != m) {
            PyErr_SetString(PyExc_ValueError, "formula does not end with 0");
            goto done;
        }
    }
    {
        long lemmas = 0, deletions = 0, ignored = 0, step = 0, checked = -1;
        Py_ssize_t pos = 0;
        Py_ssize_t len = binary ? proof.len : proof.len / 4;
        int outcome = -1, kind = 0;
        PyObject *named = NULL;
        for (;;) {
            int r = binary ? next_binary(&c, proof.buf, len, &pos, &kind)
                           : next_steps(&c, proof.buf, len, &pos, &kind);
            if (r == -3) goto nomem;
            if (r == 0) {
                outcome = c.refuted ? 2 : 3;
                break;
            }
            step++;
            c.step = (i32)step;
            if (r == -1) {
                outcome = 4;
                break;
            }
            if (r == -2) {
                outcome = 5;
                break;
            }
            if (kind == 1) {
                c.deleted = -1;
                int d = delete_clause(&c);
                if (d < 0) goto nomem;
                if (d) deletions++;
                else ignored++;
                if (back && (vec_push(&log, 1) || vec_push(&log, c.deleted))) goto nomem;
                continue;
            }
            lemmas++;
            int rup = back ? (c.tmp2.size > 0 || c.refuted) : is_rup(&c, 0);
            if (rup < 0) goto nomem;
            if (back && (vec_push(&log, 0) || vec_push(&log, c.tmp2.size ? c.nclauses : -1)))
                goto nomem;
            if (!rup) {
                outcome = 1;
                named = lits_list(&c);
                if (!named) goto done;
                break;
            }
            if (c.tmp2.size == 0) {
                outcome = 0;
                break;
            }
            int taut = dedup(&c, c.tmp2.data, c.tmp2.size);
            if (taut < 0 || add_clause(&c, taut)) goto nomem;
        }
        if (back && (outcome == 0 || outcome == 2)) {
            checked = 0;
            i32 failed = backward(&c, &log, c.refute_step, &checked);
            if (failed < 0) goto nomem;
            if (failed > 0) {
                outcome = 1;
                step = failed;
                named = lits_list(&c);
                if (!named) goto done;
            }
        }
        if (!named) {
            named = Py_None;
            Py_INCREF(named);
        }
        result = Py_BuildValue("(illllNl)", outcome, step, lemmas, deletions, ignored, named,
                               checked);
    }
    goto done;
nomem:
    PyErr_NoMemory();
done:
    checker_free(&c);
    free(log.data);
    PyBuffer_Release(&cnf);
    PyBuffer_Release(&proof);
    return result;
}

static PyMethodDef methods[] = {
    {"check", check, METH_VARARGS,
     "check(num_vars, cnf, proof, binary, backward) -> (outcome, step, lemmas, deletions, "
     "ignored, lits, checked)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_drup", NULL, -1, methods};

PyMODINIT_FUNC PyInit__drup(void) { return PyModule_Create(&module); }
