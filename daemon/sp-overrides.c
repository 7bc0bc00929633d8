/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged"

#include "sp-overrides.h"
#include "sp-config-variant.h"

#include <errno.h>

#include "sp-error.h"
#include "sp-io.h"

#define OVERRIDES_HEADER                                                       \
  " samepaged runtime overrides: changes made over D-Bus (ksmctl set, mode,\n" \
  " start, stop). samepaged loads them over samepaged.conf at start and on\n"  \
  " SIGHUP, and rewrites this file after each change. Delete it and send\n"    \
  " SIGHUP to samepaged to go back to samepaged.conf alone."

struct _SpOverrides {
  GObject parent_instance;

  char *state_dir;
  char *path;        /* <state_dir>/overrides.conf */
  GKeyFile *keyfile; /* what overrides.conf holds */
  SpTuner *tuner;    /* where changes go, NULL until set */
  gboolean dry_run;  /* nothing written */
};

G_DEFINE_TYPE (SpOverrides, sp_overrides, G_TYPE_OBJECT)

static void
sp_overrides_dispose (GObject *object)
{
  SpOverrides *self = SP_OVERRIDES (object);

  g_clear_object (&self->tuner);
  G_OBJECT_CLASS (sp_overrides_parent_class)->dispose (object);
}

static void
sp_overrides_finalize (GObject *object)
{
  SpOverrides *self = SP_OVERRIDES (object);

  g_free (self->state_dir);
  g_free (self->path);
  g_clear_pointer (&self->keyfile, g_key_file_unref);
  G_OBJECT_CLASS (sp_overrides_parent_class)->finalize (object);
}

static void
sp_overrides_class_init (SpOverridesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_overrides_dispose;
  object_class->finalize = sp_overrides_finalize;
}

static void
sp_overrides_init (SpOverrides *self)
{
  self->keyfile = g_key_file_new ();
}

SpOverrides *
sp_overrides_new (const char *state_dir)
{
  SpOverrides *self = g_object_new (SP_TYPE_OVERRIDES, NULL);

  self->state_dir = g_strdup (state_dir != NULL ? state_dir : SP_DEFAULT_STATE_DIR);
  self->path = g_build_filename (self->state_dir, SP_OVERRIDES_FILE, NULL);
  return self;
}

void
sp_overrides_set_dry_run (SpOverrides *self, gboolean dry_run)
{
  g_return_if_fail (SP_IS_OVERRIDES (self));
  self->dry_run = dry_run;
}

const char *
sp_overrides_get_path (SpOverrides *self)
{
  g_return_val_if_fail (SP_IS_OVERRIDES (self), NULL);
  return self->path;
}

void
sp_overrides_set_tuner (SpOverrides *self, SpTuner *tuner)
{
  g_return_if_fail (SP_IS_OVERRIDES (self));
  g_return_if_fail (tuner == NULL || SP_IS_TUNER (tuner));

  g_set_object (&self->tuner, tuner);
}

/* "mode, thres_coef" */
static char *
list_keys (GKeyFile *keyfile)
{
  g_autoptr (GString) str = g_string_new (NULL);
  g_auto (GStrv) groups = g_key_file_get_groups (keyfile, NULL);

  for (guint g = 0; groups[g] != NULL; g++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (keyfile, groups[g], NULL, NULL);

      for (guint k = 0; keys != NULL && keys[k] != NULL; k++)
        g_string_append_printf (str, "%s%s", str->len > 0 ? ", " : "", keys[k]);
    }
  return g_string_free (g_steal_pointer (&str), FALSE);
}

/* base + overrides.conf; a bad overrides file is logged and ignored. */
SpConfig *
sp_overrides_load (SpOverrides *self, const SpConfig *base)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autoptr (SpConfig) config = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *keys = NULL;

  g_return_val_if_fail (SP_IS_OVERRIDES (self), NULL);
  g_return_val_if_fail (base != NULL, NULL);

  config = sp_config_copy (base);
  if (!g_file_test (self->path, G_FILE_TEST_EXISTS))
    {
      g_key_file_unref (self->keyfile);
      self->keyfile = g_steal_pointer (&keyfile);
      return g_steal_pointer (&config);
    }
  if (!g_key_file_load_from_file (keyfile, self->path, G_KEY_FILE_KEEP_COMMENTS, &error))
    g_prefix_error (&error, "%s: ", self->path);
  else if (sp_config_load_file (config, self->path, TRUE, &error) &&
           !sp_config_validate (config, &error))
    g_prefix_error (&error, "%s: ", self->path);
  if (error != NULL)
    {
      g_warning ("Ignoring the runtime overrides (samepaged.conf applies without them): %s",
                 error->message);
      g_key_file_unref (self->keyfile);
      self->keyfile = g_key_file_new ();
      return sp_config_copy (base);
    }

  keys = list_keys (keyfile);
  if (*keys != '\0')
    g_message ("Runtime overrides from %s: %s", self->path, keys);
  g_key_file_unref (self->keyfile);
  self->keyfile = g_steal_pointer (&keyfile);
  return g_steal_pointer (&config);
}

/* ------------------------------------------------------------------------ */
/* Runtime changes */

