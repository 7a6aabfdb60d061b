/* SPDX-License-Identifier: MIT */
/* The sysfs PWM backend over umockdev's fake /sys (run under
 * libumockdev-preload). The testbed's files are plain files: the test
 * reads back what the code wrote, and an inotify watch on the testbed's
 * real directory records the order of the writes, which a replay checks
 * against the kernel's rules (duty <= period, a period before anything
 * else, polarity only while disabled). The testbed cannot create pwmN on
 * export as the kernel does, so pwm0 is there from the start. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <umockdev.h>

#include "hal/pwm-sysfs.h"

#define CHIP "pwmchip0"

#define streq(a, b) (strcmp((a), (b)) == 0)

struct fixture {
        UMockdevTestbed *tb;
        char *root;                     /* the testbed's real directory */
        char *chip;                     /* syspath */
        int inotify_fd;
        int chip_wd, pwm_wd;
        struct pwm_sysfs *pwm;
};

/* A channel the way the kernel shows it after export: period 0. */
static void add_chip(struct fixture *f, const char *period, const char *duty, const char *polarity,
                     const char *enable) {
        g_autofree char *chip_dir = NULL, *pwm_dir = NULL;

        f->chip = umockdev_testbed_add_device(f->tb, "pwm", CHIP, NULL,
                                              "npwm", "2\n",
                                              "export", "",
                                              "unexport", "",
                                              "pwm0/period", period,
                                              "pwm0/duty_cycle", duty,
                                              "pwm0/polarity", polarity,
                                              "pwm0/enable", enable,
                                              NULL,
                                              NULL);
        assert_non_null(f->chip);

        chip_dir = g_build_filename(f->root, f->chip, NULL);
        pwm_dir = g_build_filename(f->root, f->chip, "pwm0", NULL);
        f->chip_wd = inotify_add_watch(f->inotify_fd, chip_dir, IN_CLOSE_WRITE);
        assert_true(f->chip_wd >= 0);
        f->pwm_wd = inotify_add_watch(f->inotify_fd, pwm_dir, IN_CLOSE_WRITE);
        assert_true(f->pwm_wd >= 0);
}

static void add_fresh_chip(struct fixture *f) {
        add_chip(f, "0\n", "0\n", "normal\n", "0\n");
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        f->tb = umockdev_testbed_new();
        f->root = umockdev_testbed_get_root_dir(f->tb);
        f->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (f->inotify_fd < 0)
                return -1;
        f->chip_wd = f->pwm_wd = -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        pwm_sysfs_close(f->pwm);
        close(f->inotify_fd);
        g_free(f->chip);
        g_free(f->root);
        g_object_unref(f->tb);
        free(f);
        return 0;
}

/* The files written since the last call, in order: "export",
 * "pwm0/period", ... separated by spaces. inotify merges an event into
 * an identical one still unread, so the same file written twice in a
 * row shows once. */
