/* SPDX-License-Identifier: MIT */
/* A short real-time smoke test: the daemon speaks sd_notify as systemd
 * expects (READY=1 once its name is owned, WATCHDOG=1 pings, STOPPING=1),
 * and on the real clock the step thread really steps, on schedule, as the
 * sim's step log ([simulation] step_log, what bench/steps reads) shows. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read datagrams until one contains `want` or timeout_ms passes. */
static bool wait_for(int fd, const char *want, int timeout_ms, char *seen, size_t seen_size) {
        int64_t deadline = now_ms() + timeout_ms;
        for (;;) {
                int64_t left = deadline - now_ms();
                if (left <= 0)
                        return false;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, (int) left) <= 0)
                        continue;
                char buf[4096];
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                size_t used = strlen(seen);
                snprintf(seen + used, seen_size - used, "%s|", buf);
                if (strstr(buf, want))
                        return true;
        }
}

static void daemon_notifies_ready_and_watchdog_and_steps_in_real_time(void **state) {
        struct harness h;
        char sock_path[100], seen[8192] = "", err[128], step_log[300], tail[400];
        harness_setup(&h);
        snprintf(step_log, sizeof(step_log), "%.200s/steps.txt", h.dir);
        snprintf(tail, sizeof(tail), "step_log = %s\n", step_log);
        harness_write_config_ex(&h, "real", NULL, tail);

        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sock_path, sizeof(sock_path), "%.90s/notify", h.dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);

        setenv("NOTIFY_SOCKET", sock_path, 1);
        setenv("WATCHDOG_USEC", "200000", 1);
        unsetenv("WATCHDOG_PID");
        harness_start_daemon(&h);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");

        assert_true(wait_for(fd, "READY=1", 10000, seen, sizeof(seen)));
        /* pings come about every WATCHDOG_USEC / 2 */
        assert_true(wait_for(fd, "WATCHDOG=1", 5000, seen, sizeof(seen)));
        assert_non_null(strstr(seen, "STATUS="));

        /* 0.5 mL at 600 mL/h: 3 s of real stepping. */
        assert_int_equal(call_program(&h, err, sizeof(err), "RateMlPerHour", 600.0, "VtbiMl", 0.5,
                                      "KvoRateMlPerHour", 0.0, NULL), 0);
        assert_int_equal(call_simple(&h, "Start", err, sizeof(err)), 0);
        int64_t deadline = now_ms() + 20000, steps = 0;
        while (now_ms() < deadline) {
                steps = get_i64(&h, SIM_PATH, SIM_IFACE, "PlungerSteps");
                if (steps > 100)
                        break;
                struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        assert_true(steps > 100);
        double v = get_double(&h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        assert_true(v > 0 && v <= 0.5);

        int status = harness_kill_daemon(&h, SIGTERM);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_true(wait_for(fd, "STOPPING=1", 2000, seen, sizeof(seen)));
        close(fd);

        /* Written at the stop: every step the plunger took, in time order,
         * at 600 mL/h's interval: 173.661 nL / 600 mL/h = 1041.97 µs. */
        FILE *in = fopen(step_log, "re");
        char line[128];
        long long n = -1, dropped = -1, prev = -1, first = -1, count = 0;
        assert_non_null(in);
        assert_non_null(fgets(line, sizeof(line), in));
        assert_int_equal(sscanf(line, "# infusiond step log: %lld steps, %lld not kept", &n, &dropped), 2);
        while (fgets(line, sizeof(line), in)) {
                long long t = strtoll(line, NULL, 10);
                assert_true(t >= prev);
                if (first < 0)
                        first = t;
                prev = t;
                count++;
        }
        fclose(in);
        assert_int_equal(dropped, 0);
        assert_int_equal(count, n);
        assert_true(count >= 100);
        /* The schedule keeps the mean interval exact; jitter only moves
         * single steps. */
        double mean_us = (double) (prev - first) / (double) (count - 1);
        assert_true(mean_us > 1041.97 * 0.99 && mean_us < 1041.97 * 1.01);
        harness_teardown(&h);
}

/* The Raspberry Pi rig's config where no GPIO chip exists (umockdev's
 * empty /sys and /dev): the self-test fails at once, names the part, and
 * the daemon exits non-zero without ever saying READY=1. */
static void a_rig_without_its_gpio_chip_fails_the_self_test_and_never_says_ready(void **state) {
        struct harness h;
        char sock_path[100], log_path[300], seen[8192] = "", config[300];
        const char *config_dir = getenv("CONFIG_DIR");
        harness_setup(&h);
        assert_non_null(config_dir);
        snprintf(config, sizeof(config), "%s/rpi-stepper.conf", config_dir);
        snprintf(log_path, sizeof(log_path), "%.200s/rig.log", h.dir);

        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sock_path, sizeof(sock_path), "%.90s/notify", h.dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);

        int64_t started = now_ms();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                setenv("NOTIFY_SOCKET", sock_path, 1);
                int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (log_fd < 0 || dup2(log_fd, STDERR_FILENO) < 0)
                        _exit(127);
                execlp("umockdev-run", "umockdev-run", "--", getenv("INFUSIOND"), "--config", config, (char *) NULL);
                _exit(127);
        }
        int status;
        int64_t deadline = started + 10000;
        pid_t w;
        while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline) {
                struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (w == 0)
                kill(pid, SIGKILL), waitpid(pid, &status, 0);
        assert_int_equal(w, pid);               /* it exited by itself, */
        int64_t took_ms = now_ms() - started;
        assert_true(took_ms < 5000);            /* at once, */
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 1);       /* non-zero, */
        assert_false(wait_for(fd, "READY=1", 200, seen, sizeof(seen)));        /* never ready */

        char text[2048] = "";
        FILE *f = fopen(log_path, "re");
        assert_non_null(f);
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = 0;
        fclose(f);
        printf("# took %" PRIi64 " ms: %s", took_ms, text);
        assert_non_null(strstr(text, "Self-test failed: stepper: cannot open GPIO chip \"gpiochip0\""));
        close(fd);
        harness_teardown(&h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(daemon_notifies_ready_and_watchdog_and_steps_in_real_time),
                cmocka_unit_test(a_rig_without_its_gpio_chip_fails_the_self_test_and_never_says_ready),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
