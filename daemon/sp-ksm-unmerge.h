/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unmerging every page KSM merged, the safe way, without blocking the main
 * loop: for `ksmctl unmerge` (D-Bus Unmerge) and for changing
 * merge_across_nodes, which the kernel refuses (EBUSY) while pages are
 * shared.
 *
 *   check      MemAvailable must absorb the unmerge: pages_sharing x page
 *              size, plus the tuning threshold, else it is refused
 *   hold       the KSM actuator writes nothing meanwhile
 *   run=2      written in a worker thread (the kernel unmerges inside the
 *              write), the original run recorded for restore first
 *   wait       a timeout source polls pages_shared until it is 0 and the
 *              write returned, logging progress; bounded (timeout)
 *   write      merge_across_nodes, when asked, then run as it was
 *   release    the actuator applies decisions again
 */
#pragma once

#include <gio/gio.h>

#include "sp-ksm-actuator.h"
#include "sp-ksm.h"
#include "sp-meminfo.h"

G_BEGIN_DECLS

/* Seconds an unmerge may take before it is reported as failed. */
#define SP_KSM_UNMERGE_TIMEOUT_S 60
/* Milliseconds between two reads of pages_shared while unmerging. */
#define SP_KSM_UNMERGE_POLL_MS 100
/* Seconds between two progress lines in the log. */
#define SP_KSM_UNMERGE_PROGRESS_S 5

/*
 * Whether MemAvailable absorbs splitting every merged page again
 * (pages_sharing x page_kib) and still leaves threshold_kib. Else
 * SP_ERROR_FAILED with the numbers.
 */
gboolean sp_ksm_unmerge_check (const SpKsmState *ksm, const SpMeminfo *mem, guint64 threshold_kib,
                               guint64 page_kib, GError **error);

typedef struct {
  gint64 merge_across_nodes; /* -1: unmerge only; 0 or 1: write it once unmerged, then
                              * put run back as it was */
  guint timeout_ms;          /* 0: SP_KSM_UNMERGE_TIMEOUT_S */
  guint poll_ms;             /* 0: SP_KSM_UNMERGE_POLL_MS */
} SpKsmUnmergeOptions;

/*
 * Runs the steps above on the KSM directory under sysfs_root, the actuator
 * recording and held. Errors: SP_ERROR_KSM_UNAVAILABLE, SP_ERROR_NOT_SUPPORTED
 * (no merge_across_nodes file), SP_ERROR_CONFLICT (the actuator is already
 * held), SP_ERROR_FAILED (a write failed, or pages are still shared at the
 * timeout; run is then put back as it was when merge_across_nodes was asked).
 * The memory check is the caller's.
 */
void sp_ksm_unmerge_async (SpKsmActuator *actuator, const char *sysfs_root,
                           const SpKsmUnmergeOptions *options, GAsyncReadyCallback callback,
                           gpointer user_data);
gboolean sp_ksm_unmerge_finish (GAsyncResult *result, GError **error);

G_END_DECLS
