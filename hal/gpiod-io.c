/* SPDX-License-Identifier: MIT */
#include "hal/gpiod-io.h"

#include <errno.h>
#include <gpiod.h>
#include <stdlib.h>
#include <time.h>

#include "common/macros.h"
#include "hal/debounce.h"
#include "hal/gpiod-stepper.h"          /* GPIOD_CONSUMER */

#define DEBOUNCE_MAX_US INT64_C(1000000)

/* The v1 kernel queues 16 events per line. Reading at most a few
 * queues' worth per process() call keeps a line that chatters without
 * end from starving the event loop; the fd stays readable, so the loop
 * comes back for the rest. */
#define EVENTS_PER_READ 16
#define READS_PER_PROCESS 4

struct io_input {
        struct gpiod_line *line;        /* NULL: not fitted */
        struct debounce debounce;
        int64_t last_edge_us;
        /* The first error reading the line's events, latched: after it the
         * debounced level is stale, and read() must say so rather than
         * report a dead air detector as "no air" for ever. */
        int error;
};

struct gpiod_io {
        struct gpiod_chip *chip;
        struct io_input inputs[_HAL_INPUT_MAX];
        struct gpiod_line *outputs[_HAL_OUTPUT_MAX];   /* NULL: not fitted */
        int64_t debounce_us;

        hal_input_handler_t handler;
        void *userdata;
};

static int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static void gpiod_io_freep(struct gpiod_io **io) {
        gpiod_io_free(*io);
}

static int request(struct gpiod_chip *chip, const struct gpiod_line_params *lp, int request_type,
                   struct gpiod_line **ret) {
        const struct gpiod_line_request_config config = {
                .consumer = GPIOD_CONSUMER,
                .request_type = request_type,
                .flags = lp->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0,
        };
        struct gpiod_line *line;

        line = gpiod_chip_get_line(chip, lp->line);
        if (!line)
                return negative_errno();
        /* default_val 0: outputs start inactive; inputs ignore it. */
        if (gpiod_line_request(line, &config, 0) < 0)
                return negative_errno();

        *ret = line;
        return 0;
}

/* ---- inputs --------------------------------------------------------- */

static struct io_input *get_input(struct gpiod_io *io, enum hal_input i) {
        if ((unsigned) i >= _HAL_INPUT_MAX)
                return NULL;
        return &io->inputs[i];
}

static int inputs_read(void *ctx, enum hal_input i, bool *ret_active) {
        struct io_input *in = get_input(ctx, i);

        if (!in)
                return -EINVAL;
        if (!in->line)
                return -ENODEV;
        if (in->error < 0)
                return in->error;
        *ret_active = in->debounce.stable;
        return 0;
}

static int inputs_set_handler(void *ctx, hal_input_handler_t handler, void *userdata) {
        struct gpiod_io *io = ctx;

        io->handler = handler;
        io->userdata = userdata;
        return 0;
}

static int inputs_event_fd(void *ctx, enum hal_input i) {
        struct io_input *in = get_input(ctx, i);
        int fd;

        if (!in)
                return -EINVAL;
        if (!in->line)
                return -ENODEV;
        fd = gpiod_line_event_get_fd(in->line);
        if (fd < 0)
                return negative_errno();
        return fd;
}

/* The handler reports the settle time: when the change became certain,
 * which is never later than now. */
static void report_if_settled(struct gpiod_io *io, enum hal_input i, int64_t now_us) {
        struct io_input *in = &io->inputs[i];
        int64_t settled_us = in->debounce.deadline_us;
        bool level;

        if (debounce_poll(&in->debounce, now_us, &level, NULL) && io->handler)
                io->handler(i, level, settled_us, io->userdata);
}

/* The event's kernel timestamp, kept only inside [last edge, now].
 *
 * Why the kernel's time at all: it is taken in the interrupt, so the
 * debounce measures the contact's bounce and not how late the event loop
 * got to us; edges read in one batch keep their spacing, so a press and
 * release that both settled before we looked are both reported.
 *
 * Why the clamp: the GPIO event timestamp is CLOCK_MONOTONIC only since
 * Linux 5.7, CLOCK_REALTIME before. A timestamp from the future or from
 * before the previous edge cannot be a monotonic one; clamped, it
 * degrades to the time we read it (now_us). Whatever clock the kernel
 * used, an edge's time is then off by at most the loop's latency, and
 * edges never go backwards. */
