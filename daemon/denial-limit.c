/* SPDX-License-Identifier: MIT */
#include "daemon/denial-limit.h"

#include <string.h>

void denial_limit_init(struct denial_limit *d, denial_report_fn report, void *userdata) {
        memset(d, 0, sizeof(*d));
        d->report = report;
        d->userdata = userdata;
}

/* Ends slot i's window: reports what it did not audit, and frees it. */
static void end_window(struct denial_limit *d, unsigned i) {
        if (d->slot[i].not_audited > 0 && d->report)
                d->report(d->slot[i].uid, d->slot[i].not_audited, DENIAL_AUDIT_WINDOW_US, d->userdata);
        d->slot[i].used = false;
}

bool denial_limit_admit(struct denial_limit *d, int64_t uid, int64_t now_us) {
        unsigned found = DENIAL_LIMIT_SLOTS, oldest = 0;

        for (unsigned i = 0; i < DENIAL_LIMIT_SLOTS; i++) {
                if (d->slot[i].used && now_us - d->slot[i].window_start_us >= DENIAL_AUDIT_WINDOW_US)
                        end_window(d, i);
                if (d->slot[i].used && d->slot[i].uid == uid)
                        found = i;
                if (!d->slot[oldest].used)
                        continue;
                if (!d->slot[i].used || d->slot[i].window_start_us < d->slot[oldest].window_start_us)
                        oldest = i;
        }
        if (found == DENIAL_LIMIT_SLOTS) {
                /* A free slot, or the oldest window, ended early: its count
                 * is reported now rather than lost. */
                found = oldest;
                if (d->slot[found].used)
                        end_window(d, found);
                d->slot[found].used = true;
                d->slot[found].uid = uid;
                d->slot[found].window_start_us = now_us;
                d->slot[found].audited = 0;
                d->slot[found].not_audited = 0;
        }
        if (d->slot[found].audited < DENIAL_AUDIT_BURST) {
                d->slot[found].audited++;
                return true;
        }
        d->slot[found].not_audited++;
        return false;
}

int64_t denial_limit_flush(struct denial_limit *d, int64_t now_us) {
        int64_t next = 0;

        for (unsigned i = 0; i < DENIAL_LIMIT_SLOTS; i++) {
                if (!d->slot[i].used)
                        continue;
                int64_t end = d->slot[i].window_start_us + DENIAL_AUDIT_WINDOW_US;
                if (now_us >= end)
                        end_window(d, i);
                else if (d->slot[i].not_audited > 0 && (next == 0 || end < next))
                        next = end;
        }
        return next;
}
