/* _cdcl.c: the CDCL search of palestra.sat.cdcl, compiled.
 *
 * The same machine as cdcl._Solver with propagate.propagate (read their docstrings first):
 * clauses whose first two literals are watched and get permuted in place exactly as the
 * Python code permutes them, watch lists kept in the same order, first-UIP learning with the
 * same resolution order and MiniSat's basic minimization, backjumping, Luby restarts, and the
 * branching heuristics JW-OS, DLIS, VSIDS (Chaff's literal form) computed with the same
 * floating-point operations in the same order and the same tie-breaking. So, given the same
 * formula, it makes the same decisions, conflicts, propagations and learnt clauses (in the
 * same literal order) as the Python reference. The random heuristic's draws are made by a
 * Python callable (the heuristic's own numpy Generator), so its sequence is the Python one.
 *
 * solve(num_vars, clauses, heuristic, decay, restarts, luby_unit, minimize, proof,
 *       max_conflicts, max_decisions, draw
 *       [, guide, first, interval, max_queries, scale, learnt, restart])
 *   -> (status, decisions, conflicts, propagations, learned, restarts, model, proof, queries)
 *
 *   clauses    int32 DIMACS literals, each clause ended by 0 (checked: within num_vars).
 *   heuristic  0 JW-OS, 1 DLIS, 2 VSIDS (with decay), 3 random (draw(n) -> (index, positive)
 *              picks the index-th of the n free variables, ascending, and its sign).
 *   max_*      -1 for no budget.
 *   status     10 SATISFIABLE, 20 UNSATISFIABLE, 0 UNKNOWN; model a list of DIMACS literals
 *              or None; proof the DRUP lines (learnt clauses, then "0") or None.
 *
 * The guide hook (VSIDS only; NeuroCore's periodic refocusing, cdcl.GuideHook documents it):
 * when a decision is due, at most max_queries times, first once `first` conflicts have
 * happened and then every `interval` conflicts after the last query, the solver calls
 * guide(root, learnt) once: root is bytes[n + 1], the root-level value of each variable
 * (1, -1 as a signed byte, 0 free), learnt None or the last `learnt` non-unit learnt clauses
 * as int32 DIMACS literals each ended by 0. It returns (weights, phases): weights a
 * C-contiguous float64 buffer of n + 1 finite values >= 0, phases None or an int8 buffer of
 * n + 1 (1, -1, 0); or None, which skips this query (no refocusing, not counted). Then bump := 1 and, for every variable free at the root, its preferred
 * literal (the phase's; without one, the literal of higher score, the positive on a tie)
 * gets score scale * weights[v] and the other that times its old share (low / high, 1 when
 * both are 0). With `restart` the solver then backtracks to level 0. An exception in guide
 * ends the solve with it. Without a guide nothing of this runs: the counts are unchanged.
 *
 * Literals are coded l = 2 * var + (lit < 0) everywhere inside (negation is l ^ 1), and
 * per-literal arrays are indexed by the code; they are DIMACS ints only in the input, the
 * proof lines and the model; the JW/DLIS scan over codes 2, 3, 4, ... is the reference's
 * tie order (smaller variable, positive first). A clause is an offset into one int pool holding [size, literals]; learnt clauses
 * are appended and never deleted (as in the reference). Every array grows on demand; a failed
 * allocation is MemoryError. Pending signals are checked every 4096 conflicts (Ctrl-C raises
 * KeyboardInterrupt). The GIL is held (the random heuristic calls back into Python).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_vec.h"

typedef int64_t i64;

static inline i32 L(i32 lit) { return lit > 0 ? 2 * lit : -2 * lit + 1; }
static inline i32 var(i32 lit) { return lit > 0 ? lit : -lit; }
static inline i32 dimacs(i32 l) { return (l & 1) ? -(l >> 1) : (l >> 1); }

enum { H_JW = 0, H_DLIS = 1, H_VSIDS = 2, H_RANDOM = 3 };

typedef struct {
    i32 n;
    signed char *value; /* by L */
    i32 *level;         /* by var */
    i32 *reason;        /* by var: clause offset or -1 */
    signed char *phases;
    char *seen;
    vec *watches;       /* by L: clause offsets */
    vec pool;           /* clauses: [size, lits...] */
    vec problem;        /* the problem clauses as the heuristic sees them: [size, lits...] */
    i32 *trail;
    i32 trail_size, qhead;
    vec trail_lim;
    vec learnt, marked;
    PyObject *proof;    /* list of str, or NULL */
    i64 decisions, conflicts, propagations, learned, restarts;
    int inconsistent, minimize_flag;
    /* heuristics */
    int heuristic;
    double *score;      /* by L: JW scores, VSIDS scores */
    i64 *count;         /* by L: DLIS counts */
    i32 *stamp;         /* by L: literal present in the residual formula */
    i32 stamp_no;
    int vsids_ready;
    double bump, decay;
    PyObject *draw;
    /* guide hook */
    PyObject *guide;    /* callable or NULL */
    i64 next_query, interval, max_queries, queries, learnt_max;
    double scale;
    int guide_restart;
    i32 learnt_start;   /* pool offset of the first learnt clause */
    i64 pool_learnts;   /* non-unit learnt clauses in the pool */
} solver;