static char *take_writes(struct fixture *f) {
        GString *log = g_string_new(NULL);
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n;

        while ((n = read(f->inotify_fd, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;
                        if (e->len > 0)
                                g_string_append_printf(log, "%s%s%s", log->len ? " " : "",
                                                       e->wd == f->pwm_wd ? "pwm0/" : "", e->name);
                        p += sizeof(*e) + e->len;
                }
        assert_true(n < 0 && errno == EAGAIN);
        return g_string_free(log, false);
}

static void assert_writes(struct fixture *f, const char *expected) {
        g_autofree char *writes = take_writes(f);
        assert_string_equal(writes, expected);
}

static char *get_attr(struct fixture *f, const char *name) {
        g_autofree char *path = g_build_filename(f->root, f->chip, name, NULL);
        char *text = NULL;

        assert_true(g_file_get_contents(path, &text, NULL, NULL));
        return text;
}

static void assert_attr(struct fixture *f, const char *name, const char *expected) {
        g_autofree char *value = get_attr(f, name);
        assert_string_equal(value, expected);
}

static int64_t attr_int64(struct fixture *f, const char *name) {
        g_autofree char *value = get_attr(f, name);
        return strtoll(value, NULL, 10);
}

struct kernel_pwm {
        int64_t period_ns, duty_ns;
        bool enabled;
        bool inversed;
};

static struct kernel_pwm kernel_state(struct fixture *f) {
        g_autofree char *polarity = get_attr(f, "pwm0/polarity");

        return (struct kernel_pwm) {
                .period_ns = attr_int64(f, "pwm0/period"),
                .duty_ns = attr_int64(f, "pwm0/duty_cycle"),
                .enabled = attr_int64(f, "pwm0/enable") != 0,
                .inversed = streq(polarity, "inversed\n"),
        };
}

/* Replays writes (each file once, its final value) from state k as the
 * kernel's pwm sysfs would check them, and asserts it accepts each. */
static void assert_kernel_accepts(struct fixture *f, struct kernel_pwm k, const char *writes) {
        g_auto(GStrv) names = g_strsplit(writes, " ", -1);
        struct kernel_pwm final = kernel_state(f);

        for (size_t i = 0; names[i]; i++) {
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(names[i], names[j]);   /* else the replay is wrong */

                if (streq(names[i], "pwm0/period"))
                        k.period_ns = final.period_ns;
                else if (streq(names[i], "pwm0/duty_cycle"))
                        k.duty_ns = final.duty_ns;
                else if (streq(names[i], "pwm0/enable"))
                        k.enabled = final.enabled;
                else if (streq(names[i], "pwm0/polarity")) {
                        /* -EBUSY when the polarity changes while enabled */
                        assert_true(!k.enabled || k.inversed == final.inversed);
                        k.inversed = final.inversed;
                } else
                        continue;
                /* pwm_apply_state(): -EINVAL without a period or with
                 * the duty above it */
                assert_true(k.period_ns > 0);
                assert_true(k.duty_ns <= k.period_ns);
        }
}

/* ---- open ------------------------------------------------------------ */

static void open_sets_up_a_fresh_channel_period_first(void **state) {
        struct fixture *f = *state;
        g_autofree char *writes = NULL;

        add_fresh_chip(f);
        struct kernel_pwm before = kernel_state(f);

        assert_int_equal(pwm_sysfs_open(CHIP, 0, 1000000, true, &f->pwm), 0);

        writes = take_writes(f);
        assert_string_equal(writes, "pwm0/period pwm0/duty_cycle pwm0/enable pwm0/polarity");
        assert_kernel_accepts(f, before, writes);
        assert_attr(f, "pwm0/period", "1000000\n");
        assert_attr(f, "pwm0/duty_cycle", "0\n");
        assert_attr(f, "pwm0/enable", "0\n");
        assert_attr(f, "pwm0/polarity", "inversed\n");
        /* pwm0 was there: not exported again (the kernel says -EBUSY) */
        assert_attr(f, "export", "");
        assert_int_equal(pwm_sysfs_period_ns(f->pwm), 1000000);
}

static void open_stops_a_running_channel_before_changing_it(void **state) {
        struct fixture *f = *state;
        g_autofree char *writes = NULL;

        /* Left running, inverted, by someone else: 5 ms at 80 %. */
        add_chip(f, "5000000\n", "4000000\n", "inversed\n", "1\n");
        struct kernel_pwm before = kernel_state(f);

        assert_int_equal(pwm_sysfs_open(CHIP, 0, 1000000, false, &f->pwm), 0);

        writes = take_writes(f);
        assert_string_equal(writes, "pwm0/duty_cycle pwm0/enable pwm0/polarity pwm0/period");
        assert_kernel_accepts(f, before, writes);
        assert_attr(f, "pwm0/period", "1000000\n");
        assert_attr(f, "pwm0/duty_cycle", "0\n");
        assert_attr(f, "pwm0/enable", "0\n");
        assert_attr(f, "pwm0/polarity", "normal\n");
}

static void unexported_channel_is_exported(void **state) {
        struct fixture *f = *state;

        add_fresh_chip(f);
        /* The kernel would now create pwm1; the testbed cannot, so the
         * open fails, and gives back the channel it exported. */
        assert_int_equal(pwm_sysfs_open(CHIP, 1, 1000000, false, &f->pwm), -ENOENT);
        assert_null(f->pwm);
        assert_writes(f, "export unexport");
        assert_attr(f, "export", "1\n");
        assert_attr(f, "unexport", "1\n");
}

static void missing_chip_is_enoent(void **state) {
        struct fixture *f = *state;

        add_fresh_chip(f);
        assert_int_equal(pwm_sysfs_open("pwmchip7", 0, 1000000, false, &f->pwm), -ENOENT);
        assert_null(f->pwm);
        assert_writes(f, "");
}

static void bad_arguments_are_einval(void **state) {
        struct fixture *f = *state;

        add_fresh_chip(f);
        assert_int_equal(pwm_sysfs_open("../../devices/" CHIP, 0, 1000000, false, &f->pwm), -EINVAL);
        assert_int_equal(pwm_sysfs_open("", 0, 1000000, false, &f->pwm), -EINVAL);
        assert_int_equal(pwm_sysfs_open(NULL, 0, 1000000, false, &f->pwm), -EINVAL);
        assert_int_equal(pwm_sysfs_open(CHIP, 0, 0, false, &f->pwm), -EINVAL);
        assert_int_equal(pwm_sysfs_open(CHIP, 0, -5, false, &f->pwm), -EINVAL);
        assert_null(f->pwm);
        assert_writes(f, "");
}

/* ---- duty, period, enable -------------------------------------------- */

static void open_fresh(struct fixture *f, int64_t period_ns) {
        g_autofree char *writes = NULL;

        add_fresh_chip(f);
        assert_int_equal(pwm_sysfs_open(CHIP, 0, period_ns, false, &f->pwm), 0);
        writes = take_writes(f);
}

static void duty_is_written_only_when_it_changes(void **state) {
        struct fixture *f = *state;

        open_fresh(f, 1000000);

        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 250000), 0);
        assert_writes(f, "pwm0/duty_cycle");
        assert_attr(f, "pwm0/duty_cycle", "250000\n");

        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 250000), 0);
        assert_writes(f, "");

        /* 100 % is a duty too. */
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 1000000), 0);
        assert_attr(f, "pwm0/duty_cycle", "1000000\n");
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 0), 0);
        assert_attr(f, "pwm0/duty_cycle", "0\n");
}

