/* SPDX-License-Identifier: MIT */
#include "daemon/inputs-watch.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "common/macros.h"
#include "daemon/log.h"

struct input_source {
        struct inputs_watch *w;
        enum hal_input input;
        sd_event_source *io, *settle;
};

struct inputs_watch {
        const struct hal *hal;
        struct input_source src[_HAL_INPUT_MAX];
};

static void run(struct input_source *s) {
        const struct hal *h = s->w->hal;
        int64_t deadline = INT64_MAX;
        uint64_t now = 0;
        /* The loop's own clock for this iteration: pump time in real time. */
        (void) sd_event_now(sd_event_source_get_event(s->io), CLOCK_MONOTONIC, &now);
        int r = h->inputs->process(h->inputs_ctx, s->input, (int64_t) now, &deadline);
        if (r < 0) {
                /* The backend latches the error, so its read() fails from
                 * now on and the pump's polling raises sensor-failure
                 * (air, door, end stop). Stop watching: a dead fd would
                 * wake the loop for ever. */
                log_error_errno(r, "Reading %s events failed, no longer watched: %m", hal_input_to_string(s->input));
                (void) sd_event_source_set_enabled(s->io, SD_EVENT_OFF);
                (void) sd_event_source_set_enabled(s->settle, SD_EVENT_OFF);
                return;
        }
        if (deadline == INT64_MAX) {
                (void) sd_event_source_set_enabled(s->settle, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(s->settle, (uint64_t) MAX(deadline, 1));
        (void) sd_event_source_set_enabled(s->settle, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        /* On EPOLLERR/EPOLLHUP (the chip went away) process() finds the
         * error itself and the source is switched off in run(). */
        run(userdata);
        return 0;
}

static int on_settle(sd_event_source *es, uint64_t usec, void *userdata) {
        run(userdata);
        return 0;
}

int inputs_watch_new(sd_event *e, const struct hal *h, struct inputs_watch **ret) {
        _cleanup_(freep) struct inputs_watch *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        w->hal = h;
        for (int i = 0; i < _HAL_INPUT_MAX; i++)
                w->src[i] = (struct input_source) { .w = w, .input = i };

        if (!h->inputs || !h->inputs->event_fd || !h->inputs->process) {
                *ret = TAKE_PTR(w);
                return 0;
        }
        for (int i = 0; i < _HAL_INPUT_MAX; i++) {
                struct input_source *s = &w->src[i];
                int fd = h->inputs->event_fd(h->inputs_ctx, i);
                if (fd == -ENODEV)
                        continue;
                if (fd < 0) {
                        r = fd;
                        goto fail;
                }
                r = sd_event_add_io(e, &s->io, fd, EPOLLIN, on_io, s);
                if (r >= 0)
                        /* 1 ms accuracy: 0 would mean sd-event's default of 250 ms. */
                        r = sd_event_add_time(e, &s->settle, CLOCK_MONOTONIC, 0, 1000, on_settle, s);
                if (r < 0)
                        goto fail;
                (void) sd_event_source_set_enabled(s->settle, SD_EVENT_OFF);
                /* A press outranks D-Bus traffic, like the control tick. */
                (void) sd_event_source_set_priority(s->io, SD_EVENT_PRIORITY_IMPORTANT);
        }
        *ret = TAKE_PTR(w);
        return 0;
fail:
        inputs_watch_free(TAKE_PTR(w));
        return r;
}

struct inputs_watch *inputs_watch_free(struct inputs_watch *w) {
        if (!w)
                return NULL;
        for (int i = 0; i < _HAL_INPUT_MAX; i++) {
                w->src[i].io = sd_event_source_disable_unref(w->src[i].io);
                w->src[i].settle = sd_event_source_disable_unref(w->src[i].settle);
        }
        free(w);
        return NULL;
}
