/* SPDX-License-Identifier: MIT */
#pragma once

/* The delivery supervisors besides occlusion and air. Each is pure logic
 * fed by the control loop once per tick; each returns whether its
 * condition holds now, so the caller raises or clears the alarm.
 *
 * - accuracy: the volume the plunger position sensor shows against the
 *   volume the steps commanded, over a sliding window; over or under by
 *   more than a percentage for a set time. GIP allows 15 min; we aim for
 *   far less.
 * - motion: commanded steps without measured plunger travel (stall or a
 *   broken coupling) -> motor malfunction, fast.
 * - sensor health: a read error, a value out of its physical range, or a
 *   value frozen while it must move -> sensor failure. A missing or
 *   failing sensor fails safe: the caller halts.
 * - battery: on battery with under 15 min left -> low; under 5 -> depleted.
 * - syringe: time to empty under near_end -> near end; nothing left ->
 *   empty.
 * - idle: programmed or paused, not running, for too long. */

#include <stdbool.h>
#include <stdint.h>

/* ---- delivery accuracy and motion ----------------------------------- */

struct accuracy_params {
        double tolerance_pct;           /* e.g. 10: alarm beyond +-10 % */
        int64_t window_us;              /* compare over this sliding window */
        int64_t persistence_us;         /* the error must hold this long */
        int64_t min_window_nl;          /* judge only windows that commanded this much */
        double position_resolution_nl;  /* sensor noise, one reading's sigma: errors below are noise */
        int64_t stall_nl;               /* commanded this much with no motion: stall */
};

/* Defaults for a 50 mL syringe (555.7 uL/mm) read by a potentiometer with
 * 0.005 mm of noise: 10 %, a 120 s window, 30 s persistence, judged from
 * 20 uL per window, stall after 20 uL. The caller scales
 * position_resolution_nl for other syringes. */
void accuracy_params_default(struct accuracy_params *ret);
/* -EINVAL with a reason in *ret_why if a parameter is out of range. The
 * window must fit the history (ACCURACY_HORIZON_US), and window plus
 * persistence must stay within GIP's 15 min. */
int accuracy_params_check(const struct accuracy_params *p, const char **ret_why);

enum accuracy_verdict {
        ACCURACY_OK,
        ACCURACY_OVER,
        ACCURACY_UNDER,
        ACCURACY_STALL,                 /* commanded >= stall_nl, measured ~0 */
        _ACCURACY_VERDICT_MAX,
};
const char *accuracy_verdict_to_string(enum accuracy_verdict v);

/* Samples are averaged into blocks of ACCURACY_BLOCK_US before they enter
 * the history, so the history spans ACCURACY_HORIZON_US (~17 min) whatever
 * the tick: long enough to see stall_nl commanded at 0.1 mL/h. */
#define ACCURACY_HISTORY_MAX 2048
#define ACCURACY_BLOCK_US INT64_C(500000)
#define ACCURACY_HORIZON_US (ACCURACY_HISTORY_MAX * ACCURACY_BLOCK_US)

struct accuracy_monitor {
        struct accuracy_params params;
        /* private */
        struct {
                int64_t t_us;           /* start of the block */
                double commanded_nl;    /* means over the block */
                double measured_nl;
                uint32_t n_samples;
        } history[ACCURACY_HISTORY_MAX];
        unsigned head, len;
        int64_t block_start_us;         /* -1: no block open */
        uint32_t block_n;
        int64_t block_commanded_sum_nl;
        double block_measured_sum_nl;
        int64_t last_us;                /* last accepted sample; -1: none */
        int64_t last_commanded_nl;
        enum accuracy_verdict judged;   /* the history's verdict before persistence */
        int64_t bad_since_us;           /* -1: within tolerance */
        enum accuracy_verdict bad_kind;
        double last_error_pct;
};

void accuracy_init(struct accuracy_monitor *m, const struct accuracy_params *p);
/* Delivery (re)started, paused or the syringe changed: forget history. */
void accuracy_reset(struct accuracy_monitor *m);
/* commanded_nl: cumulative volume the steps commanded; measured_nl:
 * cumulative volume from the plunger position sensor (same origin). Only
 * while the motor is meant to move. A sample not newer than the last, or
 * with a measured volume that is not finite, is ignored; a commanded
 * volume below the last one starts a new history (a new origin).
 * OVER/UNDER are returned once they held persistence_us; STALL at once. */
enum accuracy_verdict accuracy_sample(struct accuracy_monitor *m, int64_t now_us, int64_t commanded_nl,
                                      double measured_nl);
/* The error of the last judged window (or stall stretch), in % of the
 * commanded volume: -20 for a drive that delivers 80 %. 0 until judged. */
double accuracy_last_error_pct(const struct accuracy_monitor *m);

