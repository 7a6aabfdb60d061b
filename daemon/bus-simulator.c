/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "common/units.h"
#include "daemon/bus.h"

static int method_advance_time(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        uint64_t usec;
        char args[64];
        int r;

        r = sd_bus_message_read(m, "t", &usec);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "usec=%" PRIu64, usec);
        /* A single call may cover at most 30 days of pump time: enough for
         * any scenario, and it keeps one call from blocking the bus forever. */
        if (usec > (uint64_t) 30 * 24 * 3600 * US_PER_SEC) {
                perr = (struct pump_error) { .name = PUMP_ERROR_INVALID_ARGUMENT };
                snprintf(perr.message, sizeof(perr.message),
                         "AdvanceTime %" PRIu64 " µs is too long: at most 30 days (2592000000000 µs) per call", usec);
                return bus_finish_command(b, m, "Simulator.AdvanceTime", args, -EINVAL, &perr, error);
        }
        r = pump_advance(b->pump, (int64_t) usec, &perr);
        if (r < 0)
                return bus_finish_command(b, m, "Simulator.AdvanceTime", args, r, &perr, error);

        bus_emit_progress(b);
        /* Audited like every command; the reply carries the new pump time. */
        bus_audit(b, m, "Simulator.AdvanceTime", args, "ok", NULL);
        return sd_bus_reply_method_return(m, "t", (uint64_t) pump_now_us(b->pump));
}

static int method_set_occlusion(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        int occluded, r;

        r = sd_bus_message_read(m, "b", &occluded);
        if (r < 0)
                return r;
        r = pump_set_occlusion(b->pump, occluded, &perr);
        return bus_finish_command(b, m, "Simulator.SetOcclusion", occluded ? "occluded=true" : "occluded=false",
                                  r, &perr, error);
}

static int prop_now(sd_bus *bus, const char *path, const char *iface, const char *prop,
                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        return sd_bus_message_append(reply, "t", (uint64_t) pump_now_us(b->pump));
}

static int prop_true_delivered(sd_bus *bus, const char *path, const char *iface, const char *prop,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        return sd_bus_message_append(reply, "d", units_nl_to_ml(pump_sim_delivered_nl(b->pump)));
}

static int prop_plunger_steps(sd_bus *bus, const char *path, const char *iface, const char *prop,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        return sd_bus_message_append(reply, "x", pump_sim_plunger_steps(b->pump));
}

static const sd_bus_vtable simulator_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("AdvanceTime", SD_BUS_ARGS("t", usec), SD_BUS_RESULT("t", now_usec),
                                method_advance_time, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetOcclusion", SD_BUS_ARGS("b", occluded), SD_BUS_NO_RESULT,
                                method_set_occlusion, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("NowUsec", "t", prop_now, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TrueDeliveredMl", "d", prop_true_delivered, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PlungerSteps", "x", prop_plunger_steps, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

int bus_add_simulator(struct bus_ctx *b) {
        return sd_bus_add_object_vtable(b->bus, NULL, BUS_PATH_SIMULATOR, BUS_IFACE_SIMULATOR, simulator_vtable, b);
}