static void solver_free(solver *s) {
    if (s->watches)
        for (i32 k = 0; k < 2 * s->n + 2; k++) free(s->watches[k].data);
    free(s->watches);
    free(s->value);
    free(s->level);
    free(s->reason);
    free(s->phases);
    free(s->seen);
    free(s->pool.data);
    free(s->problem.data);
    free(s->trail);
    free(s->trail_lim.data);
    free(s->learnt.data);
    free(s->marked.data);
    free(s->score);
    free(s->count);
    free(s->stamp);
    Py_XDECREF(s->proof);
}

static inline void enqueue(solver *s, i32 l, i32 reason) {
    s->value[l] = 1;
    s->value[l ^ 1] = -1;
    i32 v = l >> 1;
    s->level[v] = s->trail_lim.size;
    s->reason[v] = reason;
    s->trail[s->trail_size++] = l;
}

static void backtrack(solver *s, i32 level) {
    if (s->trail_lim.size <= level) return;
    i32 lim = s->trail_lim.data[level];
    for (i32 k = s->trail_size - 1; k >= lim; k--) {
        i32 l = s->trail[k];
        s->value[l] = s->value[l ^ 1] = 0;
        i32 v = l >> 1;
        s->phases[v] = (l & 1) ? -1 : 1;
        s->reason[v] = -1;
    }
    s->trail_size = lim;
    s->trail_lim.size = level;
    s->qhead = lim;
}

/* propagate.propagate: returns the falsified clause's offset, -1 none, -2 out of memory. */
static i32 propagate(solver *s) {
    signed char *value = s->value;
    i32 *pool = s->pool.data, *trail = s->trail, *level = s->level, *reason = s->reason;
    i32 start = s->qhead, qhead = s->qhead, tsize = s->trail_size, dl = s->trail_lim.size;
    i32 conflict = -1;
    while (qhead < tsize) {
        i32 false_lit = trail[qhead++] ^ 1;
        vec *ws = &s->watches[false_lit];
        i32 *d = ws->data;
        i32 i = 0, j = 0, end = ws->size;
        while (i < end) {
            i32 off = d[i++];
            i32 *c = pool + off + 1;
            i32 size = c[-1];
            i32 other = c[0];
            if (other == false_lit) {
                other = c[1];
                c[0] = other;
                c[1] = false_lit;
            }
            if (value[other] == 1) {
                d[j++] = off;
                continue;
            }
            i32 k;
            for (k = 2; k < size; k++)
                if (value[c[k]] != -1) break;
            if (k < size) {
                i32 lit = c[k];
                c[1] = lit;
                c[k] = false_lit;
                if (vec_push(&s->watches[lit], off)) {
                    s->qhead = qhead;
                    s->trail_size = tsize;
                    return -2;
                }
                continue;
            }
            d[j++] = off;
            if (value[other] == -1) {
                conflict = off;
                while (i < end) d[j++] = d[i++];
            } else { /* enqueue(s, other, off) */
                value[other] = 1;
                value[other ^ 1] = -1;
                level[other >> 1] = dl;
                reason[other >> 1] = off;
                trail[tsize++] = other;
            }
        }
        ws->size = j;
        if (conflict >= 0) break;
    }
    s->qhead = qhead;
    s->trail_size = tsize;
    s->propagations += qhead - start;
    return conflict;
}

