/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpLibvirtEvents subscribes to the domain events of one libvirt connection
 * (lifecycle, balloon, devices, metadata, memory device size): raw
 * virConnectDomainEventRegisterAny callbacks that only translate and emit
 * "domain-changed". It owns the callback ids and deregisters them when the
 * subscription is dropped or replaced. Registering and deregistering are
 * RPCs: they run in worker threads.
 */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

#define SP_TYPE_LIBVIRT_EVENTS (sp_libvirt_events_get_type ())
G_DECLARE_FINAL_TYPE (SpLibvirtEvents, sp_libvirt_events, SP, LIBVIRT_EVENTS, GObject)

/*
 * Signal (main thread, from libvirt's event loop):
 *  "domain-changed" (const char *uuid, const char *what): an event named the
 *    domain with this UUID (NULL when libvirt could not tell it); what is the
 *    event, e.g. "started", "balloon-change".
 */
SpLibvirtEvents *sp_libvirt_events_new (void);

/*
 * Subscribes to every domain event conn's driver has, in a worker thread,
 * dropping any earlier subscription at once. Events reach "domain-changed"
 * once the subscription completes (callback), until it is dropped. The
 * callback may call sp_libvirt_events_subscribe_finish().
 */
void sp_libvirt_events_subscribe_async (SpLibvirtEvents *self, virConnectPtr conn,
                                        GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data);

/* FALSE when the subscription was dropped or replaced before it completed
 * (G_IO_ERROR_CANCELLED). How many event kinds the driver lacked is only
 * logged. */
gboolean sp_libvirt_events_subscribe_finish (SpLibvirtEvents *self, GAsyncResult *result,
                                             GError **error);

/* Drops the subscription: no more "domain-changed" from it; the callbacks
 * are deregistered in a worker thread. */
void sp_libvirt_events_unsubscribe (SpLibvirtEvents *self);

/* Whether a completed subscription is in place. */
gboolean sp_libvirt_events_is_subscribed (SpLibvirtEvents *self);

/* Events emitted so far (for tests and benchmarks). */
guint64 sp_libvirt_events_get_n_events (SpLibvirtEvents *self);

G_END_DECLS
