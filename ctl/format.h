/* SPDX-License-Identifier: MIT */
#pragma once

/* Pure formatting and parsing helpers for infusionctl: no D-Bus, no I/O
 * but to a FILE passed in, no locale (the C locale is assumed: infusionctl
 * never calls setlocale(), so '.' is always the decimal point in both
 * directions).
 *
 * Buffer-writing functions return 0 on success and -ENOBUFS when the
 * buffer is too small (the buffer then holds a truncated, NUL-terminated
 * string). Parsers return 0 and write *ret_* only on success. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Sizes that always suffice for the fixed-format helpers below. */
#define FORMAT_HMS_MAX          32      /* "5124095576030431:00:15" for UINT64_MAX s */
#define FORMAT_NUMBER_MAX       320     /* "%.3f" of any finite double */
#define FORMAT_PROGRESS_BAR_MAX 256     /* bar width is capped at 200 */
#define FORMAT_PROGRESS_LINE_MAX 2048

#define FORMAT_PROGRESS_BAR_WIDTH_MAX 200u

/* Fraction of the VTBI delivered, clamped to [0, 1]. KVO volume is part of
 * infused_ml (API.md) but not of the VTBI, so it is subtracted first.
 * Volumes count to the microlitre, as they are shown, so the percentage
 * agrees with "5.000 / 5.000 mL" beside it even when the mechanism's last
 * step fell a fraction of a microlitre short. A VTBI that is 0, negative
 * or not finite gives 0. */
double progress_fraction(double infused_ml, double kvo_ml, double vtbi_ml);

/* Tenths of a percent of fraction (clamped to [0, 1]), rounded down so a
 * bar never claims completion before the VTBI is really delivered:
 * 0.4299 -> 429 ("42.9 %"). Exact decimal fractions (0.29) are not lost to
 * binary rounding. */
unsigned progress_permille(double fraction);

/* "[####......]": width cells between the brackets, '#' for the delivered
 * part (rounded down), '.' for the rest. fraction is clamped to [0, 1];
 * NaN counts as 0. width must be 1..FORMAT_PROGRESS_BAR_WIDTH_MAX, else
 * -EINVAL. */
int format_progress_bar(char *buf, size_t size, double fraction, unsigned width);

/* Seconds as h:mm:ss ("0:03:29" for 209); hours are not wrapped at 24. */
int format_hms(char *buf, size_t size, uint64_t sec);

/* A volume in mL with exactly three decimals ("4.200"); a rate in mL/h
 * with at least one and at most three decimals ("100.0", "0.05", "2.125");
 * a pressure in whole mmHg ("12"). Values that round to zero never print
 * as "-0". Non-finite values print as "n/a". */
int format_volume_ml(char *buf, size_t size, double ml);
int format_rate_ml_per_h(char *buf, size_t size, double ml_per_h);
int format_pressure_mmhg(char *buf, size_t size, double mmhg);

/* One sample of a channel, as `monitor` shows it. */
typedef struct ProgressSample {
        const char *state;              /* "running", ...; NULL prints "?" */
        double volume_infused_ml;       /* VolumeInfusedMl (KVO included) */
        double kvo_volume_ml;           /* KvoVolumeMl */
        double vtbi_ml;                 /* VtbiMl */
        double rate_ml_per_h;           /* CurrentRateMlPerHour: the rate now */
        double pressure_mmhg;           /* PressureMmHg */
        uint64_t time_remaining_sec;    /* TimeRemainingSec */
} ProgressSample;

/* "[#######.............]  35.0%  3.500 / 10.000 mL  100.0 mL/h  12 mmHg  running  ETA 0:03:29"
 * with a bar of bar_width cells. */
int format_progress_line(char *buf, size_t size, const ProgressSample *s, unsigned bar_width);

/* A duration for Simulator.AdvanceTime, in microseconds. Accepts an
 * unsigned decimal number with an optional fraction and an optional unit:
 * "us", "ms", "s", "m"/"min", "h"; no unit means seconds. "360s", "5m",
 * "2h", "1500ms", "1.5h", "90". Fractions finer than a microsecond are
 * truncated. Returns -EINVAL for anything else (empty, signs, spaces,
 * "12abc"), -ERANGE when the result does not fit in uint64_t. */
