/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "ctl/alarms.h"
#include "ctl/format.h"

#define USEC_PER_SEC            UINT64_C(1000000)
#define SEC_PER_DAY             UINT64_C(86400)
#define ALARM_COLUMNS           5

int alarm_priority_rank(const char *priority) {
        if (!priority)
                return 0;
        if (strcmp(priority, "high") == 0)
                return 3;
        if (strcmp(priority, "medium") == 0)
                return 2;
        if (strcmp(priority, "low") == 0)
                return 1;
        return 0;
}

static int alarm_compare(const void *a, const void *b) {
        const Alarm *x = a, *y = b;
        int rx = alarm_priority_rank(x->priority), ry = alarm_priority_rank(y->priority);

        if (rx != ry)
                return rx > ry ? -1 : 1;
        if (x->raised_usec != y->raised_usec)
                return x->raised_usec > y->raised_usec ? -1 : 1;
        return strcmp(x->id ?: "", y->id ?: "");
}

void alarms_sort(Alarm *alarms, size_t n) {
        if (n > 1)
                qsort(alarms, n, sizeof *alarms, alarm_compare);
}

int format_audio_paused(char *buf, size_t size, uint64_t paused_until_usec) {
        char clock[FORMAT_CLOCK_MAX];
        int n;

        (void) format_clock_usec(clock, sizeof clock, paused_until_usec);
        if (size == 0)
                return -ENOBUFS;
        n = snprintf(buf, size, "Alarm audio paused until %s.", clock);
        return n < 0 ? -EINVAL : (size_t) n >= size ? -ENOBUFS : 0;
}

int format_silence_result(char *buf, size_t size, uint64_t paused_until_usec, uint64_t now_usec) {
        char clock[FORMAT_CLOCK_MAX], length[64];
        uint64_t sec;
        int n;

        if (paused_until_usec <= now_usec || paused_until_usec - now_usec > SEC_PER_DAY * USEC_PER_SEC)
                return format_audio_paused(buf, size, paused_until_usec);

        sec = (paused_until_usec - now_usec + USEC_PER_SEC / 2) / USEC_PER_SEC;
        if (sec < 60)
                snprintf(length, sizeof length, "%" PRIu64 " s", sec);
        else if (sec % 60 == 0)
                snprintf(length, sizeof length, "%" PRIu64 " min", sec / 60);
        else
                snprintf(length, sizeof length, "%" PRIu64 " min %" PRIu64 " s", sec / 60, sec % 60);

        (void) format_clock_usec(clock, sizeof clock, paused_until_usec);
        if (size == 0)
                return -ENOBUFS;
        n = snprintf(buf, size, "Alarm audio paused for %s, until %s.", length, clock);
        return n < 0 ? -EINVAL : (size_t) n >= size ? -ENOBUFS : 0;
}

int alarms_write_table(FILE *f, const Alarm *alarms, size_t n, uint64_t audio_paused_until_usec) {
        static const char *const header[ALARM_COLUMNS] = { "ID", "PRIORITY", "CONDITION", "RAISED", "MESSAGE" };
        _cleanup_(freep) const char **cells = NULL;
        _cleanup_(freep) char *clocks = NULL;
        char line[FORMAT_AUDIO_PAUSED_MAX];
        int r;

        if (n == 0)
                fputs("No active alarms.\n", f);
        else {
                if (n > (SIZE_MAX / sizeof *cells - 1) / ALARM_COLUMNS)
                        return -ENOMEM;
                cells = calloc((n + 1) * ALARM_COLUMNS, sizeof *cells);
                clocks = calloc(n, FORMAT_CLOCK_MAX);
                if (!cells || !clocks)
                        return -ENOMEM;

                memcpy(cells, header, sizeof header);
                for (size_t i = 0; i < n; i++) {
                        const char **row = cells + (i + 1) * ALARM_COLUMNS;
                        char *clock = clocks + i * FORMAT_CLOCK_MAX;

                        (void) format_clock_usec(clock, FORMAT_CLOCK_MAX, alarms[i].raised_usec);
                        row[0] = alarms[i].id ?: "";
                        row[1] = alarms[i].priority ?: "";
                        row[2] = alarms[i].condition ?: "";
                        row[3] = clock;
                        row[4] = alarms[i].message ?: "";
                }
                r = table_write(f, cells, (n + 1) * ALARM_COLUMNS, ALARM_COLUMNS);
                if (r < 0)
                        return r;
        }

        if (audio_paused_until_usec != 0) {
                (void) format_audio_paused(line, sizeof line, audio_paused_until_usec);
                fprintf(f, "%s\n", line);
        }
        return ferror(f) ? -EIO : 0;
}

static int write_json_member(FILE *f, const char *key, const char *value) {
        _cleanup_(freep) char *k = json_quote(key), *v = json_quote(value);

        if (!k || !v)
                return -ENOMEM;
        fprintf(f, "%s:%s", k, v);
        return 0;
}

int alarms_write_json(FILE *f, const Alarm *alarms, size_t n, uint64_t audio_paused_until_usec) {
        int r;

        fputs("{\"alarms\":[", f);
        for (size_t i = 0; i < n; i++) {
                const Alarm *a = &alarms[i];

                fputs(i > 0 ? ",{" : "{", f);
                if ((r = write_json_member(f, "id", a->id)) < 0)
                        return r;
                fputc(',', f);
                if ((r = write_json_member(f, "condition", a->condition)) < 0)
                        return r;
                fputc(',', f);
                if ((r = write_json_member(f, "priority", a->priority)) < 0)
                        return r;
                fprintf(f, ",\"raised_usec\":%" PRIu64 ",", a->raised_usec);
                if ((r = write_json_member(f, "message", a->message)) < 0)
                        return r;
                fputc('}', f);
        }
        fprintf(f, "],\"audio_paused_until_usec\":%" PRIu64 "}\n", audio_paused_until_usec);
        return ferror(f) ? -EIO : 0;
}
