/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "daemon/bus.h"
#include "db/library-json.h"

static int method_import(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        const char *json;
        char args[96];
        int r;

        r = sd_bus_message_read(m, "s", &json);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "%zu bytes", strlen(json));
        r = pump_library_import(b->pump, json, strlen(json), bus_sender_uid(m), &perr);
        if (r < 0)
                return bus_finish_command(b, m, "DrugLibrary.Import", args, r, &perr, error);

        const struct drug_library *lib = pump_library(b->pump);
        bus_audit(b, m, "DrugLibrary.Import", args, "ok", lib->version);
        (void) sd_bus_emit_properties_changed(b->bus, BUS_PATH_LIBRARY, BUS_IFACE_LIBRARY, "Version", "Sha256",
                                              "CareAreas", NULL);
        return sd_bus_reply_method_return(m, "ss", lib->version, pump_library_sha256(b->pump));
}

static int no_library(sd_bus_error *error) {
        return sd_bus_error_set(error, PUMP_ERROR_UNKNOWN_DRUG,
                                "No drug library is loaded: import one with DrugLibrary.Import (infusionctl library import FILE)");
}

static int method_export(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        _cleanup_(freep) char *json = NULL;
        int r = pump_library_export(b->pump, &json);
        if (r == -ENOENT)
                return no_library(error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", json);
}

static int method_list_drugs(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const struct drug_library *lib = pump_library(b->pump);
        const char *area;
        int r;

        r = sd_bus_message_read(m, "s", &area);
        if (r < 0)
                return r;
        if (!lib)
                return no_library(error);
        if (area[0] && !drug_library_find_care_area(lib, area))
                return bus_error_setf(error, PUMP_ERROR_UNKNOWN_DRUG, "Care area \"%.64s\" is not in library %s",
                                         area, lib->version);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sss)");
        for (size_t i = 0; r >= 0 && i < lib->n_drugs; i++) {
                const struct drug *d = &lib->drugs[i];
                char unit[DOSE_UNIT_STRING_MAX];
                if (area[0] && !drug_limits_for(d, area))
                        continue;
                r = sd_bus_message_append(reply, "(sss)", d->id, d->name,
                                          dose_unit_to_string(&d->dose_unit, unit, sizeof(unit)) ?: "");
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* One drug as JSON: cut from the canonical export, so it reads exactly as
 * in a library file. */
static int method_get_drug(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        _cleanup_(freep) char *json = NULL;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        r = pump_library_export(b->pump, &json);
        if (r == -ENOENT)
                return no_library(error);
        if (r < 0)
                return r;

        struct json_object *root = json_tokener_parse(json), *drugs;
        if (!root || !json_object_object_get_ex(root, "drugs", &drugs)) {
                json_object_put(root);
                return -EIO;
        }
        for (size_t i = 0; i < json_object_array_length(drugs); i++) {
                struct json_object *d = json_object_array_get_idx(drugs, i), *did;
                if (json_object_object_get_ex(d, "id", &did) && strcmp(json_object_get_string(did), id) == 0) {
                        r = sd_bus_reply_method_return(m, "s",
                                                       json_object_to_json_string_ext(d, JSON_C_TO_STRING_PRETTY |
                                                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
                        json_object_put(root);
                        return r;
                }
        }
        json_object_put(root);
        return bus_error_setf(error, PUMP_ERROR_UNKNOWN_DRUG, "Drug \"%.64s\" is not in the library", id);
}

static int prop_version(sd_bus *bus, const char *path, const char *iface, const char *prop,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const struct drug_library *lib = pump_library(((struct bus_ctx *) userdata)->pump);
        return sd_bus_message_append(reply, "s", lib ? lib->version : "");
}

static int prop_sha256(sd_bus *bus, const char *path, const char *iface, const char *prop,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", pump_library_sha256(((struct bus_ctx *) userdata)->pump));
}

static int prop_care_areas(sd_bus *bus, const char *path, const char *iface, const char *prop,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const struct drug_library *lib = pump_library(((struct bus_ctx *) userdata)->pump);
        int r = sd_bus_message_open_container(reply, 'a', "(ssb)");
        for (size_t i = 0; r >= 0 && lib && i < lib->n_care_areas; i++)
                r = sd_bus_message_append(reply, "(ssb)", lib->care_areas[i].id, lib->care_areas[i].name,
                                          (int) lib->care_areas[i].allow_basic_infusion);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const sd_bus_vtable library_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Import", SD_BUS_ARGS("s", json), SD_BUS_RESULT("s", version, "s", sha256),
                                method_import, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Export", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_export,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDrugs", SD_BUS_ARGS("s", care_area), SD_BUS_RESULT("a(sss)", drugs),
                                method_list_drugs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetDrug", SD_BUS_ARGS("s", id), SD_BUS_RESULT("s", json), method_get_drug,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("Version", "s", prop_version, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Sha256", "s", prop_sha256, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CareAreas", "a(ssb)", prop_care_areas, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

int bus_add_library(struct bus_ctx *b) {
        return sd_bus_add_object_vtable(b->bus, NULL, BUS_PATH_LIBRARY, BUS_IFACE_LIBRARY, library_vtable, b);
}