int parse_duration_usec(const char *s, uint64_t *ret_usec);

/* A plain decimal number that must be consumed entirely and be finite:
 * "100", "0.5", "1e2", "-3". Refuses leading/trailing space, hex floats,
 * "inf", "nan", empty strings (-EINVAL) and overflow (-ERANGE). */
int parse_double_strict(const char *s, double *ret);

/* An unsigned decimal integer that fits in unsigned: -EINVAL / -ERANGE. */
int parse_unsigned(const char *s, unsigned *ret);

/* "on"/"yes"/"true"/"1" and "off"/"no"/"false"/"0": -EINVAL otherwise. */
int parse_on_off(const char *s, bool *ret);

/* Replaces control characters (newlines, tabs, escape sequences) in s
 * with spaces, in place, so text from the daemon stays on its line of a
 * human-readable listing and cannot drive the terminal. Returns s. */
char *one_line(char *s);

/* s as a JSON string literal, quotes included, in a new malloc()ed string
 * (NULL when out of memory). '"' and '\\' are escaped, control characters
 * become \b \f \n \r \t or \u00XX, valid UTF-8 passes through unchanged and
 * each byte of invalid UTF-8 becomes \ufffd, so the result is always valid
 * JSON. NULL s is treated as "". */
char *json_quote(const char *s);

/* A double as a JSON number: the shortest "%.{1..17}g" that reads back
 * exactly; "null" for NaN and infinities, which JSON cannot express. */
int format_json_double(char *buf, size_t size, double v);

/* ---- programs and the drug library ---------------------------------- */

#define FORMAT_DOSE_MAX         (FORMAT_NUMBER_MAX + 128)

/* A duration in whole seconds for DurationSec and IntervalSec (D-Bus u):
 * the syntax of parse_duration_usec() ("30m", "1h", "90s", "1.5h",
 * plain seconds). -EINVAL for anything that is not a duration, -EDOM
 * when it is not a whole number of seconds ("1500ms"), -ERANGE when it
 * does not fit in 32 bits. */
int parse_duration_sec(const char *s, uint32_t *ret_sec);

/* One step of a multistep program, "RATE:VOLUME" in mL/h and mL:
 * "100:20", "2.5:0.5". Both halves follow parse_double_strict(); -EINVAL
 * for a missing or extra ':' or a half that is not a number, -ERANGE for
 * one out of range. */
int parse_step(const char *s, double *ret_rate_ml_per_h, double *ret_volume_ml);

/* A clinical number as a person writes it: six significant digits, no
 * exponent and no trailing zeros ("1000", "2.5", "0.025", "3.80952",
 * "1234567"), at most nine decimals, "%g" for a value too small for that;
 * "n/a" when not finite. */
int format_plain_number(char *buf, size_t size, double v);

/* A dose with its unit: "1000 units/h", "2.5 mcg/kg/min"; the number
 * alone when unit is NULL or ""; "n/a" when dose is not finite. */
int format_dose(char *buf, size_t size, double dose, const char *unit);

/* What the channel says it was programmed with, read back after Program. */
typedef struct ProgramSummary {
        const char *mode;               /* Mode; NULL or "" taken as continuous */
        const char *care_area;          /* CareArea; NULL or "" for none */
        bool has_library_properties;    /* the daemon has Drug, DrugName, ...: false for an older one */
        const char *drug;               /* Drug id; "" for a basic infusion */
        const char *drug_name;          /* DrugName; the id is shown when "" */
        double dose_rate;               /* DoseRate; NaN when none */
        const char *dose_rate_unit;     /* DoseRateUnit */
        const char *concentration;      /* Concentration, "25000 units / 500 mL"; "" none */
        double rate_ml_per_h;           /* RateMlPerHour: the first rate of multi-rate modes */
        double vtbi_ml;                 /* VtbiMl */
        const struct PcaStatus *pca;    /* mode pca: its settings instead of the rate; NULL otherwise */
} ProgramSummary;

