/* _lrat.c: the LRAT checker of palestra.sat.lrat, compiled (read lrat.py's docstring first).
 *
 * check(num_vars, cnf, proof) -> (outcome, step, lemmas, deletions)
 *
 *   cnf     int32 clauses of the formula, each ended by 0, every literal within num_vars;
 *           clause k (1-based) has id k.
 *   proof   the bytes of a binary LRAT proof as CaDiCaL writes it: steps
 *             'a' id lit .. 0 hint .. 0     (an added lemma and its unit-propagation hints)
 *             'd' id .. 0                   (deleted clause ids)
 *           every number a 7-bit varint of 2 * |x| + (x < 0).
 *
 *   outcome 0 the empty clause added and checked at step (1-based), 1 the lemma of step fails
 *           its hints, 2 the proof ends without the empty clause, 3 malformed step, 4 a
 *           literal beyond num_vars, 5 an added id already live or a hint that is not live,
 *           6 a negative hint (a RAT step: not checked here).
 *
 * A lemma C with hints h_1 .. h_k is accepted when, with every literal of C false, each hint
 * clause in turn is unit (all its literals false but one unassigned, which is then made
 * true) until one is falsified outright (the conflict); hints after it are ignored. So C
 * follows from the hint clauses by unit propagation, and they are live clauses: C is implied
 * by the formula. The check of a lemma reads only its hints (time linear in the proof's
 * size). Assignments are undone after each lemma. A deletion of an id that is not live is
 * ignored (counted in deletions all the same: it cannot make a wrong proof pass).
 * Literals are coded L = 2 * var + (lit < 0); value[L] is 1 true, -1 false, 0 unassigned.
 * Clauses are stored deduplicated (a repeated literal would look like two unassigned ones).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_vec.h"

typedef uint64_t u64;

typedef struct {
    i32 n;
    signed char *value; /* by literal code, 2n + 2 */
    i32 *stamp;         /* by literal code, for deduplication */
    i32 stamp_no;
    vec pool;           /* per clause: size, then literal codes */
    vec offset;         /* by clause id: pool offset of its size word, -1 none */
    vec trail;          /* literal codes assigned while checking a lemma */
    vec lits, hints;    /* the step being read */
} lrat_t;

static void lrat_free(lrat_t *c) {
    free(c->value);
    free(c->stamp);
    free(c->pool.data);
    free(c->offset.data);
    free(c->trail.data);
    free(c->lits.data);
    free(c->hints.data);
}

/* Store the clause in c->lits (codes) under id; -1 out of memory. */
static int store(lrat_t *c, i32 id) {
    while (c->offset.size <= id)
        if (vec_push(&c->offset, -1)) return -1;
    c->offset.data[id] = c->pool.size;
    i32 at = c->pool.size;
    if (vec_push(&c->pool, 0)) return -1;
    c->stamp_no++;
    i32 size = 0;
    for (i32 k = 0; k < c->lits.size; k++) {
        i32 L = c->lits.data[k];
        if (c->stamp[L] == c->stamp_no) continue;
        c->stamp[L] = c->stamp_no;
        if (vec_push(&c->pool, L)) return -1;
        size++;
    }
    c->pool.data[at] = size;
    return 0;
}

static inline int live(const lrat_t *c, u64 id) {
    return id < (u64)c->offset.size && c->offset.data[id] >= 0;
}

/* Check the lemma in c->lits against the hints in c->hints (ids). 1 accepted, 0 not, 5 a hint
 * not live; -1 out of memory. */
static int check_lemma(lrat_t *c) {
    signed char *value = c->value;
    int result = 0, taut = 0;
    c->trail.size = 0;
    for (i32 k = 0; k < c->lits.size; k++) {
        i32 L = c->lits.data[k];
        if (value[L] == 1) taut = 1; /* both L and its negation in the lemma */
        if (value[L] != 0) continue;
        value[L] = -1;
        value[L ^ 1] = 1;
        if (vec_push(&c->trail, L)) return -1;
    }
    if (taut) {
        result = 1;
        goto undo;
    }
    for (i32 h = 0; h < c->hints.size; h++) {
        i32 id = c->hints.data[h];
        if (!live(c, (u64)id)) {
            result = 5;
            goto undo;
        }
        const i32 *cl = c->pool.data + c->offset.data[id];
        i32 size = cl[0], unit = -1, open = 0;
        for (i32 k = 1; k <= size; k++) {
            i32 L = cl[k];
            if (value[L] == 1) goto undo; /* a satisfied hint: not unit, not a conflict */
            if (value[L] == 0) {
                open++;
                unit = L;
            }
        }
        if (open == 0) {
            result = 1;
            goto undo;
        }
        if (open > 1) goto undo;
        value[unit] = 1;
        value[unit ^ 1] = -1;
        if (vec_push(&c->trail, unit ^ 1)) return -1;
    }
undo:
    for (i32 k = 0; k < c->trail.size; k++) {
        i32 L = c->trail.data[k];
        value[L] = value[L ^ 1] = 0;
    }
    return result;
}

