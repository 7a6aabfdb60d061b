/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "build-config.h"
#include "common/macros.h"
#include "common/units.h"
#include "config/config.h"
#include "daemon/bus.h"
#include "daemon/inputs-watch.h"
#include "daemon/log.h"
#include "daemon/pump.h"
#include "daemon/stepping.h"

#define DEFAULT_CONFIG "/etc/infusiond/infusiond.conf"
/* Exit statuses beyond 0 and 1 (infusiond(8)). 6 is systemd's and LSB's
 * "not configured": the unit's RestartPreventExitStatus=6 keeps systemd
 * from restarting a daemon whose configuration only a person can fix. A
 * passing failure to read it (memory, fds, I/O) exits 1 and is restarted:
 * a pump must not stay down for an SD card's bad moment. */
#define EXIT_USAGE 2
#define EXIT_NOT_CONFIGURED 6

struct daemon {
        struct pump *pump;
        struct bus_ctx *bus;
        struct inputs_watch *inputs;
        sd_event_source *tick;
        sd_event_source *outputs;       /* buzzer and light pattern changes */
        char last_status[160];
};

static void update_status(struct daemon *d) {
        char buf[160];
        pump_status_line(d->pump, buf, sizeof(buf));
        if (strcmp(buf, d->last_status) == 0)
                return;
        snprintf(d->last_status, sizeof(d->last_status), "%s", buf);
        (void) sd_notifyf(false, "STATUS=%s", buf);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct daemon *d = userdata;
        int r;

        pump_tick(d->pump);
        update_status(d);
        /* Next tick on a fixed grid, so the lease never sees drift pile up. */
        r = sd_event_source_set_time(s, usec + (uint64_t) pump_control_period_us(d->pump));
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0) {
                /* Without ticks the lease lapses and the motor stops: safe,
                 * but nothing would ever explain why. Exit and let systemd
                 * restart us into the interrupted-infusion alarm. */
                log_error_errno(r, "Failed to re-arm the control loop timer: %m");
                return sd_event_exit(sd_event_source_get_event(s), r);
        }
        return 0;
}

static int on_outputs(sd_event_source *s, uint64_t usec, void *userdata) {
        struct daemon *d = userdata;
        pump_update_outputs(d->pump);
        return 0;
}

/* After anything ran, the next buzzer or light change may have moved:
 * sleep exactly until it (pump time is CLOCK_MONOTONIC in real time). */
