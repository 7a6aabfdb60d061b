/* SPDX-License-Identifier: MIT */
/* For test-access.sh: sends Channel.Program and Channel.Start to
 * org.infusiond.pump1 asking for no reply, then Peer.Ping on the same
 * connection and waits for its answer. dbus-daemon delivers one
 * connection's messages in order and the daemon reads them in order, so
 * when Ping answers, both calls have been through the daemon's access
 * check: the test then reads the audit without polling for it.
 *   no-reply-calls CHANNEL_PATH     (the bus: DBUS_SYSTEM_BUS_ADDRESS) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#define DEST "org.infusiond.pump1"
#define IFACE "org.infusiond.pump1.Channel"

static int send_no_reply(sd_bus *bus, const char *path, const char *member, int with_program) {
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, DEST, path, IFACE, member);
        if (r >= 0 && with_program)
                r = sd_bus_message_append(m, "a{sv}", 2, "RateMlPerHour", "d", 1.0, "VtbiMl", "d", 1.0);
        if (r >= 0)
                r = sd_bus_message_set_expect_reply(m, 0);
        if (r >= 0)
                r = sd_bus_send(bus, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

int main(int argc, char *argv[]) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: no-reply-calls CHANNEL_PATH\n");
                return 2;
        }
        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = send_no_reply(bus, argv[1], "Program", 1);
        if (r >= 0)
                r = send_no_reply(bus, argv[1], "Start", 0);
        if (r >= 0)
                r = sd_bus_call_method(bus, DEST, argv[1], "org.freedesktop.DBus.Peer", "Ping", &error, NULL, "");
        if (r < 0)
                fprintf(stderr, "no-reply-calls: %s\n", error.message ?: strerror(-r));
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return r < 0 ? 1 : 0;
}