/* First-UIP learnt clause into s->learnt (asserting literal first); returns the backjump
 * level, or -2 out of memory. */
static i32 analyze(solver *s, i32 conflict) {
    char *seen = s->seen;
    i32 *level = s->level;
    i32 dl = s->trail_lim.size;
    vec *learnt = &s->learnt;
    learnt->size = 0;
    s->marked.size = 0;
    if (vec_push(learnt, 0)) return -2;
    i32 pending = 0, idx = s->trail_size - 1, start = 0, p = 0;
    i32 off = conflict;
    for (;;) {
        i32 *c = s->pool.data + off + 1;
        i32 size = c[-1];
        for (i32 k = start; k < size; k++) {
            i32 q = c[k], v = q >> 1;
            if (!seen[v] && level[v] > 0) {
                seen[v] = 1;
                if (vec_push(&s->marked, v)) return -2;
                if (level[v] >= dl) pending++;
                else if (vec_push(learnt, q)) return -2;
            }
        }
        while (!seen[s->trail[idx] >> 1]) idx--;
        p = s->trail[idx];
        idx--;
        seen[p >> 1] = 0;
        pending--;
        if (pending == 0) break;
        off = s->reason[p >> 1];
        start = 1;
    }
    learnt->data[0] = p ^ 1;

    if (s->minimize_flag) {
        i32 kept = 1;
        for (i32 k = 1; k < learnt->size; k++) {
            i32 q = learnt->data[k];
            i32 r = s->reason[q >> 1];
            int keep = r < 0;
            if (!keep) {
                i32 *c = s->pool.data + r + 1;
                for (i32 t = 1; t < c[-1]; t++) {
                    i32 x = c[t] >> 1;
                    if (!seen[x] && level[x] > 0) {
                        keep = 1;
                        break;
                    }
                }
            }
            if (keep) learnt->data[kept++] = q;
        }
        learnt->size = kept;
    }
    for (i32 k = 0; k < s->marked.size; k++) seen[s->marked.data[k]] = 0;

    if (learnt->size == 1) return 0;
    i32 best = 1;
    for (i32 k = 2; k < learnt->size; k++)
        if (level[learnt->data[k] >> 1] > level[learnt->data[best] >> 1]) best = k;
    i32 x = learnt->data[1];
    learnt->data[1] = learnt->data[best];
    learnt->data[best] = x;
    return level[learnt->data[1] >> 1];
}

static int proof_line(solver *s, const i32 *lits, i32 size) {
    if (!s->proof) return 0;
    size_t cap = (size_t)size * 12 + 4;
    char *buf = malloc(cap), *p = buf;
    if (!buf) return -1;
    for (i32 k = 0; k < size; k++) p += sprintf(p, "%d ", (int)dimacs(lits[k]));
    p += sprintf(p, "0");
    PyObject *line = PyUnicode_FromStringAndSize(buf, p - buf);
    free(buf);
    if (!line) return -1;
    int r = PyList_Append(s->proof, line);
    Py_DECREF(line);
    return r;
}

static void vsids_on_conflict(solver *s, const i32 *lits, i32 size) {
    if (!s->vsids_ready) return;
    double bump = s->bump;
    for (i32 k = 0; k < size; k++) s->score[lits[k]] += bump;
    s->bump = bump / s->decay;
    if (s->bump > 1e100) {
        for (i32 k = 0; k < 2 * s->n + 2; k++) s->score[k] *= 1e-100;
        s->bump *= 1e-100;
    }
}

