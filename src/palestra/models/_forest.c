/* A gradient-boosted tree ensemble scored on sparse rows, compiled (see palestra.models.forest).
 *
 * The search of rlCoP asks for a few rows at a time, tens of thousands of times per proof
 * attempt; LightGBM's own prediction call costs 15-40 microseconds before it reads a tree.
 * This keeps the trees as flat arrays and scores a CSR batch with one dense scratch row:
 * set the row's values, walk every tree, clear them again.
 *
 * A tree is LightGBM's: node k splits on feature split[k] at threshold thr[k]; a child
 * c >= 0 is a node, c < 0 is the leaf ~c. The decision is LightGBM's numerical one: a
 * value that counts as missing (a zero under missing type "Zero", NaN under "NaN") goes to
 * the default side; otherwise value <= threshold goes left.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MISSING_NONE = 0, MISSING_ZERO = 1, MISSING_NAN = 2 };

typedef struct {
    int32_t n_trees, n_nodes, n_leaves, dim;
    int32_t *root;   /* per tree: its first node (or ~leaf for a one-leaf tree) */
    int32_t *split;  /* per node */
    double *thr;
    int32_t *left, *right;  /* node-local indices, offset by the tree's node base */
    int8_t *flags;          /* bit 0: default left; bits 1-2: missing type */
    int32_t *node_base, *leaf_base;  /* per tree */
    double *leaf;
    double *scratch;  /* dim zeros between calls */
} Forest;

static void forest_free(Forest *f) {
    if (f == NULL) return;
    free(f->root); free(f->split); free(f->thr); free(f->left); free(f->right);
    free(f->flags); free(f->node_base); free(f->leaf_base); free(f->leaf); free(f->scratch);
    free(f);
}

static void capsule_free(PyObject *cap) {
    forest_free((Forest *)PyCapsule_GetPointer(cap, "palestra.forest"));
}

static int get_buffer(PyObject *obj, Py_buffer *view, const char *fmt, Py_ssize_t item,
                      const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != item || view->format == NULL || strcmp(view->format, fmt) != 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous array of format '%s'", name,
                     fmt);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void *copy_of(Py_buffer *v) {
    void *p = malloc(v->len > 0 ? (size_t)v->len : 1);
    if (p != NULL && v->len > 0) memcpy(p, v->buf, (size_t)v->len);
    return p;
}

PyDoc_STRVAR(new_doc,
             "new(root, node_base, leaf_base, split, thr, left, right, flags, leaf, dim)\n"
             "A forest capsule from flat int32 / float64 / int8 arrays (checked here).");

static PyObject *py_new(PyObject *self, PyObject *args) {
    PyObject *o[9];
    int dim;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOi", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &o[7], &o[8], &dim))
        return NULL;
    static const char *fmt[9] = {"i", "i", "i", "i", "d", "i", "i", "b", "d"};
    static const Py_ssize_t size[9] = {4, 4, 4, 4, 8, 4, 4, 1, 8};
    static const char *name[9] = {"root", "node_base", "leaf_base", "split", "thr",
                                  "left", "right", "flags", "leaf"};
    Py_buffer v[9];
    int got = 0;
    Forest *f = NULL;
    PyObject *cap = NULL;
    for (; got < 9; got++)
        if (get_buffer(o[got], &v[got], fmt[got], size[got], name[got]) < 0) goto done;
    Py_ssize_t nt = v[0].len / 4, nn = v[3].len / 4, nl = v[8].len / 8;
    if (dim < 1 || v[1].len / 4 != nt || v[2].len / 4 != nt || v[4].len / 8 != nn ||
        v[5].len / 4 != nn || v[6].len / 4 != nn || v[7].len != nn) {
        PyErr_SetString(PyExc_ValueError, "forest arrays of inconsistent lengths");
        goto done;
    }
    const int32_t *root = v[0].buf, *nb = v[1].buf, *lb = v[2].buf, *sp = v[3].buf;
    const int32_t *lc = v[5].buf, *rc = v[6].buf;
    for (Py_ssize_t t = 0; t < nt; t++) {
        int32_t end_n = t + 1 < nt ? nb[t + 1] : (int32_t)nn;
        int32_t end_l = t + 1 < nt ? lb[t + 1] : (int32_t)nl;
        if (nb[t] < 0 || nb[t] > end_n || lb[t] < 0 || lb[t] >= end_l) goto bad;
        int32_t r = root[t];
        if (r >= 0 ? nb[t] + r >= end_n : lb[t] + ~r >= end_l) goto bad;
        for (int32_t k = nb[t]; k < end_n; k++) {
            if (sp[k] < 0 || sp[k] >= dim) goto bad;
            int32_t c[2] = {lc[k], rc[k]};
            for (int s = 0; s < 2; s++)
                if (c[s] >= 0 ? (c[s] <= k - nb[t] || nb[t] + c[s] >= end_n)
                              : lb[t] + ~c[s] >= end_l)
                    goto bad;  /* children come after their parent: no cycles */
        }
    }
    f = calloc(1, sizeof(Forest));
    if (f == NULL) { PyErr_NoMemory(); goto done; }
    f->n_trees = (int32_t)nt; f->n_nodes = (int32_t)nn; f->n_leaves = (int32_t)nl;
    f->dim = dim;
    f->root = copy_of(&v[0]); f->node_base = copy_of(&v[1]); f->leaf_base = copy_of(&v[2]);
    f->split = copy_of(&v[3]); f->thr = copy_of(&v[4]); f->left = copy_of(&v[5]);
    f->right = copy_of(&v[6]); f->flags = copy_of(&v[7]); f->leaf = copy_of(&v[8]);
    f->scratch = calloc((size_t)dim, sizeof(double));
    if (!f->root || !f->node_base || !f->leaf_base || !f->split || !f->thr || !f->left ||
        !f->right || !f->flags || !f->leaf || !f->scratch) {
        forest_free(f);
        PyErr_NoMemory();
        goto done;
    }
    cap = PyCapsule_New(f, "palestra.forest", capsule_free);
    if (cap == NULL) forest_free(f);
    goto done;
bad:
    PyErr_SetString(PyExc_ValueError, "malformed forest: an index out of range");
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return cap;
}

