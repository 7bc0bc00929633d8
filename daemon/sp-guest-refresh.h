/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One refresh of the guests, the job SpGuestQuery (sp-guest-query.h) runs
 * in a worker thread: list the domains of a connection, keep what an
 * incremental refresh may keep, query the others (sp-libvirt-domain) and
 * read their QEMU's KSM facts (sp-qemu-proc), and say which domains could
 * not be queried. Also the lines a refresh logs about each domain.
 */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>

#include "sp-domain.h"

G_BEGIN_DECLS

typedef struct {
  /* in */
  virConnectPtr conn;
  char *uri;
  char *procfs_root;
  char *pid_dir; /* NULL: no local /proc for this URI */
  gboolean qemu; /* look for QEMU processes and their ksm_stat */
  guint64 serial;
  /* incremental: the last published domains, kept unless dirty (NULL: full) */
  SpGuests *previous;
  /* the last published domains, whose facts a domain that cannot be queried
   * keeps (NULL: none yet) */
  SpGuests *last;
  GHashTable *dirty;
  guint n_queried;    /* out */
  GPtrArray *queried; /* out: SpDomainInfo* (borrowed from the result) */
  GPtrArray *failed;  /* out: "UUID\0message" of domains that could not be queried */
} SpGuestRefresh;

void sp_guest_refresh_free (SpGuestRefresh *job);

/* The GTaskThreadFunc of a refresh: task_data is the SpGuestRefresh; returns
 * a new SpGuests, or the error that failed the whole refresh (a domain that
 * cannot be queried does not: it is named in job->failed). */
void sp_guest_refresh_thread (GTask *task, gpointer source, gpointer task_data,
                              GCancellable *cancellable);

/* Debug: one line of what the refresh found of d. */
void sp_guest_refresh_log_domain (const SpDomainInfo *d);

/* Info: one line per domain whose life changed from previous (NULL at
 * start) to guests: running, started, stopped, defined, undefined, resized;
 * each with SAMEPAGE_DOMAIN=<name>. */
void sp_guest_refresh_log_changes (const SpGuests *previous, const SpGuests *guests);

/*
 * Tests only: called in the refresh worker before the domains are listed
 * (dom NULL) and before each domain is queried; returning FALSE with error
 * set makes that step fail as libvirt's call would. NULL removes it.
 */
typedef gboolean (*SpGuestRefreshTestHook) (virDomainPtr dom, GError **error, gpointer user_data);
void sp_guest_refresh_set_test_hook (SpGuestRefreshTestHook hook, gpointer user_data);

G_END_DECLS
