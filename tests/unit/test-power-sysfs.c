/* SPDX-License-Identifier: MIT */
/* The power_supply backend over umockdev's fake /sys (run under
 * libumockdev-preload), the discharge table, and the voltage fallback
 * over a fake sensors op (pure logic: no sysfs in it). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <umockdev.h>

#include "hal/hal.h"
#include "hal/power-sysfs.h"

#define RUNTIME_MIN 240.0
#define TABLE "4.20:100 3.95:75 3.80:50 3.70:25 3.50:5 3.30:0"

struct fixture {
        UMockdevTestbed *tb;
        char *root;
        char *ac, *bat;                 /* syspaths */
        struct power_sysfs_params params;
        struct power_sysfs *ps;
        struct hal hal;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        f->tb = umockdev_testbed_new();
        f->root = umockdev_testbed_get_root_dir(f->tb);
        f->params = (struct power_sysfs_params) {
                .battery = "BAT0",
                .mains = "AC",
                .runtime_min = RUNTIME_MIN,
        };
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        power_sysfs_free(f->ps);
        g_free(f->ac);
        g_free(f->bat);
        g_free(f->root);
        g_object_unref(f->tb);
        free(f);
        return 0;
}

/* A laptop-like pair: on mains and charging at 80 %. */
static void add_supplies(struct fixture *f) {
        f->ac = umockdev_testbed_add_device(f->tb, "power_supply", "AC", NULL,
                                            "type", "Mains\n",
                                            "online", "1\n",
                                            NULL,
                                            "POWER_SUPPLY_NAME", "AC",
                                            NULL);
        f->bat = umockdev_testbed_add_device(f->tb, "power_supply", "BAT0", NULL,
                                             "type", "Battery\n",
                                             "status", "Charging\n",
                                             "capacity", "80\n",
                                             "time_to_empty_now", "5400\n",
                                             "voltage_now", "3950000\n",
                                             NULL,
                                             "POWER_SUPPLY_NAME", "BAT0",
                                             NULL);
        assert_non_null(f->ac);
        assert_non_null(f->bat);
}

static void remove_attr(struct fixture *f, const char *syspath, const char *name) {
        g_autofree char *path = g_build_filename(f->root, syspath, name, NULL);
        assert_int_equal(unlink(path), 0);
}

static int open_power(struct fixture *f) {
        int r = power_sysfs_new(&f->params, &f->ps);
        if (r >= 0)
                power_sysfs_fill_hal(f->ps, &f->hal);
        return r;
}

static struct hal_power_status read_power(struct fixture *f) {
        struct hal_power_status st = { .capacity_pct = -99, .time_to_empty_s = -99, .voltage_v = -99 };

        assert_int_equal(f->hal.power->read(f->hal.power_ctx, &st), 0);
        return st;
}

/* ---- power_supply ---------------------------------------------------- */

static void on_mains_reads_the_battery(void **state) {
        struct fixture *f = *state;

        add_supplies(f);
        assert_int_equal(open_power(f), 0);

        struct hal_power_status st = read_power(f);
        assert_true(st.on_mains);
        assert_int_equal(st.capacity_pct, 80);
        /* Not draining: no time to empty. */
        assert_int_equal(st.time_to_empty_s, -1);
        assert_float_equal(st.voltage_v, 3.95, 1e-9);
}

