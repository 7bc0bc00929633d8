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
  /* 4 written, and pages_to_scan, which writing advisor_mode resets */
  g_assert_cmpuint (sp_ksm_actuator_get_n_changed (knobs), ==, 5);

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

/* ---- knobs back as found, on a 6.18 tree with the kernel's side effects -- */

typedef struct {
  SpTestSysfs sysfs;
  SpTestFakeKernel kernel;
  char *state_dir;
  char *record; /* <state_dir>/ksm-originals */
} Host;

static void
host_setup (Host *h, gconstpointer data)
{
  sp_test_sysfs_init (&h->sysfs, "sysfs-6.18");
  h->state_dir = g_build_filename (h->sysfs.root, "state", NULL);
  h->record = g_build_filename (h->state_dir, "ksm-originals", NULL);
  /* as an operator left them before samepaged starts */
  sp_test_sysfs_set (&h->sysfs, "run", "0\n");
  sp_test_sysfs_set (&h->sysfs, "pages_to_scan", "1000\n");
  sp_test_sysfs_set (&h->sysfs, "sleep_millisecs", "50\n");
  sp_test_sysfs_set (&h->sysfs, "advisor_mode", "[none] scan-time\n");
  sp_test_fake_kernel_start (&h->kernel, &h->sysfs);
}

static void
host_teardown (Host *h, gconstpointer data)
{
  sp_test_fake_kernel_stop (&h->kernel);
  sp_test_sysfs_clear (&h->sysfs);
  g_free (h->state_dir);
  g_free (h->record);
}

static const char *
host_knob (Host *h, const char *name)
{
  static char *last;
  g_autofree char *contents = sp_test_sysfs_get (&h->sysfs, name);

  g_clear_pointer (&last, g_free);
  if (g_str_equal (name, "advisor_mode"))
    {
      SpKsmAdvisorMode mode;
      g_assert_true (sp_ksm_advisor_mode_parse (contents, &mode));
      last = g_strdup (sp_ksm_advisor_mode_to_string (mode));
    }
  else
    last = g_strstrip (g_strdup (contents));
  return last;
}

/* What the advisor decision of a host under pressure writes. */
static void
write_advisor_decision (SpKsmActuator *knobs, Host *h)
{
  g_autoptr (GError) error = NULL;
  SpDecision d = { 0 };
  SpKsmState ksm;

  add (&d, SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_SCAN_TIME);
  add (&d, SP_KSM_ADVISOR_MAX_CPU, 40);
  add (&d, SP_KSM_SLEEP_MILLISECS, 10);
  add (&d, SP_KSM_RUN, 1);
  g_assert_true (sp_ksm_read (h->sysfs.root, &ksm, &error));
  g_assert_true (sp_ksm_actuator_write (knobs, &ksm, &d, NULL, &error));
  g_assert_no_error (error);
}

static void
assert_as_found (Host *h)
{
  g_assert_cmpstr (host_knob (h, "advisor_mode"), ==, "none");
  g_assert_cmpstr (host_knob (h, "pages_to_scan"), ==, "1000");
  g_assert_cmpstr (host_knob (h, "sleep_millisecs"), ==, "50");
  g_assert_cmpstr (host_knob (h, "advisor_max_cpu"), ==, "70");
  g_assert_cmpstr (host_knob (h, "run"), ==, "0");
}

/* Issue 14: writing advisor_mode resets pages_to_scan; restoring writes
 * the advisor back first, then pages_to_scan (EINVAL under the advisor). */
static void
test_advisor_side_effect_restored (Host *h, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (h->sysfs.root, FALSE);
  g_autoptr (GError) error = NULL;

  write_advisor_decision (knobs, h);
  /* the kernel reset it when the advisor started */
  g_assert_cmpstr (host_knob (h, "pages_to_scan"), ==, "500");
  g_assert_true (sp_actuator_restore (SP_ACTUATOR (knobs), &error));
  g_assert_no_error (error);
  assert_as_found (h);
}

