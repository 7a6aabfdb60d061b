/* SPDX-License-Identifier: MIT */
#include "hal/power-sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macros.h"

#define POWER_SUPPLY_ROOT "/sys/class/power_supply"

#define SEC_PER_MIN 60.0

struct power_sysfs {
        char *battery_dir;
        char *mains_dir;                /* NULL: no Mains supply listed */
        double runtime_min;
};

struct power_voltage {
        const struct hal_sensors_ops *sensors;
        void *sensors_ctx;
        struct power_table table;
        double runtime_min;
};

/* ---- sysfs ----------------------------------------------------------- */

/* One attribute's text without its newline. */
static int read_text(const char *dir, const char *name, char *buf, size_t size) {
        _cleanup_(freep) char *path = NULL;
        ssize_t n;
        int fd;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                n = -errno;
        close(fd);
        if (n < 0)
                return (int) n;

        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

static int read_int64(const char *dir, const char *name, int64_t *ret) {
        char buf[32], *end;
        long long v;
        int r;

        r = read_text(dir, name, buf, sizeof(buf));
        if (r < 0)
                return r;
        errno = 0;
        v = strtoll(buf, &end, 10);
        if (errno != 0 || end == buf || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A property the supply does not have: no file, or the driver's
 * -ENODATA for one it cannot tell right now. Anything else is a fault. */
static bool absent(int r) {
        return r == -ENOENT || r == -ENODATA;
}

static bool type_is_mains(const char *type) {
        /* "USB" and its kinds (USB_DCP, USB_C, USB_PD...) all charge. */
        return streq(type, "Mains") || strncmp(type, "USB", 3) == 0;
}

static bool type_is_battery(const char *type) {
        return streq(type, "Battery");
}

static int supply_dir(const char *name, char **ret) {
        _cleanup_(freep) char *dir = NULL;

        if (!name[0] || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return -EINVAL;
        if (asprintf(&dir, POWER_SUPPLY_ROOT "/%s", name) < 0)
                return -ENOMEM;
        if (access(dir, F_OK) < 0)
                return errno == ENOENT ? -ENODEV : -errno;
        *ret = TAKE_PTR(dir);
        return 0;
}

static int cmp_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* The first supply by name whose type matches: readdir's order is the
 * filesystem's, and "the first" must not change from boot to boot. */
static int find_by_type(bool (*match)(const char *type), char **ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        char *names[64];
        size_t n = 0;
        struct dirent *de;
        int r = -ENODEV;

        d = opendir(POWER_SUPPLY_ROOT);
        if (!d)
                return errno == ENOENT ? -ENODEV : -errno;
        while ((de = readdir(d)) && n < ELEMENTSOF(names)) {
                if (de->d_name[0] == '.')
                        continue;
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        goto finish;
                }
                n++;
        }
        qsort(names, n, sizeof(names[0]), cmp_strings);

        for (size_t i = 0; i < n; i++) {
                _cleanup_(freep) char *dir = NULL;
                char type[32];

                if (asprintf(&dir, POWER_SUPPLY_ROOT "/%s", names[i]) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                /* A supply whose type cannot be read is no candidate. */
                if (read_text(dir, "type", type, sizeof(type)) < 0 || !match(type))
                        continue;
                *ret = TAKE_PTR(dir);
                r = 0;
                break;
        }

finish:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        return r;
}

static void power_sysfs_freep(struct power_sysfs **ps) {
        power_sysfs_free(*ps);
}

int power_sysfs_new(const struct power_sysfs_params *p, struct power_sysfs **ret) {
        _cleanup_(power_sysfs_freep) struct power_sysfs *ps = NULL;
        int r;

        if (!p || !ret || !(p->runtime_min > 0) || !isfinite(p->runtime_min))
                return -EINVAL;

        ps = calloc(1, sizeof(*ps));
        if (!ps)
                return -ENOMEM;
        ps->runtime_min = p->runtime_min;

        if (p->battery) {
                char type[32];

                r = supply_dir(p->battery, &ps->battery_dir);
                if (r < 0)
                        return r;
                /* "battery = AC" in the config is a mistake to catch now. */
                r = read_text(ps->battery_dir, "type", type, sizeof(type));
                if (r < 0)
                        return r;
                if (!type_is_battery(type))
                        return -ENODEV;
        } else {
                r = find_by_type(type_is_battery, &ps->battery_dir);
                if (r < 0)
                        return r;
        }

        if (p->mains)
                r = supply_dir(p->mains, &ps->mains_dir);
        else {
                r = find_by_type(type_is_mains, &ps->mains_dir);
                /* None listed: the battery's status tells. */
                if (r == -ENODEV)
                        r = 0;
        }
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ps);
        return 0;
}

struct power_sysfs *power_sysfs_free(struct power_sysfs *ps) {
        if (!ps)
                return NULL;
        free(ps->battery_dir);
        free(ps->mains_dir);
        free(ps);
        return NULL;
}

static int power_sysfs_read(void *ctx, struct hal_power_status *ret) {
        struct power_sysfs *ps = ctx;
        struct hal_power_status st = {
                .capacity_pct = -1,
                .time_to_empty_s = -1,
                .voltage_v = NAN,
        };
        char status[32];
        int64_t v;
        int r;

        /* Every battery driver has a status: without it we know nothing. */
        r = read_text(ps->battery_dir, "status", status, sizeof(status));
        if (r < 0)
                return r;
        /* A charger too weak for the load still leaves us draining. */
        st.on_mains = !streq(status, "Discharging");
        if (ps->mains_dir) {
                r = read_int64(ps->mains_dir, "online", &v);
                if (r < 0)
                        return r;
                st.on_mains = st.on_mains && v != 0;
        }

        r = read_int64(ps->battery_dir, "capacity", &v);
        if (r >= 0)
                st.capacity_pct = (int) MIN(MAX(v, 0), 100);
        else if (!absent(r))
                return r;

        r = read_int64(ps->battery_dir, "voltage_now", &v);
        if (r >= 0)
                st.voltage_v = (double) v / 1e6;
        else if (!absent(r))
                return r;

        if (!st.on_mains) {
                r = read_int64(ps->battery_dir, "time_to_empty_now", &v);
                if (r >= 0)
                        st.time_to_empty_s = MAX(v, 0);
                else if (!absent(r))
                        return r;
                else if (st.capacity_pct >= 0)
                        st.time_to_empty_s = llround(st.capacity_pct / 100.0 * ps->runtime_min * SEC_PER_MIN);
        }

        *ret = st;
        return 0;
}

static const struct hal_power_ops power_sysfs_ops = {
        .read = power_sysfs_read,
};

void power_sysfs_fill_hal(struct power_sysfs *ps, struct hal *h) {
        h->power = &power_sysfs_ops;
        h->power_ctx = ps;
}

/* ---- the discharge table --------------------------------------------- */

static int table_check(const struct power_table *t, const char **ret_why) {
        const char *why = NULL;

        if (t->n < 2)
                why = "needs at least 2 points";
        else if (t->n > POWER_TABLE_MAX)
                why = "has more than 16 points";
        else
                for (unsigned i = 0; i < t->n && !why; i++) {
                        if (!isfinite(t->volts[i]) || t->volts[i] <= 0)
                                why = "volts must be a positive number";
                        else if (!(t->percent[i] >= 0 && t->percent[i] <= 100))
                                why = "percent must be between 0 and 100";
                        else if (i > 0 && t->volts[i] >= t->volts[i - 1])
                                why = "volts must fall from each point to the next";
                        else if (i > 0 && t->percent[i] > t->percent[i - 1])
                                why = "percent must not rise as volts fall";
                }
        if (!why && t->percent[0] != 100)
                why = "the first point must be 100 %";
        if (!why && t->percent[t->n - 1] != 0)
                why = "the last point must be 0 %";

        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        return 0;
}

static bool parse_number(const char *s, double *ret) {
        char *end;

        /* strtod would skip leading blanks, and "4.2: 100" is no point. */
        if (!s[0] || s[0] == ' ' || s[0] == '\t')
                return false;
        errno = 0;
        *ret = strtod(s, &end);
        return errno == 0 && end != s && *end == '\0';
}

int power_table_parse(const char *text, struct power_table *ret, const char **ret_why) {
        struct power_table t = {};
        const char *p = text;
        const char *why = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        if (!text) {
                why = "empty";
                goto fail;
        }

        for (;;) {
                char token[64], *colon;
                size_t len;

                p += strspn(p, " \t");
                if (!*p)
                        break;
                len = strcspn(p, " \t");
                if (len >= sizeof(token)) {
                        why = "a point is too long";
                        goto fail;
                }
                if (t.n == POWER_TABLE_MAX) {
                        why = "has more than 16 points";
                        goto fail;
                }
                memcpy(token, p, len);
                token[len] = '\0';
                p += len;

                colon = strchr(token, ':');
                if (!colon) {
                        why = "a point is not VOLTS:PERCENT";
                        goto fail;
                }
                *colon = '\0';
                if (!parse_number(token, &t.volts[t.n])) {
                        why = "volts is not a number";
                        goto fail;
                }
                if (!parse_number(colon + 1, &t.percent[t.n])) {
                        why = "percent is not a number";
                        goto fail;
                }
                t.n++;
        }

        if (t.n == 0) {
                why = "empty";
                goto fail;
        }
        r = table_check(&t, &why);
        if (r < 0)
                goto fail;

        *ret = t;
        return 0;

fail:
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
}

double power_table_percent(const struct power_table *t, double volts) {
        if (isnan(volts))
                return NAN;
        if (volts >= t->volts[0])
                return t->percent[0];
        for (unsigned i = 1; i < t->n; i++)
                if (volts >= t->volts[i])
                        return t->percent[i] + (volts - t->volts[i]) * (t->percent[i - 1] - t->percent[i]) /
                                                       (t->volts[i - 1] - t->volts[i]);
        return t->percent[t->n - 1];
}

/* ---- the voltage fallback -------------------------------------------- */

int power_voltage_new(const struct hal_sensors_ops *sensors, void *sensors_ctx, const struct power_table *t,
                      double runtime_min, struct power_voltage **ret) {
        struct power_voltage *pv;

        if (!sensors || !sensors->read || !t || !ret || !(runtime_min > 0) || !isfinite(runtime_min))
                return -EINVAL;
        if (table_check(t, NULL) < 0)
                return -EINVAL;

        pv = calloc(1, sizeof(*pv));
        if (!pv)
                return -ENOMEM;
        *pv = (struct power_voltage) {
                .sensors = sensors,
                .sensors_ctx = sensors_ctx,
                .table = *t,
                .runtime_min = runtime_min,
        };
        *ret = pv;
        return 0;
}

struct power_voltage *power_voltage_free(struct power_voltage *pv) {
        free(pv);
        return NULL;
}

static int power_voltage_read(void *ctx, struct hal_power_status *ret) {
        struct power_voltage *pv = ctx;
        double volts, percent;
        int r;

        r = pv->sensors->read(pv->sensors_ctx, HAL_SENSOR_BATTERY_VOLTAGE, &volts);
        if (r < 0)
                return r;
        if (!isfinite(volts))
                return -ERANGE;

        percent = power_table_percent(&pv->table, volts);
        *ret = (struct hal_power_status) {
                /* A divider on the battery cannot see the charger. */
                .on_mains = false,
                .capacity_pct = (int) lround(percent),
                .time_to_empty_s = llround(percent / 100.0 * pv->runtime_min * SEC_PER_MIN),
                .voltage_v = volts,
                .time_from_voltage = true,
        };
        return 0;
}

static const struct hal_power_ops power_voltage_ops = {
        .read = power_voltage_read,
};

void power_voltage_fill_hal(struct power_voltage *pv, struct hal *h) {
        h->power = &power_voltage_ops;
        h->power_ctx = pv;
}