static void unplugged_is_on_battery_with_the_gauges_time(void **state) {
        struct fixture *f = *state;

        add_supplies(f);
        assert_int_equal(open_power(f), 0);

        umockdev_testbed_set_attribute(f->tb, f->ac, "online", "0\n");
        umockdev_testbed_set_attribute(f->tb, f->bat, "status", "Discharging\n");
        umockdev_testbed_set_attribute(f->tb, f->bat, "capacity", "79\n");
        umockdev_testbed_set_attribute(f->tb, f->bat, "voltage_now", "3940000\n");

        struct hal_power_status st = read_power(f);
        assert_false(st.on_mains);
        assert_int_equal(st.capacity_pct, 79);
        assert_int_equal(st.time_to_empty_s, 5400);
        assert_float_equal(st.voltage_v, 3.94, 1e-9);
        /* A fuel gauge's own time left does not hang on voltage_now. */
        assert_false(st.time_from_voltage);

        /* Plugged back in. */
        umockdev_testbed_set_attribute(f->tb, f->ac, "online", "1\n");
        umockdev_testbed_set_attribute(f->tb, f->bat, "status", "Charging\n");
        st = read_power(f);
        assert_true(st.on_mains);
        assert_int_equal(st.time_to_empty_s, -1);
}

static void mains_online_but_discharging_is_on_battery(void **state) {
        struct fixture *f = *state;

        add_supplies(f);
        assert_int_equal(open_power(f), 0);

        /* A charger too weak for the load. */
        umockdev_testbed_set_attribute(f->tb, f->bat, "status", "Discharging\n");
        struct hal_power_status st = read_power(f);
        assert_false(st.on_mains);
        assert_int_equal(st.time_to_empty_s, 5400);

        /* And the other way: charging status, but the mains are gone. */
        umockdev_testbed_set_attribute(f->tb, f->bat, "status", "Not charging\n");
        umockdev_testbed_set_attribute(f->tb, f->ac, "online", "0\n");
        st = read_power(f);
        assert_false(st.on_mains);
}

static void without_time_to_empty_uses_capacity_times_runtime(void **state) {
        struct fixture *f = *state;

        add_supplies(f);
        remove_attr(f, f->bat, "time_to_empty_now");
        umockdev_testbed_set_attribute(f->tb, f->ac, "online", "0\n");
        umockdev_testbed_set_attribute(f->tb, f->bat, "status", "Discharging\n");
        umockdev_testbed_set_attribute(f->tb, f->bat, "capacity", "50\n");
        assert_int_equal(open_power(f), 0);

        /* 50 % of 240 min */
        struct hal_power_status st = read_power(f);
        assert_false(st.on_mains);
        assert_int_equal(st.capacity_pct, 50);
        assert_int_equal(st.time_to_empty_s, 120 * 60);

        umockdev_testbed_set_attribute(f->tb, f->bat, "capacity", "5\n");
        st = read_power(f);
        assert_int_equal(st.time_to_empty_s, 12 * 60);
}

static void missing_optional_attributes_read_unknown(void **state) {
        struct fixture *f = *state;

        add_supplies(f);
        remove_attr(f, f->bat, "time_to_empty_now");
        remove_attr(f, f->bat, "capacity");
        remove_attr(f, f->bat, "voltage_now");
        umockdev_testbed_set_attribute(f->tb, f->bat, "status", "Discharging\n");
        assert_int_equal(open_power(f), 0);

        struct hal_power_status st = read_power(f);
        assert_false(st.on_mains);
        assert_int_equal(st.capacity_pct, -1);
        assert_int_equal(st.time_to_empty_s, -1);
        assert_true(isnan(st.voltage_v));
}

static void unreadable_attributes_fail_the_read(void **state) {
        struct fixture *f = *state;
        struct hal_power_status st;

        add_supplies(f);
        assert_int_equal(open_power(f), 0);

        umockdev_testbed_set_attribute(f->tb, f->bat, "capacity", "lots\n");
        assert_int_equal(f->hal.power->read(f->hal.power_ctx, &st), -EINVAL);

        umockdev_testbed_set_attribute(f->tb, f->bat, "capacity", "80\n");
        umockdev_testbed_set_attribute(f->tb, f->ac, "online", "\n");
        assert_int_equal(f->hal.power->read(f->hal.power_ctx, &st), -EINVAL);

        umockdev_testbed_set_attribute(f->tb, f->ac, "online", "1\n");
        remove_attr(f, f->bat, "status");
        assert_int_equal(f->hal.power->read(f->hal.power_ctx, &st), -ENOENT);
}

