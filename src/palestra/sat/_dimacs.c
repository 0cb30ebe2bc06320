/* _dimacs.c: the compiled half of palestra.sat.dimacs (reading well-formed DIMACS CNF), of
 * CNF.check_model (the first clause a model leaves unsatisfied) and of packing clauses into
 * the int32 form the DRUP checker reads.
 *
 * parse(data, strict, max_variables, max_clauses, max_number_length) -> (num_vars, clauses) | None
 *
 *   data is the bytes of a file. The grammar is the one dimacs.parse_dimacs's loop reads (its
 *   module docstring): lines end at '\n'; a line stripped of " \t\r\n\v\f" that is empty or
 *   starts with 'c' is skipped, one starting with '%' ends the formula, one starting with 'p'
 *   is the header "p cnf VARS CLAUSES" (separators " \t\v\f"), any other holds literals
 *   ([+-]?[0-9]+, at most 20 characters, separated by " \t\r\v\f"), each clause ended by a 0
 *   and free to span lines. A leading UTF-8 byte order mark is skipped.
 *
 *   It returns exactly the formula the Python loop returns, or None whenever that loop would
 *   raise (any fault: no header, a second one, a bad token, a literal beyond the variables,
 *   counts over the limits or, strict, a clause count that differs from the header's, more
 *   clauses than the rest of the file could hold, an unterminated last clause) and also
 *   whenever the input holds a NUL byte or any byte >= 0x80 (UTF-8 text is the Python
 *   side's business). None means "ask the Python reader": it reports the fault at its
 *   FILE:LINE:COL, or reads the unusual file. So no error message is written here, and a
 *   file is accepted or rejected with the same result on either side; the tests fuzz the two
 *   against each other.
 *
 *   Clauses are lists of Python ints, made as they are read. (Sharing one int object per
 *   literal was tried: on a 1M-clause file the scattered reference counts made it slower than
 *   fresh, adjacent ints.)
 *
 * first_unsatisfied(clauses, num_vars, model) -> int
 *
 *   The index of the first clause (a list or tuple of ints) with no literal in model (a list
 *   or tuple of ints), -1 when every clause has one, or -2 whenever the Python check must
 *   decide: a model literal that is 0, beyond num_vars, not an int, or set both ways (the
 *   Python side raises ValueError for those), a clause or literal of another type.
 *
 * pack(clauses) -> bytes | None
 *
 *   The clauses (a list of lists of ints) as native int32 literals, each clause ended by 0:
 *   the form the compiled DRUP checker (_drup.c) reads. None where a clause is not a list or
 *   a literal is 0, not an int or beyond int32 (the caller then packs them in Python).
 *
 * feed(add, solver, clauses) -> True | None
 *
 *   Add the clauses (a list of lists of ints) to a CaDiCaL solver: add is the address of
 *   CaDiCaL's C++ Solver::add(int) (a non-virtual member function: called as add(solver,
 *   lit)), solver a capsule holding the Solver pointer (python-sat's handle). Each literal,
 *   then 0, is one call: python-sat's own add_cl makes the same calls, but from one Python
 *   call per clause. Every literal is checked first (a list, ints in int32, not 0); on any
 *   other input nothing is added and None is returned, for the caller's Python path.
 *
 * What it does not do: no error messages, no reading from a file (the caller passes the
 * bytes), no writing.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The limits: dimacs.MAX_VARIABLES, MAX_CLAUSES and MAX_NUMBER_LENGTH, passed by parse's
 * caller (larger limits than CAP: the Python reader reads). A number saturates at CAP. */
typedef struct {
    long long max_variables, max_clauses;
    int max_number_length;
} limits;
#define CAP 1000000000000000LL
#define MAX_MODEL_VARIABLES 1000000000LL /* first_unsatisfied defers above this */