/* _learn: record, store and assert s->learnt; -1 on an error (set). */
static int learn(solver *s) {
    vec *lt = &s->learnt;
    if (proof_line(s, lt->data, lt->size)) return -1;
    s->learned++;
    if (lt->size == 1) {
        enqueue(s, lt->data[0], -1);
    } else {
        i32 off = s->pool.size;
        if (vec_push(&s->pool, lt->size)) goto nomem;
        for (i32 k = 0; k < lt->size; k++)
            if (vec_push(&s->pool, lt->data[k])) goto nomem;
        if (vec_push(&s->watches[lt->data[0]], off)) goto nomem;
        if (vec_push(&s->watches[lt->data[1]], off)) goto nomem;
        s->pool_learnts++;
        enqueue(s, lt->data[0], off);
    }
    if (s->heuristic == H_VSIDS) vsids_on_conflict(s, lt->data, lt->size);
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/* The first free variable, positive (a literal code; 0 if none). */
static i32 first_free(solver *s) {
    for (i32 v = 1; v <= s->n; v++)
        if (s->value[2 * v] == 0) return 2 * v;
    return 0;
}

/* JW-OS (weights 2^-|C|) or DLIS (counts) over the residual problem clauses. */
static i32 pick_residual(solver *s, int jw) {
    signed char *value = s->value;
    s->stamp_no++;
    i32 *pb = s->problem.data;
    for (i32 off = 0; off < s->problem.size; off += pb[off] + 1) {
        i32 size = pb[off];
        const i32 *c = pb + off + 1;
        i32 kept = 0;
        int sat = 0;
        for (i32 k = 0; k < size; k++) {
            signed char x = value[c[k]];
            if (x > 0) {
                sat = 1;
                break;
            }
            if (x == 0) kept++;
        }
        if (sat) continue;
        double w = jw ? ldexp(1.0, -kept) : 0.0;
        for (i32 k = 0; k < size; k++) {
            i32 l = c[k];
            if (value[l] != 0) continue;
            if (s->stamp[l] != s->stamp_no) {
                s->stamp[l] = s->stamp_no;
                s->score[l] = 0.0;
                s->count[l] = 0;
            }
            if (jw) s->score[l] += w;
            else s->count[l]++;
        }
    }
    i32 best = 0;
    for (i32 l = 2; l < 2 * s->n + 2; l++) { /* v, -v, v + 1, ... */
        if (s->stamp[l] != s->stamp_no) continue;
        if (best == 0) {
            best = l;
            continue;
        }
        if (jw ? s->score[l] > s->score[best] : s->count[l] > s->count[best]) best = l;
    }
    return best ? best : first_free(s);
}

/* VSIDS's initial scores: occurrences in the residual problem clauses. */
static void vsids_init(solver *s) {
    for (i32 k = 0; k < 2 * s->n + 2; k++) s->score[k] = 0.0;
    signed char *value = s->value;
    i32 *pb = s->problem.data;
    for (i32 off = 0; off < s->problem.size; off += pb[off] + 1) {
        i32 size = pb[off];
        const i32 *c = pb + off + 1;
        int sat = 0;
        for (i32 k = 0; k < size; k++)
            if (value[c[k]] > 0) {
                sat = 1;
                break;
            }
        if (sat) continue;
        for (i32 k = 0; k < size; k++)
            if (value[c[k]] == 0) s->score[c[k]] += 1.0;
    }
    s->vsids_ready = 1;
}

static i32 pick_vsids(solver *s) {
    if (!s->vsids_ready) vsids_init(s);
    i32 best = 0;
    double best_score = -1.0;
    for (i32 v = 1; v <= s->n; v++) {
        if (s->value[2 * v] != 0) continue;
        if (s->score[2 * v] > best_score) {
            best = 2 * v;
            best_score = s->score[2 * v];
        }
        if (s->score[2 * v + 1] > best_score) {
            best = 2 * v + 1;
            best_score = s->score[2 * v + 1];
        }
    }
    return best;
}

/* 0 on an error (set). */
static i32 pick_random(solver *s) {
    i32 nfree = 0;
    for (i32 v = 1; v <= s->n; v++)
        if (s->value[2 * v] == 0) nfree++;
    PyObject *r = PyObject_CallFunction(s->draw, "i", (int)nfree);
    if (!r) return 0;
    long index;
    int positive;
    if (!PyArg_ParseTuple(r, "lp", &index, &positive)) {
        Py_DECREF(r);
        return 0;
    }
    Py_DECREF(r);
    if (index < 0 || index >= nfree) {
        PyErr_SetString(PyExc_ValueError, "draw returned an index out of range");
        return 0;
    }
    for (i32 v = 1; v <= s->n; v++) {
        if (s->value[2 * v] != 0) continue;
        if (index-- == 0) return positive ? 2 * v : 2 * v + 1;
    }
    return 0;
}

/* The last s->learnt_max non-unit learnt clauses as bytes of int32 DIMACS literals, each
 * ended by 0 (a new reference, NULL on an error). */
static PyObject *learnt_bytes(solver *s) {
    i64 skip = s->pool_learnts > s->learnt_max ? s->pool_learnts - s->learnt_max : 0;
    i32 *pool = s->pool.data, off = s->learnt_start, start;
    for (; skip > 0; skip--) off += pool[off] + 1;
    start = off;
    Py_ssize_t words = 0;
    for (; off < s->pool.size; off += pool[off] + 1) words += pool[off] + 1;
    PyObject *b = PyBytes_FromStringAndSize(NULL, words * 4);
    if (!b) return NULL;
    i32 *out = (i32 *)PyBytes_AS_STRING(b);
    for (off = start; off < s->pool.size; off += pool[off] + 1) {
        for (i32 k = 0; k < pool[off]; k++) *out++ = dimacs(pool[off + 1 + k]);
        *out++ = 0;
    }
    return b;
}

/* A buffer of n + 1 items of format `code` (C-contiguous); -1 on an error (set). */
static int get_items(PyObject *obj, Py_buffer *view, char code, Py_ssize_t itemsize,
                     i32 n, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)) return -1;
    const char *fmt = view->format ? view->format : "B";
    size_t len = strlen(fmt);
    if (view->itemsize != itemsize || len == 0 || fmt[len - 1] != code ||
        (len == 2 && fmt[0] != '<' && fmt[0] != '=' && fmt[0] != '@') || len > 2 ||
        view->len != (Py_ssize_t)(n + 1) * itemsize) {
        PyErr_Format(PyExc_ValueError, "guide: %s must be %d items of format '%c'", what,
                     (int)n + 1, code);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static inline int vb_root_assigned(solver *s, i32 v) {
    return s->value[2 * v] != 0 && s->level[v] == 0;
}

/* One query of the guide hook (see the top of the file): 1 refocused, 0 skipped, -1 on an
 * error (set). */
static int guide_query(solver *s) {
    i32 n = s->n;
    if (!s->vsids_ready) vsids_init(s);
    i32 root = s->trail_lim.size ? s->trail_lim.data[0] : s->trail_size;
    PyObject *values = PyBytes_FromStringAndSize(NULL, n + 1);
    if (!values) return -1;
    signed char *vb = (signed char *)PyBytes_AS_STRING(values);
    memset(vb, 0, (size_t)n + 1);
    for (i32 k = 0; k < root; k++) vb[s->trail[k] >> 1] = (s->trail[k] & 1) ? -1 : 1;
    PyObject *learnt = Py_None;
    Py_INCREF(Py_None);
    if (s->learnt_max > 0) {
        Py_DECREF(learnt);
        if (!(learnt = learnt_bytes(s))) {
            Py_DECREF(values);
            return -1;
        }
    }
    PyObject *r = PyObject_CallFunctionObjArgs(s->guide, values, learnt, NULL);
    Py_DECREF(values);
    Py_DECREF(learnt);
    if (!r) return -1;
    s->next_query = s->conflicts + s->interval;
    if (r == Py_None) {
        Py_DECREF(r);
        return 0;
    }
    PyObject *weights, *phases;
    if (!PyArg_ParseTuple(r, "OO", &weights, &phases)) {
        Py_DECREF(r);
        return -1;
    }
    Py_buffer wb, pb;
    if (get_items(weights, &wb, 'd', 8, n, "weights")) {
        Py_DECREF(r);
        return -1;
    }
    const signed char *ph = NULL;
    if (phases != Py_None) {
        if (get_items(phases, &pb, 'b', 1, n, "phases")) {
            PyBuffer_Release(&wb);
            Py_DECREF(r);
            return -1;
        }
        ph = pb.buf;
    }
    const double *w = wb.buf;
    int bad = 0;
    for (i32 v = 1; v <= n; v++)
        if (!(w[v] >= 0.0 && w[v] <= 1e300)) bad = 1;
    if (!bad) {
        s->bump = 1.0;
        for (i32 v = 1; v <= n; v++) {
            if (vb_root_assigned(s, v)) continue;
            double hi = s->score[2 * v], lo = s->score[2 * v + 1];
            int positive = hi >= lo;
            if (ph && ph[v] != 0) positive = ph[v] > 0;
            if (lo > hi) {
                double t = hi;
                hi = lo;
                lo = t;
            }
            double x = s->scale * w[v];
            double y = hi > 0.0 ? x * (lo / hi) : x;
            s->score[2 * v] = positive ? x : y;
            s->score[2 * v + 1] = positive ? y : x;
        }
    }
    PyBuffer_Release(&wb);
    if (ph) PyBuffer_Release(&pb);
    Py_DECREF(r);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "guide: weights must be finite and >= 0");
        return -1;
    }
    s->queries++;
    return 1;
}