static void without_a_mains_supply_the_status_tells(void **state) {
        struct fixture *f = *state;

        f->bat = umockdev_testbed_add_device(f->tb, "power_supply", "BAT0", NULL,
                                             "type", "Battery\n",
                                             "status", "Full\n",
                                             "capacity", "100\n",
                                             NULL,
                                             NULL);
        f->params.mains = NULL;
        assert_int_equal(open_power(f), 0);

        assert_true(read_power(f).on_mains);
        umockdev_testbed_set_attribute(f->tb, f->bat, "status", "Discharging\n");
        struct hal_power_status st = read_power(f);
        assert_false(st.on_mains);
        assert_int_equal(st.time_to_empty_s, 240 * 60);
}

static void supplies_are_found_by_type_when_not_named(void **state) {
        struct fixture *f = *state;
        char *paths[4];

        /* Two batteries: the first by name is taken, whatever readdir's
         * order; a Wireless charger is no mains, a Mains supply is. */
        paths[0] = umockdev_testbed_add_device(f->tb, "power_supply", "BAT1", NULL,
                                               "type", "Battery\n", "status", "Not charging\n",
                                               "capacity", "10\n", NULL, NULL);
        paths[1] = umockdev_testbed_add_device(f->tb, "power_supply", "AAA-wireless", NULL,
                                               "type", "Wireless\n", "online", "1\n", NULL, NULL);
        paths[2] = umockdev_testbed_add_device(f->tb, "power_supply", "BAT0", NULL,
                                               "type", "Battery\n", "status", "Not charging\n",
                                               "capacity", "90\n", NULL, NULL);
        paths[3] = umockdev_testbed_add_device(f->tb, "power_supply", "ADP1", NULL,
                                               "type", "Mains\n", "online", "0\n", NULL, NULL);
        f->params.battery = NULL;
        f->params.mains = NULL;
        assert_int_equal(open_power(f), 0);

        struct hal_power_status st = read_power(f);
        assert_int_equal(st.capacity_pct, 90);
        /* ADP1 is offline (the wireless one would say online) */
        assert_false(st.on_mains);

        umockdev_testbed_set_attribute(f->tb, paths[3], "online", "1\n");
        assert_true(read_power(f).on_mains);

        for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
                g_free(paths[i]);
}

static void usb_supply_counts_as_mains(void **state) {
        struct fixture *f = *state;

        f->bat = umockdev_testbed_add_device(f->tb, "power_supply", "battery", NULL,
                                             "type", "Battery\n", "status", "Charging\n", NULL, NULL);
        f->ac = umockdev_testbed_add_device(f->tb, "power_supply", "usb", NULL,
                                            "type", "USB\n", "online", "0\n", NULL, NULL);
        f->params.battery = NULL;
        f->params.mains = NULL;
        assert_int_equal(open_power(f), 0);

        assert_false(read_power(f).on_mains);
        umockdev_testbed_set_attribute(f->tb, f->ac, "online", "1\n");
        assert_true(read_power(f).on_mains);
}

static void no_battery_is_enodev(void **state) {
        struct fixture *f = *state;

        /* No power_supply class at all. */
        assert_int_equal(open_power(f), -ENODEV);
        f->params.battery = NULL;
        assert_int_equal(open_power(f), -ENODEV);

        f->ac = umockdev_testbed_add_device(f->tb, "power_supply", "AC", NULL,
                                            "type", "Mains\n", "online", "1\n", NULL, NULL);
        assert_int_equal(open_power(f), -ENODEV);
        f->params.battery = "BAT0";
        assert_int_equal(open_power(f), -ENODEV);
        /* A supply that is there but no battery. */
        f->params.battery = "AC";
        assert_int_equal(open_power(f), -ENODEV);
        assert_null(f->ps);
}

