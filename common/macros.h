/* SPDX-License-Identifier: MIT */
#pragma once

/* Small helpers shared by every layer: scoped cleanup and array sizes.
 * Kept deliberately tiny; anything with logic belongs in a module. */

#include <stdlib.h>
#include <string.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Move ownership out of a _cleanup_ variable: returns the pointer and
 * leaves NULL behind so the cleanup does nothing. */
#define TAKE_PTR(p)                             \
        ({                                      \
                __typeof__(p) _p_ = (p);        \
                (p) = NULL;                     \
                _p_;                            \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define streq(a, b) (strcmp((a), (b)) == 0)
