/* _leancop.c: leanCoP 2.1's connection-calculus search, compiled.
 *
 * The same machine as palestra.prove.calculus._PythonCore (read its docstrings first): goal
 * continuations ("frames") and choice points, leanCoP 2.1's search order (lemmata, then
 * reductions nearest first, then extensions in matrix order), one inference per successful
 * unification in a reduction or extension, iterative deepening on the path length with
 * leanCoP's `pathlim` flag, cut / scut / comp(N). Given the same flattened matrix it makes the
 * same bindings in the same order, so counts, proofs and substitutions are the Python core's.
 *
 * Data (built by palestra.prove.ccore from a CompiledMatrix; every index is checked here):
 *
 *   cells    int32 terms, each [functor, arity, 0, arg_1 .. arg_n]; an argument is a cell
 *            index of an *earlier* term or a variable -1 - k (variable k of its clause).
 *            Literals are terms whose functor is the literal id 2 * predicate + negative.
 *            Ground terms are interned: two ground terms are equal iff their indices are.
 *            The third word is filled here with the term's variable list (-1: ground).
 *   litlist  int32 literal cell indices: the "rest of clause" lists of the index entries.
 *   index    int32 CSR offsets: the entries with literal id f are cands[index[f] .. index[f+1]).
 *   cands    int32 [literal, rest start, rest length, number of variables, entry id] each.
 *
 * Memory: a clause copy is the template plus an offset into the binding arrays (bind_t, bind_o:
 * variable slot -> term and its offset); every binding goes on the trail. Frames, path nodes
 * and lemma nodes live in arenas that a choice point truncates on backtracking (nothing made
 * after a choice point is reachable once it is resumed), so no garbage collection is needed.
 * Unification, identity (==) and the occurs check use explicit stacks: terms nested
 * thousands deep do not touch the C stack. All arrays grow on demand; a failed allocation
 * becomes MemoryError.
 *
 * The GIL is released during the search; every CHECK_EVERY steps the wall-clock deadline is
 * checked and, about every 50 ms, pending signals (Ctrl-C raises KeyboardInterrupt).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int32_t i32;
typedef int64_t i64;

#define NIL (-1)
#define ERR (-2)
#define UNBOUND INT32_MIN
#define IS_VAR(x) ((x) < 0)
#define VAR_NO(x) (-(x)-1)
#define MAX_CLAUSE_VARS (1 << 24)
#define MAX_SLOTS ((i64)1 << 30)
#define MAX_ARENA ((i64)INT32_MAX - 1)
#define CHECK_EVERY 4096
#define SIGNAL_EVERY_S 0.05

enum { R_EXT = 0, R_RED = 1, R_LEM = 2 };
enum {
    S_THEOREM = 0,
    S_INFLIMIT = 1,
    S_COUNTERSAT = 2,
    S_GAVEUP = 3,
    S_TIMEOUT = 4,
    S_NOMEM = 5,
    S_INTERRUPT = 6,
};

typedef struct { i32 lits, nlits, j, off, path, lem, barrier, next; } Frame;
typedef struct { i32 lit, off, depth, parent, step; } PathNode;
typedef struct { i32 lit, off, step, next; } LemNode;
typedef struct { i32 rule, ref, off; } Step;
typedef struct { i32 lit, rest, nrest, nv, eid; } Cand;
typedef struct {
    i32 stage, pos, lit, off, lits, nlits, j, path, lem, barrier, next, top, nsteps;
    i32 nframes, npaths, nlems;
    i64 mark;
} Choice;

typedef struct {
    /* the matrix */
    i32 *cells;
    i64 ncells;
    i32 *vpool; /* variable lists: count, then the variables */
    i64 nvpool, vpool_cap;
    i32 *litlist; /* the rest lists, then one slot holding the root goal -# */
    i64 nlitlist;
    i32 root_list;
    i32 *index;
    i32 nids;
    Cand *cands;
    i64 ncands;
    i32 neg_start, start_id;
    /* bindings */
    i32 *bind_t, *bind_o;
    i64 bind_cap;
    i32 *trail;
    i64 ntrail, trail_cap;
    /* the proof search */
    Frame *frames;
    i64 nframes, frames_cap;
    PathNode *paths;
    i64 npaths, paths_cap;
    LemNode *lems;
    i64 nlems, lems_cap;
    Step *steps;
    i64 nsteps, steps_cap;
    Choice *choices;
    i64 nchoices, choices_cap;
    i32 *work; /* unification / identity stack, 4 ints an entry */
    i64 work_cap;
    i32 *ostack; /* occurs-check stack, 2 ints an entry */
    i64 ostack_cap;
    i32 top;
    /* counting and stopping */
    i64 inferences, limit; /* limit < 0: none */
    int pathlim_hit;
    int stop; /* -1 while running, else S_* */
    double deadline, next_signal_check; /* deadline <= 0: none */
    i64 ticks;
    PyThreadState *tstate; /* non-NULL while the GIL is released */
} Machine;