static inline int is_strip(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static inline int is_sep(unsigned char c) { /* inside a clause line */
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static inline int is_hsep(unsigned char c) { /* inside the header */
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Unsigned decimal digits at *p (< e), at most max_length of them, saturated at CAP;
 * -1 if there are none or too many. Advances *p past them. */
static long long read_count(const unsigned char **p, const unsigned char *e, int max_length) {
    const unsigned char *q = *p;
    long long value = 0;
    while (q < e && is_digit(*q)) {
        value = value * 10 + (*q - '0');
        if (value > CAP) value = CAP;
        q++;
    }
    if (q == *p || q - *p > max_length) return -1;
    *p = q;
    return value;
}

/* The header "p cnf VARS CLAUSES" spanning [s, e) exactly; 0 on success. */
static int read_header(const unsigned char *s, const unsigned char *e, int max_length,
                       long long *vars, long long *clauses) {
    const unsigned char *p = s + 1; /* past the 'p' */
    if (p == e || !is_hsep(*p)) return -1;
    while (p < e && is_hsep(*p)) p++;
    if (e - p < 3 || memcmp(p, "cnf", 3) != 0) return -1;
    p += 3;
    if (p == e || !is_hsep(*p)) return -1;
    while (p < e && is_hsep(*p)) p++;
    if ((*vars = read_count(&p, e, max_length)) < 0) return -1;
    if (p == e || !is_hsep(*p)) return -1;
    while (p < e && is_hsep(*p)) p++;
    if ((*clauses = read_count(&p, e, max_length)) < 0) return -1;
    return p == e ? 0 : -1;
}

typedef struct {
    long *lits; /* the clause being read */
    Py_ssize_t size, cap;
} reader;

/* The clause read so far as a new list, appended to out; 0 on success. */
static int emit(reader *r, PyObject *out) {
    PyObject *clause = PyList_New(r->size);
    if (!clause) return -1;
    for (Py_ssize_t i = 0; i < r->size; i++) {
        PyObject *x = PyLong_FromLong(r->lits[i]);
        if (!x) {
            Py_DECREF(clause);
            return -1;
        }
        PyList_SET_ITEM(clause, i, x);
    }
    r->size = 0;
    int rc = PyList_Append(out, clause);
    Py_DECREF(clause);
    return rc;
}

static int push(reader *r, long lit) {
    if (r->size == r->cap) {
        Py_ssize_t cap = r->cap ? 2 * r->cap : 16;
        long *lits = realloc(r->lits, (size_t)cap * sizeof(long));
        if (!lits) return -1;
        r->lits = lits;
        r->cap = cap;
    }
    r->lits[r->size++] = lit;
    return 0;
}

/* 1: parsed into *out; 0: defer to Python; -1: a Python exception is set. */
static int parse_bytes(const unsigned char *data, Py_ssize_t len, int strict, limits lim,
                       long *num_vars_out, PyObject *out, reader *r) {
    const unsigned char *p = data, *end = data + len;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) p += 3;
    for (const unsigned char *q = p; q < end; q++)
        if (*q == 0 || *q >= 0x80) return 0;
    int header = 0;
    long long num_vars = 0, num_clauses = 0, kept = 0, count = 0;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *line_end = nl ? nl : end, *next = nl ? nl + 1 : end;
        const unsigned char *s = p, *e = line_end;
        p = next;
        while (s < e && is_strip(*s)) s++;
        while (e > s && is_strip(e[-1])) e--;
        if (s == e || *s == 'c') continue;
        if (*s == '%') break;
        if (*s == 'p') {
            if (header || read_header(s, e, lim.max_number_length, &num_vars, &num_clauses))
                return 0;
            if (num_vars > lim.max_variables || num_clauses > lim.max_clauses) return 0;
            long long rest = end - next; /* characters after the header line */
            if (strict && num_clauses > (rest + 1) / 2) return 0;
            header = 1;
            kept = strict ? num_clauses : lim.max_clauses;
            continue;
        }
        if (!header) return 0;
        const unsigned char *q = s;
        while (q < e) {
            if (is_sep(*q)) {
                q++;
                continue;
            }
            const unsigned char *t = q;
            int negative = 0;
            if (*q == '-' || *q == '+') {
                negative = *q == '-';
                q++;
            }
            const unsigned char *digits = q;
            long long value = 0;
            while (q < e && is_digit(*q)) {
                value = value * 10 + (*q - '0');
                if (value > CAP) value = CAP;
                q++;
            }
            /* A token ends at a separator or the line's end; anything else (a letter, a
             * second sign, "1-2") is a fault. */
            if (q == digits || (q < e && !is_sep(*q)) || q - t > lim.max_number_length) return 0;
            if (value == 0) {
                if (count >= kept) return 0; /* strict: too many; lenient: over the limit */
                if (emit(r, out)) return -1;
                count++;
            } else if (value > num_vars) {
                return 0;
            } else if (push(r, negative ? -(long)value : (long)value)) {
                PyErr_NoMemory();
                return -1;
            }
        }
    }
    if (!header) return 0;
    if (r->size) {
        if (strict || count >= kept) return 0;
        if (emit(r, out)) return -1;
        count++;
    }
    if (strict && count != num_clauses) return 0;
    *num_vars_out = (long)num_vars;
    return 1;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer view;
    int strict;
    limits lim;
    if (!PyArg_ParseTuple(args, "y*pLLi", &view, &strict, &lim.max_variables, &lim.max_clauses,
                          &lim.max_number_length))
        return NULL;
    if (lim.max_variables >= CAP || lim.max_clauses >= CAP || lim.max_number_length < 1) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE; /* limits this reader does not hold to: the Python one reads */
    }
    PyObject *out = PyList_New(0);
    if (!out) {
        PyBuffer_Release(&view);
        return NULL;
    }
    reader r = {NULL, 0, 0};
    long num_vars = 0;
    /* The collector would walk the growing list again and again (a 1M-clause file: 1.2 s
     * instead of 0.35 s); lists of ints make no cycles, so it is off while they are made. */
    int collecting = PyGC_Disable();
    int rc = parse_bytes(view.buf, view.len, strict, lim, &num_vars, out, &r);
    if (collecting) PyGC_Enable();
    free(r.lits);
    PyBuffer_Release(&view);
    if (rc <= 0) {
        Py_DECREF(out);
        if (rc < 0) return NULL;
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(lN)", num_vars, out);
}

/* A literal as a C long, or 0 when it is not an exact int (or out of the long range). */
static inline long exact_int(PyObject *x, int *ok) {
    if (!PyLong_CheckExact(x)) {
        *ok = 0;
        return 0;
    }
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(x, &overflow);
    if (overflow) return 0; /* an int beyond any variable: 0 is never true, never in range */
    return v;
}

static PyObject *first_unsatisfied(PyObject *self, PyObject *args) {
    PyObject *clauses, *model;
    Py_ssize_t num_vars;
    if (!PyArg_ParseTuple(args, "OnO", &clauses, &num_vars, &model)) return NULL;
    if (!PyList_Check(clauses) || !(PyList_Check(model) || PyTuple_Check(model)) ||
        num_vars < 0 || num_vars > MAX_MODEL_VARIABLES)
        return PyLong_FromLong(-2);
    /* value[v]: 0 not in the model, 1 true, 2 false */
    unsigned char *value = calloc((size_t)num_vars + 1, 1);
    if (!value) return PyErr_NoMemory();
    long answer = -1;
    PyObject **items = PySequence_Fast_ITEMS(model);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(model);
    for (Py_ssize_t i = 0; i < n; i++) {
        int ok = 1;
        long lit = exact_int(items[i], &ok);
        long var = lit < 0 ? -lit : lit;
        unsigned char sign = lit > 0 ? 1 : 2;
        if (!ok || lit == 0 || var > num_vars || (value[var] && value[var] != sign)) {
            answer = -2;
            goto done;
        }
        value[var] = sign;
    }
    Py_ssize_t m = PyList_GET_SIZE(clauses);
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *clause = PyList_GET_ITEM(clauses, i);
        if (!PyList_Check(clause) && !PyTuple_Check(clause)) {
            answer = -2;
            goto done;
        }
        PyObject **lits = PySequence_Fast_ITEMS(clause);
        Py_ssize_t k = PySequence_Fast_GET_SIZE(clause);
        int satisfied = 0;
        for (Py_ssize_t j = 0; j < k && !satisfied; j++) {
            int ok = 1;
            long lit = exact_int(lits[j], &ok);
            if (!ok) {
                answer = -2;
                goto done;
            }
            long var = lit < 0 ? -lit : lit;
            satisfied = lit != 0 && var <= num_vars && value[var] == (lit > 0 ? 1 : 2);
        }
        if (!satisfied) {
            answer = (long)i;
            break;
        }
    }
done:
    free(value);
    return PyLong_FromLong(answer);
}

