/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-knobs"

#include "sp-ksm-actuator.h"

#include "sp-ksm-originals.h"
#include "sp-log.h"

struct _SpKsmActuator {
  GObject parent_instance;

  char *sysfs_root;
  gboolean dry_run;
  GArray *originals; /* SpKnobOriginal, in order of first write */
  char *record_path; /* <state-dir>/ksm-originals; NULL: not kept */
  gboolean held;     /* an unmerge writes the knobs: apply() waits */

  /* what the last decision asked for, to notice changes made by others */
  SpDecision applied;
  gboolean applied_valid;

  SpLogOnce write_problem;
  SpLogOnce outside_change;
  SpLogOnce record_problem;
};

static void sp_ksm_actuator_iface_init (SpActuatorInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SpKsmActuator, sp_ksm_actuator, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (SP_TYPE_ACTUATOR, sp_ksm_actuator_iface_init))

static void
sp_ksm_actuator_finalize (GObject *object)
{
  SpKsmActuator *self = SP_KSM_ACTUATOR (object);

  g_free (self->sysfs_root);
  g_free (self->record_path);
  g_array_unref (self->originals);
  sp_decision_clear (&self->applied);
  sp_log_once_reset (&self->write_problem);
  sp_log_once_reset (&self->outside_change);
  sp_log_once_reset (&self->record_problem);
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

static const SpKnobOriginal *
find_original (SpKsmActuator *self, SpKsmField field)
{
  for (guint i = 0; i < self->originals->len; i++)
    if (g_array_index (self->originals, SpKnobOriginal, i).field == field)
      return &g_array_index (self->originals, SpKnobOriginal, i);
  return NULL;
}

static char *
format_value (SpKsmField field, gint64 value)
{
  if (field == SP_KSM_ADVISOR_MODE)
    return g_strdup (sp_ksm_advisor_mode_to_string ((SpKsmAdvisorMode) value));
  return g_strdup_printf ("%" G_GINT64_FORMAT, value);
}

static char *
ksm_dir (SpKsmActuator *self)
{
  return sp_ksm_dir (self->sysfs_root);
}

void
sp_ksm_actuator_set_state_dir (SpKsmActuator *self, const char *state_dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *found = NULL;
  guint n_before;

  g_return_if_fail (SP_IS_KSM_ACTUATOR (self));

  g_clear_pointer (&self->record_path, g_free);
  /* a dry run writes nothing, the record neither */
  if (state_dir == NULL || self->dry_run)
    return;
  self->record_path = g_build_filename (state_dir, SP_KSM_ORIGINALS_FILE, NULL);
  dir = ksm_dir (self);
  n_before = self->originals->len;
  if (!sp_ksm_originals_load (self->record_path, dir, self->originals, &error))
    {
      g_warning ("Ignoring the record of the KSM knobs found at start: %s", error->message);
      return;
    }
  if (self->originals->len == n_before)
    return;
  found = sp_ksm_originals_to_string (self->originals);
  g_message ("An earlier samepaged did not put the KSM knobs back (%s): restoring them on exit "
             "to the values it found: %s",
             self->record_path, found);
}

const char *
sp_ksm_actuator_get_record_path (SpKsmActuator *self)
{
  g_return_val_if_fail (SP_IS_KSM_ACTUATOR (self), NULL);
  return self->record_path;
}

/* Keeps the originals in the record; a record that cannot be written is
 * logged (once) and the write goes on: the knobs are still restored on a
 * clean exit. */
static void
save_record (SpKsmActuator *self)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;

  if (self->record_path == NULL)
    return;
  dir = ksm_dir (self);
  if (!sp_ksm_originals_save (self->record_path, dir, self->originals, &error))
    {
      if (sp_log_once_changed (&self->record_problem, error->message))
        g_warning ("Cannot keep the KSM knobs found at start (a crash would leave them as "
                   "samepaged set them): %s",
                   error->message);
      return;
    }
  if (sp_log_once_reset (&self->record_problem))
    g_message ("The KSM knobs found at start are kept in %s again", self->record_path);
}

static void
remove_record (SpKsmActuator *self)
{
  g_autoptr (GError) error = NULL;

  if (self->record_path != NULL && !sp_ksm_originals_remove (self->record_path, &error))
    g_warning ("%s", error->message);
}

static gboolean
add_original (SpKsmActuator *self, const SpKsmState *current, SpKsmField field)
{
  SpKnobOriginal orig = { field, sp_ksm_state_get (current, field) };

  if (has_original (self, field) || !sp_ksm_state_has (current, field))
    return FALSE;
  g_array_append_val (self->originals, orig);
  return TRUE;
}

/*
 * Remembers what writing value to field changes: the field itself and the
 * knobs the kernel resets as a side effect (writing advisor_mode sets
 * pages_to_scan: 100 for none, advisor_min_pages_to_scan for scan-time).
 * TRUE when something was new; the caller saves the record before writing.
 */
static gboolean
add_originals_of (SpKsmActuator *self, const SpKsmState *current, SpKsmField field, gint64 value)
{
  gboolean added = add_original (self, current, field);

  if (field == SP_KSM_ADVISOR_MODE && sp_ksm_state_get (current, field) != value)
    added |= add_original (self, current, SP_KSM_PAGES_TO_SCAN);
  return added;
}

