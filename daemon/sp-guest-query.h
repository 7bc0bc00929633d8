/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpGuestQuery is the refresh engine: in a worker thread it lists the
 * domains of an SpLibvirtLink's connection, queries their XML and memory
 * (one GetAllDomainStats call per refresh) and their QEMU's KSM facts, and
 * emits "refreshed" with an immutable SpGuests. A request after a quiet
 * period refreshes at once (the leading edge); requests during a refresh,
 * or inside the hold-off after one started, fold into one more refresh; a
 * refresh queries every domain (full) or only those named since the last
 * one (incremental).
 */
#pragma once

#include <glib-object.h>

#include "sp-domain.h"
#include "sp-libvirt-link.h"

G_BEGIN_DECLS

/* Refresh starts are at least the hold-off apart: a request inside it
 * waits out the rest, with any other meanwhile. When a refresh starts that
 * SP_GUEST_QUERY_STORM_REQUESTS or more requests waited for (a storm), the
 * hold-off doubles, up to the maximum; fewer reset it to the minimum. */
#define SP_GUEST_QUERY_HOLDOFF_MIN_MS 100
#define SP_GUEST_QUERY_HOLDOFF_MAX_MS 1000
#define SP_GUEST_QUERY_STORM_REQUESTS 3

/* How often QEMU's KSM facts are read again between refreshes: as often as
 * the tuner watches memory pressure (SP_TUNER_WATCH_INTERVAL_S). */
#define SP_GUEST_QUERY_PROC_INTERVAL_S 5

/* A failed refresh, or a domain that could not be queried, is retried
 * after this delay, doubled at each failure up to the maximum. */
#define SP_GUEST_QUERY_RETRY_MIN_MS 1000
#define SP_GUEST_QUERY_RETRY_MAX_MS 60000

#define SP_TYPE_GUEST_QUERY (sp_guest_query_get_type ())
G_DECLARE_FINAL_TYPE (SpGuestQuery, sp_guest_query, SP, GUEST_QUERY, GObject)

/*
 * Queries the connection of link (a reference is kept); procfs_root and
 * pid_dir (may be NULL) locate QEMU processes and their ksm_stat, read for
 * qemu URIs only. How much a guest merges changes with no libvirt event, so
 * every SP_GUEST_QUERY_PROC_INTERVAL_S the ksm_stat of each running QEMU is
 * read again in a worker (files only, no libvirt call).
 *
 * A refresh heals: a domain whose query fails (other than by being
 * undefined meanwhile) is logged once, keeps its last facts and does not
 * fail the refresh of the others; it, or a refresh that failed as a whole,
 * is tried again with backoff (SP_GUEST_QUERY_RETRY_*); and every domain is
 * queried again every resync interval, so that a missed event cannot leave
 * the facts wrong for longer.
 *
 * Signal (main thread):
 *  "refreshed" (SpGuests *guests): a refresh succeeded, or the periodic read
 *    found a fact of some domain changed (ksm_stat, and the unmergeable
 *    reason following ksm_mergeable); guests carries the link's connection
 *    state and status as it ended.
 */
SpGuestQuery *sp_guest_query_new (SpLibvirtLink *link, const char *procfs_root,
                                  const char *pid_dir);

/* Reads QEMU's /proc facts whatever the driver, not only for qemu URIs: for
 * tests on libvirt's test driver over a fake procfs tree. */
void sp_guest_query_set_qemu_facts_always (SpGuestQuery *self, gboolean always);

/* A refresh of every domain: at once after a quiet period, else as
 * above. Nothing happens while the link is down. */
void sp_guest_query_queue_full (SpGuestQuery *self);

/* A refresh (at once after a quiet period, else as above) that queries
 * the domain with this UUID again (and any other named meanwhile); what
 * nothing named is kept from the last refresh. */
void sp_guest_query_queue_domain (SpGuestQuery *self, const char *uuid);

/* A full refresh every seconds (0: none), from now on. */
void sp_guest_query_set_resync_interval (SpGuestQuery *self, guint seconds);

/* The refresh_serial of the next refresh to start: a published SpGuests
 * with a refresh_serial at least this comes from a refresh that started
 * after this call. */
guint64 sp_guest_query_get_next_serial (SpGuestQuery *self);

/* The result of the last successful refresh, or NULL. */
SpGuests *sp_guest_query_get_last (SpGuestQuery *self);

/* Counters for tests and benchmarks. */
guint64 sp_guest_query_get_n_refreshes (SpGuestQuery *self);
guint64 sp_guest_query_get_n_queried (SpGuestQuery *self); /* by the last refresh */

G_END_DECLS
