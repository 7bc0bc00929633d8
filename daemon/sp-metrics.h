/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus node_exporter textfile metrics: the snapshot after each
 * decision, written atomically (temporary file + rename).
 */
#pragma once

#include <gio/gio.h>

#include "sp-snapshot.h"

G_BEGIN_DECLS

/* The snapshot in the Prometheus text exposition format (version 0.0.4). */
char *sp_metrics_format (const SpSnapshot *snapshot);

/* Writes sp_metrics_format() to path atomically. */
gboolean sp_metrics_write (const SpSnapshot *snapshot, const char *path, GError **error);

G_END_DECLS
