/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-process KSM facts from procfs: /proc/<pid>/ksm_stat and
 * ksm_merging_pages, of any kernel since 5.19. Finding a domain's QEMU
 * process is sp-qemu-proc's.
 */
#pragma once

#include <gio/gio.h>

#include "sp-domain.h"

G_BEGIN_DECLS

typedef struct {
  gboolean present;  /* ksm_stat or ksm_merging_pages could be read */
  gint64 rmap_items; /* -1 when the kernel does not report it */
  gint64 merging_pages;
  gint64 zero_pages;
  gint64 process_profit;
  SpKsmMergeable mergeable; /* ksm_mergeable: yes/no; UNKNOWN before 6.14 */
  SpKsmMergeable merge_any; /* ksm_merge_any: yes/no (prctl) */
} SpKsmProcStat;

/*
 * Parses the text of /proc/<pid>/ksm_stat tolerantly: lines "key value" and
 * "key: value" (formats differ across kernels), unknown keys ignored, fields
 * a kernel does not have left at -1 / UNKNOWN. A known key with a bad value
 * (or twice) is a G_IO_ERROR_INVALID_DATA naming it; stat is then left
 * untouched. present is TRUE when at least one known key was found (the
 * file of a process without memory, a zombie, is empty).
 */
gboolean sp_ksm_proc_stat_parse (const char *contents, SpKsmProcStat *stat, GError **error);

/*
 * Reads <procfs>/<pid>/ksm_stat and, where ksm_stat lacks it (older
 * kernels), <procfs>/<pid>/ksm_merging_pages. A process without either file
 * gives present=FALSE and TRUE; a vanished process is G_IO_ERROR_NOT_FOUND.
 */
gboolean sp_ksm_proc_stat_read (const char *procfs_root, gint64 pid, SpKsmProcStat *stat,
                                GError **error);

G_END_DECLS
