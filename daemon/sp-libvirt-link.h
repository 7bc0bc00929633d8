/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpLibvirtLink keeps one libvirt connection: it opens it in a worker thread
 * (qemu:///system, else libvirt's embedded test driver with qemu:///system
 * retried in the background), registers a close callback and keepalive,
 * and reconnects with backoff when the connection drops. "connected" and
 * "disconnected" tell the main loop; the status says why in words. Opening
 * and closing are RPCs: they never run on the main loop.
 */
#pragma once

#include <glib-object.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

#define SP_LIBVIRT_DEFAULT_URI "qemu:///system"
#define SP_LIBVIRT_EMBEDDED_URI "test:///default"

#define SP_TYPE_LIBVIRT_LINK (sp_libvirt_link_get_type ())
G_DECLARE_FINAL_TYPE (SpLibvirtLink, sp_libvirt_link, SP, LIBVIRT_LINK, GObject)

/*
 * uri NULL: qemu:///system when a libvirt daemon answers, else libvirt's
 * embedded test driver (and qemu:///system is retried in the background).
 *
 * Signals (main thread):
 *  "connected" (gboolean switched): a new connection is in use, its close
 *    callback and keepalive registered; switched is TRUE when it replaced a
 *    connection that was still up (the embedded driver left for
 *    qemu:///system).
 *  "disconnected": the connection dropped, or an attempt to connect failed;
 *    the status says why and when the next attempt comes.
 */
SpLibvirtLink *sp_libvirt_link_new (const char *uri);

/* Initialises libvirt-glib's event loop (once per process), then connects. */
void sp_libvirt_link_start (SpLibvirtLink *self);

/* A new reference to the connection, or NULL while disconnected. Safe to
 * call from any thread. */
virConnectPtr sp_libvirt_link_ref_connection (SpLibvirtLink *self);

gboolean sp_libvirt_link_is_connected (SpLibvirtLink *self);

/* The URI of the connection, or of the last attempt; NULL before any. */
const char *sp_libvirt_link_get_uri (SpLibvirtLink *self);

/* "connecting", "connected", "reconnecting in 0.5 s: ...", "disconnected: ...",
 * "unresponsive: ..." */
const char *sp_libvirt_link_get_status (SpLibvirtLink *self);

G_END_DECLS
