/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The KSM actuator: writes only what changes, restores what it changed. */
#include <glib/gstdio.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "sp-ksm-actuator.h"
#include "sp-io.h"
#include "sp-test.h"

typedef struct {
  SpTestSysfs sysfs;
  GPtrArray *strings; /* what read_knob returned, freed at teardown */
} Fixture;

static char *
read_knob (Fixture *f, const char *name)
{
  char *value = sp_test_sysfs_knob (&f->sysfs, name);

  g_ptr_array_add (f->strings, value);
  return value;
}

/* Sets the mtime to a known old value, to see later whether it was written. */
static void
age_knob (Fixture *f, const char *name)
{
  g_autofree char *path = sp_test_sysfs_path (&f->sysfs, name);
  struct timespec times[2] = { { 1000, 0 }, { 1000, 0 } };

  g_assert_cmpint (utimensat (AT_FDCWD, path, times, 0), ==, 0);
}

static gboolean
knob_was_written (Fixture *f, const char *name)
{
  g_autofree char *path = sp_test_sysfs_path (&f->sysfs, name);
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_mtim.tv_sec != 1000;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->strings = g_ptr_array_new_with_free_func (g_free);
  sp_test_sysfs_init (&f->sysfs, NULL);
  sp_test_sysfs_set (&f->sysfs, "run", "0\n");
  sp_test_sysfs_set (&f->sysfs, "pages_to_scan", "100\n");
  sp_test_sysfs_set (&f->sysfs, "sleep_millisecs", "20\n");
  sp_test_sysfs_set (&f->sysfs, "pages_sharing", "0\n");
  sp_test_sysfs_set (&f->sysfs, "advisor_mode", "[none] scan-time\n");
  sp_test_sysfs_set (&f->sysfs, "advisor_max_cpu", "70\n");
  sp_test_sysfs_set (&f->sysfs, "advisor_target_scan_time", "200\n");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  sp_test_sysfs_clear (&f->sysfs);
  g_ptr_array_unref (f->strings);
}

static void
add (SpDecision *d, SpKsmField field, gint64 value)
{
  d->settings[d->n_settings].field = field;
  d->settings[d->n_settings].value = value;
  d->n_settings++;
}

static void
read_state (Fixture *f, SpKsmState *ksm)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (sp_ksm_read (f->sysfs.root, ksm, &error));
  g_assert_no_error (error);
}

