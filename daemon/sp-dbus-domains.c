/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-dbus"

#include "sp-dbus-domains.h"

#include "sp-dbus-interface.h"
#include "sp-dbus-properties.h"

struct _SpDbusDomains {
  GObject parent_instance;

  GDBusInterfaceInfo *info;
  GDBusObjectManagerServer *object_manager;
  GHashTable *objects; /* object path → SpDbusInterface */
  SpGuests *guests;    /* what the objects show */
};

G_DEFINE_TYPE (SpDbusDomains, sp_dbus_domains, G_TYPE_OBJECT)

static void
sp_dbus_domains_dispose (GObject *object)
{
  SpDbusDomains *self = SP_DBUS_DOMAINS (object);

  g_clear_pointer (&self->objects, g_hash_table_unref);
  g_clear_object (&self->object_manager);
  G_OBJECT_CLASS (sp_dbus_domains_parent_class)->dispose (object);
}

static void
sp_dbus_domains_finalize (GObject *object)
{
  SpDbusDomains *self = SP_DBUS_DOMAINS (object);

  g_clear_pointer (&self->guests, sp_guests_unref);
  g_clear_pointer (&self->info, g_dbus_interface_info_unref);
  G_OBJECT_CLASS (sp_dbus_domains_parent_class)->finalize (object);
}

static void
sp_dbus_domains_class_init (SpDbusDomainsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_dbus_domains_dispose;
  object_class->finalize = sp_dbus_domains_finalize;
}

static void
sp_dbus_domains_init (SpDbusDomains *self)
{
  self->objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

SpDbusDomains *
sp_dbus_domains_new (GDBusInterfaceInfo *info, GDBusObjectManagerServer *object_manager)
{
  SpDbusDomains *self;

  g_return_val_if_fail (info != NULL, NULL);
  g_return_val_if_fail (G_IS_DBUS_OBJECT_MANAGER_SERVER (object_manager), NULL);

  self = g_object_new (SP_TYPE_DBUS_DOMAINS, NULL);
  self->info = g_dbus_interface_info_ref (info);
  self->object_manager = g_object_ref (object_manager);
  return self;
}

void
sp_dbus_domains_sync (SpDbusDomains *self, SpGuests *guests, const SpBalloonDecision *balloon)
{
  g_autoptr (GHashTable) present = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer path;

  g_return_if_fail (SP_IS_DBUS_DOMAINS (self));
  g_return_if_fail (guests != NULL);

  for (guint i = 0; i < guests->domains->len; i++)
    {
      const SpDomainInfo *domain = g_ptr_array_index (guests->domains, i);
      g_autofree char *object_path = sp_dbus_domain_object_path (domain->uuid);
      SpDbusInterface *iface;

      if (object_path == NULL)
        {
          g_debug ("Domain %s has no usable UUID: not exported", domain->name);
          continue;
        }
      iface = g_hash_table_lookup (self->objects, object_path);
      if (iface == NULL)
        {
          g_autoptr (GDBusObjectSkeleton) object = g_dbus_object_skeleton_new (object_path);

          iface = sp_dbus_interface_new (self->info, NULL, NULL);
          sp_dbus_interface_update (iface, sp_dbus_domain_properties (domain, balloon));
          g_dbus_object_skeleton_add_interface (object, G_DBUS_INTERFACE_SKELETON (iface));
          g_dbus_object_manager_server_export (self->object_manager, object);
          g_hash_table_insert (self->objects, g_strdup (object_path), iface);
        }
      else
        sp_dbus_interface_update (iface, sp_dbus_domain_properties (domain, balloon));
      g_hash_table_add (present, g_steal_pointer (&object_path));
    }

  g_hash_table_iter_init (&iter, self->objects);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    {
      if (g_hash_table_contains (present, path))
        continue;
      g_dbus_object_manager_server_unexport (self->object_manager, path);
      g_hash_table_iter_remove (&iter);
    }

  g_clear_pointer (&self->guests, sp_guests_unref);
  self->guests = sp_guests_ref (guests);
}

SpGuests *
sp_dbus_domains_get_guests (SpDbusDomains *self)
{
  g_return_val_if_fail (SP_IS_DBUS_DOMAINS (self), NULL);
  return self->guests;
}
