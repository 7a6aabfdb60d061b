/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *env_or_fail(const char *name) {
        const char *v = getenv(name);
        if (!v)
                fail_msg("environment variable %s is not set (run through meson test)", name);
        return v;
}

/* In a child about to exec: die with the test (a failed assertion must not
 * leave a bus or daemon behind, holding meson's output pipes open), and
 * write output to a log in the test's directory, echoed on failure. */
static void child_setup(struct harness *h, const char *log_name) {
        char path[400];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(path, sizeof(path), "%s/%s", h->dir, log_name);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
        }
}

void harness_setup(struct harness *h) {
        int pfd[2];
        memset(h, 0, sizeof(*h));
        snprintf(h->dir, sizeof(h->dir), "/tmp/infusiond-test-XXXXXX");
        assert_non_null(mkdtemp(h->dir));
        snprintf(h->config_path, sizeof(h->config_path), "%s/infusiond.conf", h->dir);
        snprintf(h->db_path, sizeof(h->db_path), "%s/history.db", h->dir);

        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        h->bus_pid = fork();
        assert_true(h->bus_pid >= 0);
        if (h->bus_pid == 0) {
                char conf[512], fdarg[32];
                child_setup(h, "dbus-daemon.log");
                snprintf(conf, sizeof(conf), "--config-file=%s", env_or_fail("BUS_CONF"));
                dup2(pfd[1], 3);
                snprintf(fdarg, sizeof(fdarg), "--print-address=3");
                execlp("dbus-daemon", "dbus-daemon", conf, "--nofork", fdarg, (char *) NULL);
                _exit(127);
        }
        close(pfd[1]);
        ssize_t n = 0, k;
        while (n < (ssize_t) sizeof(h->bus_address) - 1 &&
               (k = read(pfd[0], h->bus_address + n, sizeof(h->bus_address) - 1 - n)) > 0) {
                n += k;
                if (memchr(h->bus_address, '\n', n))
                        break;
        }
        close(pfd[0]);
        assert_true(n > 0);
        h->bus_address[strcspn(h->bus_address, "\n")] = 0;
        /* The daemon uses the system bus; point it at ours. */
        setenv("DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, 1);

        assert_true(sd_bus_new(&h->bus) >= 0);
        assert_true(sd_bus_set_address(h->bus, h->bus_address) >= 0);
        assert_true(sd_bus_set_bus_client(h->bus, 1) >= 0);
        assert_true(sd_bus_start(h->bus) >= 0);
}

void harness_print_log(struct harness *h, const char *log_name) {
        char path[400], line[512];
        snprintf(path, sizeof(path), "%s/%s", h->dir, log_name);
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        fprintf(stderr, "---- %s ----\n", log_name);
        while (fgets(line, sizeof(line), f))
                fputs(line, stderr);
        fclose(f);
}

/* INFUSIOND_WRAPPER (scripts/sanitize --valgrind) runs the daemon under
 * valgrind: slow, so longer bounds for its start and stop. */
static int64_t daemon_bound_ms(int64_t ms) {
        return getenv("INFUSIOND_WRAPPER") ? ms * 12 : ms;
}

/* What a sanitizer or valgrind (--error-markers) writes when it finds an
 * error, in the daemon's log. */
static const char *daemon_log_report(struct harness *h) {
        static const char *const markers[] = {
                "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "VALGRIND-ERROR-BEGIN",
        };
        char path[400], line[4096];
        const char *found = NULL;
        snprintf(path, sizeof(path), "%s/infusiond.log", h->dir);
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        while (!found && fgets(line, sizeof(line), f))
                for (size_t i = 0; !found && i < sizeof(markers) / sizeof(markers[0]); i++)
                        if (strstr(line, markers[i]))
                                found = markers[i];
        fclose(f);
        return found;
}

void harness_teardown(struct harness *h) {
        bool hung = false;
        /* Stopped as systemd stops it, so what runs at exit (LeakSanitizer,
         * valgrind's leak check) runs and reports into the log. */
        if (h->daemon_pid > 0) {
                /* Wait on the exit itself (a pidfd turns readable when the
                 * process ends), bounded. */
                int pidfd = (int) syscall(SYS_pidfd_open, h->daemon_pid, 0);
                kill(h->daemon_pid, SIGTERM);
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                if (pidfd >= 0 && poll(&pfd, 1, (int) daemon_bound_ms(10000)) == 0) {
                        hung = true;
                        harness_kill_daemon(h, SIGKILL);
                } else          /* ended (or no pidfd: meson's timeout bounds it) */
                        waitpid(h->daemon_pid, NULL, 0);
                if (pidfd >= 0)
                        close(pidfd);
                h->daemon_pid = 0;
        }
        h->bus = sd_bus_flush_close_unref(h->bus);
        if (h->bus_pid > 0) {
                kill(h->bus_pid, SIGTERM);
                waitpid(h->bus_pid, NULL, 0);
        }
        const char *report = daemon_log_report(h);
        if (report || hung)
                harness_print_log(h, "infusiond.log");
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
        (void) !system(cmd);
        if (hung)
                fail_msg("infusiond did not stop on SIGTERM");
        if (report)
                fail_msg("infusiond's log has \"%s\" (a sanitizer or valgrind report; see above)", report);
}

void harness_write_config(struct harness *h, const char *clock, const char *extra_limits) {
        harness_write_config_ex(h, clock, extra_limits, NULL);
}

void harness_write_config_ex(struct harness *h, const char *clock, const char *extra_limits, const char *tail) {
        FILE *f = fopen(h->config_path, "we");
        assert_non_null(f);
        fprintf(f,
                "[pump]\nbackend = sim\n\n"
                "[mechanism]\nlead_pitch_mm = 1.0\nsteps_per_rev = 200\nmicrosteps = 16\n"
                "syringe_inner_diameter_mm = 26.6\nsyringe_volume_ml = 60\nmax_step_rate_hz = 5000\n\n"
                "[limits]\nmax_rate_ml_per_h = 1200\nkvo_rate_ml_per_h = 1.0\n%s\n\n"
                "[database]\npath = %s\n\n"
                "[simulation]\nclock = %s\nseed = 7\n%s",
                extra_limits ?: "", h->db_path, clock, tail ?: "");
        assert_int_equal(fclose(f), 0);
}

void harness_start_daemon(struct harness *h) {
        h->daemon_pid = fork();
        assert_true(h->daemon_pid >= 0);
        if (h->daemon_pid == 0) {
                /* INFUSIOND_WRAPPER: words put before the daemon's argv. */
                char *argv[32], *words = strdup(getenv("INFUSIOND_WRAPPER") ?: ""), *save = NULL;
                size_t n = 0;
                for (char *w = strtok_r(words, " ", &save); w && n < 28; w = strtok_r(NULL, " ", &save))
                        argv[n++] = w;
                argv[n++] = (char *) env_or_fail("INFUSIOND");
                argv[n++] = (char *) "--config";
                argv[n++] = h->config_path;
                argv[n] = NULL;
                child_setup(h, "infusiond.log");
                execvp(argv[0], argv);
                _exit(127);
        }
        /* Wait for the name: the daemon takes it only once fully ready. */
        int64_t deadline = now_ms() + daemon_bound_ms(20000);
        for (;;) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int r = sd_bus_call_method(h->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "GetNameOwner", &e, &reply, "s",
                                           "org.infusiond.pump1");
                sd_bus_error_free(&e);
                sd_bus_message_unref(reply);
                if (r >= 0)
                        return;
                int status;
                if (waitpid(h->daemon_pid, &status, WNOHANG) == h->daemon_pid) {
                        h->daemon_pid = 0;
                        harness_print_log(h, "infusiond.log");
                        fail_msg("infusiond exited during start-up (status %d)", status);
                }
                if (now_ms() > deadline)
                        fail_msg("infusiond did not take its bus name within %" PRIi64 " s",
                                 daemon_bound_ms(20000) / 1000);
                struct timespec ts = { .tv_nsec = 5 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

int harness_kill_daemon(struct harness *h, int sig) {
        int status = 0;
        if (h->daemon_pid <= 0)
                return -1;
        kill(h->daemon_pid, sig);
        waitpid(h->daemon_pid, &status, 0);
        h->daemon_pid = 0;
        return status;
}

static int finish(int r, sd_bus_error *e, char *err_name, size_t n) {
        if (err_name && n)
                snprintf(err_name, n, "%s", r < 0 && e->name ? e->name : "");
        sd_bus_error_free(e);
        return r < 0 ? r : 0;
}

int call_program(struct harness *h, char *err_name, size_t n, ...) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        va_list ap;

        assert_int_equal(sd_bus_message_new_method_call(h->bus, &m, "org.infusiond.pump1", CH_PATH, CH_IFACE,
                                                        "Program"), 0);
        assert_int_equal(sd_bus_message_open_container(m, 'a', "{sv}"), 0);
        va_start(ap, n);
        for (const char *key; (key = va_arg(ap, const char *));) {
                double v = va_arg(ap, double);
                assert_true(sd_bus_message_append(m, "{sv}", key, "d", v) >= 0);
        }
        va_end(ap);
        assert_int_equal(sd_bus_message_close_container(m), 0);
        int r = sd_bus_call(h->bus, m, 0, &e, &reply);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return finish(r, &e, err_name, n);
}

int call_simple(struct harness *h, const char *method, char *err_name, size_t n) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, method, &e, &reply, "");
        sd_bus_message_unref(reply);
        return finish(r, &e, err_name, n);
}

