/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpOverrides, the runtime changes: a valid change is saved to
 * overrides.conf and applied to the tuner (which decides again); an invalid
 * one is rejected as a whole with the key and the range in the message, and
 * neither overrides.conf nor the tuner change; SetMode persists; the file is
 * loaded over the config at start and on reload, and a bad one is ignored.
 * The tuner runs dry over tests/data/sysfs-6.18 and a temporary /proc.
 */
#define G_LOG_DOMAIN "test-overrides"

#include <string.h>

#include <glib/gstdio.h>

#include "sp-error.h"
#include "sp-overrides.h"
#include "sp-test.h"
#include "sp-tuner.h"

/* Exactly one line matching pattern was logged; forgets them all. */
static void
assert_logged (const char *pattern)
{
  guint n = sp_test_log_count (pattern);

  if (n != 1)
    g_error ("%u lines logged match \"%s\"", n, pattern);
  sp_test_log_clear ();
}

typedef struct {
  char *root;      /* temporary: state/ and proc/ */
  char *state_dir; /* overrides.conf goes here */
  char *path;      /* <state_dir>/overrides.conf */
  SpConfig *base;  /* what samepaged.conf would give */
  SpOverrides *overrides;
  SpTuner *tuner;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) config = NULL;

  f->root = sp_test_make_tmp_dir ();
  f->state_dir = g_build_filename (f->root, "state", NULL);
  f->path = g_build_filename (f->state_dir, "overrides.conf", NULL);

  f->base = sp_config_new_default ();
  f->overrides = sp_overrides_new (f->state_dir);
  g_assert_cmpstr (sp_overrides_get_path (f->overrides), ==, f->path);
  config = sp_overrides_load (f->overrides, f->base);
  g_assert_true (sp_config_equal (config, f->base));
  f->tuner = sp_test_tuner_new (f->root, config);
  sp_overrides_set_tuner (f->overrides, f->tuner);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->overrides);
  g_clear_object (&f->tuner);
  g_clear_pointer (&f->base, sp_config_free);
  sp_test_remove_tree (f->root);
  g_free (f->root);
  g_free (f->state_dir);
  g_free (f->path);
}

/* overrides.conf as a key file (it must exist). */
static GKeyFile *
load_file (Fixture *f)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autoptr (GError) error = NULL;

  g_key_file_load_from_file (keyfile, f->path, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&keyfile);
}

static void
assert_value (GKeyFile *keyfile, const char *group, const char *key, const char *expected)
{
  g_autofree char *value = g_key_file_get_value (keyfile, group, key, NULL);

  g_assert_cmpstr (value, ==, expected);
}

static void
write_file (Fixture *f, const char *contents)
{
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (f->state_dir, 0755), ==, 0);
  g_file_set_contents (f->path, contents, -1, &error);
  g_assert_no_error (error);
}