static int64_t edge_time_us(const struct io_input *in, const struct timespec *ts, int64_t now_us) {
        int64_t t_us = (int64_t) ts->tv_sec * INT64_C(1000000) + ts->tv_nsec / 1000;

        return MIN(MAX(t_us, in->last_edge_us), now_us);
}

static void feed_edge(struct gpiod_io *io, enum hal_input i, int64_t t_us, bool level) {
        struct io_input *in = &io->inputs[i];

        /* A change that settled before this edge came is reported first,
         * or the edge would cancel it. */
        report_if_settled(io, i, t_us);
        in->last_edge_us = t_us;
        (void) debounce_edge(&in->debounce, t_us, level);
}

static int process_events(struct gpiod_io *io, enum hal_input i, int64_t now_us, int64_t *ret_deadline_us) {
        struct io_input *in = get_input(io, i);
        struct gpiod_line_event events[EVENTS_PER_READ];
        bool read_any = false;
        int r;

        if (!in)
                return -EINVAL;
        if (!in->line)
                return -ENODEV;

        for (unsigned round = 0; round < READS_PER_PROCESS; round++) {
                /* read() on a v1 event fd blocks when the queue is empty, and
                 * we are also called at deadlines with nothing queued. */
                r = gpiod_line_event_wait(in->line, &(const struct timespec) { 0, 0 });
                if (r < 0)
                        return negative_errno();
                if (r == 0)
                        break;

                int n = gpiod_line_event_read_multiple(in->line, events, ELEMENTSOF(events));
                if (n < 0)
                        return negative_errno();

                for (int k = 0; k < n; k++)
                        feed_edge(io, i, edge_time_us(in, &events[k].ts, now_us),
                                  events[k].event_type == GPIOD_LINE_EVENT_RISING_EDGE);
                read_any = read_any || n > 0;
        }

        /* The kernel drops the newest events when a line's queue is full,
         * and a bouncing contact can fill it: the last edge we saw need
         * not be the level the line settled at. So the line itself is
         * asked after reading edges and before a change is reported. If
         * it disagrees, edges were lost and we cannot tell how long the
         * pending level really held: nothing is reported, and the settle
         * starts again from now at the level the line has. */
        if (read_any || now_us >= in->debounce.deadline_us) {
                r = gpiod_line_get_value(in->line);
                if (r < 0)
                        return negative_errno();
                if ((r > 0) != in->debounce.raw) {
                        in->last_edge_us = MAX(now_us, in->last_edge_us);
                        (void) debounce_edge(&in->debounce, in->last_edge_us, r > 0);
                }
        }

        report_if_settled(io, i, now_us);

        if (ret_deadline_us)
                *ret_deadline_us = in->debounce.deadline_us;
        return 0;
}

static int inputs_process(void *ctx, enum hal_input i, int64_t now_us, int64_t *ret_deadline_us) {
        struct gpiod_io *io = ctx;
        struct io_input *in = get_input(io, i);

        if (in && in->error < 0)
                return in->error;
        int r = process_events(io, i, now_us, ret_deadline_us);
        if (r < 0 && in && in->line)    /* not for a bad or unfitted input */
                in->error = r;
        return r;
}

static const struct hal_inputs_ops gpiod_io_inputs_ops = {
        .read = inputs_read,
        .set_handler = inputs_set_handler,
        .event_fd = inputs_event_fd,
        .process = inputs_process,
};

/* ---- outputs -------------------------------------------------------- */

static int outputs_set(void *ctx, enum hal_output o, bool on) {
        struct gpiod_io *io = ctx;

        if ((unsigned) o >= _HAL_OUTPUT_MAX)
                return -EINVAL;
        if (!io->outputs[o])
                return -ENODEV;
        if (gpiod_line_set_value(io->outputs[o], on) < 0)
                return negative_errno();
        return 0;
}

static const struct hal_outputs_ops gpiod_io_outputs_ops = {
        .set = outputs_set,
};

/* ---- life cycle ----------------------------------------------------- */