static GKeyFile *
keyfile_copy (GKeyFile *keyfile)
{
  g_autoptr (GKeyFile) copy = g_key_file_new ();
  g_autofree char *data = g_key_file_to_data (keyfile, NULL, NULL);

  /* parsing what GKeyFile itself wrote cannot fail */
  if (!g_key_file_load_from_data (copy, data, (gsize) -1, G_KEY_FILE_KEEP_COMMENTS, NULL))
    g_warn_if_reached ();
  return g_steal_pointer (&copy);
}

static gboolean
save (SpOverrides *self, GKeyFile *keyfile, GError **error)
{
  g_autofree char *data = NULL;

  g_key_file_set_comment (keyfile, NULL, NULL, OVERRIDES_HEADER, NULL);
  data = g_key_file_to_data (keyfile, NULL, NULL);
  if (g_mkdir_with_parents (self->state_dir, 0755) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot save the change: cannot create %s: %s", self->state_dir,
                   g_strerror (saved_errno));
      return FALSE;
    }
  if (!sp_file_replace (self->path, data, error))
    {
      g_prefix_error (error, "Cannot save the change: ");
      return FALSE;
    }
  return TRUE;
}

/* Saved first: a change that could not be kept is not made. */
static gboolean
commit (SpOverrides *self, GKeyFile *keyfile, const SpConfig *config, GError **error)
{
  if (self->dry_run)
    g_message ("Dry run: the change applies until SIGHUP or exit; %s is not written", self->path);
  else if (!save (self, keyfile, error))
    return FALSE;
  g_key_file_unref (self->keyfile);
  self->keyfile = g_key_file_ref (keyfile);
  sp_tuner_set_config (self->tuner, config);
  return TRUE;
}

/* The config in effect with settings applied, checked as a whole. */
static SpConfig *
config_with_tuning (SpOverrides *self, GVariant *settings, GError **error)
{
  g_autoptr (SpConfig) config = NULL;
  g_autoptr (GError) local_error = NULL;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  config = sp_config_copy (sp_tuner_get_config (self->tuner));
  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;

      if (!sp_config_set_from_variant (config, key, owned, error))
        return NULL;
    }
  if (!sp_config_validate (config, &local_error))
    {
      /* keys that contradict each other: still the caller's arguments */
      g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS, local_error->message);
      return NULL;
    }
  return g_steal_pointer (&config);
}

gboolean
sp_overrides_check_tuning (SpOverrides *self, GVariant *settings, GError **error)
{
  g_autoptr (SpConfig) config = NULL;

  g_return_val_if_fail (SP_IS_OVERRIDES (self), FALSE);
  g_return_val_if_fail (SP_IS_TUNER (self->tuner), FALSE);
  g_return_val_if_fail (settings != NULL, FALSE);
  g_return_val_if_fail (g_variant_is_of_type (settings, G_VARIANT_TYPE_VARDICT), FALSE);

  config = config_with_tuning (self, settings, error);
  return config != NULL;
}

gboolean
sp_overrides_set_tuning (SpOverrides *self, GVariant *settings, GError **error)
{
  g_autoptr (SpConfig) config = NULL;
  g_autoptr (GKeyFile) keyfile = NULL;
  g_autoptr (GVariant) values = NULL;
  GVariantIter iter;
  const char *key;

  g_return_val_if_fail (SP_IS_OVERRIDES (self), FALSE);
  g_return_val_if_fail (SP_IS_TUNER (self->tuner), FALSE);
  g_return_val_if_fail (settings != NULL, FALSE);
  g_return_val_if_fail (g_variant_is_of_type (settings, G_VARIANT_TYPE_VARDICT), FALSE);

  config = config_with_tuning (self, settings, error);
  if (config == NULL)
    return FALSE;
  if (g_variant_n_children (settings) == 0)
    return TRUE;

  /* each key in its config file form, as the new config has it */
  keyfile = keyfile_copy (self->keyfile);
  values = g_variant_ref_sink (sp_config_tuning_to_variant (config));
  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
    {
      const SpConfigIntKey *int_key = sp_config_find_int_key (key);
      const SpConfigStringKey *string_key = sp_config_find_string_key (key);
      const char *group = int_key != NULL      ? int_key->group
                          : string_key != NULL ? string_key->group
                                               : SP_CONFIG_GROUP_TUNING;
      g_autoptr (GVariant) value = g_variant_lookup_value (values, key, NULL);

      if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
        g_key_file_set_int64 (keyfile, group, key, g_variant_get_int64 (value));
      else
        g_key_file_set_string (keyfile, group, key, g_variant_get_string (value, NULL));
    }
  return commit (self, keyfile, config, error);
}

gboolean
sp_overrides_set_mode (SpOverrides *self, SpMode mode, GError **error)
{
  g_autoptr (SpConfig) config = NULL;
  g_autoptr (GKeyFile) keyfile = NULL;

  g_return_val_if_fail (SP_IS_OVERRIDES (self), FALSE);
  g_return_val_if_fail (SP_IS_TUNER (self->tuner), FALSE);

  config = sp_config_copy (sp_tuner_get_config (self->tuner));
  config->mode = mode;
  keyfile = keyfile_copy (self->keyfile);
  g_key_file_set_string (keyfile, SP_CONFIG_GROUP_DAEMON, "mode", sp_mode_to_string (mode));
  return commit (self, keyfile, config, error);
}