/* One line for after Program, e.g.
 *   "Programmed: Heparin 1000 units/h (25000 units / 500 mL) in ICU = 20.000 mL/h, VTBI 50.000 mL"
 *   "Programmed: 100.000 mL/h, VTBI 10.000 mL (no library drug)"
 *   "Programmed (multistep): starting at 100.000 mL/h, VTBI 30.000 mL in Med-Surg (no library drug)"
 *   "Programmed (pca): 1 mL a demand, lockout 10 min, at most 4 an hour, limit 10 mL in any 4 h,
 *    VTBI 50.000 mL in Med-Surg (no library drug)" (pca given; a drug's name and concentration
 *    come first, as for the other modes, followed by ": ")
 * Without the library properties (an older daemon): the rate and VTBI
 * only, "Programmed: 100.000 mL/h, VTBI 10.000 mL". Strings are used as
 * given: pass them through one_line() first if they come from outside. */
int format_program_summary(char *buf, size_t size, const ProgramSummary *s);

/* Offset of the first byte of s that does not start valid UTF-8 (as
 * json_quote() judges it), or strlen(s) when all of s is valid. D-Bus
 * refuses strings that are not UTF-8, so text read from a file or the
 * command line is checked before it is sent. */
size_t utf8_valid_prefix(const char *s);

/* Terminal columns s takes, counting one per code point (no wide or
 * combining characters in library names is assumed). */
size_t utf8_columns(const char *s);

/* in, a JSON text, re-indented with two spaces per level, one member or
 * element per line, ": " after keys and a final newline, in a new
 * malloc()ed string. Only the layout changes: strings and numbers are
 * copied byte for byte. -EINVAL when in is not plausibly JSON
 * (unbalanced brackets, an unterminated string, nesting deeper than 256
 * levels, nothing at all), -ENOMEM. */
int json_pretty(const char *in, char **ret);

/* ---- clocks, power and tables ---------------------------------------- */

#define FORMAT_CLOCK_MAX        16

/* A UTC timestamp in microseconds as the local wall-clock time (TZ),
 * "14:03:27", as on a ward clock; "n/a" when it cannot be converted. */
int format_clock_usec(char *buf, size_t size, uint64_t usec);

/* The Manager's power properties; has_* is false for one the daemon did
 * not send (an infusiond older than battery support). */
typedef struct PowerStatus {
        bool has_on_mains;
        bool on_mains;                  /* OnMains */
        bool has_battery_percent;
        int32_t battery_percent;        /* BatteryPercent; -1 unknown */
        bool has_battery_minutes_left;
        int64_t battery_minutes_left;   /* BatteryMinutesLeft; -1 unknown or on mains */
} PowerStatus;

#define FORMAT_POWER_MAX        128

/* "on mains (battery 87 %)", "on mains", "on battery, 54 %, 73 min left",
 * "on battery, charge unknown"; "battery 87 %" when only the charge is
 * known. -ENODATA when the daemon sent none of the properties. */
int format_power(char *buf, size_t size, const PowerStatus *p);

/* Writes n_cells cells, n_columns to a row, as a table: columns padded
 * to their widest cell (at most 40 columns of padding) with two spaces
 * between, the last column unpadded, control characters shown as spaces.
 * The first row is usually the header. n_columns is 1..8, else -EINVAL;
 * -EIO when f reports a write error. */
int table_write(FILE *f, const char *const *cells, size_t n_cells, size_t n_columns);

/* ---- PCA ------------------------------------------------------------- */

#define FORMAT_SPAN_MAX         64
#define FORMAT_PCA_LINE_MAX     1024

/* A length of time in whole seconds as a person says it, the parts that
 * are 0 left out: "45 s", "10 min", "1 min 30 s", "4 h", "1 h 30 min",
 * "0 s". */
int format_span_sec(char *buf, size_t size, uint64_t sec);

/* What the channel says of PCA (docs/API.md, "PCA"), from one GetAll.
 * The settings are those of the PCA program (0 in other modes); the
 * counters and the window belong to the patient and outlive a program. */