static void named_mains_missing_is_enodev(void **state) {
        struct fixture *f = *state;

        add_supplies(f);
        f->params.mains = "ADP9";
        assert_int_equal(open_power(f), -ENODEV);
        assert_null(f->ps);
}

static void bad_params_are_einval(void **state) {
        struct fixture *f = *state;

        add_supplies(f);
        f->params.runtime_min = 0;
        assert_int_equal(open_power(f), -EINVAL);
        f->params.runtime_min = NAN;
        assert_int_equal(open_power(f), -EINVAL);
        f->params.runtime_min = RUNTIME_MIN;
        f->params.battery = "../BAT0";
        assert_int_equal(open_power(f), -EINVAL);
        assert_null(f->ps);
}

static void fill_hal_sets_only_the_power(void **state) {
        struct fixture *f = *state;

        add_supplies(f);
        f->hal.backend = "gpiod";
        assert_int_equal(open_power(f), 0);
        assert_string_equal(f->hal.backend, "gpiod");
        assert_ptr_equal(f->hal.power_ctx, f->ps);
        assert_null(f->hal.sensors);
}

/* ---- the discharge table --------------------------------------------- */

static void table_parses_the_documented_example(void **state) {
        static const double volts[] = { 4.20, 3.95, 3.80, 3.70, 3.50, 3.30 };
        static const double percent[] = { 100, 75, 50, 25, 5, 0 };
        struct power_table t;
        const char *why = NULL;

        assert_int_equal(power_table_parse(TABLE, &t, &why), 0);
        assert_int_equal(t.n, 6);
        for (unsigned i = 0; i < t.n; i++) {
                assert_float_equal(t.volts[i], volts[i], 0);
                assert_float_equal(t.percent[i], percent[i], 0);
        }

        /* Blanks around points are blanks; 16 points is the most. */
        assert_int_equal(power_table_parse("  4.2:100\t3.3:0  ", &t, &why), 0);
        assert_int_equal(t.n, 2);
        assert_int_equal(power_table_parse("4.15:100 4.1:99 4.05:98 4.0:97 3.95:96 3.9:95 3.85:90 3.8:80 "
                                           "3.75:70 3.7:60 3.65:50 3.6:40 3.55:30 3.5:20 3.4:10 3.3:0",
                                           &t, &why), 0);
        assert_int_equal(t.n, 16);
}

