/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-dbus"

#include "sp-dbus-interface.h"

#include "sp-error.h"

void
sp_dbus_return_error_unlogged (GDBusMethodInvocation *invocation, const GError *error)
{
  const char *method = g_dbus_method_invocation_get_method_name (invocation);
  g_autoptr (GError) mapped = NULL;

  if (error->domain != SP_ERROR)
    {
      g_autofree char *message = g_strdup (error->message);

      if (g_dbus_error_is_remote_error (error))
        {
          g_autoptr (GError) copy = g_error_copy (error);
          g_dbus_error_strip_remote_error (copy);
          g_free (message);
          message = g_strdup (copy->message);
        }
      mapped = g_error_new (SP_ERROR, SP_ERROR_FAILED, "%s failed: %s", method, message);
      error = mapped;
    }
  g_dbus_method_invocation_return_gerror (invocation, error);
}

void
sp_dbus_return_error (GDBusMethodInvocation *invocation, const GError *error)
{
  g_info ("%s from %s failed: %s", g_dbus_method_invocation_get_method_name (invocation),
          g_dbus_method_invocation_get_sender (invocation), error->message);
  sp_dbus_return_error_unlogged (invocation, error);
}

struct _SpDbusInterface {
  GDBusInterfaceSkeleton parent_instance;

  GDBusInterfaceInfo *info;
  GHashTable *values;   /* property name → GVariant */
  GHashTable *changed;  /* property names waiting for PropertiesChanged */
  GSource *emit_source; /* the pending PropertiesChanged (a reference) */

  GDBusInterfaceMethodCallFunc method_call; /* NULL: the interface has no methods */
  gpointer method_data;
};

G_DEFINE_TYPE (SpDbusInterface, sp_dbus_interface, G_TYPE_DBUS_INTERFACE_SKELETON)

static void
sp_dbus_interface_handle_method_call (GDBusConnection *connection, const char *sender,
                                      const char *object_path, const char *interface_name,
                                      const char *method_name, GVariant *parameters,
                                      GDBusMethodInvocation *invocation, gpointer user_data)
{
  SpDbusInterface *self = SP_DBUS_INTERFACE (user_data);
  g_autoptr (GError) error = NULL;

  /* GDBus only lets through methods of the introspection data */
  if (self->method_call == NULL)
    {
      error = g_error_new (SP_ERROR, SP_ERROR_NOT_SUPPORTED, "%s has no method %s", interface_name,
                           method_name);
      sp_dbus_return_error (invocation, error);
      return;
    }
  self->method_call (connection, sender, object_path, interface_name, method_name, parameters,
                     invocation, self->method_data);
}

static GVariant *
sp_dbus_interface_handle_get_property (GDBusConnection *connection, const char *sender,
                                       const char *object_path, const char *interface_name,
                                       const char *property_name, GError **error,
                                       gpointer user_data)
{
  SpDbusInterface *self = SP_DBUS_INTERFACE (user_data);
  GVariant *value = g_hash_table_lookup (self->values, property_name);

  if (value == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "%s has no value for %s yet", interface_name,
                   property_name);
      return NULL;
    }
  return g_variant_ref (value);
}

static const GDBusInterfaceVTable sp_dbus_interface_vtable = {
  .method_call = sp_dbus_interface_handle_method_call,
  .get_property = sp_dbus_interface_handle_get_property,
};

static GDBusInterfaceInfo *
sp_dbus_interface_get_info (GDBusInterfaceSkeleton *skeleton)
{
  return SP_DBUS_INTERFACE (skeleton)->info;
}

static GDBusInterfaceVTable *
sp_dbus_interface_get_vtable (GDBusInterfaceSkeleton *skeleton)
{
  return (GDBusInterfaceVTable *) &sp_dbus_interface_vtable;
}

/* Every property, in the order of the introspection data. */
static GVariant *
sp_dbus_interface_get_properties (GDBusInterfaceSkeleton *skeleton)
{
  SpDbusInterface *self = SP_DBUS_INTERFACE (skeleton);
  GVariantBuilder builder;

  /* entries built directly: no format string to parse per property */
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (GDBusPropertyInfo **p = self->info->properties; p != NULL && *p != NULL; p++)
    {
      GVariant *value = g_hash_table_lookup (self->values, (*p)->name);

      if (value != NULL)
        g_variant_builder_add_value (&builder,
                                     g_variant_new_dict_entry (g_variant_new_string ((*p)->name),
                                                               g_variant_new_variant (value)));
    }
  return g_variant_builder_end (&builder);
}

/* Drops the pending PropertiesChanged source. By the GSource, not its ID:
 * destroying a source that already ran or went away is harmless, where
 * g_source_remove() of a stale ID is a critical. */
static void
cancel_emit (SpDbusInterface *self)
{
  if (self->emit_source == NULL)
    return;
  g_source_destroy (self->emit_source);
  g_clear_pointer (&self->emit_source, g_source_unref);
}