typedef struct PcaStatus {
        char mode[32];                  /* Mode: "pca" for a PCA program, "" none */
        char state[32];                 /* State */
        double dose_ml;                 /* PcaDoseMl */
        uint32_t lockout_sec;           /* LockoutSec */
        uint32_t max_doses_per_hour;    /* MaxDosesPerHour */
        double window_limit_ml;         /* WindowLimitMl (LimitMl) */
        uint32_t limit_window_sec;      /* LimitWindowSec */
        double basal_ml_per_h;          /* BasalRateMlPerHour; 0 none */
        uint64_t demands_total;         /* PcaDemandsTotal */
        uint64_t demands_granted;       /* PcaDemandsGranted */
        uint64_t next_allowed_sec;      /* NextDemandAllowedSec; 0 now */
        double window_volume_ml;        /* WindowVolumeMl */
        bool limit_reached;             /* PcaLimitReached */
} PcaStatus;

/* The channel runs (or holds) a PCA program: Mode is "pca". */
bool pca_status_is_pca(const PcaStatus *s);

/* One entry of GetPcaDemands, a(ttsssd). */
typedef struct PcaDemand {
        uint64_t id;
        uint64_t utc_usec;
        char *source;                   /* button, dbus, simulator; loading, clinician for doses */
        char *outcome;                  /* granted, lockout, hourly-count, ... */
        char *detail;
        double dose_ml;
} PcaDemand;

/* True only for the outcome "granted": what `demand` exits 0 for. */
bool pca_outcome_granted(const char *outcome);

/* What `demand` says of the reply of PcaDemand:
 *   "Granted: demand 12; next demand allowed in 10 min."
 *   "Denied (lockout): demand 13; next demand allowed in 9 min 50 s."
 *   "Denied (cumulative-limit): demand 14; the dose would cross the limit of its window."
 *   "Debounced: the press counted as demand 12."
 * Lockout and hourly count say when the next demand may come; the other
 * denials say why (next_allowed_sec does not speak for them). An outcome
 * this client does not know is shown as a denial with its word. */
int format_pca_demand_result(char *buf, size_t size, const char *outcome, uint64_t demand_id,
                             uint64_t next_allowed_sec);

/* The line `status` shows after "PCA: " in mode pca:
 *   "1 mL, lockout 10 min, 4/h, limit 8 of 10 mL per 4 h; demands 12 (5 granted); next in 3 min"
 * with ", basal 0.5 mL/h" after the hourly count when there is one,
 * "next allowed now" when the lockout and hourly count allow a demand, and
 * "; limit reached" at the end in the limit state. */
int format_pca_status_line(char *buf, size_t size, const PcaStatus *s);

/* `pca`: the settings (or, outside mode pca, that the channel is not in
 * it), the counters, the next demand, the window against its limit with
 * a percentage, the limit state, then the demands as a table (TIME local,
 * SOURCE, OUTCOME, DOSE (mL), DETAIL) in the order given, or "No demands
 * recorded.". Strings from the daemon have their control characters
 * shown as spaces. 0, or -EIO / -ENOMEM. */
int pca_write_report(FILE *f, unsigned channel, const PcaStatus *s, const PcaDemand *demands, size_t n);

/* `pca --json`: one object and a newline, keys in snake_case as `alarms
 * --json` has them:
 *   {"mode":"pca","state":"running","pca_dose_ml":1,"lockout_sec":600,
 *    "max_doses_per_hour":4,"window_limit_ml":10,"limit_window_sec":14400,
 *    "basal_rate_ml_per_hour":0,"pca_demands_total":2,"pca_demands_granted":1,
 *    "next_demand_allowed_sec":540,"window_volume_ml":1.4,"pca_limit_reached":false,
 *    "demands":[{"id":2,"utc_usec":N,"source":"dbus","outcome":"lockout",
 *                "detail":"","dose_ml":0},...]}
 * the demands in the order given. 0, or -EIO / -ENOMEM. */
int pca_write_json(FILE *f, const PcaStatus *s, const PcaDemand *demands, size_t n);