static void table_refuses_bad_input_with_a_reason(void **state) {
        static const struct {
                const char *text;
                const char *why;
        } bad[] = {
                { NULL, "empty" },
                { "", "empty" },
                { "   ", "empty" },
                { "4.2:100", "needs at least 2 points" },
                { "4.2-100 3.3:0", "a point is not VOLTS:PERCENT" },
                { "x:100 3.3:0", "volts is not a number" },
                { "4.2V:100 3.3:0", "volts is not a number" },
                { "4.2:full 3.3:0", "percent is not a number" },
                { "4.2: 100 3.3:0", "percent is not a number" },
                { "4.2:100:1 3.3:0", "percent is not a number" },
                { "-4.2:100 -3.3:0", "volts must be a positive number" },
                { "nan:100 3.3:0", "volts must be a positive number" },
                { "4.2:100 4.2:50 3.3:0", "volts must fall from each point to the next" },
                { "3.3:100 4.2:0", "volts must fall from each point to the next" },
                { "4.2:100 3.8:20 3.7:40 3.3:0", "percent must not rise as volts fall" },
                { "4.2:120 3.3:0", "percent must be between 0 and 100" },
                { "4.2:100 3.3:-1", "percent must be between 0 and 100" },
                { "4.2:90 3.3:0", "the first point must be 100 %" },
                { "4.2:100 3.3:5", "the last point must be 0 %" },
                { "4.2:100 4.15:99 4.1:98 4.05:97 4.0:96 3.95:95 3.9:90 3.85:80 3.8:70 "
                  "3.75:60 3.7:50 3.65:40 3.6:30 3.55:20 3.5:10 3.4:5 3.3:0", "has more than 16 points" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                struct power_table t = { .n = 99 };
                const char *why = NULL;

                int r = power_table_parse(bad[i].text, &t, &why);
                if (r != -EINVAL)
                        print_message("accepted: \"%s\"\n", bad[i].text);
                assert_int_equal(r, -EINVAL);
                assert_non_null(why);
                assert_string_equal(why, bad[i].why);
                /* Nothing half-parsed is handed out. */
                assert_int_equal(t.n, 99);
        }
}

static void table_percent_is_linear_between_points_and_clamped(void **state) {
        struct power_table t;

        assert_int_equal(power_table_parse(TABLE, &t, NULL), 0);
        assert_float_equal(power_table_percent(&t, 4.20), 100, 1e-9);
        assert_float_equal(power_table_percent(&t, 3.80), 50, 1e-9);
        assert_float_equal(power_table_percent(&t, 3.875), 62.5, 1e-9);
        assert_float_equal(power_table_percent(&t, 3.40), 2.5, 1e-9);
        assert_float_equal(power_table_percent(&t, 4.35), 100, 0);
        assert_float_equal(power_table_percent(&t, 3.00), 0, 0);
        assert_true(isnan(power_table_percent(&t, NAN)));
}

/* ---- the voltage fallback -------------------------------------------- */

struct fake_sensors {
        int r;
        double volts;
        unsigned reads;
};

static int fake_read(void *ctx, enum hal_sensor s, double *ret_value) {
        struct fake_sensors *fs = ctx;

        assert_int_equal(s, HAL_SENSOR_BATTERY_VOLTAGE);
        fs->reads++;
        if (fs->r < 0)
                return fs->r;
        *ret_value = fs->volts;
        return 0;
}

static const struct hal_sensors_ops fake_ops = {
        .read = fake_read,
};

static void voltage_fallback_reads_percent_and_time_off_the_table(void **state) {
        struct fake_sensors fs = { .volts = 3.875 };
        struct power_voltage *pv = NULL;
        struct power_table t;
        struct hal h = { .backend = "gpiod" };
        struct hal_power_status st;

        assert_int_equal(power_table_parse(TABLE, &t, NULL), 0);
        assert_int_equal(power_voltage_new(&fake_ops, &fs, &t, RUNTIME_MIN, &pv), 0);
        power_voltage_fill_hal(pv, &h);
        assert_string_equal(h.backend, "gpiod");

        assert_int_equal(h.power->read(h.power_ctx, &st), 0);
        assert_int_equal(fs.reads, 1);
        assert_false(st.on_mains);
        assert_int_equal(st.capacity_pct, 63);          /* 62.5 rounded */
        assert_int_equal(st.time_to_empty_s, 9000);     /* 62.5 % of 240 min */
        assert_float_equal(st.voltage_v, 3.875, 0);
        /* The time left hangs on the voltage alone: the pump watches it. */
        assert_true(st.time_from_voltage);

        /* Full and beyond, and empty. */
        fs.volts = 4.3;
        assert_int_equal(h.power->read(h.power_ctx, &st), 0);
        assert_int_equal(st.capacity_pct, 100);
        assert_int_equal(st.time_to_empty_s, 240 * 60);
        fs.volts = 3.1;
        assert_int_equal(h.power->read(h.power_ctx, &st), 0);
        assert_int_equal(st.capacity_pct, 0);
        assert_int_equal(st.time_to_empty_s, 0);

        power_voltage_free(pv);
}

static void voltage_fallback_passes_on_a_sensor_failure(void **state) {
        struct fake_sensors fs = { .volts = 3.9 };
        struct power_voltage *pv = NULL;
        struct power_table t;
        struct hal h = {};
        struct hal_power_status st = { .capacity_pct = 42 };

        assert_int_equal(power_table_parse(TABLE, &t, NULL), 0);
        assert_int_equal(power_voltage_new(&fake_ops, &fs, &t, RUNTIME_MIN, &pv), 0);
        power_voltage_fill_hal(pv, &h);

        fs.r = -EIO;
        assert_int_equal(h.power->read(h.power_ctx, &st), -EIO);
        fs.r = -ERANGE;
        assert_int_equal(h.power->read(h.power_ctx, &st), -ERANGE);
        fs.r = 0;
        fs.volts = NAN;
        assert_int_equal(h.power->read(h.power_ctx, &st), -ERANGE);
        assert_int_equal(st.capacity_pct, 42);

        power_voltage_free(pv);
}

static void voltage_fallback_refuses_bad_arguments(void **state) {
        static const struct hal_sensors_ops no_read = {};
        struct fake_sensors fs = {};
        struct power_voltage *pv = NULL;
        struct power_table t, one;

        assert_int_equal(power_table_parse(TABLE, &t, NULL), 0);
        one = t;
        one.n = 1;

        assert_int_equal(power_voltage_new(NULL, &fs, &t, RUNTIME_MIN, &pv), -EINVAL);
        assert_int_equal(power_voltage_new(&no_read, &fs, &t, RUNTIME_MIN, &pv), -EINVAL);
        assert_int_equal(power_voltage_new(&fake_ops, &fs, &one, RUNTIME_MIN, &pv), -EINVAL);
        assert_int_equal(power_voltage_new(&fake_ops, &fs, &t, 0, &pv), -EINVAL);
        assert_null(pv);
        assert_null(power_voltage_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(on_mains_reads_the_battery, setup, teardown),
                cmocka_unit_test_setup_teardown(unplugged_is_on_battery_with_the_gauges_time, setup, teardown),
                cmocka_unit_test_setup_teardown(mains_online_but_discharging_is_on_battery, setup, teardown),
                cmocka_unit_test_setup_teardown(without_time_to_empty_uses_capacity_times_runtime, setup, teardown),
                cmocka_unit_test_setup_teardown(missing_optional_attributes_read_unknown, setup, teardown),
                cmocka_unit_test_setup_teardown(unreadable_attributes_fail_the_read, setup, teardown),
                cmocka_unit_test_setup_teardown(without_a_mains_supply_the_status_tells, setup, teardown),
                cmocka_unit_test_setup_teardown(supplies_are_found_by_type_when_not_named, setup, teardown),
                cmocka_unit_test_setup_teardown(usb_supply_counts_as_mains, setup, teardown),
                cmocka_unit_test_setup_teardown(no_battery_is_enodev, setup, teardown),
                cmocka_unit_test_setup_teardown(named_mains_missing_is_enodev, setup, teardown),
                cmocka_unit_test_setup_teardown(bad_params_are_einval, setup, teardown),
                cmocka_unit_test_setup_teardown(fill_hal_sets_only_the_power, setup, teardown),
                cmocka_unit_test(table_parses_the_documented_example),
                cmocka_unit_test(table_refuses_bad_input_with_a_reason),
                cmocka_unit_test(table_percent_is_linear_between_points_and_clamped),
                cmocka_unit_test(voltage_fallback_reads_percent_and_time_off_the_table),
                cmocka_unit_test(voltage_fallback_passes_on_a_sensor_failure),
                cmocka_unit_test(voltage_fallback_refuses_bad_arguments),
        };

        /* Without the preload the testbed is not /sys: skip rather than
         * read the real machine's supplies. */
        const char *preload = getenv("LD_PRELOAD");
        if (!preload || !strstr(preload, "libumockdev-preload")) {
                fprintf(stderr, "run under LD_PRELOAD=libumockdev-preload.so.0 (umockdev-wrapper)\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
