/* SPDX-License-Identifier: MIT */
#include "build-config.h"
#include "daemon/bus.h"

#include <string.h>

static int prop_version(sd_bus *bus, const char *path, const char *iface, const char *prop,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", INFUSIOND_VERSION);
}

static int prop_backend(sd_bus *bus, const char *path, const char *iface, const char *prop,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        return sd_bus_message_append(reply, "s", pump_backend(b->pump));
}

static int prop_clock(sd_bus *bus, const char *path, const char *iface, const char *prop,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        return sd_bus_message_append(reply, "s", pump_is_virtual(b->pump) ? "virtual" : "real");
}

static int prop_channels(sd_bus *bus, const char *path, const char *iface, const char *prop,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "ao", 1, BUS_PATH_CHANNEL0);
}

static int prop_power(sd_bus *bus, const char *path, const char *iface, const char *prop,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct hal_power_status st;
        bool known = pump_power(b->pump, &st);

        if (strcmp(prop, "OnMains") == 0)
                return sd_bus_message_append(reply, "b", known ? st.on_mains : true);
        if (strcmp(prop, "BatteryPercent") == 0)
                return sd_bus_message_append(reply, "i", known ? st.capacity_pct : -1);
        /* Minutes left only mean something while discharging. */
        int64_t left = known && !st.on_mains && st.time_to_empty_s >= 0 ? st.time_to_empty_s / 60 : -1;
        return sd_bus_message_append(reply, "x", left);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", prop_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backend", "s", prop_backend, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Clock", "s", prop_clock, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Channels", "ao", prop_channels, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* Throttled with the progress figures, at most 1 Hz. */
        SD_BUS_PROPERTY("OnMains", "b", prop_power, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BatteryPercent", "i", prop_power, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BatteryMinutesLeft", "x", prop_power, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

int bus_add_manager(struct bus_ctx *b) {
        return sd_bus_add_object_vtable(b->bus, NULL, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, manager_vtable, b);
}
