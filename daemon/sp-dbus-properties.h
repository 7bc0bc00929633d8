/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The properties of the D-Bus objects, computed from a snapshot: pure
 * functions (no bus, no object), so that tests can compare them with the
 * snapshot they come from and with the introspection XML.
 */
#pragma once

#include <gio/gio.h>

#include "sp-config.h"
#include "sp-domain.h"
#include "sp-snapshot.h"

G_BEGIN_DECLS

/*
 * Every property of org.samepage1.Manager (a floating a{sv}): the snapshot,
 * and the config in effect (a setter's change shows even when no decision
 * could follow).
 */
GVariant *sp_dbus_manager_properties (const SpSnapshot *snapshot, const SpConfig *config);

/*
 * Every property of org.samepage1.Domain (a floating a{sv}): the domain, and
 * its target in balloon (the snapshot's balloon decision, may be NULL).
 */
GVariant *sp_dbus_domain_properties (const SpDomainInfo *domain, const SpBalloonDecision *balloon);

/*
 * Checks that properties (a floating a{sv}, consumed) are exactly
 * the properties of info, with their types. SP_ERROR_FAILED names the first
 * difference.
 */
gboolean sp_dbus_check_properties (GDBusInterfaceInfo *info, GVariant *properties, GError **error);

/*
 * /org/samepage1/domain/<uuid with '-' as '_'>; NULL when the UUID cannot
 * be a path element (libvirt UUIDs always can).
 */
char *sp_dbus_domain_object_path (const char *uuid);

G_END_DECLS