/* ---- memory ------------------------------------------------------------------------------ */

static int grow_(void **p, i64 *cap, i64 need, size_t elem, i64 max) {
    if (need <= *cap) return 1;
    if (need > max) return 0;
    i64 c = *cap > 0 ? *cap : 256;
    while (c < need) c *= 2;
    if (c > max) c = max;
    if ((uint64_t)c > SIZE_MAX / elem) return 0;
    void *q = realloc(*p, (size_t)c * elem);
    if (q == NULL) return 0;
    *p = q;
    *cap = c;
    return 1;
}

/* room for `extra` more items in arena `arr` (length n, capacity cap); sets S_NOMEM if not */
#define RESERVE(m, arr, n, cap, extra)                                                       \
    ((n) + (extra) <= (cap) ||                                                               \
     grow_((void **)&(arr), &(cap), (n) + (extra), sizeof(*(arr)), MAX_ARENA) ||             \
     ((m)->stop = S_NOMEM, 0))

static int reserve_bind(Machine *m, i64 need) {
    if (need <= m->bind_cap) return 1;
    if (need > MAX_SLOTS) goto nomem;
    i64 c = m->bind_cap > 0 ? m->bind_cap : 4096;
    while (c < need) c *= 2;
    i32 *t = realloc(m->bind_t, (size_t)c * sizeof(i32));
    if (t == NULL) goto nomem;
    m->bind_t = t;
    i32 *o = realloc(m->bind_o, (size_t)c * sizeof(i32));
    if (o == NULL) goto nomem;
    m->bind_o = o;
    for (i64 k = m->bind_cap; k < c; k++) t[k] = UNBOUND;
    m->bind_cap = c;
    return 1;
nomem:
    m->stop = S_NOMEM;
    return 0;
}

static void machine_free(Machine *m) {
    free(m->cells);
    free(m->vpool);
    free(m->litlist);
    free(m->index);
    free(m->cands);
    free(m->bind_t);
    free(m->bind_o);
    free(m->trail);
    free(m->frames);
    free(m->paths);
    free(m->lems);
    free(m->steps);
    free(m->choices);
    free(m->work);
    free(m->ostack);
    memset(m, 0, sizeof(*m));
}

/* ---- time --------------------------------------------------------------------------------- */