/* ---- a reading that does not move ----------------------------------- */

/* How long a reading has held one value, bit for bit: an ADC that stopped
 * converting repeats its last word exactly, while a live one, even at
 * rest, flickers in the last bits. Sensor health and the battery voltage
 * both judge a stuck sensor by it. Zeroed: nothing seen yet. */
struct same_value {
        bool have;
        double value;
        int64_t since_us;
};

/* Feeds value, read at now_us: how long it has read exactly that (0 when
 * it just changed, or is the first). */
int64_t same_value_for_us(struct same_value *s, int64_t now_us, double value);
/* Forget the value: the next one starts the clock again. */
static inline void same_value_forget(struct same_value *s) { s->have = false; }

/* ---- sensor health --------------------------------------------------- */

struct sensor_health_params {
        double min_value, max_value;    /* physical range */
        int max_read_errors;            /* consecutive errors tolerated */
        int64_t stuck_us;               /* identical value this long while moving */
};

enum sensor_health_verdict {
        SENSOR_OK,
        SENSOR_READ_ERROR,
        SENSOR_OUT_OF_RANGE,
        SENSOR_STUCK,
        _SENSOR_HEALTH_VERDICT_MAX,
};
const char *sensor_health_verdict_to_string(enum sensor_health_verdict v);
/* -EINVAL with a reason in *ret_why if a parameter is out of range. */
int sensor_health_params_check(const struct sensor_health_params *p, const char **ret_why);

struct sensor_health {
        struct sensor_health_params params;
        /* private */
        int read_errors;
        struct same_value same;
};

void sensor_health_init(struct sensor_health *h, const struct sensor_health_params *p);
/* read_result: what the HAL read returned (0 or -errno); value valid when
 * 0. must_move: the value must change (the motor is moving, so pressure
 * and position do); a frozen value (bit for bit) then means a stuck
 * sensor. A read error within max_read_errors returns SENSOR_OK: the
 * caller skips that value. */
enum sensor_health_verdict sensor_health_sample(struct sensor_health *h, int64_t now_us, int read_result,
                                                double value, bool must_move);

/* ---- battery --------------------------------------------------------- */

struct battery_params {
        int64_t low_s;                  /* 900: GIP 5.1 */
        int64_t depleted_s;             /* 300 */
};

enum battery_verdict {
        BATTERY_OK,                     /* on mains, or enough left */
        BATTERY_LOW,
        BATTERY_DEPLETED,
        BATTERY_UNKNOWN,                /* on battery and the time left is unknown */
};

/* time_to_empty_s < 0: unknown. Strictly under depleted_s -> DEPLETED,
 * under low_s -> LOW. */
enum battery_verdict battery_judge(const struct battery_params *p, bool on_mains, int64_t time_to_empty_s);

/* A battery whose time left is estimated from its voltage alone (a
 * discharge table, no fuel gauge): a frozen voltage reading would freeze
 * the estimate, and the pump would run down with no warning. A live
 * reading moves, by the ADC's noise and the motor's draw, if not by the
 * discharge (under 4 mV a minute); one identical bit for bit for
 * BATTERY_VOLTAGE_STUCK_US while on battery is a stuck sensor, and the
 * time left is then unknown. */
#define BATTERY_VOLTAGE_STUCK_US (10 * 60 * 1000000LL)

/* Feeds one reading to w; true while it is stuck. On mains, or with no
 * reading (NaN), there is nothing to judge: w starts afresh. */
bool battery_voltage_stuck(struct same_value *w, int64_t now_us, bool on_mains, double volts);

/* ---- syringe --------------------------------------------------------- */

enum syringe_verdict {
        SYRINGE_OK,
        SYRINGE_NEAR_END,
        SYRINGE_EMPTY,
};

/* remaining_nl: volume left by the plunger position; end_stop: the end
 * switch. near_end_us: warn when the time to empty at rate_nl_per_h is
 * under this; "empty" is where the pump stops, so the time counts down
 * to empty_nl, not to zero. empty_nl: at or under this much left it is
 * empty. No near end at rate 0 (nothing counts down). */
enum syringe_verdict syringe_judge(int64_t remaining_nl, bool end_stop, int64_t rate_nl_per_h,
                                   int64_t near_end_us, int64_t empty_nl);

/* ---- idle ------------------------------------------------------------ */

enum idle_verdict {
        IDLE_OK,
        IDLE_ALERT,                     /* low priority reminder */
        IDLE_ALARM,                     /* medium */
};

/* idle_since_us: when the channel became programmed or paused (-1: it is
 * running or idle). ALERT from alert_after_us idle, ALARM from
 * alarm_after_us (inclusive). */
enum idle_verdict idle_judge(int64_t now_us, int64_t idle_since_us, int64_t alert_after_us, int64_t alarm_after_us);