static char *
read_file (Fixture *f)
{
  char *contents = NULL;

  if (!g_file_get_contents (f->path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

static GVariant *
settings (const char *text)
{
  g_autoptr (GError) error = NULL;
  GVariant *value = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

  g_assert_no_error (error);
  return value; /* g_variant_parse () returns it owned, not floating */
}

static void
test_set_tuning_valid (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) change = settings ("{'npages_max': <int64 2000>, 'scan_rate': <'classic'>, "
                                          "'monitor_interval': <uint32 30>}");
  g_autoptr (GKeyFile) keyfile = NULL;
  g_autoptr (GError) error = NULL;
  guint64 n_decisions = sp_tuner_get_n_decisions (f->tuner);
  const SpConfig *config;

  g_assert_true (sp_overrides_set_tuning (f->overrides, change, &error));
  g_assert_no_error (error);

  /* applied: the tuner has the new config and decided with it */
  config = sp_tuner_get_config (f->tuner);
  g_assert_cmpint (config->npages_max, ==, 2000);
  g_assert_cmpint (config->scan_rate, ==, SP_SCAN_RATE_CLASSIC);
  g_assert_cmpuint (config->monitor_interval_sec, ==, 30);
  g_assert_cmpuint (sp_tuner_get_n_decisions (f->tuner), ==, n_decisions + 1);
  g_assert_cmpint (sp_tuner_get_snapshot (f->tuner)->config->npages_max, ==, 2000);

  /* saved, each key in its group, in config file form */
  keyfile = load_file (f);
  g_assert_cmpint (g_key_file_get_int64 (keyfile, "tuning", "npages_max", NULL), ==, 2000);
  assert_value (keyfile, "tuning", "scan_rate", "classic");
  g_assert_cmpint (g_key_file_get_int64 (keyfile, "daemon", "monitor_interval", NULL), ==, 30);
  g_assert_false (g_key_file_has_key (keyfile, "tuning", "npages_min", NULL));
  g_assert_false (g_key_file_has_key (keyfile, "tuning", "monitor_interval", NULL));

  /* a second change keeps the first */
  g_clear_pointer (&change, g_variant_unref);
  g_clear_pointer (&keyfile, g_key_file_unref);
  change = settings ("{'npages_min': <int32 10>}");
  g_assert_true (sp_overrides_set_tuning (f->overrides, change, &error));
  g_assert_no_error (error);
  keyfile = load_file (f);
  g_assert_cmpint (g_key_file_get_int64 (keyfile, "tuning", "npages_min", NULL), ==, 10);
  g_assert_cmpint (g_key_file_get_int64 (keyfile, "tuning", "npages_max", NULL), ==, 2000);
}

static void
test_set_tuning_empty (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) change = settings ("@a{sv} {}");
  g_autoptr (GError) error = NULL;
  guint64 n_decisions = sp_tuner_get_n_decisions (f->tuner);

  g_assert_true (sp_overrides_set_tuning (f->overrides, change, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (f->path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (sp_tuner_get_n_decisions (f->tuner), ==, n_decisions);
}

typedef struct {
  const char *settings;
  const char *message[3]; /* substrings of the error message */
} InvalidCase;

static const InvalidCase invalid_cases[] = {
  { "{'npages_maxx': <int64 2000>}", { "Unknown tuning key", "npages_maxx", "npages_max" } },
  { "{'npages_max': <'many'>}", { "npages_max", "type 's'", "expected an integer" } },
  { "{'npages_max': <int64 2000000>}", { "npages_max", "out of range", "100000" } },
  { "{'npages_max': <int64 -1>}", { "npages_max", "out of range", NULL } },
  { "{'scan_rate': <'fast'>}", { "scan_rate", "classic", NULL } },
  { "{'scan_rate': <int32 1>}", { "scan_rate", "expected a string", NULL } },
  /* a broken relation, with a valid key beside it: all or nothing */
  { "{'npages_max': <int64 2000>, 'npages_min': <int64 5000>}",
    { "npages_min", "npages_max", "<=" } },
  /* a valid key, then a bad one: the valid one is not kept */
  { "{'thres_coef': <int64 30>, 'nope': <1>}", { "Unknown tuning key", "nope", NULL } },
};

static void
test_set_tuning_invalid (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) before = sp_config_copy (sp_tuner_get_config (f->tuner));
  guint64 n_decisions = sp_tuner_get_n_decisions (f->tuner);
  const char *previous = "[daemon]\nmode=always\n";

  /* an earlier change in the file stays as it was */
  write_file (f, previous);

  for (gsize i = 0; i < G_N_ELEMENTS (invalid_cases); i++)
    {
      const InvalidCase *c = &invalid_cases[i];
      g_autoptr (GVariant) change = settings (c->settings);
      g_autoptr (GError) error = NULL;
      g_autofree char *contents = NULL;

      g_test_message ("%s", c->settings);
      g_assert_false (sp_overrides_check_tuning (f->overrides, change, &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
      g_clear_error (&error);

      g_assert_false (sp_overrides_set_tuning (f->overrides, change, &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
      for (gsize m = 0; m < G_N_ELEMENTS (c->message) && c->message[m] != NULL; m++)
        if (strstr (error->message, c->message[m]) == NULL)
          g_error ("%s: \"%s\" lacks \"%s\"", c->settings, error->message, c->message[m]);

      /* nothing changed: not the file, not the tuner */
      contents = read_file (f);
      g_assert_cmpstr (contents, ==, previous);
      g_assert_true (sp_config_equal (sp_tuner_get_config (f->tuner), before));
      g_assert_cmpuint (sp_tuner_get_n_decisions (f->tuner), ==, n_decisions);
    }
}

static void
test_check_tuning_only_checks (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) change = settings ("{'npages_max': <int64 2000>}");
  g_autoptr (GError) error = NULL;
  guint64 n_decisions = sp_tuner_get_n_decisions (f->tuner);

  g_assert_true (sp_overrides_check_tuning (f->overrides, change, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (f->path, G_FILE_TEST_EXISTS));
  g_assert_true (sp_config_equal (sp_tuner_get_config (f->tuner), f->base));
  g_assert_cmpuint (sp_tuner_get_n_decisions (f->tuner), ==, n_decisions);
}

static void
test_set_mode (Fixture *f, gconstpointer data)
{
  g_autoptr (GKeyFile) keyfile = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  guint64 n_decisions = sp_tuner_get_n_decisions (f->tuner);

  g_assert_cmpint (sp_tuner_get_config (f->tuner)->mode, !=, SP_MODE_NEVER);
  g_assert_true (sp_overrides_set_mode (f->overrides, SP_MODE_NEVER, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sp_tuner_get_config (f->tuner)->mode, ==, SP_MODE_NEVER);
  g_assert_cmpuint (sp_tuner_get_n_decisions (f->tuner), ==, n_decisions + 1);

  keyfile = load_file (f);
  assert_value (keyfile, "daemon", "mode", "never");
  /* the header says what the file is and how to drop it */
  contents = read_file (f);
  g_assert_nonnull (strstr (contents, "# samepaged runtime overrides"));
  g_assert_nonnull (strstr (contents, "SIGHUP"));
}

static void
test_save_fails (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) change = settings ("{'npages_max': <int64 2000>}");
  g_autoptr (GError) error = NULL;
  guint64 n_decisions = sp_tuner_get_n_decisions (f->tuner);

  /* the state directory cannot be created: a file is in the way */
  g_file_set_contents (f->state_dir, "", -1, &error);
  g_assert_no_error (error);

  g_assert_false (sp_overrides_set_tuning (f->overrides, change, &error));
  g_assert_nonnull (error);
  g_assert_true (g_str_has_prefix (error->message, "Cannot save the change: "));
  g_clear_error (&error);
  g_assert_false (sp_overrides_set_mode (f->overrides, SP_MODE_NEVER, &error));
  g_assert_true (g_str_has_prefix (error->message, "Cannot save the change: "));

  /* a change that could not be kept is not made */
  g_assert_true (sp_config_equal (sp_tuner_get_config (f->tuner), f->base));
  g_assert_cmpuint (sp_tuner_get_n_decisions (f->tuner), ==, n_decisions);
  g_unlink (f->state_dir);
}

static void
test_load (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) config = NULL;
  g_autoptr (GKeyFile) keyfile = NULL;
  g_autoptr (GError) error = NULL;

  write_file (f, "[tuning]\nnpages_max=1234\n[daemon]\nmode=never\n");
  config = sp_overrides_load (f->overrides, f->base);
  assert_logged ("MESSAGE Runtime overrides from *overrides.conf: *npages_max*");
  g_assert_cmpint (config->npages_max, ==, 1234);
  g_assert_cmpint (config->mode, ==, SP_MODE_NEVER);
  g_assert_cmpint (config->npages_min, ==, f->base->npages_min);
  g_assert_cmpint (f->base->npages_max, !=, 1234);

  /* the next change starts from what was loaded */
  sp_tuner_set_config (f->tuner, config);
  g_assert_true (sp_overrides_set_mode (f->overrides, SP_MODE_ALWAYS, &error));
  g_assert_no_error (error);
  keyfile = load_file (f);
  g_assert_cmpint (g_key_file_get_int64 (keyfile, "tuning", "npages_max", NULL), ==, 1234);
  assert_value (keyfile, "daemon", "mode", "always");

  /* reload without the file: the config alone, and the next change too */
  g_clear_pointer (&config, sp_config_free);
  g_clear_pointer (&keyfile, g_key_file_unref);
  g_assert_cmpint (g_unlink (f->path), ==, 0);
  config = sp_overrides_load (f->overrides, f->base);
  g_assert_true (sp_config_equal (config, f->base));
  sp_tuner_set_config (f->tuner, config);
  g_assert_true (sp_overrides_set_mode (f->overrides, SP_MODE_AUTO, &error));
  g_assert_no_error (error);
  keyfile = load_file (f);
  g_assert_false (g_key_file_has_group (keyfile, "tuning"));
}

static void
test_load_bad (Fixture *f, gconstpointer data)
{
  const char *bad[] = {
    "[tuning]\nnpages_max=2000000\n",              /* out of range */
    "[tuning]\nnpages_min=5000\nnpages_max=100\n", /* broken relation */
    "[tuning]\nno_such_key=1\n",                   /* unknown key */
    "not a key file\n",                            /* syntax */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (SpConfig) config = NULL;
      g_autoptr (GKeyFile) keyfile = NULL;
      g_autoptr (GError) error = NULL;

      write_file (f, bad[i]);
      sp_test_log_clear ();
      config = sp_overrides_load (f->overrides, f->base);
      assert_logged ("WARNING Ignoring the runtime overrides (samepaged.conf applies without "
                     "them): *overrides.conf*");
      g_assert_true (sp_config_equal (config, f->base));

      /* the next accepted change replaces the bad file */
      g_assert_true (sp_overrides_set_mode (f->overrides, SP_MODE_ALWAYS, &error));
      g_assert_no_error (error);
      keyfile = load_file (f);
      g_assert_false (g_key_file_has_group (keyfile, "tuning"));
      assert_value (keyfile, "daemon", "mode", "always");
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();

#define ADD(path, fn) g_test_add ((path), Fixture, NULL, fixture_setup, (fn), fixture_teardown)
  ADD ("/overrides/set-tuning/valid", test_set_tuning_valid);
  ADD ("/overrides/set-tuning/empty", test_set_tuning_empty);
  ADD ("/overrides/set-tuning/invalid", test_set_tuning_invalid);
  ADD ("/overrides/check-tuning", test_check_tuning_only_checks);
  ADD ("/overrides/set-mode", test_set_mode);
  ADD ("/overrides/save-fails", test_save_fails);
  ADD ("/overrides/load", test_load);
  ADD ("/overrides/load/bad", test_load_bad);
#undef ADD

  return g_test_run ();
}
