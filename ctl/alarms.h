/* SPDX-License-Identifier: MIT */
#pragma once

/* The alarms of a channel as infusionctl shows them (`alarms`, `silence`,
 * `status`, `monitor`): sorted, as a table and as JSON. Pure: no D-Bus;
 * the writers write to the FILE they are given. Times are local
 * wall-clock times (TZ), as on the ward clock. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One entry of the channel's ActiveAlarms, a(sssts). */
typedef struct Alarm {
        char *id;
        char *condition;
        char *priority;                 /* "high", "medium", "low" */
        uint64_t raised_usec;           /* UTC */
        char *message;
} Alarm;

/* 3 for "high", 2 "medium", 1 "low", 0 anything else: a priority this
 * client does not know (from a newer infusiond) sorts last, but is shown. */
int alarm_priority_rank(const char *priority);

/* Sorts alarms highest priority first; within a priority the most recently
 * raised first, then by id, so the order never depends on the daemon's. */
void alarms_sort(Alarm *alarms, size_t n);

#define FORMAT_AUDIO_PAUSED_MAX 128

/* "Alarm audio paused until 14:05:27." */
int format_audio_paused(char *buf, size_t size, uint64_t paused_until_usec);

/* What `silence` says after SilenceAlarms returned paused_until_usec,
 * seen at now_usec (both UTC): "Alarm audio paused for 2 min, until
 * 14:05:27." The length is rounded to the second ("1 min 30 s", "45 s"),
 * so the call's own latency does not show. When the pause does not end
 * within a day of now (the pump's clock is virtual, or far off), only
 * "Alarm audio paused until 14:05:27." */
int format_silence_result(char *buf, size_t size, uint64_t paused_until_usec, uint64_t now_usec);

/* The table of `alarms`: a header (ID, PRIORITY, CONDITION, RAISED,
 * MESSAGE), one row per alarm in the order given, raised as HH:MM:SS;
 * "No active alarms." when n is 0; then the line of format_audio_paused()
 * when audio_paused_until_usec is not 0. 0, or -EIO / -ENOMEM. */
int alarms_write_table(FILE *f, const Alarm *alarms, size_t n, uint64_t audio_paused_until_usec);

/* `alarms --json`: one object and a newline,
 *   {"alarms":[{"id":"...","condition":"...","priority":"high",
 *               "raised_usec":N,"message":"..."},...],
 *    "audio_paused_until_usec":N}
 * the alarms in the order given, N in UTC microseconds, 0 for audio not
 * paused. 0, or -EIO / -ENOMEM. */
int alarms_write_json(FILE *f, const Alarm *alarms, size_t n, uint64_t audio_paused_until_usec);
