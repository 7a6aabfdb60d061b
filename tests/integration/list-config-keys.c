/* SPDX-License-Identifier: MIT */
/* Prints every section and key of the configuration file format, one
 * "section key" a line, from the table the parser itself uses
 * (config/keys.c), so test-man.sh can hold infusiond.conf(5) to it. */

#include <stdio.h>

#include "config/config-keys.h"

int main(void) {
        for (int i = 0; i < _KEY_MAX; i++)
                printf("%s %s\n", config_section_names[config_keys[i].section], config_keys[i].name);
        return 0;
}