/* One PropertiesChanged with every property that changed. */
static void
sp_dbus_interface_flush (GDBusInterfaceSkeleton *skeleton)
{
  SpDbusInterface *self = SP_DBUS_INTERFACE (skeleton);
  const char *const invalidated[] = { NULL };
  g_autoptr (GVariant) signal = NULL;
  GVariantBuilder changed;
  GList *connections;
  const char *path;

  cancel_emit (self);
  if (g_hash_table_size (self->changed) == 0)
    return;

  g_variant_builder_init (&changed, G_VARIANT_TYPE_VARDICT);
  for (GDBusPropertyInfo **p = self->info->properties; p != NULL && *p != NULL; p++)
    if (g_hash_table_contains (self->changed, (*p)->name))
      g_variant_builder_add (&changed, "{sv}", (*p)->name,
                             g_hash_table_lookup (self->values, (*p)->name));
  g_hash_table_remove_all (self->changed);
  signal =
      g_variant_ref_sink (g_variant_new ("(sa{sv}^as)", self->info->name, &changed, invalidated));

  path = g_dbus_interface_skeleton_get_object_path (skeleton);
  connections = g_dbus_interface_skeleton_get_connections (skeleton);
  for (GList *l = connections; l != NULL; l = l->next)
    {
      g_autoptr (GError) error = NULL;

      if (!g_dbus_connection_emit_signal (l->data, NULL, path, "org.freedesktop.DBus.Properties",
                                          "PropertiesChanged", signal, &error))
        g_debug ("Cannot emit PropertiesChanged on %s: %s", path, error->message);
    }
  g_list_free_full (connections, g_object_unref);
}

static gboolean
on_emit_idle (gpointer user_data)
{
  SpDbusInterface *self = SP_DBUS_INTERFACE (user_data);

  g_clear_pointer (&self->emit_source, g_source_unref);
  sp_dbus_interface_flush (G_DBUS_INTERFACE_SKELETON (self));
  return G_SOURCE_REMOVE;
}

static void
sp_dbus_interface_dispose (GObject *object)
{
  SpDbusInterface *self = SP_DBUS_INTERFACE (object);

  cancel_emit (self);
  G_OBJECT_CLASS (sp_dbus_interface_parent_class)->dispose (object);
}

static void
sp_dbus_interface_finalize (GObject *object)
{
  SpDbusInterface *self = SP_DBUS_INTERFACE (object);

  g_dbus_interface_info_unref (self->info);
  g_hash_table_unref (self->values);
  g_hash_table_unref (self->changed);
  G_OBJECT_CLASS (sp_dbus_interface_parent_class)->finalize (object);
}

static void
sp_dbus_interface_class_init (SpDbusInterfaceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GDBusInterfaceSkeletonClass *skeleton_class = G_DBUS_INTERFACE_SKELETON_CLASS (klass);

  object_class->dispose = sp_dbus_interface_dispose;
  object_class->finalize = sp_dbus_interface_finalize;
  skeleton_class->get_info = sp_dbus_interface_get_info;
  skeleton_class->get_vtable = sp_dbus_interface_get_vtable;
  skeleton_class->get_properties = sp_dbus_interface_get_properties;
  skeleton_class->flush = sp_dbus_interface_flush;
}

static void
sp_dbus_interface_init (SpDbusInterface *self)
{
  self->values =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
  self->changed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

SpDbusInterface *
sp_dbus_interface_new (GDBusInterfaceInfo *info, GDBusInterfaceMethodCallFunc method_call,
                       gpointer method_data)
{
  SpDbusInterface *self = g_object_new (SP_TYPE_DBUS_INTERFACE, NULL);

  self->info = g_dbus_interface_info_ref (info);
  self->method_call = method_call;
  self->method_data = method_data;
  return self;
}

/* Takes the current values (a floating a{sv}); those that changed go out
 * in one PropertiesChanged when the main loop is next idle. TRUE when a
 * value was new or changed. */
gboolean
sp_dbus_interface_update (SpDbusInterface *self, GVariant *properties)
{
  g_autoptr (GVariant) values = g_variant_ref_sink (properties);
  GVariantIter iter;
  const char *name;
  GVariant *value;
  gboolean changed = FALSE;

  g_variant_iter_init (&iter, values);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      GVariant *old = g_hash_table_lookup (self->values, name);

      if (old != NULL && g_variant_equal (old, value))
        {
          g_variant_unref (value);
          continue;
        }
      if (old != NULL)
        g_hash_table_add (self->changed, g_strdup (name));
      g_hash_table_replace (self->values, g_strdup (name), value);
      changed = TRUE;
    }

  if (g_hash_table_size (self->changed) > 0 && self->emit_source == NULL)
    {
      self->emit_source = g_idle_source_new ();
      g_source_set_callback (self->emit_source, on_emit_idle, self, NULL);
      g_source_set_name (self->emit_source, "[samepaged] PropertiesChanged");
      g_source_attach (self->emit_source, NULL);
    }
  return changed;
}

/* The current value of a property (owned by self), NULL when it has none. */
GVariant *
sp_dbus_interface_get_value (SpDbusInterface *self, const char *name)
{
  g_return_val_if_fail (SP_IS_DBUS_INTERFACE (self), NULL);
  return g_hash_table_lookup (self->values, name);
}
