/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-config"

#include "sp-config-doc.h"

#include "sp-config.h"

/* A string as a GKeyFile value: leading spaces, newlines, backslashes escaped. */
static char *
keyfile_escape (const char *value)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();

  g_key_file_set_string (keyfile, "x", "x", value ? value : "");
  return g_key_file_get_value (keyfile, "x", "x", NULL);
}

char *
sp_config_to_data (const SpConfig *config)
{
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autoptr (GString) str = g_string_new ("# samepaged configuration\n");
  const char *const *groups = sp_config_groups ();

  g_return_val_if_fail (config != NULL, NULL);

  for (gsize g = 0; groups[g] != NULL; g++)
    {
      g_string_append_printf (str, "\n[%s]\n", groups[g]);
      for (const SpConfigStringKey *k = sp_config_string_keys (); k->key != NULL; k++)
        {
          g_autofree char *allowed = NULL;
          g_autofree char *value = NULL;
          g_autofree char *default_value = NULL;
          g_autofree char *escaped = NULL;

          if (g_strcmp0 (k->group, groups[g]) != 0)
            continue;
          allowed = sp_config_string_key_allowed (k);
          value = sp_config_get_string (config, k);
          default_value = sp_config_get_string (defaults, k);
          escaped = keyfile_escape (value);
          /* an unset key stays commented out */
          g_string_append_printf (str, "# %s\n# %s; default %s\n%s%s=%s\n", k->description, allowed,
                                  default_value ? default_value : "unset", value ? "" : "#", k->key,
                                  escaped);
        }
      for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
        {
          g_autofree char *range = NULL;

          if (g_strcmp0 (k->group, groups[g]) != 0)
            continue;
          range = sp_config_int_key_range (k);
          g_string_append_printf (str, "# %s\n# %s; default %" G_GINT64_FORMAT, k->description,
                                  range, k->default_value);
          if (k->ksmtuned_name != NULL)
            g_string_append_printf (str, " (ksmtuned: %s)", k->ksmtuned_name);
          g_string_append_printf (str, "\n%s=%" G_GINT64_FORMAT "\n", k->key,
                                  sp_config_get_int (config, k));
        }
    }
  return g_string_free (g_steal_pointer (&str), FALSE);
}