static PyObject *pack(PyObject *self, PyObject *args) {
    PyObject *clauses;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &clauses)) return NULL;
    Py_ssize_t m = PyList_GET_SIZE(clauses), total = m;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *clause = PyList_GET_ITEM(clauses, i);
        if (!PyList_Check(clause)) Py_RETURN_NONE;
        total += PyList_GET_SIZE(clause);
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total * (Py_ssize_t)sizeof(int32_t));
    if (!out) return NULL;
    int32_t *w = (int32_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *clause = PyList_GET_ITEM(clauses, i);
        Py_ssize_t k = PyList_GET_SIZE(clause);
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *x = PyList_GET_ITEM(clause, j);
            int overflow = 0;
            long v = PyLong_CheckExact(x) ? PyLong_AsLongAndOverflow(x, &overflow) : 0;
            if (v == 0 || overflow || v > INT32_MAX || v < -INT32_MAX) {
                Py_DECREF(out);
                Py_RETURN_NONE;
            }
            *w++ = (int32_t)v;
        }
        *w++ = 0;
    }
    return out;
}

static PyObject *feed(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long address;
    PyObject *solver, *clauses;
    if (!PyArg_ParseTuple(args, "KOO!", &address, &solver, &PyList_Type, &clauses)) return NULL;
    void *handle = PyCapsule_GetPointer(solver, PyCapsule_GetName(solver));
    if (!handle || !address) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_ssize_t m = PyList_GET_SIZE(clauses);
    for (Py_ssize_t i = 0; i < m; i++) { /* check all before adding any */
        PyObject *clause = PyList_GET_ITEM(clauses, i);
        if (!PyList_Check(clause)) Py_RETURN_NONE;
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(clause); j++) {
            PyObject *x = PyList_GET_ITEM(clause, j);
            int overflow = 0;
            long v = PyLong_CheckExact(x) ? PyLong_AsLongAndOverflow(x, &overflow) : 0;
            if (v == 0 || overflow || v > INT32_MAX || v < -INT32_MAX) Py_RETURN_NONE;
        }
    }
    void (*add)(void *, int) = (void (*)(void *, int))(uintptr_t)address;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *clause = PyList_GET_ITEM(clauses, i);
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(clause); j++)
            add(handle, (int)PyLong_AsLong(PyList_GET_ITEM(clause, j)));
        add(handle, 0);
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS,
     "parse(data, strict, max_variables, max_clauses, max_number_length) -> (num_vars, "
     "clauses), or None: let the Python reader decide."},
    {"first_unsatisfied", first_unsatisfied, METH_VARARGS,
     "first_unsatisfied(clauses, num_vars, model) -> index, -1 (all satisfied) or -2 (let "
     "the Python check decide)."},
    {"pack", pack, METH_VARARGS,
     "pack(clauses) -> bytes of int32 literals, each clause ended by 0, or None: a clause "
     "that is not a list, a literal that is 0, not an int or beyond int32."},
    {"feed", feed, METH_VARARGS,
     "feed(add, solver, clauses) -> True, or None: nothing added (see the module docstring)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dimacs",
                                    "Compiled DIMACS reading and model checking.", -1, methods};

PyMODINIT_FUNC PyInit__dimacs(void) { return PyModule_Create(&module); }
