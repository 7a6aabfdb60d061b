/* SPDX-License-Identifier: MIT */
/* History retention in the daemon: at start-up and then every hour, prune
 * the history to [database] keep_days and max_size_mb, one small step
 * (db_retention_step) per turn of the event loop, so the control loop and
 * the bus are served between steps. Pruning is housekeeping: a failure is
 * logged and the next run tries again; it never stops delivery. */
#include "daemon/pump.h"
#include "daemon/pump-private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-event.h>

#include "common/civil.h"
#include "common/macros.h"
#include "common/units.h"
#include "daemon/log.h"
#include "db/db.h"

/* What retention never prunes, whatever max_size_mb says. A restart
 * reloads the PCA lockout, hourly count and cumulative window from the
 * history (PCA_HISTORY_US, 13 h, back from now) along with the flow of the
 * infusions that ended in it: losing a dose there would let the failsafe
 * grant one the patient already had. 48 h holds that with a wide margin,
 * also across a wall clock set a day ahead and back. */
#define RETENTION_FLOOR_US (48 * US_PER_HOUR)
/* The history grows by minutes of samples an hour: an hourly run keeps it
 * within its limits without pruning all the time. */
#define RETENTION_INTERVAL_US US_PER_HOUR

struct pump_retention {
        sd_event_source *timer;
        struct db_retention limits;
        /* The run under way: */
        uint64_t rows;
        unsigned steps;
        struct db_retention_step last;
};

static void format_utc(int64_t utc_us, char *buf, size_t size) {
        struct utc_civil c;

        civil_from_utc_us(utc_us, &c);
        snprintf(buf, size, "%04" PRIi64 "-%02u-%02uT%02u:%02u:%02uZ", c.year, c.month, c.day, c.hour, c.minute,
                 c.second);
}

/* A run ended: say what it did, once, and put it in the audit log. */
static void run_done(struct pump *p, struct pump_retention *rt) {
        char fence[64], args[160];

        if (rt->rows > 0) {
                format_utc(rt->last.pruned_before_utc_us, fence, sizeof fence);
                log_info("Pruned %" PRIu64 " history record%s from before %s in %u step%s; %.1f MB in use",
                         rt->rows, rt->rows == 1 ? "" : "s", fence, rt->steps, rt->steps == 1 ? "" : "s",
                         (double) rt->last.bytes_in_use / (1024 * 1024));
                snprintf(args, sizeof args, "Rows=%" PRIu64 " PrunedBefore=%s PrunedBeforeUtcUs=%" PRIi64, rt->rows,
                         fence, rt->last.pruned_before_utc_us);
                pump_audit(p, -1, "Retention.Prune", "/org/infusiond/pump1/history", args, "ok", NULL);
        }
        rt->rows = 0;
        rt->steps = 0;
}

static int arm(sd_event_source *s, uint64_t delay_us) {
        uint64_t now;
        int r;

        r = sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC, &now);
        if (r >= 0)
                r = sd_event_source_set_time(s, now + delay_us);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return r;
}

static int on_retention(sd_event_source *s, uint64_t usec, void *userdata) {
        struct pump *p = userdata;
        struct pump_retention *rt = p->retention;
        struct db_retention_step st;
        int r;

        r = db_retention_step(p->db, &rt->limits, pump_utc_us(p), &st);
        if (r < 0) {
                run_done(p, rt);
                log_warning_errno(r, "Failed to prune the history: %s, ignoring", db_last_error(p->db));
        } else {
                rt->rows += st.rows_deleted;
                rt->steps++;
                rt->last = st;
                if (r == 0)
                        run_done(p, rt);
        }

        /* More: the next step on the next turn of the loop (a time
         * already passed), after whatever else is pending. */
        r = arm(s, r > 0 ? 0 : (uint64_t) RETENTION_INTERVAL_US);
        if (r < 0)
                log_warning_errno(r, "Failed to re-arm the history pruning timer: %m; the history is no longer "
                                  "pruned until a restart, ignoring");
        return 0;
}

void pump_retention_start(struct pump *p, const struct config *cfg) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        struct pump_retention *rt;
        int r;

        rt = calloc(1, sizeof *rt);
        if (!rt) {
                log_warning_errno(-ENOMEM, "Failed to set up history pruning: %m, ignoring");
                return;
        }
        rt->limits = (struct db_retention) {
                .keep_us = cfg->database_keep_us,
                .max_bytes = (uint64_t) cfg->database_max_size_bytes,
                .floor_us = RETENTION_FLOOR_US,
        };

        /* The loop main() runs: the thread's default one. The source holds
         * its own reference to it. */
        r = sd_event_default(&e);
        if (r >= 0)
                /* Due at once: the first run starts with the loop. */
                r = sd_event_add_time(e, &rt->timer, CLOCK_MONOTONIC, 0, 0, on_retention, p);
        if (r < 0) {
                log_warning_errno(r, "Failed to set up history pruning: %m, ignoring");
                free(rt);
                return;
        }
        /* Below the control loop, the inputs and the bus: it waits for them. */
        (void) sd_event_source_set_priority(rt->timer, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_description(rt->timer, "retention");
        p->retention = rt;
}

void pump_retention_free(struct pump *p) {
        if (!p->retention)
                return;
        sd_event_source_disable_unref(p->retention->timer);
        free(p->retention);
        p->retention = NULL;
}
