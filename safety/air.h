/* SPDX-License-Identifier: MIT */
#pragma once

/* Air-in-line detection. The ultrasonic detector says only "air here now";
 * the size of a bubble is the volume the plunger pushed while it said so,
 * from the first sample that saw air to the last. Two limits
 * (CLINICAL.md): one bubble over bubble_limit_nl (GIP: 200 µL), and the
 * sum of bubbles within the last window over accumulated_limit_nl (many
 * small bubbles). A bubble counts in the window until window_us after it
 * ended. Pure logic. */

#include <stdbool.h>
#include <stdint.h>

struct air_params {
        int64_t bubble_limit_nl;        /* > 0 */
        int64_t accumulated_limit_nl;   /* > 0 */
        int64_t window_us;              /* > 0 */
};

/* One bubble over 100 µL, or over 500 µL within 15 min (why in the .c). */
void air_params_default(struct air_params *ret);
/* -EINVAL with a reason in *ret_why if a parameter is out of range; the
 * bubble limit may not exceed GIP's 200 µL. */
int air_params_check(const struct air_params *p, const char **ret_why);

enum air_verdict {
        AIR_NONE,
        AIR_BUBBLE,                     /* one bubble over the limit */
        AIR_ACCUMULATED,                /* too much in the window */
};
const char *air_verdict_to_string(enum air_verdict v);

/* Bubbles that ended within the window. More than this many fold into
 * the newest entry, which then ages out with it: air may stay counted too
 * long, never too short. */
#define AIR_HISTORY_MAX 256

struct air_detector {
        struct air_params params;
        /* private */
        bool in_bubble;
        int64_t bubble_start_nl;        /* pushed when the bubble was first seen */
        int64_t bubble_nl;              /* size of the bubble in progress or last */
        struct { int64_t end_us; int64_t volume_nl; } history[AIR_HISTORY_MAX];    /* ring, oldest at head */
        unsigned history_head, history_len;
};

void air_init(struct air_detector *d, const struct air_params *p);

/* Sample the detector (air_present) and the plunger's cumulative pushed
 * volume; the caller samples on every edge of the detector too. A bubble
 * grows with the volume pushed while air is present, measured from the
 * furthest the plunger has been during it: when the plunger backs off
 * (pushed goes down) the bubble does not shrink, and pushing the same
 * volume forward again does not count twice. The verdict holds while the
 * bubble in progress is over the limit (AIR_BUBBLE wins) or the window's
 * sum is; AIR_NONE once neither holds. The caller latches the alarm. */
enum air_verdict air_sample(struct air_detector *d, int64_t now_us, bool air_present, int64_t pushed_nl);

/* The size of the current or last bubble and the window's sum, for the
 * alarm message. */
int64_t air_last_bubble_nl(const struct air_detector *d);
int64_t air_window_nl(const struct air_detector *d, int64_t now_us);