static void duty_beyond_the_period_is_erange(void **state) {
        struct fixture *f = *state;

        open_fresh(f, 1000000);
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 400000), 0);
        g_free(take_writes(f));

        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 1000001), -ERANGE);
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, -1), -ERANGE);
        assert_writes(f, "");
        assert_attr(f, "pwm0/duty_cycle", "400000\n");
}

static void lowering_the_period_below_the_duty_writes_the_duty_first(void **state) {
        struct fixture *f = *state;
        g_autofree char *writes = NULL;

        open_fresh(f, 1000000);
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 800000), 0);
        g_free(take_writes(f));
        struct kernel_pwm before = kernel_state(f);

        assert_int_equal(pwm_sysfs_set_period_ns(f->pwm, 500000), 0);

        writes = take_writes(f);
        assert_string_equal(writes, "pwm0/duty_cycle pwm0/period");
        assert_kernel_accepts(f, before, writes);
        /* 80 % stays 80 % */
        assert_attr(f, "pwm0/duty_cycle", "400000\n");
        assert_attr(f, "pwm0/period", "500000\n");
        assert_int_equal(pwm_sysfs_period_ns(f->pwm), 500000);
}

static void raising_the_period_writes_the_period_first(void **state) {
        struct fixture *f = *state;
        g_autofree char *writes = NULL;

        open_fresh(f, 500000);
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 500000), 0);
        g_free(take_writes(f));
        struct kernel_pwm before = kernel_state(f);

        assert_int_equal(pwm_sysfs_set_period_ns(f->pwm, 1500000), 0);

        writes = take_writes(f);
        assert_string_equal(writes, "pwm0/period pwm0/duty_cycle");
        assert_kernel_accepts(f, before, writes);
        assert_attr(f, "pwm0/duty_cycle", "1500000\n");
        assert_attr(f, "pwm0/period", "1500000\n");

        /* The same period again writes nothing; a bad one is refused. */
        assert_int_equal(pwm_sysfs_set_period_ns(f->pwm, 1500000), 0);
        assert_int_equal(pwm_sysfs_set_period_ns(f->pwm, 0), -EINVAL);
        assert_writes(f, "");
}

