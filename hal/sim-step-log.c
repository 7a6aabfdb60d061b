/* SPDX-License-Identifier: MIT */
#include "hal/sim-step-log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sim_step_log_init(struct sim_step_log *l, size_t capacity) {
        if (capacity == 0 || capacity > SIZE_MAX / sizeof(int64_t))
                return -EINVAL;
        int64_t *t = malloc(capacity * sizeof(*t));
        if (!t)
                return -ENOMEM;
        /* Touch every page now, not on the step thread. Not with zeros:
         * the compiler turns malloc + memset(0) into calloc, whose fresh
         * pages stay untouched until the step thread writes them (a
         * page fault every 512 steps, and RSS that grows with the log). */
        memset(t, 0xa5, capacity * sizeof(*t));
        *l = (struct sim_step_log) { .times_us = t, .capacity = capacity };
        return 0;
}

void sim_step_log_done(struct sim_step_log *l) {
        free(l->times_us);
        *l = (struct sim_step_log) {};
}

int sim_step_log_write(const struct sim_step_log *l, const char *path) {
        char tmp[4096];
        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        FILE *f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f, "# infusiond step log: %zu steps, %" PRIi64 " not kept\n", l->count, l->dropped);
        for (size_t i = 0; i < l->count; i++)
                fprintf(f, "%" PRIi64 "\n", l->times_us[i]);
        int r = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}