static i32 luby(i32 i) {
    i64 size = 1;
    i32 seq = 0;
    while (size < (i64)i + 1) {
        seq++;
        size = 2 * size + 1;
    }
    while (size - 1 != i) {
        size = (size - 1) >> 1;
        seq--;
        i = (i32)(i % size);
    }
    return (i32)1 << seq;
}

static int init(solver *s, i32 n, const i32 *f, Py_ssize_t m) {
    s->n = n;
    size_t lits = (size_t)2 * n + 2, vars = (size_t)n + 1;
    s->value = calloc(lits, 1);
    s->level = calloc(vars, sizeof(i32));
    s->reason = malloc(vars * sizeof(i32));
    s->phases = calloc(vars, 1);
    s->seen = calloc(vars, 1);
    s->watches = calloc(lits, sizeof(vec));
    s->trail = malloc(vars * sizeof(i32));
    s->score = calloc(lits, sizeof(double));
    s->count = calloc(lits, sizeof(i64));
    s->stamp = calloc(lits, sizeof(i32));
    if (!s->value || !s->level || !s->reason || !s->phases || !s->seen || !s->watches ||
        !s->trail || !s->score || !s->count || !s->stamp)
        return -1;
    for (i32 v = 0; v <= n; v++) s->reason[v] = -1;
    /* the problem clauses: duplicates and tautologies removed, literal order kept */
    Py_ssize_t start = 0;
    for (Py_ssize_t k = 0; k < m; k++) {
        if (f[k] != 0) continue;
        s->stamp_no++;
        i32 head = s->problem.size;
        if (vec_push(&s->problem, 0)) return -1;
        int taut = 0;
        for (Py_ssize_t q = start; q < k; q++) {
            i32 l = L(f[q]);
            if (s->stamp[l] == s->stamp_no) continue;
            s->stamp[l] = s->stamp_no;
            if (vec_push(&s->problem, l)) return -1;
        }
        i32 size = s->problem.size - head - 1;
        const i32 *c = s->problem.data + head + 1;
        for (i32 q = 0; q < size; q++)
            if (s->stamp[c[q] ^ 1] == s->stamp_no) taut = 1;
        start = k + 1;
        if (taut) {
            s->problem.size = head;
            continue;
        }
        s->problem.data[head] = size;
        c = s->problem.data + head + 1;
        if (size == 0) {
            s->inconsistent = 1;
        } else if (size == 1) {
            if (s->value[c[0]] == -1) s->inconsistent = 1;
            else if (s->value[c[0]] == 0) enqueue(s, c[0], -1);
        } else {
            i32 off = s->pool.size;
            if (vec_push(&s->pool, size)) return -1;
            for (i32 q = 0; q < size; q++)
                if (vec_push(&s->pool, s->problem.data[head + 1 + q])) return -1;
            if (vec_push(&s->watches[s->pool.data[off + 1]], off)) return -1;
            if (vec_push(&s->watches[s->pool.data[off + 2]], off)) return -1;
        }
    }
    return 0;
}

