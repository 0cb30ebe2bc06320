/* A growable int32 array, shared by the compiled SAT cores (_cdcl.c, _drup.c). */
#ifndef PALESTRA_SAT_VEC_H
#define PALESTRA_SAT_VEC_H

#include <stdint.h>
#include <stdlib.h>

typedef int32_t i32;

typedef struct {
    i32 *data;
    i32 size, cap;
} vec;

/* Room for `need` elements (capacity doubled from 4); -1 when out of memory. */
static int vec_grow(vec *v, i32 need) {
    i32 cap = v->cap ? v->cap : 4;
    while (cap < need) cap *= 2;
    i32 *d = realloc(v->data, (size_t)cap * sizeof(i32));
    if (!d) return -1;
    v->data = d;
    v->cap = cap;
    return 0;
}

static inline int vec_push(vec *v, i32 x) {
    if (v->size == v->cap && vec_grow(v, v->size + 1)) return -1;
    v->data[v->size++] = x;
    return 0;
}

#endif