static void
test_knobs_write_only_changes (Fixture *f, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (f->sysfs.root, FALSE);
  g_autoptr (GError) error = NULL;
  SpDecision d = { 0 };
  SpKsmState ksm;
  guint n = 99;

  add (&d, SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_NONE); /* unchanged */
  add (&d, SP_KSM_PAGES_TO_SCAN, 400);
  add (&d, SP_KSM_SLEEP_MILLISECS, 20); /* unchanged */
  add (&d, SP_KSM_RUN, 1);
  age_knob (f, "advisor_mode");
  age_knob (f, "pages_to_scan");
  age_knob (f, "sleep_millisecs");
  age_knob (f, "run");

  read_state (f, &ksm);
  g_assert_true (sp_ksm_actuator_write (knobs, &ksm, &d, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 2);
  g_assert_false (knob_was_written (f, "advisor_mode"));
  g_assert_false (knob_was_written (f, "sleep_millisecs"));
  g_assert_true (knob_was_written (f, "pages_to_scan"));
  g_assert_true (knob_was_written (f, "run"));
  g_assert_cmpstr (read_knob (f, "pages_to_scan"), ==, "400");
  g_assert_cmpstr (read_knob (f, "run"), ==, "1");
  g_assert_cmpuint (sp_ksm_actuator_get_n_changed (knobs), ==, 2);

  /* the same decision again writes nothing */
  age_knob (f, "pages_to_scan");
  age_knob (f, "run");
  read_state (f, &ksm);
  g_assert_true (sp_ksm_actuator_write (knobs, &ksm, &d, &n, &error));
  g_assert_cmpuint (n, ==, 0);
  g_assert_false (knob_was_written (f, "pages_to_scan"));
  g_assert_false (knob_was_written (f, "run"));
}

static void
test_knobs_restore (Fixture *f, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (f->sysfs.root, FALSE);
  g_autoptr (GError) error = NULL;
  SpDecision d = { 0 };
  SpDecision d2 = { 0 };
  SpKsmState ksm;

  add (&d, SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_SCAN_TIME);
  add (&d, SP_KSM_ADVISOR_MAX_CPU, 40);
  add (&d, SP_KSM_RUN, 1);
  read_state (f, &ksm);
  g_assert_true (sp_ksm_actuator_write (knobs, &ksm, &d, NULL, &error));
  g_assert_cmpstr (read_knob (f, "advisor_mode"), ==, "scan-time");

  /* a second decision changes a knob again: the original stays the first one */
  add (&d2, SP_KSM_ADVISOR_MAX_CPU, 55);
  add (&d2, SP_KSM_SLEEP_MILLISECS, 10);
  read_state (f, &ksm);
  g_assert_true (sp_ksm_actuator_write (knobs, &ksm, &d2, NULL, &error));
  g_assert_cmpstr (read_knob (f, "advisor_max_cpu"), ==, "55");
  g_assert_cmpuint (sp_ksm_actuator_get_n_changed (knobs), ==, 4);

  g_assert_true (sp_actuator_restore (SP_ACTUATOR (knobs), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (read_knob (f, "run"), ==, "0");
  g_assert_cmpstr (read_knob (f, "advisor_max_cpu"), ==, "70");
  g_assert_cmpstr (read_knob (f, "sleep_millisecs"), ==, "20");
  g_assert_cmpstr (read_knob (f, "advisor_mode"), ==, "none");
  g_assert_cmpstr (read_knob (f, "pages_to_scan"), ==, "100");
  g_assert_cmpuint (sp_ksm_actuator_get_n_changed (knobs), ==, 0);
}

static void
test_knobs_dry_run (Fixture *f, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (f->sysfs.root, TRUE);
  g_autoptr (GError) error = NULL;
  SpDecision d = { 0 };
  SpKsmState ksm;
  guint n = 99;

  add (&d, SP_KSM_PAGES_TO_SCAN, 400);
  add (&d, SP_KSM_RUN, 1);
  age_knob (f, "pages_to_scan");
  age_knob (f, "run");
  read_state (f, &ksm);
  g_assert_true (sp_ksm_actuator_write (knobs, &ksm, &d, &n, &error));
  g_assert_cmpuint (n, ==, 0);
  g_assert_false (knob_was_written (f, "pages_to_scan"));
  g_assert_false (knob_was_written (f, "run"));
  g_assert_cmpstr (read_knob (f, "run"), ==, "0");
}

static void
test_knobs_unsupported_skipped (Fixture *f, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (f->sysfs.root, FALSE);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = sp_test_sysfs_path (&f->sysfs, "smart_scan");
  SpDecision d = { 0 };
  SpKsmState ksm;
  guint n = 99;

  /* smart_scan is not in this tree: not written, not created, no error */
  add (&d, SP_KSM_SMART_SCAN, 1);
  add (&d, SP_KSM_RUN, 1);
  read_state (f, &ksm);
  g_assert_true (sp_ksm_actuator_write (knobs, &ksm, &d, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 1);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

static void
test_knobs_write_error (Fixture *f, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (f->sysfs.root, FALSE);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = sp_test_sysfs_path (&f->sysfs, "pages_to_scan");
  SpDecision d = { 0 };
  SpKsmState ksm;
  guint n = 99;

  add (&d, SP_KSM_PAGES_TO_SCAN, 400);
  add (&d, SP_KSM_RUN, 1);
  read_state (f, &ksm);
  /* the knob vanishes between read and write (kernel module gone) */
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_false (sp_ksm_actuator_write (knobs, &ksm, &d, &n, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_cmpuint (n, ==, 0);
  /* it stopped at the first failure: run was not switched on */
  g_assert_cmpstr (read_knob (f, "run"), ==, "0");
  sp_test_sysfs_set (&f->sysfs, "pages_to_scan", "100\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/ksm-actuator/write-only-changes", test_knobs_write_only_changes);
  ADD ("/ksm-actuator/restore", test_knobs_restore);
  ADD ("/ksm-actuator/dry-run", test_knobs_dry_run);
  ADD ("/ksm-actuator/unsupported-skipped", test_knobs_unsupported_skipped);
  ADD ("/ksm-actuator/write-error", test_knobs_write_error);
  return g_test_run ();
}
