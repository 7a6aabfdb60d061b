/* SPDX-License-Identifier: MIT */
#include "bench/step-lateness.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int step_log_read(const char *path, int64_t **ret, size_t *ret_n) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        size_t n = 0, cap = 4096;
        int64_t *t = malloc(cap * sizeof(*t));
        char line[64];
        int r = t ? 0 : -ENOMEM;
        unsigned lineno = 0;
        while (r == 0 && fgets(line, sizeof(line), f)) {
                lineno++;
                if (line[0] == '#') {
                        if (strstr(line, ", 0 not kept") == NULL) {
                                fprintf(stderr, "%s:%u: the step log overflowed: %s", path, lineno, line);
                                r = -ENOBUFS;
                        }
                        continue;
                }
                char *end;
                errno = 0;
                long long v = strtoll(line, &end, 10);
                if (errno || end == line || (*end != '\n' && *end)) {
                        fprintf(stderr, "%s:%u: not a time in µs\n", path, lineno);
                        r = -EBADMSG;
                        break;
                }
                if (n == cap) {
                        int64_t *nt = realloc(t, 2 * cap * sizeof(*t));
                        if (!nt) {
                                r = -ENOMEM;
                                break;
                        }
                        t = nt;
                        cap *= 2;
                }
                t[n++] = v;
        }
        fclose(f);
        if (r < 0) {
                free(t);
                return r;
        }
        *ret = t;
        *ret_n = n;
        return 0;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return (x > y) - (x < y);
}

/* Nearest rank. */
static int64_t percentile(const int64_t *sorted, size_t n, double pct) {
        size_t rank = (size_t) ceil(pct / 100.0 * (double) n);
        return sorted[rank == 0 ? 0 : rank - 1];
}

int step_lateness_analyse(const int64_t *t, size_t n, int64_t interval_num, int64_t interval_den, int64_t win0_us,
                          int64_t win1_us, struct step_lateness *ret) {
        double interval = (double) interval_num / (double) interval_den;
        *ret = (struct step_lateness) { .interval_us = interval };
        if (n == 0)
                return -ENODATA;

        /* Steps k are numbered from the segment's first: times relative
         * to t[0] keep k * interval and t small enough for exact doubles. */
        double anchor = INFINITY;
        for (size_t k = 0; k < n; k++)
                anchor = fmin(anchor, (double) (t[k] - t[0]) - (double) k * interval);

        size_t m = 0;
        ret->lateness_us = malloc(n * sizeof(int64_t));
        if (!ret->lateness_us)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                if (t[k] < win0_us || t[k] > win1_us)
                        continue;
                double late = (double) (t[k] - t[0]) - (double) k * interval - anchor;
                if (late >= interval)
                        ret->missed++;
                ret->lateness_us[m++] = llround(late);
        }
        ret->n = m;
        if (m == 0)
                return 0;
        int64_t *sorted = malloc(m * sizeof(int64_t));
        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, ret->lateness_us, m * sizeof(int64_t));
        qsort(sorted, m, sizeof(int64_t), cmp_i64);
        ret->p50_us = percentile(sorted, m, 50);
        ret->p99_us = percentile(sorted, m, 99);
        ret->p999_us = percentile(sorted, m, 99.9);
        ret->max_us = sorted[m - 1];
        free(sorted);
        return 0;
}

void step_lateness_done(struct step_lateness *l) {
        free(l->lateness_us);
        *l = (struct step_lateness) {};
}