/* The search loop of _Solver.solve: 10, 20, 0, or -1 on an error (set). */
static int search(solver *s, int restarts, i32 luby_unit, i64 max_conflicts,
                  i64 max_decisions) {
    if (s->inconsistent) return 20;
    i32 restart_index = 0;
    i64 next_restart = (i64)luby(0) * luby_unit, since_restart = 0;
    for (;;) {
        i32 conflict = propagate(s);
        if (conflict == -2) {
            PyErr_NoMemory();
            return -1;
        }
        if (conflict >= 0) {
            s->conflicts++;
            if (s->trail_lim.size == 0) return 20;
            if (max_conflicts >= 0 && s->conflicts > max_conflicts) return 0;
            if ((s->conflicts & 4095) == 0 && PyErr_CheckSignals()) return -1;
            i32 back = analyze(s, conflict);
            if (back == -2) {
                PyErr_NoMemory();
                return -1;
            }
            backtrack(s, back);
            if (learn(s)) return -1;
            since_restart++;
            if (restarts && since_restart >= next_restart) {
                backtrack(s, 0);
                s->restarts++;
                restart_index++;
                next_restart = (i64)luby(restart_index) * luby_unit;
                since_restart = 0;
            }
        } else if (s->trail_size == s->n) {
            return 10;
        } else {
            if (max_decisions >= 0 && s->decisions >= max_decisions) return 0;
            if (s->guide && s->queries < s->max_queries && s->conflicts >= s->next_query) {
                int refocused = guide_query(s);
                if (refocused < 0) return -1;
                if (refocused && s->guide_restart && s->trail_lim.size > 0) {
                    backtrack(s, 0);
                    continue;
                }
            }
            i32 lit;
            switch (s->heuristic) {
            case H_JW: lit = pick_residual(s, 1); break;
            case H_DLIS: lit = pick_residual(s, 0); break;
            case H_VSIDS: lit = pick_vsids(s); break;
            default: lit = pick_random(s); break;
            }
            if (lit == 0) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_RuntimeError, "no unassigned variable to branch on");
                return -1;
            }
            s->decisions++;
            if (vec_push(&s->trail_lim, s->trail_size)) {
                PyErr_NoMemory();
                return -1;
            }
            enqueue(s, lit, -1);
        }
    }
}