/* A varint at *p (at most 35 bits); 0 on success, -1 malformed. */
static int varint(const unsigned char *buf, Py_ssize_t len, Py_ssize_t *p, u64 *out) {
    u64 u = 0;
    int shift = 0;
    for (;;) {
        if (*p >= len || shift > 35) return -1;
        unsigned char b = buf[(*p)++];
        u |= (u64)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) break;
    }
    *out = u;
    return 0;
}

static PyObject *check(PyObject *self, PyObject *args) {
    (void)self;
    int n;
    Py_buffer cnf, proof;
    if (!PyArg_ParseTuple(args, "iy*y*", &n, &cnf, &proof)) return NULL;
    PyObject *result = NULL;
    lrat_t c;
    memset(&c, 0, sizeof c);
    if (n < 0 || n > (1 << 28) || cnf.len % 4) {
        PyErr_SetString(PyExc_ValueError, "bad arguments");
        goto done;
    }
    c.n = n;
    c.value = calloc((size_t)2 * n + 2, 1);
    c.stamp = calloc((size_t)2 * n + 2, sizeof(i32));
    if (!c.value || !c.stamp || vec_push(&c.offset, -1)) goto nomem; /* id 0: none */
    {
        const i32 *f = cnf.buf;
        Py_ssize_t m = cnf.len / 4;
        i32 id = 0;
        c.lits.size = 0;
        for (Py_ssize_t k = 0; k < m; k++) {
            i32 lit = f[k];
            if (lit == 0) {
                if (id == INT32_MAX - 1 || store(&c, ++id)) goto nomem;
                c.lits.size = 0;
                continue;
            }
            if (lit == INT32_MIN || (lit < 0 ? -lit : lit) > n) {
                PyErr_SetString(PyExc_ValueError, "formula literal beyond num_vars");
                goto done;
            }
            if (vec_push(&c.lits, lit > 0 ? 2 * lit : 2 * -lit + 1)) goto nomem;
        }
        if (c.lits.size) {
            PyErr_SetString(PyExc_ValueError, "formula does not end with 0");
            goto done;
        }
    }
    {
        const unsigned char *buf = proof.buf;
        Py_ssize_t len = proof.len, p = 0;
        long step = 0, lemmas = 0, deletions = 0;
        int outcome = 2;
        while (p < len) {
            step++;
            unsigned char kind = buf[p++];
            u64 u;
            if (kind == 'd') {
                for (;;) {
                    if (varint(buf, len, &p, &u)) {
                        outcome = 3;
                        goto finish;
                    }
                    if (u == 0) break;
                    if (u & 1) {
                        outcome = 3;
                        goto finish;
                    }
                    deletions++;
                    if (live(&c, u >> 1)) c.offset.data[u >> 1] = -1;
                }
                continue;
            }
            if (kind != 'a' || varint(buf, len, &p, &u) || u == 0 || (u & 1) ||
                (u >> 1) >= INT32_MAX - 1) {
                outcome = 3;
                goto finish;
            }
            i32 id = (i32)(u >> 1);
            if (live(&c, (u64)id)) {
                outcome = 5;
                goto finish;
            }
            c.lits.size = 0;
            c.hints.size = 0;
            int beyond = 0;
            for (;;) {
                if (varint(buf, len, &p, &u) || (u != 0 && u < 2)) {
                    outcome = 3;
                    goto finish;
                }
                if (u == 0) break;
                if ((u >> 1) > (u64)n) beyond = 1;
                else if (vec_push(&c.lits, (i32)u)) goto nomem;
            }
            int negative = 0;
            for (;;) {
                if (varint(buf, len, &p, &u)) {
                    outcome = 3;
                    goto finish;
                }
                if (u == 0) break;
                if (u & 1) negative = 1;
                else if ((u >> 1) >= INT32_MAX) {
                    outcome = 5;
                    goto finish;
                } else if (vec_push(&c.hints, (i32)(u >> 1))) goto nomem;
            }
            if (beyond) {
                outcome = 4;
                goto finish;
            }
            if (negative) {
                outcome = 6;
                goto finish;
            }
            lemmas++;
            int ok = check_lemma(&c);
            if (ok < 0) goto nomem;
            if (ok == 5) {
                outcome = 5;
                goto finish;
            }
            if (!ok) {
                outcome = 1;
                goto finish;
            }
            if (c.lits.size == 0) {
                outcome = 0;
                goto finish;
            }
            if (store(&c, id)) goto nomem;
        }
        step = 0; /* ran out of steps: no step is named */
    finish:
        result = Py_BuildValue("(illl)", outcome, step, lemmas, deletions);
    }
    goto done;
nomem:
    PyErr_NoMemory();
done:
    lrat_free(&c);
    PyBuffer_Release(&cnf);
    PyBuffer_Release(&proof);
    return result;
}

static PyMethodDef methods[] = {
    {"check", check, METH_VARARGS,
     "check(num_vars, cnf, proof) -> (outcome, step, lemmas, deletions)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lrat", NULL, -1, methods};

PyMODINIT_FUNC PyInit__lrat(void) { return PyModule_Create(&module); }
