/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpLibvirt watches libvirt: the facade that wires an SpLibvirtLink (the
 * connection, reconnected with backoff), SpLibvirtEvents (domain events)
 * and an SpGuestQuery (refreshes in a worker thread) together, and
 * publishes an immutable SpGuests with "guests-changed" after each refresh,
 * each change of the connection, and each change of a running guest's
 * /proc KSM facts (read every SP_GUEST_QUERY_PROC_INTERVAL_S, with no
 * libvirt event needed). Nothing in here blocks the main loop.
 */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>

#include "sp-domain.h"
#include "sp-guest-query.h"
#include "sp-libvirt-link.h"

G_BEGIN_DECLS

/* where libvirt's QEMU driver writes <domain>.pid */
#define SP_LIBVIRT_QEMU_PID_DIR "/run/libvirt/qemu"

#define SP_TYPE_LIBVIRT (sp_libvirt_get_type ())
G_DECLARE_FINAL_TYPE (SpLibvirt, sp_libvirt, SP, LIBVIRT, GObject)

/*
 * uri NULL: qemu:///system when a libvirt daemon answers, else libvirt's
 * embedded test driver (and qemu:///system is retried in the background).
 * procfs_root and pid_dir locate QEMU processes and their ksm_stat.
 */
SpLibvirt *sp_libvirt_new (const char *uri, const char *procfs_root, const char *pid_dir);

/* Reads QEMU's /proc facts whatever the driver, not only for qemu URIs: for
 * tests on libvirt's test driver over a fake procfs tree. */
void sp_libvirt_set_qemu_facts_always (SpLibvirt *self, gboolean always);

/* Initialises libvirt-glib's event loop (once per process) and connects. */
void sp_libvirt_start (SpLibvirt *self);

/* Asks for a refresh of every domain: at once after a quiet period, else
 * folded into the next (SP_GUEST_QUERY_HOLDOFF_*). */
void sp_libvirt_queue_refresh (SpLibvirt *self);

/* Asks for a refresh (as above) that queries the domain with
 * this UUID again (and any other named meanwhile); what no event named is
 * kept from the last refresh. */
void sp_libvirt_queue_refresh_domain (SpLibvirt *self, const char *uuid);

/* A full refresh (a resync of the domain list), as above:
 * on Retune and SIGHUP; why is for the debug log. */
void sp_libvirt_resync (SpLibvirt *self, const char *why);

/* A resync every seconds (0: none): a missed event leaves the facts wrong
 * for at most that long. */
void sp_libvirt_set_resync_interval (SpLibvirt *self, guint seconds);

/* The refresh_serial of the next refresh to start (see SpGuests): guests
 * published with at least this serial come from a refresh that started
 * after this call. */
guint64 sp_libvirt_get_next_refresh_serial (SpLibvirt *self);

/*
 * Waits for the first guests published with a refresh_serial of at least
 * serial (sp_libvirt_get_next_refresh_serial() taken before a change to a
 * domain, and a refresh queued after it), at most timeout_s seconds; then
 * the callback. It never fails: after the timeout (logged at debug, with
 * what), the caller answers with what is published. So a D-Bus method that
 * changed a domain replies once its Domain object shows the change.
 */
void sp_libvirt_wait_refreshed_async (SpLibvirt *self, guint64 serial, guint timeout_s,
                                      const char *what, GAsyncReadyCallback callback,
                                      gpointer user_data);
void sp_libvirt_wait_refreshed_finish (SpLibvirt *self, GAsyncResult *result);

SpGuests *sp_libvirt_get_guests (SpLibvirt *self);

/* A new reference to the connection, or NULL while disconnected. Safe to
 * use from a worker thread. */
virConnectPtr sp_libvirt_ref_connection (SpLibvirt *self);

/* Counters for tests and benchmarks. */
guint64 sp_libvirt_get_n_events (SpLibvirt *self);
guint64 sp_libvirt_get_n_refreshes (SpLibvirt *self);
guint64 sp_libvirt_get_n_queried (SpLibvirt *self); /* by the last refresh */

G_END_DECLS
