/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-config"

#include "sp-config-variant.h"

#include "sp-config.h"
#include "sp-error.h"
#include "sp-str.h"

/* The keys SetTuning may change: [tuning], [balloon], monitor_interval and
 * resync_interval. */
static gboolean
is_runtime_key (const char *group, const char *key)
{
  return g_strcmp0 (group, SP_CONFIG_GROUP_TUNING) == 0 ||
         g_strcmp0 (group, SP_CONFIG_GROUP_BALLOON) == 0 ||
         g_strcmp0 (key, "monitor_interval") == 0 || g_strcmp0 (key, "resync_interval") == 0;
}

static void
list_key (GString *str, const char *group, const char *key)
{
  if (is_runtime_key (group, key))
    g_string_append_printf (str, "%s%s", str->len > 0 ? ", " : "", key);
}

/* "a, b, c": the runtime keys. */
static char *
list_runtime_keys (void)
{
  g_autoptr (GString) str = g_string_new (NULL);

  for (const SpConfigStringKey *k = sp_config_string_keys (); k->key != NULL; k++)
    list_key (str, k->group, k->key);
  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    list_key (str, k->group, k->key);
  return g_string_free (g_steal_pointer (&str), FALSE);
}

/* The runtime key called key, or an error. */
static gboolean
find_runtime_key (const char *key, const SpConfigIntKey **int_key,
                  const SpConfigStringKey **string_key, GError **error)
{
  g_autofree char *quoted = NULL;
  g_autofree char *known = NULL;

  *int_key = sp_config_find_int_key (key);
  *string_key = sp_config_find_string_key (key);
  if (*int_key != NULL && is_runtime_key ((*int_key)->group, key))
    return TRUE;
  if (*string_key != NULL && is_runtime_key ((*string_key)->group, key))
    return TRUE;
  quoted = sp_quote (key);
  known = list_runtime_keys ();
  g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "Unknown tuning key %s (known: %s)", quoted,
               known);
  return FALSE;
}

gboolean
sp_config_set_from_string (SpConfig *config, const char *key, const char *value, GError **error)
{
  const SpConfigIntKey *int_key;
  const SpConfigStringKey *string_key;
  g_autofree char *problem = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  if (!find_runtime_key (key, &int_key, &string_key, error))
    return FALSE;
  if (!sp_config_set_key (config, int_key, string_key, value, &problem))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "%s = %s", key, problem);
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_config_set_from_variant (SpConfig *config, const char *key, GVariant *value, GError **error)
{
  const SpConfigIntKey *int_key;
  const SpConfigStringKey *string_key;
  g_autoptr (GVariant) inner = NULL;
  g_autofree char *allowed = NULL;
  g_autofree char *str = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  if (!find_runtime_key (key, &int_key, &string_key, error))
    return FALSE;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    value = inner = g_variant_get_variant (value);

  if (string_key != NULL)
    {
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        return sp_config_set_from_string (config, key, g_variant_get_string (value, NULL), error);
      allowed = sp_config_string_key_allowed (string_key);
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "%s has type '%s', expected a string (%s)", key,
                   g_variant_get_type_string (value), allowed);
      return FALSE;
    }
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_INT32) &&
      !g_variant_is_of_type (value, G_VARIANT_TYPE_INT64) &&
      !g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32) &&
      !g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "%s has type '%s', expected an integer (int32, int64, uint32 or uint64)", key,
                   g_variant_get_type_string (value));
      return FALSE;
    }
  /* the decimal form: one range check for every type, uint64 above G_MAXINT64 too */
  str = g_variant_print (value, FALSE);
  return sp_config_set_from_string (config, key, str, error);
}

GVariant *
sp_config_tuning_to_variant (const SpConfig *config)
{
  GVariantBuilder builder;

  g_return_val_if_fail (config != NULL, NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    if (is_runtime_key (k->group, k->key))
      g_variant_builder_add (&builder, "{sv}", k->key,
                             g_variant_new_int64 (sp_config_get_int (config, k)));
  for (const SpConfigStringKey *k = sp_config_string_keys (); k->key != NULL; k++)
    {
      g_autofree char *value = NULL;

      if (!is_runtime_key (k->group, k->key))
        continue;
      value = sp_config_get_string (config, k);
      g_variant_builder_add (&builder, "{sv}", k->key, g_variant_new_string (value));
    }
  return g_variant_builder_end (&builder);
}
