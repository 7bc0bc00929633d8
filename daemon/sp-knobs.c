/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-knobs"

#include "sp-knobs.h"

typedef struct {
  SpKsmField field;
  gint64 original;
} SpKnobOriginal;

struct _SpKnobs {
  GObject parent_instance;

  char *sysfs_root;
  gboolean dry_run;
  GArray *originals; /* SpKnobOriginal, in order of first write */
};

G_DEFINE_TYPE (SpKnobs, sp_knobs, G_TYPE_OBJECT)

static void
sp_knobs_finalize (GObject *object)
{
  SpKnobs *self = SP_KNOBS (object);

  g_free (self->sysfs_root);
  g_array_unref (self->originals);
  G_OBJECT_CLASS (sp_knobs_parent_class)->finalize (object);
}

static void
sp_knobs_class_init (SpKnobsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sp_knobs_finalize;
}

static void
sp_knobs_init (SpKnobs *self)
{
  self->originals = g_array_new (FALSE, FALSE, sizeof (SpKnobOriginal));
}

SpKnobs *
sp_knobs_new (const char *sysfs_root, gboolean dry_run)
{
  SpKnobs *self = g_object_new (SP_TYPE_KNOBS, NULL);

  self->sysfs_root = g_strdup (sysfs_root);
  self->dry_run = dry_run;
  return self;
}

static gboolean
has_original (SpKnobs *self, SpKsmField field)
{
  for (guint i = 0; i < self->originals->len; i++)
    if (g_array_index (self->originals, SpKnobOriginal, i).field == field)
      return TRUE;
  return FALSE;
}

static char *
format_value (SpKsmField field, gint64 value)
{
  if (field == SP_KSM_ADVISOR_MODE)
    return g_strdup (sp_ksm_advisor_mode_to_string ((SpKsmAdvisorMode) value));
  return g_strdup_printf ("%" G_GINT64_FORMAT, value);
}

gboolean
sp_knobs_apply (SpKnobs *self, const SpKsmState *current, const SpDecision *decision,
                guint *n_written, GError **error)
{
  guint written = 0;

  g_return_val_if_fail (SP_IS_KNOBS (self), FALSE);

  if (n_written != NULL)
    *n_written = 0;

  for (guint i = 0; i < decision->n_settings; i++)
    {
      const SpKnobSetting *s = &decision->settings[i];
      const char *name = sp_ksm_field_name (s->field);
      gint64 now = sp_ksm_state_get (current, s->field);
      g_autofree char *from = NULL;
      g_autofree char *to = NULL;

      if (!sp_ksm_state_has (current, s->field))
        {
          g_debug ("%s is not supported by this kernel, not written", name);
          continue;
        }
      if (now == s->value)
        continue;

      from = format_value (s->field, now);
      to = format_value (s->field, s->value);
      if (self->dry_run)
        {
          g_info ("dry run: would write %s: %s → %s", name, from, to);
          continue;
        }
      if (!has_original (self, s->field))
        {
          SpKnobOriginal orig = { s->field, now };
          g_array_append_val (self->originals, orig);
        }
      if (!sp_ksm_write (self->sysfs_root, s->field, s->value, error))
        {
          if (n_written != NULL)
            *n_written = written;
          return FALSE;
        }
      g_debug ("wrote %s: %s → %s", name, from, to);
      written++;
    }

  if (n_written != NULL)
    *n_written = written;
  return TRUE;
}

gboolean
sp_knobs_restore (SpKnobs *self, GError **error)
{
  g_autoptr (GError) first_error = NULL;

  g_return_val_if_fail (SP_IS_KNOBS (self), FALSE);

  for (guint i = self->originals->len; i > 0; i--)
    {
      const SpKnobOriginal *orig = &g_array_index (self->originals, SpKnobOriginal, i - 1);
      g_autoptr (GError) local_error = NULL;
      g_autofree char *value = format_value (orig->field, orig->original);

      if (!sp_ksm_write (self->sysfs_root, orig->field, orig->original, &local_error))
        {
          g_warning ("Could not restore %s: %s", sp_ksm_field_name (orig->field),
                     local_error->message);
          if (first_error == NULL)
            first_error = g_steal_pointer (&local_error);
          continue;
        }
      g_debug ("restored %s to %s", sp_ksm_field_name (orig->field), value);
    }
  g_array_set_size (self->originals, 0);

  if (first_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&first_error));
      return FALSE;
    }
  return TRUE;
}

guint
sp_knobs_get_n_changed (SpKnobs *self)
{
  g_return_val_if_fail (SP_IS_KNOBS (self), 0);
  return self->originals->len;
}