static void
test_record_before_first_write (Host *h, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (h->sysfs.root, FALSE);
  g_autoptr (GError) error = NULL;
  g_autofree char *record = NULL;

  sp_ksm_actuator_set_state_dir (knobs, h->state_dir);
  g_assert_false (g_file_test (h->record, G_FILE_TEST_EXISTS));
  h->kernel.record_path = h->record;
  write_advisor_decision (knobs, h);
  g_assert_cmpuint (h->kernel.n_writes, ==, 4);
  /* every knob was in the record before it was written */
  g_assert_cmpuint (h->kernel.n_unrecorded_writes, ==, 0);
  /* one record for the whole decision, written before its first knob */
  g_assert_cmpuint (h->kernel.n_record_versions, ==, 1);
  record = sp_test_read_file (h->record, NULL);
  g_assert_nonnull (strstr (record, "\npages_to_scan=1000\n"));
  g_assert_nonnull (strstr (record, "\nadvisor_mode=none\n"));
  g_assert_nonnull (strstr (record, "\nsleep_millisecs=50\n"));
  g_assert_nonnull (strstr (record, "\nrun=0\n"));
  g_assert_nonnull (strstr (record, h->sysfs.ksm_dir));

  /* a clean exit removes it */
  g_assert_true (sp_actuator_restore (SP_ACTUATOR (knobs), &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (h->record, G_FILE_TEST_EXISTS));
  assert_as_found (h);
}

/* SIGKILL: the next samepaged restores what the first one found. */
static void
test_record_survives_crash (Host *h, gconstpointer data)
{
  g_autoptr (SpKsmActuator) second = NULL;
  g_autoptr (GError) error = NULL;
  SpDecision d = { 0 };
  SpKsmState ksm;

  {
    g_autoptr (SpKsmActuator) first = sp_ksm_actuator_new (h->sysfs.root, FALSE);

    sp_ksm_actuator_set_state_dir (first, h->state_dir);
    write_advisor_decision (first, h);
    /* killed: no restore */
  }
  g_assert_true (g_file_test (h->record, G_FILE_TEST_EXISTS));
  g_assert_cmpstr (host_knob (h, "sleep_millisecs"), ==, "10");
  /* a knob the first one never wrote, changed meanwhile by someone */
  sp_test_sysfs_set (&h->sysfs, "max_page_sharing", "512\n");

  second = sp_ksm_actuator_new (h->sysfs.root, FALSE);
  sp_ksm_actuator_set_state_dir (second, h->state_dir);
  g_assert_cmpuint (sp_ksm_actuator_get_n_changed (second), ==, 5);
  add (&d, SP_KSM_MAX_PAGE_SHARING, 256);
  add (&d, SP_KSM_SLEEP_MILLISECS, 20);
  g_assert_true (sp_ksm_read (h->sysfs.root, &ksm, &error));
  g_assert_true (sp_ksm_actuator_write (second, &ksm, &d, NULL, &error));
  g_assert_no_error (error);

  g_assert_true (sp_actuator_restore (SP_ACTUATOR (second), &error));
  g_assert_no_error (error);
  /* the first one's originals, not what the second one found */
  assert_as_found (h);
  /* merged: a knob not in the record is restored to its value at first write */
  g_assert_cmpstr (host_knob (h, "max_page_sharing"), ==, "512");
  g_assert_false (g_file_test (h->record, G_FILE_TEST_EXISTS));
}

static void
test_record_dry_run (Host *h, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (h->sysfs.root, TRUE);

  sp_ksm_actuator_set_state_dir (knobs, h->state_dir);
  write_advisor_decision (knobs, h);
  g_assert_cmpuint (h->kernel.n_writes, ==, 0);
  g_assert_false (g_file_test (h->state_dir, G_FILE_TEST_EXISTS));
}

/* A record of another KSM directory (another --sysfs-root) is not loaded. */
static void
test_record_other_dir (Host *h, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (h->sysfs.root, FALSE);

  sp_test_write_file (h->record, "[originals]\nksm_dir=/elsewhere/kernel/mm/ksm\nrun=1\n", -1);
  sp_test_log_clear ();
  sp_ksm_actuator_set_state_dir (knobs, h->state_dir);
  g_assert_cmpuint (sp_ksm_actuator_get_n_changed (knobs), ==, 0);
  g_assert_cmpuint (sp_test_log_count ("WARNING Ignoring the record*not of*"), ==, 1);
}

/* restore_on_exit=false: left, said so, and nothing left to restore. */
static void
test_leave (Host *h, gconstpointer data)
{
  g_autoptr (SpKsmActuator) knobs = sp_ksm_actuator_new (h->sysfs.root, FALSE);

  sp_ksm_actuator_set_state_dir (knobs, h->state_dir);
  write_advisor_decision (knobs, h);
  sp_test_log_clear ();
  sp_actuator_leave (SP_ACTUATOR (knobs));
  g_assert_cmpuint (
      sp_test_log_count ("MESSAGE Leaving 5 KSM knob(s)*restore_on_exit=false*pages_to_scan=1000*"),
      ==, 1);
  g_assert_false (g_file_test (h->record, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (sp_ksm_actuator_get_n_changed (knobs), ==, 0);
  g_assert_cmpstr (host_knob (h, "advisor_mode"), ==, "scan-time");
  g_assert_cmpstr (host_knob (h, "sleep_millisecs"), ==, "10");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
#define ADD_HOST(path, fn) g_test_add (path, Host, NULL, host_setup, fn, host_teardown)
  ADD ("/ksm-actuator/write-only-changes", test_knobs_write_only_changes);
  ADD ("/ksm-actuator/restore", test_knobs_restore);
  ADD ("/ksm-actuator/dry-run", test_knobs_dry_run);
  ADD ("/ksm-actuator/unsupported-skipped", test_knobs_unsupported_skipped);
  ADD ("/ksm-actuator/write-error", test_knobs_write_error);
  ADD_HOST ("/ksm-actuator/advisor-side-effect-restored", test_advisor_side_effect_restored);
  ADD_HOST ("/ksm-actuator/record-before-first-write", test_record_before_first_write);
  ADD_HOST ("/ksm-actuator/record-survives-crash", test_record_survives_crash);
  ADD_HOST ("/ksm-actuator/record-dry-run", test_record_dry_run);
  ADD_HOST ("/ksm-actuator/record-other-dir", test_record_other_dir);
  ADD_HOST ("/ksm-actuator/leave", test_leave);
  return g_test_run ();
}
