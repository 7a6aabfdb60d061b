/* SPDX-License-Identifier: MIT */
#include "daemon/access.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macros.h"

#define IFACE_PREFIX "org.infusiond.pump1."

static const char *const role_names[ACCESS_ROLE_COUNT] = {
        "viewer", "clinician", "patient", "pharmacy", "history",
};
static const char *const role_groups[ACCESS_ROLE_COUNT] = {
        NULL, "infusiond-clinician", "infusiond-patient", "infusiond-pharmacy", "infusiond-history",
};

static int role_index(unsigned role) {
        for (int i = 0; i < ACCESS_ROLE_COUNT; i++)
                if (role == 1u << i)
                        return i;
        return -1;
}

const char *access_role_to_string(unsigned role) {
        int i = role_index(role);
        return i < 0 ? NULL : role_names[i];
}

const char *access_role_group(unsigned role) {
        int i = role_index(role);
        return i < 0 ? NULL : role_groups[i];
}

const char *access_roles_to_string(unsigned roles, char *buf, size_t n) {
        size_t used = 0;

        if (n == 0)
                return buf;
        buf[0] = '\0';
        if ((roles & ACCESS_ALL_ROLES) != ACCESS_VIEWER)
                roles &= ~ACCESS_VIEWER;
        for (int i = 0; i < ACCESS_ROLE_COUNT; i++) {
                if (!(roles & (1u << i)))
                        continue;
                int k = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", role_names[i]);
                if (k < 0 || (size_t) k >= n - used) {
                        buf[used] = '\0';      /* whole names only */
                        break;
                }
                used += (size_t) k;
        }
        return buf;
}

/* The one table. member NULL: every method of the interface. The bus
 * policy file says the same; tests/integration/test-access.sh calls every
 * method as every role through both and prints the table. */
static const struct rule {
        const char *interface;  /* after "org.infusiond.pump1." */
        const char *member;
        unsigned roles;
} rules[] = {
        { "Channel", "Program",          ACCESS_CLINICIAN },
        { "Channel", "Start",            ACCESS_CLINICIAN },
        { "Channel", "Titrate",          ACCESS_CLINICIAN },
        { "Channel", "Bolus",            ACCESS_CLINICIAN },
        { "Channel", "Pause",            ACCESS_CLINICIAN },
        { "Channel", "Resume",           ACCESS_CLINICIAN },
        { "Channel", "Stop",             ACCESS_CLINICIAN },
        { "Channel", "AcknowledgeAlarm", ACCESS_CLINICIAN },
        { "Channel", "SilenceAlarms",    ACCESS_CLINICIAN },
        /* Only the patient presses for a PCA dose: "PCA by proxy" (a nurse
         * or relative pressing for a sleeping patient) is a known overdose
         * hazard. A clinician gives a Bolus instead. */
        { "Channel", "PcaDemand",        ACCESS_PATIENT },
        /* The demand log is patient data: the care team and hospital IT. */
        { "Channel", "GetPcaDemands",    ACCESS_CLINICIAN | ACCESS_HISTORY },
        { "DrugLibrary", "Import",       ACCESS_PHARMACY },
        /* The library is not secret: UIs, infusionctl's completion and
         * anyone programming the pump need to read it. */
        { "DrugLibrary", "Export",       ACCESS_VIEWER },
        { "DrugLibrary", "ListDrugs",    ACCESS_VIEWER },
        { "DrugLibrary", "GetDrug",      ACCESS_VIEWER },
        { "History", NULL,               ACCESS_HISTORY | ACCESS_CLINICIAN },
        /* The simulator exists only on the sim backend (training, tests). */
        { "Simulator", NULL,             ACCESS_CLINICIAN },
};

unsigned access_required_roles(const char *interface, const char *member) {
        if (!interface || !member || strncmp(interface, IFACE_PREFIX, strlen(IFACE_PREFIX)) != 0)
                return 0;
        const char *short_iface = interface + strlen(IFACE_PREFIX);
        for (size_t i = 0; i < ELEMENTSOF(rules); i++)
                if (streq(rules[i].interface, short_iface) && (!rules[i].member || streq(rules[i].member, member)))
                        return rules[i].roles;
        return 0;
}

int access_groups_load(struct access_groups *g) {
        int found = 0;

        *g = (struct access_groups) { .self_uid = geteuid() };
        for (int i = 0; i < ACCESS_ROLE_COUNT; i++) {
                if (!role_groups[i])
                        continue;
                /* A role group lists every member: a ward's worth of
                 * clinicians outgrows a small buffer (ERANGE), and a group
                 * not found grants its role to nobody. */
                struct group grp, *res = NULL;
                _cleanup_(freep) char *buf = NULL;
                int r = ERANGE;
                for (size_t size = 4096; r == ERANGE && size <= 4 * 1024 * 1024; size *= 4) {
                        free(buf);
                        buf = malloc(size);
                        if (!buf)
                                break;
                        r = getgrnam_r(role_groups[i], &grp, buf, size, &res);
                }
                if (r == 0 && res) {
                        g->known[i] = true;
                        g->gid[i] = res->gr_gid;
                        found++;
                }
        }
        return found;
}

unsigned access_roles_from_gids(const struct access_groups *g, uid_t uid, const gid_t *gids, size_t n) {
        if (uid == 0 || uid == g->self_uid)
                return ACCESS_ALL_ROLES;
        unsigned roles = ACCESS_VIEWER;
        for (int i = 0; i < ACCESS_ROLE_COUNT; i++)
                for (size_t k = 0; g->known[i] && k < n; k++)
                        if (gids[k] == g->gid[i])
                                roles |= 1u << i;
        return roles;
}

unsigned access_roles_of_uid(const struct access_groups *g, int64_t uid) {
        if (uid < 0 || uid > (int64_t) UINT32_MAX - 1)
                return ACCESS_VIEWER;
        if (uid == 0 || uid == (int64_t) g->self_uid)
                return ACCESS_ALL_ROLES;

        /* The account's groups as the user database has them, not the
         * calling process's: dbus-daemon's policy judges "group=" the same
         * way, and the daemon's sandbox (ProtectProc=invisible) cannot read
         * other processes' /proc/PID/status anyway. */
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r((uid_t) uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return ACCESS_VIEWER;   /* no account: no roles */

        gid_t gids[64];
        int n = (int) ELEMENTSOF(gids);
        if (getgrouplist(res->pw_name, res->pw_gid, gids, &n) < 0) {
                /* More groups than fit: the first 64 are kept, in the
                 * order the database lists them. */
                n = (int) ELEMENTSOF(gids);
        }
        return access_roles_from_gids(g, (uid_t) uid, gids, (size_t) n);
}