static void arm_outputs(struct daemon *d) {
        int64_t next = pump_next_output_us(d->pump);
        if (!d->outputs)
                return;
        if (next == INT64_MAX) {
                (void) sd_event_source_set_enabled(d->outputs, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(d->outputs, (uint64_t) MAX(next, 1));
        (void) sd_event_source_set_enabled(d->outputs, SD_EVENT_ONESHOT);
}

static int on_post(sd_event_source *s, void *userdata) {
        update_status(userdata);
        arm_outputs(userdata);
        return 0;
}

static void help(void) {
        printf("Usage: infusiond [OPTIONS]\n\n"
               "Infusion pump daemon: runs the pump and publishes org.infusiond.pump1 on the system bus.\n\n"
               "  -c, --config=PATH    configuration file (default " DEFAULT_CONFIG ")\n"
               "      --check-config   check the configuration and exit\n"
               "  -h, --help           show this help\n"
               "      --version        show the version\n");
}

#if !defined(__SANITIZE_ADDRESS__)
/* Read-only data this big is a library's tables the step path never
 * reads (ICU's 30 MB): left to fault in, if it is ever read at all. */
#define LOCK_SKIP_READONLY_BYTES ((size_t) 4 << 20)

static int lock_object(struct dl_phdr_info *info, size_t size, void *userdata) {
        uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
        for (int i = 0; i < info->dlpi_phnum; i++) {
                const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
                if (ph->p_type != PT_LOAD)
                        continue;
                if (!(ph->p_flags & (PF_X | PF_W)) && ph->p_memsz > LOCK_SKIP_READONLY_BYTES)
                        continue;
                uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
                uintptr_t end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
                (void) mlock((void *) start, end - start);
        }
        return 0;
}
#endif

static void lock_memory(void) {
#if !defined(__SANITIZE_ADDRESS__)
        /* Keep the step thread's pages resident: a page fault there is
         * step jitter. Needs CAP_IPC_LOCK or LimitMEMLOCK; fine without.
         * Locking every mapping whole (MCL_CURRENT | MCL_FUTURE) read in
         * and pinned ICU's 30 MB of data, which libiio's libxml2 maps and
         * never reads: RSS was 60 MB (bench/footprint.sh). So: new pages
         * (heap, stacks) are locked once used (MCL_ONFAULT; the step
         * thread touches its stack when it starts), and every program and
         * library segment is locked whole now, code for rare paths
         * (relief, a drive fault) included, except big read-only data. */
        if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0)
                (void) dl_iterate_phdr(lock_object, NULL);
        else if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
                log_debug("mlockall failed (%m), continuing without locked memory");
#endif
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_notice("SIGHUP ignored: infusiond has nothing to reload (the configuration is read at start; "
                   "restart it with systemctl restart infusiond when no infusion runs)");
        return 0;
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CHECK };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, ARG_CHECK },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        const char *config_path = DEFAULT_CONFIG;
        bool check_only = false;
        int c, r;

        log_setup();
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case ARG_CHECK:
                        check_only = true;
                        break;
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        printf("infusiond %s\n", INFUSIOND_VERSION);
                        return EXIT_SUCCESS;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                log_error("Unexpected argument \"%s\"; see --help", argv[optind]);
                return EXIT_USAGE;
        }

        /* The config is checked whole before anything touches hardware. */
        _cleanup_(config_freep) struct config *cfg = NULL;
        r = config_load(config_path, stderr, &cfg);
        if (r < 0) {
                if (!config_error_needs_a_person(r)) {
                        log_error_errno(r, "Refusing to start: cannot load %s: %m", config_path);
                        return EXIT_FAILURE;
                }
                log_error("Refusing to start: %s has errors (see above)", config_path);
                return EXIT_NOT_CONFIGURED;
        }
        if (check_only) {
                printf("%s: OK\n", config_path);
                return EXIT_SUCCESS;
        }

        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m"), EXIT_FAILURE;

        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        /* Block before any thread exists, so the step thread inherits it. */
        sigprocmask(SIG_BLOCK, &ss, NULL);
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        /* SIGHUP's default ends the process, and systemd counts that as a
         * clean exit: Restart=on-failure would leave the pump without its
         * daemon, and nothing to raise an alarm. There is nothing to
         * reload, so it is only logged. */
        (void) sd_event_add_signal(event, NULL, SIGHUP, on_sighup, NULL);
        /* The loop itself pings systemd's watchdog (WATCHDOG_USEC). */
        (void) sd_event_set_watchdog(event, true);

        struct daemon d = {};
        struct pump_error perr = {};
        r = pump_new(cfg, &d.pump, &perr);
        if (r < 0) {
                log_error("Refusing to start: %s", perr.message);
                return EXIT_FAILURE;
        }

        r = bus_setup(event, d.pump, &d.bus);
        if (r < 0)
                goto finish;

        r = inputs_watch_new(event, pump_hal(d.pump), &d.inputs);
        if (r < 0) {
                log_error_errno(r, "Failed to watch the digital inputs: %m");
                goto finish;
        }

        if (!pump_is_virtual(d.pump)) {
                lock_memory();
                r = stepping_start(event, d.pump);
                if (r < 0)
                        goto finish;
                r = sd_event_add_time_relative(event, &d.tick, CLOCK_MONOTONIC,
                                               (uint64_t) pump_control_period_us(d.pump), 1000, on_tick, &d);
                if (r < 0) {
                        log_error_errno(r, "Failed to add the control loop timer: %m");
                        goto finish;
                }
                /* Ticks outrank D-Bus traffic: a lease must not wait behind a flood of calls. */
                (void) sd_event_source_set_priority(d.tick, SD_EVENT_PRIORITY_IMPORTANT);
                r = sd_event_add_time(event, &d.outputs, CLOCK_MONOTONIC, 0, 1000, on_outputs, &d);
                if (r < 0) {
                        log_error_errno(r, "Failed to add the alarm output timer: %m");
                        goto finish;
                }
                (void) sd_event_source_set_enabled(d.outputs, SD_EVENT_OFF);
        }
        (void) sd_event_add_post(event, NULL, on_post, &d);

        log_info("infusiond %s ready: self-test passed on %s, %s clock, config %s", INFUSIOND_VERSION,
                 pump_devices(d.pump), pump_is_virtual(d.pump) ? "virtual" : "real", config_path);
        update_status(&d);
        (void) sd_notify(false, "READY=1");

        r = sd_event_loop(event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");

finish:
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
        bus_report_denials(d.bus);
        pump_shutdown(d.pump);
        d.tick = sd_event_source_disable_unref(d.tick);
        d.outputs = sd_event_source_disable_unref(d.outputs);
        d.inputs = inputs_watch_free(d.inputs);
        d.bus = bus_free(d.bus);
        d.pump = pump_free(d.pump);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