static int validate(const struct gpiod_io_params *p, const char **ret_what) {
        const struct gpiod_line_params *all[_HAL_INPUT_MAX + _HAL_OUTPUT_MAX];
        const char *names[_HAL_INPUT_MAX + _HAL_OUTPUT_MAX];
        unsigned n = 0;

        if (!p->chip) {
                *ret_what = "chip";
                return -EINVAL;
        }
        if (p->debounce_us < 0 || p->debounce_us > DEBOUNCE_MAX_US) {
                *ret_what = "debounce";
                return -EINVAL;
        }

        for (unsigned i = 0; i < _HAL_INPUT_MAX; i++)
                if (p->inputs[i].fitted) {
                        names[n] = hal_input_to_string(i);
                        all[n++] = &p->inputs[i];
                }
        for (unsigned o = 0; o < _HAL_OUTPUT_MAX; o++)
                if (p->outputs[o].fitted) {
                        names[n] = hal_output_to_string(o);
                        all[n++] = &p->outputs[o];
                }

        for (unsigned a = 0; a < n; a++)
                for (unsigned b = a + 1; b < n; b++)
                        if (all[a]->line == all[b]->line) {
                                *ret_what = names[b];
                                return -EINVAL;
                        }
        return 0;
}

int gpiod_io_new(const struct gpiod_io_params *p, struct gpiod_io **ret, const char **ret_what) {
        _cleanup_(gpiod_io_freep) struct gpiod_io *io = NULL;
        const char *what = NULL;
        int r;

        r = validate(p, &what);
        if (r < 0)
                goto fail;

        io = calloc(1, sizeof(*io));
        if (!io) {
                what = "memory";
                r = -ENOMEM;
                goto fail;
        }
        io->debounce_us = p->debounce_us;

        /* "gpiochip0", "/dev/gpiochip0", "0" (or a chip's label): the
         * lookup tells them apart. */
        what = "chip";
        io->chip = gpiod_chip_open_lookup(p->chip);
        if (!io->chip) {
                r = negative_errno();
                goto fail;
        }

        /* Outputs first, so the buzzer and lights are ours, and quiet,
         * as early as possible. */
        for (unsigned o = 0; o < _HAL_OUTPUT_MAX; o++) {
                if (!p->outputs[o].fitted)
                        continue;
                what = hal_output_to_string(o);
                r = request(io->chip, &p->outputs[o], GPIOD_LINE_REQUEST_DIRECTION_OUTPUT, &io->outputs[o]);
                if (r < 0)
                        goto fail;
        }

        for (unsigned i = 0; i < _HAL_INPUT_MAX; i++) {
                struct io_input *in = &io->inputs[i];

                if (!p->inputs[i].fitted)
                        continue;
                what = hal_input_to_string(i);
                r = request(io->chip, &p->inputs[i], GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES, &in->line);
                if (r < 0)
                        goto fail;

                /* The level now, as the debounce's starting point. Read after
                 * the request, so an edge in between is also queued as an
                 * event: it is then no change, not a lost one. */
                r = gpiod_line_get_value(in->line);
                if (r < 0) {
                        r = negative_errno();
                        goto fail;
                }
                debounce_init(&in->debounce, p->debounce_us, r > 0);
        }

        *ret = TAKE_PTR(io);
        return 0;

fail:
        if (ret_what)
                *ret_what = what;
        return r;
}

struct gpiod_io *gpiod_io_free(struct gpiod_io *io) {
        if (!io)
                return NULL;

        /* A released line keeps its last level: a buzzer left sounding or
         * a nurse call left closed would outlive the daemon. */
        for (unsigned o = 0; o < _HAL_OUTPUT_MAX; o++)
                if (io->outputs[o]) {
                        (void) gpiod_line_set_value(io->outputs[o], 0);
                        gpiod_line_release(io->outputs[o]);
                }
        for (unsigned i = 0; i < _HAL_INPUT_MAX; i++)
                if (io->inputs[i].line)
                        gpiod_line_release(io->inputs[i].line);
        if (io->chip)
                gpiod_chip_close(io->chip);

        free(io);
        return NULL;
}

void gpiod_io_fill_hal(struct gpiod_io *io, struct hal *h) {
        bool any_input = false, any_output = false;

        for (unsigned i = 0; i < _HAL_INPUT_MAX; i++)
                any_input = any_input || io->inputs[i].line;
        for (unsigned o = 0; o < _HAL_OUTPUT_MAX; o++)
                any_output = any_output || io->outputs[o];

        if (any_input) {
                h->inputs = &gpiod_io_inputs_ops;
                h->inputs_ctx = io;
        }
        if (any_output) {
                h->outputs = &gpiod_io_outputs_ops;
                h->outputs_ctx = io;
        }
}
