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
 * its arguments, then asks SpAuthority (polkit), then acts on the object it
 * goes to (sp-dbus-manager.h: SpOverrides, SpTuner, SpMemMerge, all handed
 * over at construction); every error leaves through one conversion point as
 * an org.samepage1.Error.*. A call refused before it ran (bad arguments,
 * not authorized) is answered every time but logged at most once per sender
 * per minute (SpLogLimiter), with the count of the others.
 */
#pragma once

#include <gio/gio.h>

#include "sp-authority.h"
#include "sp-balloon-settings.h"
#include "sp-mem-merge.h"
#include "sp-overrides.h"
#include "sp-tuner.h"

G_BEGIN_DECLS

#define SP_TYPE_DBUS_SERVICE (sp_dbus_service_get_type ())
G_DECLARE_FINAL_TYPE (SpDbusService, sp_dbus_service, SP, DBUS_SERVICE, GObject)

/*
 * The service of tuner (properties, Retune), overrides (SetTuning, SetMode)
 * and mem_merge (SetMemMerge; NULL: it answers
 * org.samepage1.Error.NotSupported), whose callers authority checks. Fails
 * only when the embedded introspection XML and this code disagree.
 */
SpDbusService *sp_dbus_service_new (SpTuner *tuner, SpOverrides *overrides, SpMemMerge *mem_merge,
                                    SpAuthority *authority, GError **error);

/* Registers the objects on connection (before the bus name is owned). */
gboolean sp_dbus_service_export (SpDbusService *self, GDBusConnection *connection, GError **error);
void sp_dbus_service_unexport (SpDbusService *self);

/*
 * Stopping: refuses new method calls (org.samepage1.Error.Failed, "samepaged
 * is stopping"), ends pending authorizations the same way, and completes
 * once every call in progress is answered, or after timeout_s, when each
 * one left is answered with an error that says its outcome is unknown;
 * then every answer is written out (the connection is flushed) before it
 * completes. Finish returns TRUE.
 */
void sp_dbus_service_drain_async (SpDbusService *self, guint timeout_s,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean sp_dbus_service_drain_finish (SpDbusService *self, GAsyncResult *result, GError **error);

/* What SetBalloon acts on (unset: it answers NotSupported). */
void sp_dbus_service_set_balloon_settings (SpDbusService *self,
                                           SpBalloonSettings *balloon_settings);

G_END_DECLS
