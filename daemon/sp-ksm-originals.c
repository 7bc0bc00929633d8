/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-knobs"

#include "sp-ksm-originals.h"

#include "sp-io.h"

#define GROUP "originals"
#define KEY_KSM_DIR "ksm_dir"

#define HEADER                                                                   \
  " samepaged: the KSM knobs as found before samepaged first changed them. It\n" \
  " puts them back on exit and then removes this file; a samepaged started\n"    \
  " after a crash restores these values, not the ones it finds."

static char *
format_value (SpKsmField field, gint64 value)
{
  if (field == SP_KSM_ADVISOR_MODE)
    return g_strdup (sp_ksm_advisor_mode_to_string ((SpKsmAdvisorMode) value));
  return g_strdup_printf ("%" G_GINT64_FORMAT, value);
}

char *
sp_ksm_originals_to_string (const GArray *originals)
{
  g_autoptr (GString) str = g_string_new (NULL);

  for (guint i = 0; i < originals->len; i++)
    {
      const SpKnobOriginal *o = &g_array_index (originals, SpKnobOriginal, i);
      g_autofree char *value = format_value (o->field, o->value);

      g_string_append_printf (str, "%s%s=%s", i > 0 ? ", " : "", sp_ksm_field_name (o->field),
                              value);
    }
  if (str->len == 0)
    g_string_append (str, "none");
  return g_string_free (g_steal_pointer (&str), FALSE);
}

gboolean
sp_ksm_originals_save (const char *path, const char *ksm_dir, const GArray *originals,
                       GError **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *data = NULL;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (ksm_dir != NULL, FALSE);

  g_key_file_set_string (keyfile, GROUP, KEY_KSM_DIR, ksm_dir);
  g_key_file_set_comment (keyfile, NULL, NULL, HEADER, NULL);
  for (guint i = 0; i < originals->len; i++)
    {
      const SpKnobOriginal *o = &g_array_index (originals, SpKnobOriginal, i);
      g_autofree char *value = format_value (o->field, o->value);

      g_key_file_set_string (keyfile, GROUP, sp_ksm_field_name (o->field), value);
    }
  data = g_key_file_to_data (keyfile, NULL, NULL);
  /* A new record is not fsynced: it guards against samepaged's death,
   * which the page cache survives; a machine that crashes boots with the
   * kernel's default knobs, so a lost record loses nothing. The fsync
   * would cost the first reaction of a daemon's life tens of ms. A record
   * that exists (a knob first written later, or one left by a crash) is
   * replaced with an fsync, so that no crash leaves neither. */
  return sp_record_replace (path, data, SP_FILE_REPLACE_SYNC_ONLY_EXISTING, error);
}

static gboolean
parse_value (SpKsmField field, const char *text, gint64 *out)
{
  guint64 value;

  if (field == SP_KSM_ADVISOR_MODE)
    {
      SpKsmAdvisorMode mode;

      if (!sp_ksm_advisor_mode_parse (text, &mode))
        return FALSE;
      *out = mode;
      return TRUE;
    }
  if (!sp_parse_u64 (text, &value) || value > G_MAXINT64)
    return FALSE;
  *out = (gint64) value;
  return TRUE;
}

gboolean
sp_ksm_originals_load (const char *path, const char *ksm_dir, GArray *originals, GError **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autoptr (GArray) loaded = g_array_new (FALSE, FALSE, sizeof (SpKnobOriginal));
  g_autofree char *recorded_dir = NULL;
  g_auto (GStrv) keys = NULL;
  gboolean found;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (ksm_dir != NULL, FALSE);

  if (!sp_record_load (keyfile, path, &found, error))
    return FALSE;
  if (!found)
    return TRUE;
  recorded_dir = g_key_file_get_string (keyfile, GROUP, KEY_KSM_DIR, NULL);
  if (g_strcmp0 (recorded_dir, ksm_dir) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: the record is of %s, not of %s",
                   path, recorded_dir != NULL ? recorded_dir : "no KSM directory", ksm_dir);
      return FALSE;
    }
  keys = g_key_file_get_keys (keyfile, GROUP, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      g_autofree char *text = NULL;
      SpKnobOriginal o = { 0 };

      if (g_str_equal (keys[i], KEY_KSM_DIR))
        continue;
      text = g_key_file_get_string (keyfile, GROUP, keys[i], NULL);
      if (!sp_ksm_field_from_name (keys[i], &o.field) || !sp_ksm_field_is_knob (o.field) ||
          text == NULL || !parse_value (o.field, text, &o.value))
        {
          g_autofree char *escaped = g_strescape (text != NULL ? text : "", NULL);

          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s: %s=%.64s is not a KSM knob with a value", path, keys[i], escaped);
          return FALSE;
        }
      g_array_append_val (loaded, o);
    }
  g_array_append_vals (originals, loaded->data, loaded->len);
  return TRUE;
}

gboolean
sp_ksm_originals_remove (const char *path, GError **error)
{
  return sp_record_remove (path, error);
}
