/* SPDX-License-Identifier: MIT */
/* A short real-time smoke test: the daemon speaks sd_notify as systemd
 * expects (READY=1 once its name is owned, WATCHDOG=1 pings, STOPPING=1),
 * and on the real clock the step thread really steps. */
#include <errno.h>
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
        char sock_path[100], seen[8192] = "", err[128];
        harness_setup(&h);
        harness_write_config(&h, "real", NULL);

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
        harness_teardown(&h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(daemon_notifies_ready_and_watchdog_and_steps_in_real_time),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
