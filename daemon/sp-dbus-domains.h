/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpDbusDomains: the org.samepage1.Domain objects, one per libvirt domain
 * (/org/samepage1/domain/<uuid, '-' as '_'>), exported through the object
 * manager of /org/samepage1: new domains are exported (InterfacesAdded),
 * gone ones unexported (InterfacesRemoved), the others updated (one batched
 * PropertiesChanged each).
 */
#pragma once

#include <gio/gio.h>

#include "sp-balloon-decision.h"
#include "sp-domain.h"

G_BEGIN_DECLS

#define SP_TYPE_DBUS_DOMAINS (sp_dbus_domains_get_type ())
G_DECLARE_FINAL_TYPE (SpDbusDomains, sp_dbus_domains, SP, DBUS_DOMAINS, GObject)

/* info: org.samepage1.Domain; the objects go to object_manager. */
SpDbusDomains *sp_dbus_domains_new (GDBusInterfaceInfo *info,
                                    GDBusObjectManagerServer *object_manager);

/*
 * One object per domain of guests, from now on, with its target in balloon
 * (may be NULL). Only the properties that differ go out in
 * PropertiesChanged, so a sync with nothing new emits nothing.
 */
void sp_dbus_domains_sync (SpDbusDomains *self, SpGuests *guests, const SpBalloonDecision *balloon);

/*
 * ListDomains' reply, (aoa{sv}): the object paths, sorted by domain name
 * then UUID, and for each property of org.samepage1.Domain the array of
 * its values, one per path, in that order ("Name" -> as, "CurrentKiB" ->
 * at...). Built once per sync, owned by self: valid until the next sync.
 */
GVariant *sp_dbus_domains_list (SpDbusDomains *self);

G_END_DECLS