uint64_t call_advance(struct harness *h, uint64_t usec) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t now = 0;
        int r = sd_bus_call_method(h->bus, "org.infusiond.pump1", SIM_PATH, SIM_IFACE, "AdvanceTime", &e, &reply,
                                   "t", usec);
        if (r < 0)
                fail_msg("AdvanceTime failed: %s: %s", e.name, e.message);
        assert_true(sd_bus_message_read(reply, "t", &now) > 0);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&e);
        return now;
}

#define GETTER(name, type, sig)                                                                   \
        type name(struct harness *h, const char *path, const char *iface, const char *prop) {     \
                sd_bus_error e = SD_BUS_ERROR_NULL;                                               \
                type v = 0;                                                                       \
                int r = sd_bus_get_property_trivial(h->bus, "org.infusiond.pump1", path, iface,   \
                                                    prop, &e, sig, &v);                           \
                if (r < 0)                                                                        \
                        fail_msg("Get %s failed: %s", prop, e.message);                           \
                sd_bus_error_free(&e);                                                            \
                return v;                                                                         \
        }

GETTER(get_double, double, 'd')
GETTER(get_u64, uint64_t, 't')
GETTER(get_i64, int64_t, 'x')

char *get_string(struct harness *h, const char *path, const char *iface, const char *prop) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        char *v = NULL;
        int r = sd_bus_get_property_string(h->bus, "org.infusiond.pump1", path, iface, prop, &e, &v);
        if (r < 0)
                fail_msg("Get %s failed: %s", prop, e.message);
        sd_bus_error_free(&e);
        return v;
}

int64_t harness_query_i64(struct harness *h, const char *sql) {
        sqlite3 *db;
        sqlite3_stmt *st;
        char uri[400];
        int64_t v = -1;
        snprintf(uri, sizeof(uri), "file:%s?mode=ro", h->db_path);
        assert_int_equal(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL), SQLITE_OK);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("%s: %s", sql, sqlite3_errmsg(db));
        if (sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

int harness_find_alarm(struct harness *h, const char *condition, char *id_out, char *prio_out) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *id, *cond, *pr, *msg;
        uint64_t raised;
        int count = 0;

        assert_true(sd_bus_get_property(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "ActiveAlarms", &e,
                                        &reply, "a(sssts)") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(sssts)") >= 0);
        while (sd_bus_message_read(reply, "(sssts)", &id, &cond, &pr, &raised, &msg) > 0) {
                if (condition && strcmp(cond, condition) != 0)
                        continue;
                count++;
                if (id_out)
                        snprintf(id_out, 64, "%s", id);
                if (prio_out)
                        snprintf(prio_out, 16, "%s", pr);
        }
        sd_bus_message_unref(reply);
        return count;
}
