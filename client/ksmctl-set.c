/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl set KEY=VALUE...: one SetTuning call with every key, typed like Tuning. */
#define G_LOG_DOMAIN "ksmctl"

#include <string.h>

#include "ksmctl.h"

static gboolean
parse_boolean (const char *text, gboolean *out)
{
  static const char *const yes[] = { "true", "yes", "on", "1", NULL };
  static const char *const no[] = { "false", "no", "off", "0", NULL };

  if (g_strv_contains (yes, text))
    *out = TRUE;
  else if (g_strv_contains (no, text))
    *out = FALSE;
  else
    return FALSE;
  return TRUE;
}

/* The value as samepaged expects it: the type of the key's current value in Tuning (integers
 * as int64), an int64 for an integer-looking value of a key Tuning does not have (samepaged
 * then names the unknown key), a string otherwise. samepaged validates the result. */
static GVariant *
tuning_value (GVariant *tuning, const char *key, const char *text)
{
  g_autoptr (GVariant) current = g_variant_lookup_value (tuning, key, NULL);
  gint64 number = 0;
  gboolean integer = g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &number, NULL);
  gboolean boolean = FALSE;

  if (current != NULL && g_variant_is_of_type (current, G_VARIANT_TYPE_BOOLEAN) &&
      parse_boolean (text, &boolean))
    return g_variant_new_boolean (boolean);
  if (integer && (current == NULL || ksmctl_variant_is_integer (current)))
    return g_variant_new_int64 (number);
  return g_variant_new_string (text);
}

/* KEY=VALUE pairs into keys and values; duplicates and missing '=' are usage errors. */
static gboolean
parse_assignments (int argc, char **argv, GPtrArray *keys, GPtrArray *values, GError **error)
{
  for (int i = 1; i < argc; i++)
    {
      const char *eq = strchr (argv[i], '=');
      g_autofree char *key = NULL;

      if (eq == NULL || eq == argv[i])
        return ksmctl_usage_error (error, "'%s' is not KEY=VALUE", argv[i]);
      key = g_strndup (argv[i], eq - argv[i]);
      for (guint k = 0; k < keys->len; k++)
        if (g_str_equal (keys->pdata[k], key))
          return ksmctl_usage_error (error, "'%s' is given twice", key);
      g_ptr_array_add (keys, g_steal_pointer (&key));
      g_ptr_array_add (values, g_strdup (eq + 1));
    }
  return TRUE;
}

gboolean
ksmctl_cmd_set (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GVariant) tuning = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  if (!parse_assignments (argc, argv, keys, values, error))
    return FALSE;
  tuning = ksmctl_get_manager_property (ctl, "Tuning", error);
  if (tuning == NULL)
    return FALSE;
  if (!g_variant_is_of_type (tuning, G_VARIANT_TYPE_VARDICT))
    {
      g_clear_pointer (&tuning, g_variant_unref);
      tuning = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
    }

  for (guint i = 0; i < keys->len; i++)
    g_variant_builder_add (&builder, "{sv}", (const char *) keys->pdata[i],
                           tuning_value (tuning, keys->pdata[i], values->pdata[i]));
  settings = g_variant_ref_sink (g_variant_builder_end (&builder));

  reply = ksmctl_call_setter (ctl, "SetTuning", g_variant_new ("(@a{sv})", settings), error);
  if (reply == NULL)
    return FALSE;

  if (ctl->json)
    {
      g_autoptr (JsonNode) root = json_gvariant_serialize (settings);

      ksmctl_print_json (root, TRUE);
      return TRUE;
    }
  for (guint i = 0; i < keys->len; i++)
    g_print ("%s = %s\n", (const char *) keys->pdata[i], (const char *) values->pdata[i]);
  return TRUE;
}
