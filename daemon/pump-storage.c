/* SPDX-License-Identifier: MIT */
/* A history database that refuses writes: the disk is full, the file
 * system went read-only (ext4's errors=remount-ro after an SD card
 * error), or the device returns I/O errors. docs/SAFETY.md, "History
 * that cannot be written", says why the pump keeps delivering: what
 * reaches the patient does not depend on the record, and stopping a
 * vasopressor over a full log disk is the worse harm. What does depend
 * on the record is refused instead: a new infusion (Start), and a PCA
 * dose (pump-pca.c already gives none it cannot record). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/units.h"
#include "daemon/log.h"
#include "daemon/pump-private.h"
#include "db/db.h"

static const char *storage_cause(int errno_value) {
        switch (errno_value) {
        case ENOSPC:
                return "disk full";
        case EROFS:
                return "file system read-only";
        case EIO:
                return "I/O error";
        default:
                return strerror(errno_value);
        }
}

/* The rows the outage cost, as one event, and the alarm's own "raised"
 * row if that was lost too (it is dated when it was raised). Returns
 * what the first write returned: < 0 if the disk still refuses. */
static int record_gap(struct pump *p) {
        struct pump_storage *s = &p->storage;
        char detail[192];

        snprintf(detail, sizeof(detail),
                 "%" PRIu64 " history records could not be written from utc_us %" PRIi64 " (%s)",
                 s->writes_lost, s->failed_since_utc_us, storage_cause(s->first_errno));
        int r = record_event(p, "history-gap", NULL, NULL, detail);
        if (r < 0)
                return r;

        const struct alarm *a = alarm_set_find(&p->alarms, ALARM_HISTORY_UNAVAILABLE);
        if (a && !s->raise_recorded) {
                struct db_alarm_event e = {
                        .alarm_id = a->id,
                        .seq = a->seq,
                        .infusion_id = s->raised_infusion_id,
                        .channel = p->ch.index,
                        .action = "raised",
                        .condition = alarm_condition_to_string(a->condition),
                        .priority = alarm_priority_to_string(ALARM_PRIORITY_HIGH),
                        .utc_us = a->raised_utc_us,
                        .mono_us = a->raised_us,
                        .uid = -1,
                        .pressure_mmhg = s->raised_pressure_mmhg,
                        .volume_nl = s->raised_volume_nl,
                        .message = a->message,
                };
                r = db_alarm_event_add(p->db, &e);
                if (r < 0)
                        return r;
                s->raise_recorded = true;
        }
        return 0;
}

void pump_storage_result(struct pump *p, int r) {
        struct pump_storage *s = &p->storage;

        /* A write made while reporting (the alarm's own rows): only noted,
         * so raising or clearing never recurses. */
        if (s->reporting) {
                if (r < 0)
                        s->nested_failed = true;
                return;
        }
        /* A caller's bad argument: nothing was asked of the disk. */
        if (r == -EINVAL)
                return;

        if (r >= 0) {
                if (!s->failing)
                        return;
                s->reporting = true;
                s->nested_failed = false;
                int q = record_gap(p);
                s->reporting = false;
                /* One write that fits (a freed page) is not a disk that
                 * works: stay failing until the gap itself is on disk. */
                if (q < 0) {
                        s->writes_lost++;
                        return;
                }
                s->failing = false;
                log_notice("History writes work again after %" PRIu64 " lost records; "
                           "the history-unavailable alarm waits for a person", s->writes_lost);
                pump_alarm_cause_gone(p, ALARM_HISTORY_UNAVAILABLE);
                return;
        }

        if (s->failing) {
                s->writes_lost++;
                return;
        }
        *s = (struct pump_storage) {
                .failing = true,
                .first_errno = -r,
                .failed_since_utc_us = pump_utc_us(p),
                .writes_lost = 1,
                .raised_infusion_id = p->infusion_id,
                .raised_pressure_mmhg = p->pressure_mmhg,
                .raised_volume_nl = channel_volume_nl(&p->ch),
        };
        log_error_errno(r, "The history database refuses writes (%s): %s; delivery continues, new infusions are refused",
                        storage_cause(-r), db_last_error(p->db));

        s->reporting = true;
        s->nested_failed = false;
        pump_raise_alarm(p, ALARM_HISTORY_UNAVAILABLE, false,
                         "History cannot be recorded (%s): delivery continues as programmed; no new infusion "
                         "can start and PCA doses are refused; free space or replace the pump",
                         storage_cause(-r));
        s->raise_recorded = !s->nested_failed;
        s->reporting = false;
}

bool pump_storage_failing(const struct pump *p) {
        return p->storage.failing;
}
