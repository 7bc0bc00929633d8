/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reader of /proc/meminfo (64-bit KiB throughout: TB-sized hosts). */
#pragma once

#include <gio/gio.h>

#include "sp-enums.h"

G_BEGIN_DECLS

/* Largest KiB count whose byte count still fits 64 bits (16 EiB): every
 * value the readers return (meminfo, the ZFS ARC) is at most this, so that
 * callers may add a few values or convert to bytes without overflow. */
#define SP_MEMINFO_MAX_KIB (G_MAXUINT64 / 1024)

typedef struct {
  guint64 total_kib;
  guint64 available_kib; /* MemAvailable; estimated when the kernel lacks it */
  guint64 free_kib;
  guint64 buffers_kib;
  guint64 cached_kib;
  gboolean available_estimated; /* kernel < 3.14: no MemAvailable line */
  /* free_source = available+arc: the ZFS ARC above c_min (sp-arcstats.h);
   * has_arc is FALSE when it was not asked for or could not be read */
  gboolean has_arc;
  guint64 arc_shrinkable_kib;
} SpMeminfo;

/* Parses the text of /proc/meminfo. MemTotal, MemFree, Buffers and Cached
 * are required; values must be in kB. */
gboolean sp_meminfo_parse (const char *contents, SpMeminfo *out, GError **error);

/* Reads <procfs_root>/meminfo. */
gboolean sp_meminfo_read (const char *procfs_root, SpMeminfo *out, GError **error);

/* Free memory as the policy counts it: available+arc without has_arc
 * counts MemAvailable alone. */
guint64 sp_meminfo_free_kib (const SpMeminfo *info, SpFreeSource source);

G_END_DECLS
