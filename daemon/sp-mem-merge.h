/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Turns KSM merging of one guest on or off by editing its persistent domain
 * XML (<memoryBacking><nosharepages/>, QEMU's -machine mem-merge=off) with
 * the domain editor, read-edit-compare-define in a worker thread
 * (sp-domain-define.h).
 */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>

#include "sp-libvirt.h"

G_BEGIN_DECLS

typedef struct {
  gboolean changed;         /* the persistent config was redefined (FALSE: it had the value) */
  gboolean active;          /* the domain is running */
  gboolean pending_restart; /* running with the other setting until its next cold start */
  guint64 refresh_serial;   /* after a change: guests published with at least this
                             * refresh_serial show it (their refresh started after the define) */
} SpMemMergeResult;

/*
 * Sets memory merging of domain (a name or a UUID; a UUID that names no
 * domain is tried as a name, like virsh) in its persistent config: enabled
 * FALSE adds <nosharepages/>, TRUE removes it. caller names who asked, for
 * the log ("uid 0 (:1.42)"). A running guest keeps its setting until QEMU
 * restarts (a cold start: a guest reboot is not enough): pending_restart.
 *
 * Errors (SP_ERROR):
 *  - NOT_CONNECTED: the watcher has no libvirt connection.
 *  - INVALID_ARGS: domain is empty; the domain XML does not parse.
 *  - UNKNOWN_DOMAIN: no domain by that UUID or name (or it was undefined
 *    while being edited).
 *  - TRANSIENT: the domain has no persistent config to edit, and the running
 *    QEMU's setting cannot change.
 *  - UNMERGEABLE: KSM can never merge this guest (hugepages, launch
 *    security, memfd or file memory backing, shared memory access): for on
 *    and off alike, since either would claim control over nothing. The
 *    message says which reason.
 *  - CONFLICT: another client redefined the domain between our read and our
 *    define more than SP_DOMAIN_DEFINE_MAX_RETRIES times; nothing was written.
 *  - LIBVIRT: libvirt refused (its message follows).
 * On every error the domain is left as it was.
 *
 * Setting the value the config already has redefines nothing (changed
 * FALSE). After a change, the watcher is asked to refresh (on the thread
 * that called this, before callback runs) so the committed-memory
 * accounting follows.
 */
void sp_mem_merge_set_async (SpLibvirt *libvirt, const char *domain, gboolean enabled,
                             const char *caller, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);

/* result may be NULL. */
gboolean sp_mem_merge_set_finish (GAsyncResult *res, SpMemMergeResult *result, GError **error);

/*
 * SpMemMerge: what the D-Bus SetMemMerge goes to (the caller is checked and
 * authorized). One change is sp_mem_merge_set_async() on the watcher's
 * connection; after a change, the reply waits until guests from a refresh
 * that started after the define are published (at most
 * SP_MEM_MERGE_REFRESH_TIMEOUT_S): a refresh already running, or the
 * /proc facts published meanwhile, do not count. So a client that reads the
 * Domain object right after the call sees MemMerge/PendingRestart.
 */
#define SP_MEM_MERGE_REFRESH_TIMEOUT_S 5

#define SP_TYPE_MEM_MERGE (sp_mem_merge_get_type ())
G_DECLARE_FINAL_TYPE (SpMemMerge, sp_mem_merge, SP, MEM_MERGE, GObject)

SpMemMerge *sp_mem_merge_new (SpLibvirt *libvirt);

/* --dry-run: every change is refused with SP_ERROR_FAILED "samepaged runs
 * with --dry-run" and nothing is defined. */
void sp_mem_merge_set_dry_run (SpMemMerge *self, gboolean dry_run);

/* domain: a UUID or a name, as for sp_mem_merge_set_async(); errors too. */
void sp_mem_merge_change_async (SpMemMerge *self, const char *domain, gboolean enabled,
                                const char *caller, GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean sp_mem_merge_change_finish (SpMemMerge *self, GAsyncResult *result, GError **error);

G_END_DECLS