static double now_s(void) {
#ifdef CLOCK_MONOTONIC
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#else
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

/* the deadline and pending signals; 0 (with m->stop set) when the search must stop */
static int check_time(Machine *m) {
    double t = now_s();
    if (m->deadline > 0 && t >= m->deadline) {
        m->stop = S_TIMEOUT;
        return 0;
    }
    if (m->tstate != NULL && t >= m->next_signal_check) {
        m->next_signal_check = t + SIGNAL_EVERY_S;
        PyEval_RestoreThread(m->tstate);
        int r = PyErr_CheckSignals();
        m->tstate = PyEval_SaveThread();
        if (r < 0) {
            m->stop = S_INTERRUPT;
            return 0;
        }
    }
    return 1;
}

/* ---- bindings ----------------------------------------------------------------------------- */

static inline void undo(Machine *m, i64 mark) {
    i32 *bt = m->bind_t, *trail = m->trail;
    i64 n = m->ntrail;
    while (n > mark) bt[trail[--n]] = UNBOUND;
    m->ntrail = n;
}

static inline int bind(Machine *m, i32 v, i32 t, i32 to) {
    if (!RESERVE(m, m->trail, m->ntrail, m->trail_cap, 1)) return 0;
    m->bind_t[v] = t;
    m->bind_o[v] = to;
    m->trail[m->ntrail++] = v;
    return 1;
}

/* Follow the bindings from term *t at offset *o: on return *t is a compound term or an
 * unbound variable, and *o its offset. */
static inline void deref(const i32 *bt, const i32 *bo, i32 *t, i32 *o) {
    while (IS_VAR(*t)) {
        i32 g = VAR_NO(*t) + *o;
        i32 x = bt[g];
        if (x == UNBOUND) return;
        *t = x;
        *o = bo[g];
    }
}

/* Push the argument pair (s at so, t at to) on the work stack of unify_args and identical;
 * 0 with m->stop set on allocation failure. */
static inline int push_pair(Machine *m, i64 *sp, i32 s, i32 so, i32 t, i32 to) {
    if (!RESERVE(m, m->work, *sp, m->work_cap, 4)) return 0;
    i32 *st = m->work + *sp;
    st[0] = s;
    st[1] = so;
    st[2] = t;
    st[3] = to;
    *sp += 4;
    return 1;
}

/* Whether slot v occurs in the non-ground term t at offset to, under the bindings. Only the
 * variables of t are visited (its variable list), not its whole structure. On allocation
 * failure it says "occurs" with m->stop set. */
static int occurs(Machine *m, i32 v, i32 t0, i32 to0) {
    const i32 *cells = m->cells, *vpool = m->vpool, *bt = m->bind_t, *bo = m->bind_o;
    if (!RESERVE(m, m->ostack, 0, m->ostack_cap, 2)) return 1;
    i32 *st = m->ostack;
    i64 sp = 0;
    st[sp++] = t0;
    st[sp++] = to0;
    while (sp > 0) {
        i32 to = st[--sp];
        i32 t = st[--sp];
        i32 vl = cells[t + 2];
        i32 nv = vpool[vl];
        for (i32 k = 1; k <= nv; k++) {
            i32 g = vpool[vl + k] + to;
            i32 a = bt[g];
            if (a == UNBOUND) {
                if (g == v) return 1;
                continue;
            }
            i32 ao = bo[g];
            deref(bt, bo, &a, &ao);
            if (IS_VAR(a)) {
                if (VAR_NO(a) + ao == v) return 1;
            } else if (cells[a + 2] >= 0) {
                if (!RESERVE(m, m->ostack, sp, m->ostack_cap, 2)) return 1;
                st = m->ostack;
                st[sp++] = a;
                st[sp++] = ao;
            }
        }
    }
    return 0;
}

/* Unify the arguments of s0 (offset so0) and t0 (offset to0), with occurs check.
 *
 * Robinson's rules: a variable unifies with itself; an unbound variable X with a term t not
 * containing X by binding X := t (the left one is bound when both are variables); f(s1..sn)
 * with f(t1..tn) when every si unifies with ti; anything else fails. The arguments of a pair
 * are taken left to right and compound pairs pushed on a stack, as the Python core does, so
 * the bindings are the same. Bindings go on the trail; on failure the caller undoes them.
 * Returns 1 or 0; on allocation failure 0 with m->stop set. */
static int unify_args(Machine *m, i32 s0, i32 so0, i32 t0, i32 to0) {
    const i32 *cells = m->cells;
    const i32 *bt = m->bind_t, *bo = m->bind_o;
    if (cells[s0 + 1] != cells[t0 + 1]) return 0;
    i64 sp = 0;
    if (!push_pair(m, &sp, s0, so0, t0, to0)) return 0;
    while (sp > 0) {
        sp -= 4;
        s0 = m->work[sp];
        so0 = m->work[sp + 1];
        t0 = m->work[sp + 2];
        to0 = m->work[sp + 3];
        i32 n = cells[s0 + 1];
        const i32 *sa = cells + s0 + 3, *ta = cells + t0 + 3;
        for (i32 i = 0; i < n; i++) {
            i32 s = sa[i], t = ta[i];
            if (s == t && (so0 == to0 || (s >= 0 && cells[s + 2] < 0))) continue;
            i32 so = so0, to = to0;
            deref(bt, bo, &s, &so);
            deref(bt, bo, &t, &to);
            if (IS_VAR(s)) {
                i32 v = VAR_NO(s) + so;
                if (IS_VAR(t)) {
                    if (v != VAR_NO(t) + to && !bind(m, v, t, to)) return 0;
                } else {
                    if (cells[t + 2] >= 0 && occurs(m, v, t, to)) return 0;
                    if (!bind(m, v, t, to)) return 0;
                }
            } else if (IS_VAR(t)) {
                i32 v = VAR_NO(t) + to;
                if (cells[s + 2] >= 0 && occurs(m, v, s, so)) return 0;
                if (!bind(m, v, s, so)) return 0;
            } else if (s == t && (so == to || cells[s + 2] < 0)) {
                continue;
            } else if (cells[s] != cells[t] || cells[s + 1] != cells[t + 1] ||
                       (cells[s + 2] < 0 && cells[t + 2] < 0)) {
                return 0;
            } else if (!push_pair(m, &sp, s, so, t, to)) {
                return 0;
            }
        }
    }
    return 1;
}

/* Prolog's == on the arguments of two terms with the same functor: the walk of unify_args
 * with one rule changed, a variable is == only to itself, and no binding is made (as
 * compiled.identical). On allocation failure 0 with m->stop set. */
static int identical(Machine *m, i32 s0, i32 so0, i32 t0, i32 to0) {
    const i32 *cells = m->cells;
    const i32 *bt = m->bind_t, *bo = m->bind_o;
    if (cells[s0 + 1] != cells[t0 + 1]) return 0;
    i64 sp = 0;
    if (!push_pair(m, &sp, s0, so0, t0, to0)) return 0;
    while (sp > 0) {
        sp -= 4;
        s0 = m->work[sp];
        so0 = m->work[sp + 1];
        t0 = m->work[sp + 2];
        to0 = m->work[sp + 3];
        i32 n = cells[s0 + 1];
        const i32 *sa = cells + s0 + 3, *ta = cells + t0 + 3;
        for (i32 i = 0; i < n; i++) {
            i32 s = sa[i], t = ta[i];
            if (s == t && (so0 == to0 || (s >= 0 && cells[s + 2] < 0))) continue;
            i32 so = so0, to = to0;
            deref(bt, bo, &s, &so);
            deref(bt, bo, &t, &to);
            if (IS_VAR(s) || IS_VAR(t)) {
                if (!(IS_VAR(s) && IS_VAR(t)) || VAR_NO(s) + so != VAR_NO(t) + to) return 0;
            } else if (s == t && (so == to || cells[s + 2] < 0)) {
                continue;
            } else if (cells[s] != cells[t] || cells[s + 1] != cells[t + 1] ||
                       (cells[s + 2] < 0 && cells[t + 2] < 0)) {
                return 0;
            } else if (!push_pair(m, &sp, s, so, t, to)) {
                return 0;
            }
        }
    }
    return 1;
}

/* ---- arenas ------------------------------------------------------------------------------- */

static i32 new_frame(Machine *m, i32 lits, i32 nlits, i32 j, i32 off, i32 path, i32 lem,
                     i32 barrier, i32 next) {
    if (!RESERVE(m, m->frames, m->nframes, m->frames_cap, 1)) return ERR;
    Frame *f = &m->frames[m->nframes];
    f->lits = lits;
    f->nlits = nlits;
    f->j = j;
    f->off = off;
    f->path = path;
    f->lem = lem;
    f->barrier = barrier;
    f->next = next;
    return (i32)m->nframes++;
}

static i32 new_path(Machine *m, i32 lit, i32 off, i32 depth, i32 parent, i32 step) {
    if (!RESERVE(m, m->paths, m->npaths, m->paths_cap, 1)) return ERR;
    PathNode *p = &m->paths[m->npaths];
    p->lit = lit;
    p->off = off;
    p->depth = depth;
    p->parent = parent;
    p->step = step;
    return (i32)m->npaths++;
}

static i32 new_lem(Machine *m, i32 lit, i32 off, i32 step, i32 next) {
    if (!RESERVE(m, m->lems, m->nlems, m->lems_cap, 1)) return ERR;
    LemNode *p = &m->lems[m->nlems];
    p->lit = lit;
    p->off = off;
    p->step = step;
    p->next = next;
    return (i32)m->nlems++;
}

static int push_step(Machine *m, i32 rule, i32 ref, i32 off) {
    if (!RESERVE(m, m->steps, m->nsteps, m->steps_cap, 1)) return 0;
    Step *s = &m->steps[m->nsteps++];
    s->rule = rule;
    s->ref = ref;
    s->off = off;
    return 1;
}

/* ---- one iteration of iterative deepening ------------------------------------------------- */

#define COUNT()                                                                              \
    do {                                                                                     \
        if (++m->inferences > m->limit && m->limit >= 0) {                                   \
            m->stop = S_INFLIMIT;                                                            \
            return -1;                                                                       \
        }                                                                                    \
    } while (0)

#define TRY(x)                                                                               \
    do {                                                                                     \
        if ((x) == ERR) return -1;                                                           \
    } while (0)

/* leanCoP's prove(PathLim, Set, Proof), first clause: one proof attempt, as
 * _PythonCore.search. Returns 1 (proof in m->steps, final bindings below m->top), 0 (no
 * proof at this limit) or -1 (stopped: m->stop says why). */
static int search(Machine *m, i32 pathlim, int cut, int scut) {
    const i32 *cells = m->cells;
    const i32 *litlist = m->litlist;
    const i32 *index = m->index;
    const Cand *cands = m->cands;
    const i32 nids = m->nids;

    undo(m, 0);
    m->nframes = m->npaths = m->nlems = m->nsteps = m->nchoices = 0;
    i32 top = 0, cont;
    if (scut) {
        /* lit(#,_,C,_) -> prove(C,[-(#)],...): the first start clause only, not counted */
        i32 f = m->start_id;
        if (f < 0 || f >= nids || index[f] == index[f + 1]) return 0;
        const Cand *c = &cands[index[f]];
        if (!reserve_bind(m, c->nv) || !push_step(m, R_EXT, c->eid, 0)) return -1;
        i32 p = new_path(m, m->neg_start, 0, 1, NIL, 0);
        TRY(p);
        cont = new_frame(m, c->rest, c->nrest, 0, 0, p, NIL, NIL, NIL);
        TRY(cont);
        top = c->nv;
    } else {
        cont = new_frame(m, m->root_list, 1, 0, 0, NIL, NIL, NIL, NIL);
        TRY(cont);
    }

    /* the goal being worked on, and where its alternatives stand */
    i32 lit = m->neg_start, lits = 0, nlits = 0, j = 0, off = 0, path = NIL, lem = NIL;
    i32 nxt = NIL, g_top = 0, g_nsteps = 0, g_barrier = 0, pos = NIL, chosen = 0;
    i64 mark = 0;
    int stage = -1; /* -1: take the next goal from the continuation */

    for (;;) {
        if (++m->ticks >= CHECK_EVERY) {
            m->ticks = 0;
            if (!check_time(m)) return -1;
        }
        /* ---- take the next goal from the continuation ---- */
        if (cont != NIL || stage < 0) {
            if (cont == NIL) break; /* nothing left to prove */
            const Frame *fr = &m->frames[cont];
            lits = fr->lits;
            nlits = fr->nlits;
            j = fr->j;
            off = fr->off;
            path = fr->path;
            lem = fr->lem;
            nxt = fr->next;
            if (fr->barrier != NIL && fr->barrier < m->nchoices) {
                m->nchoices = fr->barrier; /* cut: L is closed, forget its alternatives */
            }
            if (j >= nlits) {
                cont = nxt;
                continue;
            }
            cont = NIL;
            /* regularity: no open literal of the clause equals a literal on the path */
            int regular = 1;
            for (i32 k = j; k < nlits && regular; k++) {
                i32 lk = litlist[lits + k];
                i32 f = cells[lk];
                for (i32 p = path; p != NIL; p = m->paths[p].parent) {
                    i32 pl = m->paths[p].lit;
                    if (cells[pl] == f && identical(m, lk, off, pl, m->paths[p].off)) {
                        regular = 0;
                        break;
                    }
                }
            }
            if (m->stop >= 0) return -1;
            if (regular) {
                lit = litlist[lits + j];
                g_barrier = (i32)m->nchoices;
                mark = m->ntrail;
                g_top = top;
                g_nsteps = (i32)m->nsteps;
                stage = 0;
                pos = lem;
            } else {
                stage = 3; /* no alternatives: backtrack */
            }
        }

        /* ---- find the next alternative for `lit` ---- */
        int rule = -1;
        i32 ref = 0;
        if (stage == 0) { /* lemma: an identical literal on the lemma list */
            i32 p = pos, f = cells[lit];
            while (p != NIL) {
                const LemNode *q = &m->lems[p];
                if (cells[q->lit] == f && identical(m, lit, off, q->lit, q->off)) break;
                p = q->next;
            }
            if (m->stop >= 0) return -1;
            if (p != NIL) {
                rule = R_LEM;
                ref = m->lems[p].step;
                pos = m->lems[p].next;
            } else {
                stage = 1;
                pos = path;
            }
        }
        if (stage == 1 && rule < 0) { /* reduction: a complementary literal on the path */
            i32 p = pos, f = cells[lit] ^ 1;
            while (p != NIL) {
                const PathNode *q = &m->paths[p];
                if (cells[q->lit] == f) {
                    if (unify_args(m, lit, off, q->lit, q->off)) {
                        COUNT();
                        break;
                    }
                    if (m->stop >= 0) return -1;
                    if (m->ntrail > mark) undo(m, mark);
                }
                p = q->parent;
            }
            if (p != NIL) {
                rule = R_RED;
                ref = m->paths[p].depth - 1;
                pos = m->paths[p].parent;
            } else {
                stage = 2;
                pos = 0;
            }
        }
        if (stage == 2 && rule < 0) { /* extension: a complementary literal in the matrix */
            i32 fl = cells[lit] ^ 1;
            if (fl >= 0 && fl < nids && index[fl] < index[fl + 1]) {
                i32 base = index[fl], n = index[fl + 1] - index[fl];
                i32 depth = path == NIL ? 0 : m->paths[path].depth;
                i32 i = pos;
                while (i < n) {
                    const Cand *e = &cands[base + i];
                    i++;
                    if ((i64)top + e->nv > m->bind_cap && !reserve_bind(m, (i64)top + e->nv)) {
                        return -1;
                    }
                    if (unify_args(m, lit, off, e->lit, top)) {
                        COUNT();
                        if (e->nv == 0 || depth < pathlim) {
                            rule = R_EXT;
                            ref = e->eid;
                            chosen = base + i - 1;
                            break;
                        }
                        m->pathlim_hit = 1;
                    } else if (m->stop >= 0) {
                        return -1;
                    }
                    if (m->ntrail > mark) undo(m, mark);
                }
                pos = i;
                if (rule < 0 || i == n) stage = 3; /* nothing left after this one */
            } else {
                stage = 3;
            }
        }

        if (rule < 0) {
            /* ---- backtrack to the most recent choice point ---- */
            if (m->nchoices == 0) return 0;
            const Choice *c = &m->choices[--m->nchoices];
            stage = c->stage;
            pos = c->pos;
            lit = c->lit;
            off = c->off;
            lits = c->lits;
            nlits = c->nlits;
            j = c->j;
            path = c->path;
            lem = c->lem;
            g_barrier = c->barrier;
            nxt = c->next;
            mark = c->mark;
            g_top = c->top;
            g_nsteps = c->nsteps;
            m->nframes = c->nframes;
            m->npaths = c->npaths;
            m->nlems = c->nlems;
            undo(m, mark);
            top = g_top;
            m->nsteps = g_nsteps;
            cont = NIL;
            continue;
        }

        /* ---- apply the alternative ---- */
        if (stage < 3) {
            if (!RESERVE(m, m->choices, m->nchoices, m->choices_cap, 1)) return -1;
            Choice *c = &m->choices[m->nchoices++];
            c->stage = stage;
            c->pos = pos;
            c->lit = lit;
            c->off = off;
            c->lits = lits;
            c->nlits = nlits;
            c->j = j;
            c->path = path;
            c->lem = lem;
            c->barrier = g_barrier;
            c->next = nxt;
            c->mark = mark;
            c->top = g_top;
            c->nsteps = g_nsteps;
            c->nframes = (i32)m->nframes;
            c->npaths = (i32)m->npaths;
            c->nlems = (i32)m->nlems;
        }
        i32 step = (i32)m->nsteps;
        i32 new_lemma = new_lem(m, lit, off, step, lem);
        TRY(new_lemma);
        i32 rest = new_frame(m, lits, nlits, j + 1, off, path, new_lemma, cut ? g_barrier : NIL,
                             nxt);
        TRY(rest);
        if (rule == R_EXT) {
            const Cand *e = &cands[chosen];
            if ((i64)top + e->nv > MAX_SLOTS) {
                m->stop = S_NOMEM;
                return -1;
            }
            if (!push_step(m, R_EXT, ref, top)) return -1;
            i32 depth = path == NIL ? 0 : m->paths[path].depth;
            i32 new_path_node = new_path(m, lit, off, depth + 1, path, step);
            TRY(new_path_node);
            cont = new_frame(m, e->rest, e->nrest, 0, top, new_path_node, lem, NIL, rest);
            TRY(cont);
            top += e->nv;
        } else {
            if (!push_step(m, rule, ref, 0)) return -1;
            cont = rest;
        }
        stage = -1;
    }
    m->top = top;
    return 1;
}

/* leanCoP 2.1's iterative deepening (prove/3) around search(), as calculus.python_core */
static int run(Machine *m, int cut, int scut, int comp, i32 *pathlim_out) {
    i32 pathlim = 1;
    for (;;) {
        *pathlim_out = pathlim;
        int r = search(m, pathlim, cut, scut);
        if (r > 0) return S_THEOREM;
        if (r < 0) return m->stop;
        if (comp > 0 && pathlim == comp) {
            /* restart at limit 1 with complete search; leanCoP does not clear the flag */
            pathlim = 1;
            cut = scut = 0;
            comp = 0;
        } else if (comp > 0) {
            pathlim++;
        } else if (m->pathlim_hit) {
            m->pathlim_hit = 0;
            pathlim++;
        } else {
            return (cut || scut) ? S_GAVEUP : S_COUNTERSAT;
        }
        if (pathlim >= INT32_MAX - 1) return S_GAVEUP;
    }
}

/* ---- input: copying and validation -------------------------------------------------------- */

static int cmp_i32(const void *a, const void *b) {
    i32 x = *(const i32 *)a, y = *(const i32 *)b;
    return (x > y) - (x < y);
}

static i32 *copy_ints(Py_buffer *b, i64 *n, const char *name) {
    if (b->len % 4 != 0) {
        PyErr_Format(PyExc_ValueError, "%s: length %zd is not a multiple of 4 bytes", name,
                     b->len);
        return NULL;
    }
    if (b->len / 4 > MAX_ARENA) {
        PyErr_Format(PyExc_ValueError, "%s: too large", name);
        return NULL;
    }
    *n = b->len / 4;
    i32 *p = malloc(b->len > 0 ? (size_t)b->len : 4);
    if (p == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (b->len > 0) memcpy(p, b->buf, (size_t)b->len);
    return p;
}

#define BAD(...)                                                                             \
    do {                                                                                     \
        PyErr_Format(PyExc_ValueError, __VA_ARGS__);                                         \
        goto fail;                                                                           \
    } while (0)

/* Check every index of the flattened matrix (so no input can make the search read or write
 * out of bounds or loop forever), and fill in each term's variable list. */
static int validate(Machine *m, i64 nindex, i64 ncandints) {
    char *is_term = NULL;
    i32 *maxvar = NULL, *tmp = NULL;
    i64 tmp_cap = 0;
    i32 *cells = m->cells;
    i64 ncells = m->ncells;

    is_term = calloc((size_t)(ncells > 0 ? ncells : 1), 1);
    maxvar = malloc((size_t)(ncells > 0 ? ncells : 1) * sizeof(i32));
    if (is_term == NULL || maxvar == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i64 r = 0; r < ncells;) {
        if (r + 3 > ncells) BAD("cells: term at %lld is cut off", (long long)r);
        i32 n = cells[r + 1];
        if (n < 0 || n > ncells - r - 3) BAD("cells: bad arity %d at %lld", n, (long long)r);
        i64 ntmp = 0;
        i32 mv = -1;
        for (i32 i = 0; i < n; i++) {
            i32 a = cells[r + 3 + i];
            if (a < 0) {
                if (a < -MAX_CLAUSE_VARS) BAD("cells: bad variable %d at %lld", a, (long long)r);
                if (!grow_((void **)&tmp, &tmp_cap, ntmp + 1, sizeof(i32), MAX_ARENA)) {
                    PyErr_NoMemory();
                    goto fail;
                }
                tmp[ntmp++] = VAR_NO(a);
                if (VAR_NO(a) > mv) mv = VAR_NO(a);
            } else {
                if (a >= r || !is_term[a]) {
                    BAD("cells: argument %d of the term at %lld is not an earlier term", a,
                        (long long)r);
                }
                i32 vl = cells[a + 2];
                if (vl >= 0) {
                    i32 k = m->vpool[vl];
                    if (!grow_((void **)&tmp, &tmp_cap, ntmp + k, sizeof(i32), MAX_ARENA)) {
                        PyErr_NoMemory();
                        goto fail;
                    }
                    memcpy(tmp + ntmp, m->vpool + vl + 1, (size_t)k * sizeof(i32));
                    ntmp += k;
                }
                if (maxvar[a] > mv) mv = maxvar[a];
            }
        }
        if (ntmp == 0) {
            cells[r + 2] = -1;
        } else {
            qsort(tmp, (size_t)ntmp, sizeof(i32), cmp_i32);
            i64 k = 1;
            for (i64 i = 1; i < ntmp; i++) {
                if (tmp[i] != tmp[k - 1]) tmp[k++] = tmp[i];
            }
            if (!grow_((void **)&m->vpool, &m->vpool_cap, m->nvpool + k + 1, sizeof(i32),
                       MAX_ARENA)) {
                PyErr_NoMemory();
                goto fail;
            }
            cells[r + 2] = (i32)m->nvpool;
            m->vpool[m->nvpool++] = (i32)k;
            memcpy(m->vpool + m->nvpool, tmp, (size_t)k * sizeof(i32));
            m->nvpool += k;
        }
        is_term[r] = 1;
        maxvar[r] = mv;
        r += 3 + n;
    }
#define VALID_LIT(x, nv) ((x) >= 0 && (x) < ncells && is_term[(x)] && maxvar[(x)] < (nv))
    for (i64 i = 0; i < m->nlitlist - 1; i++) {
        if (!VALID_LIT(m->litlist[i], MAX_CLAUSE_VARS)) {
            BAD("litlist[%lld] is not a term", (long long)i);
        }
    }
    if (!VALID_LIT(m->neg_start, 0)) BAD("the root goal is not a ground literal");
    m->litlist[m->nlitlist - 1] = m->neg_start;
    if (ncandints % 5 != 0) BAD("cands: length not a multiple of 5");
    m->ncands = ncandints / 5;
    if (nindex < 1) BAD("index: empty");
    m->nids = (i32)(nindex - 1);
    if (m->index[0] != 0 || m->index[m->nids] != m->ncands) BAD("index: bad bounds");
    for (i32 f = 0; f < m->nids; f++) {
        if (m->index[f] > m->index[f + 1]) BAD("index: not sorted at %d", f);
    }
    for (i64 i = 0; i < m->ncands; i++) {
        const Cand *c = &m->cands[i];
        if (c->nv < 0 || c->nv > MAX_CLAUSE_VARS) {
            BAD("cands[%lld]: bad variable count", (long long)i);
        }
        if (!VALID_LIT(c->lit, c->nv)) BAD("cands[%lld]: bad literal", (long long)i);
        if (c->rest < 0 || c->nrest < 0 || c->rest > m->nlitlist - 1 - c->nrest) {
            BAD("cands[%lld]: rest of clause out of range", (long long)i);
        }
        for (i32 k = 0; k < c->nrest; k++) {
            if (maxvar[m->litlist[c->rest + k]] >= c->nv) {
                BAD("cands[%lld]: a literal has more variables than its clause", (long long)i);
            }
        }
    }
#undef VALID_LIT
    free(is_term);
    free(maxvar);
    free(tmp);
    return 1;
fail:
    free(is_term);
    free(maxvar);
    free(tmp);
    return 0;
}

/* ---- the Python entry point --------------------------------------------------------------- */

PyDoc_STRVAR(search_doc,
"search(cells, litlist, index, cands, neg_start, start_id, cut, scut, comp, limit, time_limit)\n"
"--\n\n"
"Run leanCoP 2.1's iterative deepening on a flattened matrix (see palestra.prove.ccore).\n\n"
"comp <= 0: no comp; limit < 0: no inference limit; time_limit <= 0: no deadline.\n"
"Returns (status, inferences, path_limit, steps, bind_terms, bind_offsets): status 0 Theorem,\n"
"1 InfLimit, 2 CounterSatisfiable, 3 GaveUp, 4 Timeout; steps packs int32 (rule, ref, offset)\n"
"triples in proof order and bind_* the int32 binding arrays below the final top (only for a\n"
"Theorem; else empty). Raises ValueError on malformed input, MemoryError, KeyboardInterrupt.");

static PyObject *py_search(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"cells", "litlist", "index", "cands", "neg_start", "start_id",
                             "cut", "scut", "comp", "limit", "time_limit", NULL};
    Py_buffer b_cells = {0}, b_litlist = {0}, b_index = {0}, b_cands = {0};
    int neg_start, start_id, cut, scut, comp;
    long long limit;
    double time_limit;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*y*y*iippiLd", kwlist, &b_cells,
                                     &b_litlist, &b_index, &b_cands, &neg_start, &start_id,
                                     &cut, &scut, &comp, &limit, &time_limit)) {
        return NULL;
    }
    Machine mach;
    Machine *m = &mach;
    memset(m, 0, sizeof(*m));
    PyObject *result = NULL;
    i64 nlit = 0, nindex = 0, ncandints = 0;

    m->cells = copy_ints(&b_cells, &m->ncells, "cells");
    if (m->cells == NULL) goto done;
    i32 *lits_in = copy_ints(&b_litlist, &nlit, "litlist");
    if (lits_in == NULL) goto done;
    /* one more slot: the root goal -# as a one-literal clause */
    m->litlist = realloc(lits_in, (size_t)(nlit + 1) * sizeof(i32));
    if (m->litlist == NULL) {
        free(lits_in);
        PyErr_NoMemory();
        goto done;
    }
    m->nlitlist = nlit + 1;
    m->root_list = (i32)nlit;
    m->index = copy_ints(&b_index, &nindex, "index");
    if (m->index == NULL) goto done;
    m->cands = (Cand *)copy_ints(&b_cands, &ncandints, "cands");
    if (m->cands == NULL) goto done;
    m->neg_start = neg_start;
    m->start_id = start_id;
    if (!validate(m, nindex, ncandints)) goto done;

    m->limit = limit < 0 ? -1 : limit;
    m->stop = -1;
    double t0 = now_s();
    m->deadline = time_limit > 0 ? t0 + time_limit : 0;
    m->next_signal_check = t0 + SIGNAL_EVERY_S;
    i32 pathlim = 1;
    int status;
    if (!reserve_bind(m, 4096)) {
        PyErr_NoMemory();
        goto done;
    }
    m->tstate = PyEval_SaveThread();
    status = run(m, cut, scut, comp > 0 ? comp : 0, &pathlim);
    PyEval_RestoreThread(m->tstate);
    m->tstate = NULL;

    if (status == S_NOMEM) {
        PyErr_NoMemory();
        goto done;
    }
    if (status == S_INTERRUPT) {
        if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
        goto done;
    }
    i64 nsteps = status == S_THEOREM ? m->nsteps : 0;
    i64 top = status == S_THEOREM ? m->top : 0;
    result = Py_BuildValue(
        "iLiy#y#y#", status, (long long)m->inferences, (int)pathlim,
        m->steps != NULL ? (const char *)m->steps : "", (Py_ssize_t)(nsteps * (i64)sizeof(Step)),
        (const char *)m->bind_t, (Py_ssize_t)(top * (i64)sizeof(i32)),
        (const char *)m->bind_o, (Py_ssize_t)(top * (i64)sizeof(i32)));
done:
    machine_free(m);
    PyBuffer_Release(&b_cells);
    PyBuffer_Release(&b_litlist);
    PyBuffer_Release(&b_index);
    PyBuffer_Release(&b_cands);
    return result;
}

static PyMethodDef methods[] = {
    {"search", (PyCFunction)(void (*)(void))py_search, METH_VARARGS | METH_KEYWORDS, search_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_leancop",
    "leanCoP 2.1's connection-calculus search, compiled (see palestra.prove.ccore).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__leancop(void) {
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) return NULL;
    if (PyModule_AddIntConstant(mod, "STEP_BYTES", (long)sizeof(Step)) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
