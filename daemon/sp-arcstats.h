/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ZFS ARC's shrinkable part, from <procfs>/spl/kstat/zfs/arcstats, for
 * free_source = available+arc: the ARC gives memory back under pressure
 * down to c_min, but the kernel does not count it in MemAvailable.
 */
#pragma once

#include <gio/gio.h>

#include "sp-log.h"
#include "sp-meminfo.h"

G_BEGIN_DECLS

/*
 * Parses the text of arcstats: a kstat header line, the line "name type
 * data", then rows "<name> <type> <data>". size and c_min (type 4, bytes)
 * are required; other rows are ignored whatever their form. *shrinkable_kib
 * is size - c_min in KiB, 0 when size is below c_min. A bad header, a bad
 * or repeated size/c_min row is G_IO_ERROR_INVALID_DATA, and
 * *shrinkable_kib is unchanged.
 */
gboolean sp_arcstats_parse (const char *contents, guint64 *shrinkable_kib, GError **error);

/* Reads <procfs_root>/spl/kstat/zfs/arcstats (G_IO_ERROR_NOT_FOUND: no ZFS). */
gboolean sp_arcstats_read (const char *procfs_root, guint64 *shrinkable_kib, GError **error);

/*
 * For free_source = available+arc: sets mem's has_arc and
 * arc_shrinkable_kib from <procfs_root>. Without a readable arcstats,
 * has_arc stays FALSE (MemAvailable alone) and a warning says why, once per
 * problem (problem is the caller's slot); a message says when it is
 * readable again.
 */
void sp_arcstats_add (const char *procfs_root, SpMeminfo *mem, SpLogOnce *problem);

G_END_DECLS
