/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpDbusInterface: one exported D-Bus interface with a hand-written vtable.
 * A GDBusInterfaceSkeleton, so that the object manager can export it too.
 * It keeps the current value of every property, which the getters answer
 * from, and emits one PropertiesChanged per main-loop iteration with the
 * properties that changed since the last one.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SP_TYPE_DBUS_INTERFACE (sp_dbus_interface_get_type ())
G_DECLARE_FINAL_TYPE (SpDbusInterface, sp_dbus_interface, SP, DBUS_INTERFACE,
                      GDBusInterfaceSkeleton)

/* method_call gets method_data as user_data; NULL: info has no methods. */
SpDbusInterface *sp_dbus_interface_new (GDBusInterfaceInfo *info,
                                        GDBusInterfaceMethodCallFunc method_call,
                                        gpointer method_data);

/*
 * Takes the current values of the properties (a floating a{sv}); those that
 * differ from the previous values go out in one PropertiesChanged when the
 * main loop is next idle (g_dbus_interface_skeleton_flush() sends it now).
 */
/* The current value of a property (owned by self), NULL when it has none. */
GVariant *sp_dbus_interface_get_value (SpDbusInterface *self, const char *name);

/* TRUE when a value was new or changed. */
gboolean sp_dbus_interface_update (SpDbusInterface *self, GVariant *properties);

/*
 * The one place an error leaves samepaged over D-Bus: an SP_ERROR as it is
 * (its org.samepage1.Error.* name is registered), anything else as
 * org.samepage1.Error.Failed, "<Method> failed: <message>". Takes over
 * invocation. Logged at info level: "<Method> from <sender> failed: ...".
 */
void sp_dbus_return_error (GDBusMethodInvocation *invocation, const GError *error);
/* The same, not logged: for calls refused before they ran, which
 * SpDbusService logs at most once per sender per minute. */
void sp_dbus_return_error_unlogged (GDBusMethodInvocation *invocation, const GError *error);

G_END_DECLS
