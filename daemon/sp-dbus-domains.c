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
  GVariant *list;      /* ListDomains' reply for guests, built on first use */
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
  g_clear_pointer (&self->list, g_variant_unref);
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
  gboolean changed = FALSE; /* an object or a value: ListDomains' reply is stale */

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
          changed = TRUE;
          g_dbus_object_skeleton_add_interface (object, G_DBUS_INTERFACE_SKELETON (iface));
          g_dbus_object_manager_server_export (self->object_manager, object);
          g_hash_table_insert (self->objects, g_strdup (object_path), iface);
        }
      else if (sp_dbus_interface_update (iface, sp_dbus_domain_properties (domain, balloon)))
        changed = TRUE;
      g_hash_table_add (present, g_steal_pointer (&object_path));
    }

  g_hash_table_iter_init (&iter, self->objects);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    {
      if (g_hash_table_contains (present, path))
        continue;
      g_dbus_object_manager_server_unexport (self->object_manager, path);
      g_hash_table_iter_remove (&iter);
      changed = TRUE;
    }

  /* the list's order comes from the guests: kept with the reply it built */
  if (changed)
    {
      g_clear_pointer (&self->guests, sp_guests_unref);
      g_clear_pointer (&self->list, g_variant_unref);
      self->guests = sp_guests_ref (guests);
    }
}

/* ---- ListDomains -------------------------------------------------------- */

static int
compare_by_name (gconstpointer a, gconstpointer b)
{
  const SpDomainInfo *da = *(const SpDomainInfo *const *) a;
  const SpDomainInfo *db = *(const SpDomainInfo *const *) b;
  int cmp = g_strcmp0 (da->name, db->name);

  return cmp != 0 ? cmp : g_strcmp0 (da->uuid, db->uuid);
}

GVariant *
sp_dbus_domains_list (SpDbusDomains *self)
{
  g_autoptr (GPtrArray) ifaces = g_ptr_array_new (); /* SpDbusInterface *, sorted */
  GVariantBuilder paths;
  GVariantBuilder columns;

  g_return_val_if_fail (SP_IS_DBUS_DOMAINS (self), NULL);

  if (self->list != NULL)
    return self->list;

  g_variant_builder_init (&paths, G_VARIANT_TYPE_OBJECT_PATH_ARRAY);
  if (self->guests != NULL)
    {
      g_autoptr (GPtrArray) sorted = g_ptr_array_new ();

      for (guint i = 0; i < self->guests->domains->len; i++)
        g_ptr_array_add (sorted, g_ptr_array_index (self->guests->domains, i));
      g_ptr_array_sort (sorted, compare_by_name);
      for (guint i = 0; i < sorted->len; i++)
        {
          const SpDomainInfo *domain = g_ptr_array_index (sorted, i);
          g_autofree char *object_path = sp_dbus_domain_object_path (domain->uuid);
          SpDbusInterface *iface =
              object_path != NULL ? g_hash_table_lookup (self->objects, object_path) : NULL;

          if (iface == NULL)
            continue; /* not exported: no usable UUID */
          g_variant_builder_add_value (&paths, g_variant_new_object_path (object_path));
          g_ptr_array_add (ifaces, iface);
        }
    }

  /* one array per property: the D-Bus message holds a few thousand values
   * instead of an a{sv} per domain (four values per property) */
  g_variant_builder_init (&columns, G_VARIANT_TYPE_VARDICT);
  for (GDBusPropertyInfo **p = self->info->properties; p != NULL && *p != NULL; p++)
    {
      g_autoptr (GVariantType) element = g_variant_type_new ((*p)->signature);
      g_autoptr (GVariantType) type = g_variant_type_new_array (element);
      GVariantBuilder column;
      guint i;

      g_variant_builder_init (&column, type);
      for (i = 0; i < ifaces->len; i++)
        {
          GVariant *value = sp_dbus_interface_get_value (ifaces->pdata[i], (*p)->name);

          if (value == NULL)
            break;
          g_variant_builder_add_value (&column, value);
        }
      if (i < ifaces->len)
        {
          g_variant_builder_clear (&column); /* a domain lacks it: left out */
          continue;
        }
      g_variant_builder_add_value (
          &columns,
          g_variant_new_dict_entry (g_variant_new_string ((*p)->name),
                                    g_variant_new_variant (g_variant_builder_end (&column))));
    }
  self->list = g_variant_ref_sink (g_variant_new ("(@ao@a{sv})", g_variant_builder_end (&paths),
                                                  g_variant_builder_end (&columns)));
  return self->list;
}