static void enable_writes_enable_every_time(void **state) {
        struct fixture *f = *state;

        open_fresh(f, 1000000);

        assert_int_equal(pwm_sysfs_enable(f->pwm, true), 0);
        assert_writes(f, "pwm0/enable");
        assert_attr(f, "pwm0/enable", "1\n");

        assert_int_equal(pwm_sysfs_enable(f->pwm, false), 0);
        assert_writes(f, "pwm0/enable");
        assert_attr(f, "pwm0/enable", "0\n");
        /* Already off: written all the same. */
        assert_int_equal(pwm_sysfs_enable(f->pwm, false), 0);
        assert_writes(f, "pwm0/enable");
}

static void failed_write_is_reported_and_retried(void **state) {
        struct fixture *f = *state;
        g_autofree char *path = NULL;

        open_fresh(f, 1000000);

        /* A write the kernel refuses: here, no file to write at all. */
        path = g_build_filename(f->root, f->chip, "pwm0", "duty_cycle", NULL);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0755), 0);
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 300000), -EISDIR);

        /* Back again: the same duty is written, not taken as done. */
        assert_int_equal(rmdir(path), 0);
        umockdev_testbed_set_attribute(f->tb, f->chip, "pwm0/duty_cycle", "0\n");
        g_free(take_writes(f));
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 300000), 0);
        assert_writes(f, "pwm0/duty_cycle");
        assert_attr(f, "pwm0/duty_cycle", "300000\n");
}

/* ---- close ----------------------------------------------------------- */

static void close_leaves_the_channel_off_and_unexported(void **state) {
        struct fixture *f = *state;
        g_autofree char *writes = NULL;

        open_fresh(f, 1000000);
        assert_int_equal(pwm_sysfs_set_duty_ns(f->pwm, 500000), 0);
        assert_int_equal(pwm_sysfs_enable(f->pwm, true), 0);
        g_free(take_writes(f));
        struct kernel_pwm before = kernel_state(f);
        struct pwm_sysfs *pwm = f->pwm;

        f->pwm = NULL;
        assert_null(pwm_sysfs_close(pwm));

        writes = take_writes(f);
        assert_string_equal(writes, "pwm0/duty_cycle pwm0/enable unexport");
        assert_kernel_accepts(f, before, writes);
        assert_attr(f, "pwm0/duty_cycle", "0\n");
        assert_attr(f, "pwm0/enable", "0\n");
        assert_attr(f, "unexport", "0\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(open_sets_up_a_fresh_channel_period_first, setup, teardown),
                cmocka_unit_test_setup_teardown(open_stops_a_running_channel_before_changing_it, setup, teardown),
                cmocka_unit_test_setup_teardown(unexported_channel_is_exported, setup, teardown),
                cmocka_unit_test_setup_teardown(missing_chip_is_enoent, setup, teardown),
                cmocka_unit_test_setup_teardown(bad_arguments_are_einval, setup, teardown),
                cmocka_unit_test_setup_teardown(duty_is_written_only_when_it_changes, setup, teardown),
                cmocka_unit_test_setup_teardown(duty_beyond_the_period_is_erange, setup, teardown),
                cmocka_unit_test_setup_teardown(lowering_the_period_below_the_duty_writes_the_duty_first, setup, teardown),
                cmocka_unit_test_setup_teardown(raising_the_period_writes_the_period_first, setup, teardown),
                cmocka_unit_test_setup_teardown(enable_writes_enable_every_time, setup, teardown),
                cmocka_unit_test_setup_teardown(failed_write_is_reported_and_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(close_leaves_the_channel_off_and_unexported, setup, teardown),
        };

        /* Without the preload the testbed is not /sys: skip rather than
         * write to the real machine's. */
        const char *preload = getenv("LD_PRELOAD");
        if (!preload || !strstr(preload, "libumockdev-preload")) {
                fprintf(stderr, "run under LD_PRELOAD=libumockdev-preload.so.0 (umockdev-wrapper)\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