static PyObject *solve(PyObject *self, PyObject *args) {
    (void)self;
    int n, heuristic, restarts, luby_unit, minimize, want_proof;
    double decay;
    long long max_conflicts, max_decisions;
    Py_buffer cnf;
    PyObject *draw, *guide = Py_None;
    long long first = 0, interval = 1, max_queries = 0, learnt_max = 0;
    double scale = 1.0;
    int guide_restart = 0;
    if (!PyArg_ParseTuple(args, "iy*idpippLLO|OLLLdLp", &n, &cnf, &heuristic, &decay,
                          &restarts, &luby_unit, &minimize, &want_proof, &max_conflicts,
                          &max_decisions, &draw, &guide, &first, &interval, &max_queries,
                          &scale, &learnt_max, &guide_restart))
        return NULL;
    PyObject *result = NULL;
    solver s;
    memset(&s, 0, sizeof s);
    const i32 *f = cnf.buf;
    Py_ssize_t m = cnf.len / 4;
    if (n < 0 || n > (1 << 28) || cnf.len % 4 || (m > 0 && f[m - 1] != 0) || heuristic < 0 ||
        heuristic > 3 || luby_unit < 1 || !(decay > 0.0 && decay <= 1.0) ||
        (heuristic == H_RANDOM && !PyCallable_Check(draw)) ||
        (guide != Py_None && (!PyCallable_Check(guide) || heuristic != H_VSIDS || first < 0 ||
                              interval < 1 || max_queries < 0 || learnt_max < 0 ||
                              !(scale >= 0.0 && scale <= 1e100)))) {
        PyErr_SetString(PyExc_ValueError, "bad arguments");
        goto done;
    }
    for (Py_ssize_t k = 0; k < m; k++) {
        if (f[k] == INT32_MIN || var(f[k]) > n) {
            PyErr_SetString(PyExc_ValueError, "literal beyond num_vars");
            goto done;
        }
    }
    s.heuristic = heuristic;
    s.decay = decay;
    s.bump = 1.0;
    s.draw = draw;
    s.minimize_flag = minimize;
    if (guide != Py_None) {
        s.guide = guide;
        s.next_query = first;
        s.interval = interval;
        s.max_queries = max_queries;
        s.scale = scale;
        s.learnt_max = learnt_max;
        s.guide_restart = guide_restart;
    }
    if (want_proof && !(s.proof = PyList_New(0))) goto done;
    if (init(&s, n, f, m)) {
        PyErr_NoMemory();
        goto done;
    }
    s.learnt_start = s.pool.size;
    int status = search(&s, restarts, luby_unit, max_conflicts, max_decisions);
    if (status < 0) goto done;
    PyObject *model = Py_None, *proof = Py_None;
    Py_INCREF(Py_None);
    Py_INCREF(Py_None);
    if (status == 10) {
        Py_DECREF(model);
        model = PyList_New(n);
        if (!model) {
            Py_DECREF(proof);
            goto done;
        }
        for (i32 v = 1; v <= n; v++) {
            PyObject *x = PyLong_FromLong(s.value[2 * v] == 1 ? v : -v);
            if (!x) {
                Py_DECREF(model);
                Py_DECREF(proof);
                goto done;
            }
            PyList_SET_ITEM(model, v - 1, x);
        }
    } else if (status == 20 && s.proof) {
        if (proof_line(&s, NULL, 0)) {
            Py_DECREF(model);
            Py_DECREF(proof);
            goto done;
        }
        Py_DECREF(proof);
        proof = s.proof;
        Py_INCREF(proof);
    }
    result = Py_BuildValue("(iLLLLLNNL)", status, (long long)s.decisions,
                           (long long)s.conflicts, (long long)s.propagations,
                           (long long)s.learned, (long long)s.restarts, model, proof,
                           (long long)s.queries);
done:
    solver_free(&s);
    PyBuffer_Release(&cnf);
    return result;
}

static PyMethodDef methods[] = {
    {"solve", solve, METH_VARARGS,
     "solve(num_vars, clauses, heuristic, decay, restarts, luby_unit, minimize, proof, "
     "max_conflicts, max_decisions, draw[, guide, first, interval, max_queries, scale, learnt, "
     "restart]) -> (status, decisions, conflicts, propagations, learned, restarts, model, "
     "proof, queries)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cdcl", NULL, -1, methods};

PyMODINIT_FUNC PyInit__cdcl(void) { return PyModule_Create(&module); }
