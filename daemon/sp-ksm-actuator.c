/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-knobs"

#include "sp-ksm-actuator.h"

#include "sp-log.h"

typedef struct {
  SpKsmField field;
  gint64 original;
} SpKnobOriginal;

struct _SpKsmActuator {
  GObject parent_instance;

  char *sysfs_root;
  gboolean dry_run;
  GArray *originals; /* SpKnobOriginal, in order of first write */

  /* what the last decision asked for, to notice changes made by others */
  SpDecision applied;
  gboolean applied_valid;

  SpLogOnce write_problem;
  SpLogOnce outside_change;
};

static void sp_ksm_actuator_iface_init (SpActuatorInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SpKsmActuator, sp_ksm_actuator, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (SP_TYPE_ACTUATOR, sp_ksm_actuator_iface_init))

static void
sp_ksm_actuator_finalize (GObject *object)
{
  SpKsmActuator *self = SP_KSM_ACTUATOR (object);

  g_free (self->sysfs_root);
  g_array_unref (self->originals);
  sp_decision_clear (&self->applied);
  sp_log_once_reset (&self->write_problem);
  sp_log_once_reset (&self->outside_change);
  G_OBJECT_CLASS (sp_ksm_actuator_parent_class)->finalize (object);
}

static void
sp_ksm_actuator_class_init (SpKsmActuatorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sp_ksm_actuator_finalize;
}

static void
sp_ksm_actuator_init (SpKsmActuator *self)
{
  self->originals = g_array_new (FALSE, FALSE, sizeof (SpKnobOriginal));
}

SpKsmActuator *
sp_ksm_actuator_new (const char *sysfs_root, gboolean dry_run)
{
  SpKsmActuator *self = g_object_new (SP_TYPE_KSM_ACTUATOR, NULL);

  self->sysfs_root = g_strdup (sysfs_root);
  self->dry_run = dry_run;
  return self;
}

static gboolean
has_original (SpKsmActuator *self, SpKsmField field)
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
sp_ksm_actuator_write (SpKsmActuator *self, const SpKsmState *current, const SpDecision *decision,
                       guint *n_written, GError **error)
{
  guint written = 0;

  g_return_val_if_fail (SP_IS_KSM_ACTUATOR (self), FALSE);

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

static gboolean
ksm_actuator_restore (SpActuator *actuator, GError **error)
{
  SpKsmActuator *self = SP_KSM_ACTUATOR (actuator);
  g_autoptr (GError) first_error = NULL;

  if (self->originals->len > 0)
    g_message ("Restoring %u KSM knob(s) to the values found at start", self->originals->len);

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
sp_ksm_actuator_get_n_changed (SpKsmActuator *self)
{
  g_return_val_if_fail (SP_IS_KSM_ACTUATOR (self), 0);
  return self->originals->len;
}

/* Logs knobs that differ from what samepaged last wrote: someone else
 * changed them. The policy continues from the real value. */
static void
ksm_actuator_observe (SpActuator *actuator, const SpSnapshot *next)
{
  SpKsmActuator *self = SP_KSM_ACTUATOR (actuator);
  const SpKsmState *ksm = &next->ksm;
  g_autoptr (GString) changes = g_string_new (NULL);

  if (!self->applied_valid || self->dry_run)
    return;

  for (guint i = 0; i < self->applied.n_settings; i++)
    {
      const SpKnobSetting *s = &self->applied.settings[i];

      if (!sp_ksm_state_has (ksm, s->field) || sp_ksm_state_get (ksm, s->field) == s->value)
        continue;
      /* the advisor owns pages_to_scan while it runs */
      if (s->field == SP_KSM_PAGES_TO_SCAN && sp_ksm_state_get (ksm, SP_KSM_ADVISOR_MODE) != 0)
        continue;
      g_string_append_printf (changes, "%s%s %" G_GINT64_FORMAT " → %" G_GINT64_FORMAT,
                              changes->len ? ", " : "", sp_ksm_field_name (s->field), s->value,
                              sp_ksm_state_get (ksm, s->field));
    }

  if (changes->len == 0)
    {
      sp_log_once_reset (&self->outside_change);
      return;
    }
  if (sp_log_once_changed (&self->outside_change, changes->str))
    g_warning ("KSM knobs were changed outside samepaged (%s); continuing from the real values",
               changes->str);
}

/* Writes next->decision, and reads the knobs back into next->ksm so the
 * snapshot shows them as they are now. */
static void
ksm_actuator_apply (SpActuator *actuator, SpSnapshot *next)
{
  SpKsmActuator *self = SP_KSM_ACTUATOR (actuator);
  g_autoptr (GError) error = NULL;
  guint n_written = 0;

  if (!sp_ksm_actuator_write (self, &next->ksm, &next->decision, &n_written, &error))
    {
      if (sp_log_once_changed (&self->write_problem, error->message))
        g_warning ("Cannot apply the decision: %s", error->message);
    }
  else if (sp_log_once_reset (&self->write_problem))
    g_message ("KSM knobs writable again");

  sp_decision_clear (&self->applied);
  sp_decision_copy (&self->applied, &next->decision);
  self->applied_valid = error == NULL;

  if (n_written > 0)
    {
      g_autoptr (GError) reread_error = NULL;
      if (!sp_ksm_read (self->sysfs_root, &next->ksm, &reread_error))
        g_debug ("Re-reading KSM after writing: %s", reread_error->message);
    }
}

static const char *
ksm_actuator_get_name (SpActuator *actuator)
{
  return "ksm";
}

static void
sp_ksm_actuator_iface_init (SpActuatorInterface *iface)
{
  iface->get_name = ksm_actuator_get_name;
  iface->observe = ksm_actuator_observe;
  iface->apply = ksm_actuator_apply;
  iface->restore = ksm_actuator_restore;
}