static double score_row(const Forest *f) {
    const double *x = f->scratch;
    double sum = 0.0;
    for (int32_t t = 0; t < f->n_trees; t++) {
        const int32_t base = f->node_base[t];
        int32_t c = f->root[t];
        while (c >= 0) {
            const int32_t k = base + c;
            const double fv = x[f->split[k]];
            const int missing = (f->flags[k] >> 1) & 3;
            int go_left;
            if ((missing == MISSING_ZERO && fabs(fv) <= 1e-35) ||
                (missing == MISSING_NAN && isnan(fv)))
                go_left = f->flags[k] & 1;
            else
                go_left = fv <= f->thr[k];
            c = go_left ? f->left[k] : f->right[k];
        }
        sum += f->leaf[f->leaf_base[t] + ~c];
    }
    return sum;
}

PyDoc_STRVAR(predict_doc,
             "predict(forest, indptr, indices, values, out)\n"
             "Raw scores of the CSR rows (int32 indptr and indices, float64 values) into out "
             "(float64, one per row).");

static PyObject *py_predict(PyObject *self, PyObject *args) {
    PyObject *cap, *o[4];
    if (!PyArg_ParseTuple(args, "OOOOO", &cap, &o[0], &o[1], &o[2], &o[3])) return NULL;
    Forest *f = PyCapsule_GetPointer(cap, "palestra.forest");
    if (f == NULL) return NULL;
    Py_buffer v[4];
    static const char *fmt[4] = {"i", "i", "d", "d"};
    static const Py_ssize_t size[4] = {4, 4, 8, 8};
    static const char *name[4] = {"indptr", "indices", "values", "out"};
    int got = 0;
    PyObject *ret = NULL;
    for (; got < 4; got++)
        if (get_buffer(o[got], &v[got], fmt[got], size[got], name[got]) < 0) goto done;
    if (v[3].readonly) {
        PyErr_SetString(PyExc_ValueError, "out is read-only");
        goto done;
    }
    Py_ssize_t rows = v[0].len / 4 - 1, nnz = v[1].len / 4;
    const int32_t *ip = v[0].buf, *idx = v[1].buf;
    const double *val = v[2].buf;
    double *out = v[3].buf;
    if (rows < 0 || v[2].len / 8 != nnz || v[3].len / 8 != rows || ip[0] != 0 ||
        ip[rows] != nnz) {
        PyErr_SetString(PyExc_ValueError, "CSR arrays of inconsistent lengths");
        goto done;
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (ip[r + 1] < ip[r]) {
            PyErr_SetString(PyExc_ValueError, "indptr must not decrease");
            goto done;
        }
        for (int32_t j = ip[r]; j < ip[r + 1]; j++)
            if (idx[j] < 0 || idx[j] >= f->dim) {
                PyErr_Format(PyExc_ValueError, "column %d out of range [0, %d)", idx[j], f->dim);
                goto done;
            }
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        for (int32_t j = ip[r]; j < ip[r + 1]; j++) f->scratch[idx[j]] += val[j];
        out[r] = score_row(f);
        for (int32_t j = ip[r]; j < ip[r + 1]; j++) f->scratch[idx[j]] = 0.0;
    }
    ret = Py_None;
    Py_INCREF(ret);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return ret;
}

static PyMethodDef methods[] = {
    {"new", py_new, METH_VARARGS, new_doc},
    {"predict", py_predict, METH_VARARGS, predict_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_forest",
    "Gradient-boosted trees scored on sparse rows, compiled (see palestra.models.forest).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__forest(void) { return PyModule_Create(&module); }
