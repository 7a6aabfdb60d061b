/* SPDX-License-Identifier: MIT */
#include "bench/sim-pump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/procs.h"

int sim_pump_make_dir(struct sim_pump *sp, const char *name) {
        *sp = (struct sim_pump) {};
        snprintf(sp->dir, sizeof(sp->dir), "/tmp/%.40s-XXXXXX", name);
        if (!mkdtemp(sp->dir)) {
                int r = -errno;
                sp->dir[0] = 0;
                fprintf(stderr, "mkdtemp: %s\n", strerror(-r));
                return r;
        }
        return 0;
}

int sim_pump_report(int r, const char *what, const struct pump_error *err) {
        fprintf(stderr, "%s: %s: %s\n", what, err->name ? err->name : "?", err->message);
        return r;
}

int sim_pump_open(struct sim_pump *sp, const char *config_name, const char *config_text) {
        struct pump_error err = {};
        int r = config_load_string(config_name, config_text, stderr, &sp->cfg);
        if (r < 0)
                return r;
        r = pump_new(sp->cfg, &sp->p, &err);
        if (r < 0)
                return sim_pump_report(r, "pump_new", &err);
        sp->sim = pump_sim(sp->p);
        if (!sp->sim) {
                fprintf(stderr, "%s: the pump has no sim backend\n", config_name);
                return -ENODEV;
        }
        return 0;
}

void sim_pump_close(struct sim_pump *sp) {
        if (sp->p) {
                pump_shutdown(sp->p);
                pump_free(sp->p);
        }
        config_free(sp->cfg);
        if (sp->dir[0])
                bench_remove_flat_dir(sp->dir);
        *sp = (struct sim_pump) {};
}