/* The record is replaced before the write. TRUE when something was new. */
static gboolean
record_before_write (SpKsmActuator *self, const SpKsmState *current, SpKsmField field, gint64 value)
{
  gboolean added = add_originals_of (self, current, field, value);

  if (added)
    save_record (self);
  return added;
}

/* Every knob the decision changes, in one record before the first write:
 * one file replaced for the first decision of a daemon's life, not one per
 * knob. */
static void
record_decision (SpKsmActuator *self, const SpKsmState *current, const SpDecision *decision)
{
  gboolean added = FALSE;

  for (guint i = 0; i < decision->n_settings; i++)
    {
      const SpKnobSetting *s = &decision->settings[i];

      if (sp_ksm_state_has (current, s->field) && sp_ksm_state_get (current, s->field) != s->value)
        added |= add_originals_of (self, current, s->field, s->value);
    }
  if (added)
    save_record (self);
}

gboolean
sp_ksm_actuator_record (SpKsmActuator *self, const SpKsmState *current, SpKsmField field,
                        gint64 value)
{
  g_return_val_if_fail (SP_IS_KSM_ACTUATOR (self), FALSE);
  g_return_val_if_fail (current != NULL, FALSE);

  if (self->dry_run)
    return FALSE;
  return record_before_write (self, current, field, value);
}

void
sp_ksm_actuator_set_held (SpKsmActuator *self, gboolean held)
{
  g_return_if_fail (SP_IS_KSM_ACTUATOR (self));
  self->held = held;
}

gboolean
sp_ksm_actuator_is_held (SpKsmActuator *self)
{
  g_return_val_if_fail (SP_IS_KSM_ACTUATOR (self), FALSE);
  return self->held;
}

gboolean
sp_ksm_actuator_write (SpKsmActuator *self, const SpKsmState *current, const SpDecision *decision,
                       guint *n_written, GError **error)
{
  guint written = 0;

  g_return_val_if_fail (SP_IS_KSM_ACTUATOR (self), FALSE);

  if (n_written != NULL)
    *n_written = 0;
  if (!self->dry_run)
    record_decision (self, current, decision);

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
      record_before_write (self, current, s->field, s->value);
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

/* advisor_mode first (writing it resets pages_to_scan), run last, the
 * others in between. */
static int
restore_rank (SpKsmField field)
{
  if (field == SP_KSM_ADVISOR_MODE)
    return 0;
  if (field == SP_KSM_RUN)
    return 2;
  return 1;
}

static gint
compare_restore_order (gconstpointer a, gconstpointer b)
{
  const SpKnobOriginal *oa = a;
  const SpKnobOriginal *ob = b;
  int ra = restore_rank (oa->field);
  int rb = restore_rank (ob->field);

  if (ra != rb)
    return ra - rb;
  return (int) oa->field - (int) ob->field;
}

static gboolean
ksm_actuator_restore (SpActuator *actuator, GError **error)
{
  SpKsmActuator *self = SP_KSM_ACTUATOR (actuator);
  g_autoptr (GError) first_error = NULL;
  g_autoptr (GArray) order = NULL;
  const SpKnobOriginal *advisor;

  if (self->originals->len > 0)
    g_message ("Restoring %u KSM knob(s) to the values found at start", self->originals->len);

  order = g_array_copy (self->originals);
  g_array_sort (order, compare_restore_order);
  advisor = find_original (self, SP_KSM_ADVISOR_MODE);
  for (guint i = 0; i < order->len; i++)
    {
      const SpKnobOriginal *orig = &g_array_index (order, SpKnobOriginal, i);
      g_autoptr (GError) local_error = NULL;
      g_autofree char *value = format_value (orig->field, orig->value);

      /* the advisor found running owns pages_to_scan (EINVAL) */
      if (orig->field == SP_KSM_PAGES_TO_SCAN && advisor != NULL &&
          advisor->value != SP_KSM_ADVISOR_NONE)
        {
          g_debug ("pages_to_scan left to the advisor, as found");
          continue;
        }
      if (!sp_ksm_write (self->sysfs_root, orig->field, orig->value, &local_error))
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
      /* the record stays: the next samepaged puts them back */
      g_propagate_error (error, g_steal_pointer (&first_error));
      return FALSE;
    }
  remove_record (self);
  return TRUE;
}

/* restore_on_exit=false: the knobs stay, and nothing is left to restore. */
static void
ksm_actuator_leave (SpActuator *actuator)
{
  SpKsmActuator *self = SP_KSM_ACTUATOR (actuator);
  g_autofree char *found = sp_ksm_originals_to_string (self->originals);

  if (self->originals->len > 0)
    g_message ("Leaving %u KSM knob(s) as samepaged set them (restore_on_exit=false); found at "
               "start: %s",
               self->originals->len, found);
  g_array_set_size (self->originals, 0);
  remove_record (self);
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

  if (self->held)
    {
      /* an unmerge in progress writes run and merge_across_nodes itself */
      g_debug ("KSM knobs held by an unmerge in progress: the decision waits");
      self->applied_valid = FALSE;
      return;
    }
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
  iface->leave = ksm_actuator_leave;
}
