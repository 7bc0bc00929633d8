/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpDbusService puts samepaged on D-Bus (data/org.samepage1.Manager.xml is
 * the contract, introspected from the embedded GResource copy):
 *   /org/samepage1                  org.samepage1.Manager and an
 *                                   org.freedesktop.DBus.ObjectManager
 *   /org/samepage1/domain/<uuid>    org.samepage1.Domain, one per domain,
 *                                   '-' of the UUID written as '_'
 *
 * Properties are computed from the tuner's last snapshot (and the config in
 * effect) when it changes, never on the caller's path; PropertiesChanged is
 * emitted once per main-loop iteration with every property that changed.
 * Tuned follows each decision. Every method that changes something checks
 * its arguments, then asks SpAuthority (polkit), then acts; every error
 * leaves through one conversion point as an org.samepage1.Error.*.
 */
#pragma once

#include <gio/gio.h>

#include "sp-daemon.h"
#include "sp-domain.h"

G_BEGIN_DECLS

/*
 * What SetMemMerge calls once the arguments are checked and the caller is
 * authorized: make KSM merge (enabled) or never merge the memory of domain
 * (found in the last snapshot by the name or UUID the caller gave). caller
 * says who asked, for the log: "uid 0 (:1.42)". It completes task, now or
 * later, with g_task_return_boolean (task, TRUE) or an SP_ERROR (keep a
 * reference to complete it later). domain and caller are valid during the
 * call only.
 */
typedef void (*SpMemMergeFunc) (const SpDomainInfo *domain, gboolean enabled, const char *caller,
                                GTask *task, gpointer user_data);

#define SP_TYPE_DBUS_SERVICE (sp_dbus_service_get_type ())
G_DECLARE_FINAL_TYPE (SpDbusService, sp_dbus_service, SP, DBUS_SERVICE, GObject)

/*
 * The service of daemon (not referenced: daemon owns the service). Fails
 * only when the embedded introspection XML and this code disagree.
 */
SpDbusService *sp_dbus_service_new (SpDaemon *daemon, GError **error);

/* Registers the objects on connection (before the bus name is owned). */
gboolean sp_dbus_service_export (SpDbusService *self, GDBusConnection *connection, GError **error);
void sp_dbus_service_unexport (SpDbusService *self);

/* Until one is set, SetMemMerge answers org.samepage1.Error.NotSupported. */
void sp_dbus_service_set_mem_merge_func (SpDbusService *self, SpMemMergeFunc func,
                                         gpointer user_data, GDestroyNotify destroy);

/*
 * Stopping: refuses new method calls (org.samepage1.Error.Failed, "samepaged
 * is stopping"), ends pending authorizations the same way, and completes
 * once every call in progress is answered, or after timeout_s, when each
 * one left is answered with an error that says its outcome is unknown.
 * Finish returns TRUE.
 */
void sp_dbus_service_drain_async (SpDbusService *self, guint timeout_s,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean sp_dbus_service_drain_finish (SpDbusService *self, GAsyncResult *result, GError **error);

G_END_DECLS
