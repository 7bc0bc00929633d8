/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The memory pressure trigger (sp-psi-trigger.h): the spec and the pressure
 * file parsers; the trigger on a fake procfs whose pressure/memory is a FIFO
 * (the test reads the trigger samepaged wrote and writes the pressure text
 * that wakes it); the tuner's pressure boost; and a registration on the
 * real kernel's /proc/pressure/memory where there is one.
 */
#define G_LOG_DOMAIN "test-psi-trigger"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp-psi-trigger.h"
#include "sp-test.h"
#include "sp-tuner.h"

#define PRESSURE_TEXT                                         \
  "some avg10=18.00 avg60=4.25 avg300=1.02 total=123456789\n" \
  "full avg10=7.50 avg60=1.00 avg300=0.20 total=23456789\n"

static SpPsiSpec
spec_of (const char *text)
{
  g_autofree char *problem = NULL;
  SpPsiSpec spec = { 0 };

  if (!sp_psi_spec_parse (text, &spec, &problem))
    g_error ("%s: %s", text, problem);
  return spec;
}

static void
test_spec (void)
{
  static const struct {
    const char *text;
    const char *canonical; /* NULL: refused */
  } cases[] = {
    { "some 150000 1000000", "some 150000 1000000" },
    { "\tfull  1 500000 ", "full 1 500000" },
    { "some 10000000 10000000", "some 10000000 10000000" },
    { " off ", "off" },
    { "some 150000 1000000 5", NULL },
    { "Some 150000 1000000", NULL },
    { "some 1.5 1000000", NULL },
    { "some 150000 0x100000", NULL },
    { "", NULL },
    { "off some", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *problem = NULL;
      SpPsiSpec spec = { .enabled = TRUE, .stall_us = 7, .window_us = 7 };
      gboolean ok = sp_psi_spec_parse (cases[i].text, &spec, &problem);

      g_test_message ("%s: %s", cases[i].text, ok ? "ok" : problem);
      if (cases[i].canonical == NULL)
        {
          g_assert_false (ok);
          g_assert_nonnull (problem);
          g_assert_cmpint (spec.stall_us, ==, 7); /* unchanged */
        }
      else
        {
          g_autofree char *text = sp_psi_spec_to_string (&spec);
          SpPsiSpec again = spec_of (text);

          g_assert_true (ok);
          g_assert_cmpstr (text, ==, cases[i].canonical);
          g_assert_true (sp_psi_spec_equal (&spec, &again));
        }
    }
  {
    SpPsiSpec a = spec_of ("some 150000 1000000");
    SpPsiSpec b = spec_of ("full 150000 1000000");
    SpPsiSpec off = spec_of ("off");
    SpPsiSpec off2 = { .enabled = FALSE, .stall_us = 5 };

    g_assert_false (sp_psi_spec_equal (&a, &b));
    g_assert_false (sp_psi_spec_equal (&a, &off));
    g_assert_true (sp_psi_spec_equal (&off, &off2));
  }
}

static void
test_stat_parse (void)
{
  static const struct {
    const char *text;
    const char *error; /* NULL: parses */
  } bad[] = {
    { "", "no some line" },
    { "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", "no some line" },
    { "some avg10=0.00 avg60=0.00 total=0\n", "the some line has no avg300" },
    { "some avg10=101.00 avg60=0.00 avg300=0.00 total=0\n", "some has 'avg10=101.00'" },
    { "some avg10=-1 avg60=0.00 avg300=0.00 total=0\n", "some has 'avg10=-1'" },
    { "some avg10=nan avg60=0.00 avg300=0.00 total=0\n", "some has 'avg10=nan'" },
    { "some avg10=1.0x avg60=0.00 avg300=0.00 total=0\n", "some has 'avg10=1.0x'" },
    { "some avg10=0 avg10=0 avg60=0.00 avg300=0.00 total=0\n", "some repeats 'avg10=0'" },
    { "some avg10=0 avg60=0 avg300=0 total=-5\n", "some has 'total=-5'" },
    { "some avg10=0 avg60=0 avg300=0 total=0\nsome avg10=0 avg60=0 avg300=0 total=0\n",
      "two some lines" },
  };
  g_autoptr (GError) error = NULL;
  SpPsiStat stat = { 0 };
  SpPsiSpec spec = spec_of ("some 150000 1000000");
  SpPsiSpec full = spec_of ("full 500000 2000000");
  g_autofree char *described = NULL;
  g_autofree char *described_full = NULL;
  g_autofree char *bare = NULL;

  g_assert_true (sp_psi_stat_parse (PRESSURE_TEXT "cpu avg10=x\nsome2 1\n", &stat, &error));
  g_assert_no_error (error);
  g_assert_true (stat.some.present);
  g_assert_cmpfloat (stat.some.avg10, ==, 18.0);
  g_assert_cmpfloat (stat.some.avg60, ==, 4.25);
  g_assert_cmpuint (stat.some.total_us, ==, 123456789);
  g_assert_true (stat.full.present);
  g_assert_cmpfloat (stat.full.avg10, ==, 7.5);

  /* unknown keys (a newer kernel) are ignored */
  g_assert_true (
      sp_psi_stat_parse ("some avg10=1.00 avg60=0 avg300=0 total=9 avg1=3\n", &stat, &error));
  g_assert_false (stat.full.present);
  g_assert_cmpuint (stat.some.total_us, ==, 9);

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      SpPsiStat untouched = { .some.total_us = 77 };

      g_clear_error (&error);
      g_assert_false (sp_psi_stat_parse (bad[i].text, &untouched, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      sp_test_assert_contains (error->message, bad[i].error);
      g_assert_cmpuint (untouched.some.total_us, ==, 77);
    }

  g_clear_error (&error);
  g_assert_true (sp_psi_stat_parse (PRESSURE_TEXT, &stat, &error));
  described = sp_psi_describe (&spec, &stat);
  g_assert_cmpstr (described, ==, "memory pressure: some >= 15 % over 1 s (avg10 18.00 %)");
  described_full = sp_psi_describe (&full, &stat);
  g_assert_cmpstr (described_full, ==, "memory pressure: full >= 25 % over 2 s (avg10 7.50 %)");
  bare = sp_psi_describe (&spec, NULL);
  g_assert_cmpstr (bare, ==, "memory pressure: some >= 15 % over 1 s");
}

/* ---- a fake procfs whose pressure/memory is a FIFO ------------------------ */

typedef struct {
  char *root;  /* holds proc/ */
  char *proc;  /* the procfs root */
  int fifo_fd; /* the test's end of proc/pressure/memory */
  GPtrArray *events;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  f->root = sp_test_make_tmp_dir ();
  f->proc = g_build_filename (f->root, "proc", NULL);
  dir = g_build_filename (f->proc, "pressure", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  path = g_build_filename (dir, "memory", NULL);
  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  f->fifo_fd = open (path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  g_assert_cmpint (f->fifo_fd, >=, 0);
  f->events = g_ptr_array_new_with_free_func (g_free);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  close (f->fifo_fd);
  sp_test_remove_tree (f->root);
  g_free (f->root);
  g_free (f->proc);
  g_ptr_array_unref (f->events);
}

/* What samepaged wrote into the FIFO (the trigger, with its NUL). */
static char *
read_written (Fixture *f, gssize *len)
{
  char buf[256];
  gssize n = read (f->fifo_fd, buf, sizeof (buf));

  *len = n;
  return n > 0 ? g_strndup (buf, n) : NULL;
}

static void
write_pressure (Fixture *f, const char *text)
{
  g_assert_cmpint (write (f->fifo_fd, text, strlen (text)), ==, (gssize) strlen (text));
}

static void
on_pressure (SpPsiTrigger *psi, const char *description, gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->events, g_strdup (description));
}

static void
wait_events (SpPsiTrigger *psi, guint64 n)
{
  SpTestTimeout timeout;

  sp_test_timeout_start (&timeout, 20);
  while (sp_psi_trigger_get_n_events (psi) < n && !timeout.expired)
    g_main_context_iteration (NULL, TRUE);
  sp_test_timeout_finish (&timeout);
}

static void
test_trigger_fifo (Fixture *f, gconstpointer data)
{
  g_autoptr (SpPsiTrigger) psi = sp_psi_trigger_new (f->proc);
  SpPsiSpec spec = spec_of ("some 150000 1000000");
  g_autofree char *written = NULL;
  gssize len = 0;

  g_signal_connect (psi, "pressure", G_CALLBACK (on_pressure), f);
  g_assert_null (sp_psi_trigger_get_active (psi));
  sp_psi_trigger_configure (psi, &spec);

  /* the trigger as the kernel takes it: the text and its NUL */
  written = read_written (f, &len);
  g_assert_cmpint (len, ==, strlen ("some 150000 1000000") + 1);
  g_assert_cmpstr (written, ==, "some 150000 1000000");
  g_assert_cmpstr (sp_psi_trigger_get_active (psi), ==, "some 150000 1000000");
  g_assert_null (sp_psi_trigger_get_last (psi));

  /* the same spec again registers nothing more */
  sp_psi_trigger_configure (psi, &spec);
  g_assert_null (read_written (f, &len));

  /* the first event: a signal, described from the pressure text */
  sp_psi_trigger_set_holdoff_ms (psi, 3600 * 1000);
  write_pressure (f, PRESSURE_TEXT);
  wait_events (psi, 1);
  g_assert_cmpuint (f->events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (f->events, 0), ==,
                   "memory pressure: some >= 15 % over 1 s (avg10 18.00 %)");
  g_assert_cmpstr (sp_psi_trigger_get_last (psi), ==,
                   "memory pressure: some >= 15 % over 1 s (avg10 18.00 %)");
  g_assert_cmpint (sp_psi_trigger_get_last_time (psi), >, 0);

  /* within the hold-off: counted and described, no signal */
  write_pressure (f, "some avg10=42.00 avg60=0 avg300=0 total=1\n");
  wait_events (psi, 2);
  g_assert_cmpuint (f->events->len, ==, 1);
  g_assert_cmpuint (sp_psi_trigger_get_n_emitted (psi), ==, 1);
  g_assert_cmpstr (sp_psi_trigger_get_last (psi), ==,
                   "memory pressure: some >= 15 % over 1 s (avg10 42.00 %)");

  /* on a FIFO, text that is not pressure text is no event; after the
   * hold-off, pressure text is a signal again */
  sp_psi_trigger_set_holdoff_ms (psi, 0);
  write_pressure (f, "some 150000 1000000");
  sp_test_settle (50);
  g_assert_null (read_written (f, &len)); /* read by samepaged */
  g_assert_cmpuint (sp_psi_trigger_get_n_events (psi), ==, 2);
  write_pressure (f, "some avg10=3.00 avg60=0 avg300=0 total=2\n");
  wait_events (psi, 3);
  g_assert_cmpuint (f->events->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (f->events, 1), ==,
                   "memory pressure: some >= 15 % over 1 s (avg10 3.00 %)");

  /* another spec replaces the trigger; off drops it */
  spec = spec_of ("full 500000 2000000");
  sp_psi_trigger_configure (psi, &spec);
  g_clear_pointer (&written, g_free);
  written = read_written (f, &len);
  g_assert_cmpstr (written, ==, "full 500000 2000000");
  spec = spec_of ("off");
  sp_psi_trigger_configure (psi, &spec);
  g_assert_null (sp_psi_trigger_get_active (psi));
  write_pressure (f, PRESSURE_TEXT);
  sp_test_settle (50);
  g_assert_cmpuint (sp_psi_trigger_get_n_events (psi), ==, 3);
}

/* No pressure file (no PSI, or psi=0): nothing registered, no error. */
static void
test_trigger_missing (Fixture *f, gconstpointer data)
{
  g_autofree char *elsewhere = g_build_filename (f->root, "no-proc", NULL);
  g_autoptr (SpPsiTrigger) psi = sp_psi_trigger_new (elsewhere);
  SpPsiSpec spec = spec_of (SP_PSI_DEFAULT_TRIGGER);

  sp_psi_trigger_configure (psi, &spec);
  g_assert_null (sp_psi_trigger_get_active (psi));
  g_assert_cmpuint (sp_psi_trigger_get_n_events (psi), ==, 0);
}

/*
 * The tuner: an event retunes at once, and the decision runs KSM at the top
 * rate on a host whose memory alone would stop it (24 GiB available).
 */
static void
test_tuner_boost (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpTuner) tuner = NULL;
  g_autofree char *written = NULL;
  SpSnapshot *snapshot;
  guint64 decisions;
  gssize len = 0;

  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  tuner = sp_test_tuner_new (f->root, config);
  snapshot = sp_tuner_get_snapshot (tuner);
  g_assert_cmpint (snapshot->decision.action, ==, SP_ACTION_STOP);
  g_assert_null (snapshot->pressure);
  g_assert_null (snapshot->pressure_last);
  /* the first decision already shows the trigger registered at start */
  g_assert_cmpstr (snapshot->pressure_trigger, ==, SP_PSI_DEFAULT_TRIGGER);
  written = read_written (f, &len);
  g_assert_cmpstr (written, ==, SP_PSI_DEFAULT_TRIGGER);

  decisions = sp_tuner_get_n_decisions (tuner);
  write_pressure (f, PRESSURE_TEXT);
  wait_events (sp_tuner_get_psi_trigger (tuner), 1);
  g_assert_cmpuint (sp_tuner_get_n_decisions (tuner), ==, decisions + 1);

  snapshot = sp_tuner_get_snapshot (tuner);
  g_assert_cmpint (snapshot->decision.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (snapshot->decision.npages, ==, config->npages_max);
  g_assert_true (g_str_has_prefix (snapshot->decision.reason,
                                   "run: memory pressure: some >= 15 % over 1 s (avg10 18.00 %), "
                                   "available "));
  sp_test_assert_contains (snapshot->decision.reason, "pressure boost to 1250 pages");
  g_assert_cmpstr (snapshot->pressure_trigger, ==, SP_PSI_DEFAULT_TRIGGER);
  g_assert_cmpstr (snapshot->pressure_last, ==,
                   "memory pressure: some >= 15 % over 1 s (avg10 18.00 %)");

  /* the next decision (a tick) within monitor_interval keeps the boost */
  sp_tuner_retune (tuner);
  snapshot = sp_tuner_get_snapshot (tuner);
  g_assert_cmpint (snapshot->decision.action, ==, SP_ACTION_RUN);
  g_assert_nonnull (snapshot->pressure);

  /* pressure_trigger = off (SIGHUP, SetTuning) drops the trigger */
  config->pressure_trigger = spec_of ("off");
  sp_tuner_set_config (tuner, config);
  g_assert_null (sp_tuner_get_snapshot (tuner)->pressure_trigger);
  g_assert_nonnull (sp_tuner_get_snapshot (tuner)->pressure_last);
}

/* The pressure holds for monitor_interval after the last event, no longer. */
static void
test_tuner_hold (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpTuner) tuner = NULL;
  g_autofree char *written = NULL;
  gssize len = 0;

  config->monitor_interval_sec = 1;
  tuner = sp_test_tuner_new (f->root, config);
  written = read_written (f, &len);
  write_pressure (f, PRESSURE_TEXT);
  wait_events (sp_tuner_get_psi_trigger (tuner), 1);
  g_assert_cmpint (sp_tuner_get_snapshot (tuner)->decision.action, ==, SP_ACTION_RUN);

  /* wait for the hold to run out (not a timing assertion: the outcome is checked after) */
  while (g_get_monotonic_time () - sp_psi_trigger_get_last_time (sp_tuner_get_psi_trigger (tuner)) <
         G_USEC_PER_SEC)
    g_usleep (50 * 1000);
  sp_tuner_retune (tuner);
  g_assert_null (sp_tuner_get_snapshot (tuner)->pressure);
  g_assert_cmpint (sp_tuner_get_snapshot (tuner)->decision.action, ==, SP_ACTION_STOP);
  g_assert_nonnull (sp_tuner_get_snapshot (tuner)->pressure_last);
}

/* The real kernel: where the test itself can register a trigger, the
 * default one registers too (widened to 2 s where the process lacks
 * CAP_SYS_RESOURCE). Causing real pressure is left to no test: see
 * docs/architecture.md. */
static void
test_real_kernel (void)
{
  static const char probe[] = "some 300000 2000000";
  g_autoptr (SpPsiTrigger) psi = sp_psi_trigger_new ("/proc");
  SpPsiSpec spec = spec_of (SP_PSI_DEFAULT_TRIGGER);
  int fd = open ("/proc/pressure/memory", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  const char *active;

  if (fd < 0 || write (fd, probe, sizeof (probe)) < 0)
    {
      g_autofree char *why =
          g_strdup_printf ("/proc/pressure/memory takes no trigger here: %s", g_strerror (errno));
      if (fd >= 0)
        close (fd);
      g_test_skip (why);
      return;
    }
  close (fd);
  sp_psi_trigger_configure (psi, &spec);
  active = sp_psi_trigger_get_active (psi);
  g_test_message ("registered: %s", active ? active : "(none)");
  g_assert_true (g_strcmp0 (active, "some 150000 1000000") == 0 ||
                 g_strcmp0 (active, "some 300000 2000000") == 0);
  spec = spec_of ("off");
  sp_psi_trigger_configure (psi, &spec);
  g_assert_null (sp_psi_trigger_get_active (psi));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/psi/spec", test_spec);
  g_test_add_func ("/psi/stat-parse", test_stat_parse);
  g_test_add ("/psi/trigger-fifo", Fixture, NULL, fixture_setup, test_trigger_fifo,
              fixture_teardown);
  g_test_add ("/psi/trigger-missing", Fixture, NULL, fixture_setup, test_trigger_missing,
              fixture_teardown);
  g_test_add ("/psi/tuner-boost", Fixture, NULL, fixture_setup, test_tuner_boost, fixture_teardown);
  g_test_add ("/psi/tuner-hold", Fixture, NULL, fixture_setup, test_tuner_hold, fixture_teardown);
  g_test_add_func ("/psi/real-kernel", test_real_kernel);
  return g_test_run ();
}
