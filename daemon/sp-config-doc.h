/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The config as documented GKeyFile text: every key with its description,
 * what it takes and its default. data/samepaged.conf (installed as
 * /etc/samepage/samepaged.conf) documents the same lines, commented out
 * (tests/test-config.c checks it); loaded back, the text gives the same config.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SpConfig SpConfig;

/* The config as GKeyFile text; unset keys are written commented out. */
char *sp_config_to_data (const SpConfig *config);

G_END_DECLS
