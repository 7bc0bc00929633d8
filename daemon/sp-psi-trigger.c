/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-psi"

#include "sp-psi-trigger.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp-str.h"

/* ---- the spec ----------------------------------------------------------- */

gboolean
sp_psi_spec_parse (const char *text, SpPsiSpec *out, char **problem)
{
  g_autoptr (GPtrArray) tokens = NULL;
  g_autofree char *quoted = NULL;
  SpPsiSpec spec = { .enabled = TRUE };
  const char *kind;
  guint64 stall = 0;
  guint64 window = 0;

  g_return_val_if_fail (text != NULL && out != NULL && problem != NULL, FALSE);

  tokens = sp_str_fields (text);
  quoted = sp_quote (text);
  if (tokens->len == 1 && g_str_equal (g_ptr_array_index (tokens, 0), "off"))
    {
      *out = (SpPsiSpec){ .enabled = FALSE };
      return TRUE;
    }
  kind = tokens->len == 3 ? g_ptr_array_index (tokens, 0) : "";
  if (!g_str_equal (kind, "some") && !g_str_equal (kind, "full"))
    {
      *problem =
          g_strdup_printf ("%s is not \"off\" or \"some|full <stall µs> <window µs>\"", quoted);
      return FALSE;
    }
  spec.full = g_str_equal (kind, "full");
  if (!g_ascii_string_to_unsigned (g_ptr_array_index (tokens, 2), 10, SP_PSI_WINDOW_MIN_US,
                                   SP_PSI_WINDOW_MAX_US, &window, NULL))
    {
      *problem = g_strdup_printf ("%s: the window must be %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT
                                  " µs (the kernel's limits)",
                                  quoted, SP_PSI_WINDOW_MIN_US, SP_PSI_WINDOW_MAX_US);
      return FALSE;
    }
  if (!g_ascii_string_to_unsigned (g_ptr_array_index (tokens, 1), 10, 1, window, &stall, NULL))
    {
      *problem = g_strdup_printf (
          "%s: the stall must be 1..%" G_GUINT64_FORMAT " µs (at most the window)", quoted, window);
      return FALSE;
    }
  spec.stall_us = (gint64) stall;
  spec.window_us = (gint64) window;
  *out = spec;
  return TRUE;
}

char *
sp_psi_spec_to_string (const SpPsiSpec *spec)
{
  if (!spec->enabled)
    return g_strdup ("off");
  return g_strdup_printf ("%s %" G_GINT64_FORMAT " %" G_GINT64_FORMAT, spec->full ? "full" : "some",
                          spec->stall_us, spec->window_us);
}

gboolean
sp_psi_spec_equal (const SpPsiSpec *a, const SpPsiSpec *b)
{
  if (!a->enabled || !b->enabled)
    return !a->enabled == !b->enabled;
  return !a->full == !b->full && a->stall_us == b->stall_us && a->window_us == b->window_us;
}

/* ---- the pressure file -------------------------------------------------- */

typedef enum { KEY_AVG10, KEY_AVG60, KEY_AVG300, KEY_TOTAL, N_KEYS } Key;
static const char *const key_names[N_KEYS] = { "avg10", "avg60", "avg300", "total" };

static gboolean
parse_avg (const char *value, double *out)
{
  char *end = NULL;
  double v;

  if (!g_ascii_isdigit (*value))
    return FALSE;
  v = g_ascii_strtod (value, &end);
  if (end == value || *end != '\0' || !(v >= 0.0 && v <= 100.0))
    return FALSE;
  *out = v;
  return TRUE;
}

/* "avg10=0.00 avg60=0.00 avg300=0.00 total=0" (after "some "). */
static gboolean
parse_line (const char *kind, GPtrArray *tokens, SpPsiLine *line, GError **error)
{
  gboolean seen[N_KEYS] = { FALSE };
  double *avgs[] = { &line->avg10, &line->avg60, &line->avg300 };

  for (guint i = 1; i < tokens->len; i++)
    {
      const char *token = g_ptr_array_index (tokens, i);
      const char *eq = strchr (token, '=');
      gboolean ok;
      guint k;

      for (k = 0; k < N_KEYS; k++)
        if (eq != NULL && strlen (key_names[k]) == (gsize) (eq - token) &&
            strncmp (token, key_names[k], eq - token) == 0)
          break;
      if (k == N_KEYS)
        continue; /* a key newer kernels may add */
      ok = !seen[k] && (k == KEY_TOTAL ? g_ascii_string_to_unsigned (eq + 1, 10, 0, G_MAXUINT64,
                                                                     &line->total_us, NULL)
                                       : parse_avg (eq + 1, avgs[k]));
      if (!ok)
        {
          g_autofree char *quoted = sp_quote (token);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Invalid pressure file: %s %s %s", kind, seen[k] ? "repeats" : "has",
                       quoted);
          return FALSE;
        }
      seen[k] = TRUE;
    }
  for (guint k = 0; k < N_KEYS; k++)
    if (!seen[k])
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "Invalid pressure file: the %s line has no %s", kind, key_names[k]);
        return FALSE;
      }
  line->present = TRUE;
  return TRUE;
}

gboolean
sp_psi_stat_parse (const char *contents, SpPsiStat *out, GError **error)
{
  g_auto (GStrv) lines = NULL;
  SpPsiStat stat = { 0 };

  g_return_val_if_fail (contents != NULL && out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GPtrArray) tokens = sp_str_fields (lines[i]);
      const char *kind = tokens->len > 0 ? g_ptr_array_index (tokens, 0) : "";
      SpPsiLine *line = g_str_equal (kind, "some")   ? &stat.some
                        : g_str_equal (kind, "full") ? &stat.full
                                                     : NULL;

      if (line == NULL)
        continue;
      if (line->present)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Invalid pressure file: two %s lines", kind);
          return FALSE;
        }
      if (!parse_line (kind, tokens, line, error))
        return FALSE;
    }
  if (!stat.some.present)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "Invalid pressure file: no some line");
      return FALSE;
    }
  *out = stat;
  return TRUE;
}

char *
sp_psi_describe (const SpPsiSpec *spec, const SpPsiStat *stat)
{
  const char *kind = spec->full ? "full" : "some";
  const SpPsiLine *line = stat == NULL ? NULL : spec->full ? &stat->full : &stat->some;
  g_autoptr (GString) str = g_string_new (NULL);
  char pct[G_ASCII_DTOSTR_BUF_SIZE];
  char window[G_ASCII_DTOSTR_BUF_SIZE];

  g_ascii_formatd (pct, sizeof (pct), "%.3g", (double) spec->stall_us * 100.0 / spec->window_us);
  g_ascii_formatd (window, sizeof (window), "%.3g", (double) spec->window_us / 1e6);
  g_string_printf (str, "memory pressure: %s >= %s %% over %s s", kind, pct, window);
  if (line != NULL && line->present)
    {
      char avg[G_ASCII_DTOSTR_BUF_SIZE];

      g_ascii_formatd (avg, sizeof (avg), "%.2f", line->avg10);
      g_string_append_printf (str, " (avg10 %s %%)", avg);
    }
  return g_string_free (g_steal_pointer (&str), FALSE);
}

/* ---- the trigger -------------------------------------------------------- */

struct _SpPsiTrigger {
  GObject parent_instance;

  char *path;          /* <procfs>/pressure/memory */
  SpPsiSpec requested; /* what configure asked for last */
  gboolean configured;
  SpPsiSpec active; /* what is registered (enabled FALSE: nothing) */
  char *active_text;
  int fd;
  guint watch_id;

  char *last;
  gint64 last_time_us;
  gint64 last_emit_us;
  guint64 n_events;
  guint64 n_emitted;
  gint64 holdoff_us;
};

enum {
  SIGNAL_PRESSURE,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SpPsiTrigger, sp_psi_trigger, G_TYPE_OBJECT)

static void
drop_trigger (SpPsiTrigger *self)
{
  g_clear_handle_id (&self->watch_id, g_source_remove);
  if (self->fd >= 0)
    close (self->fd);
  self->fd = -1;
  self->active = (SpPsiSpec){ .enabled = FALSE };
  g_clear_pointer (&self->active_text, g_free);
}

static void
sp_psi_trigger_finalize (GObject *object)
{
  SpPsiTrigger *self = SP_PSI_TRIGGER (object);

  drop_trigger (self);
  g_free (self->path);
  g_free (self->last);
  G_OBJECT_CLASS (sp_psi_trigger_parent_class)->finalize (object);
}

static void
sp_psi_trigger_class_init (SpPsiTriggerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sp_psi_trigger_finalize;

  /**
   * SpPsiTrigger::pressure:
   * @description: "memory pressure: some >= 15 % over 1 s (avg10 18.00 %)"
   *
   * The trigger fired, at most once per hold-off.
   */
  signals[SIGNAL_PRESSURE] = g_signal_new ("pressure", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
sp_psi_trigger_init (SpPsiTrigger *self)
{
  self->fd = -1;
  self->holdoff_us = (gint64) SP_PSI_HOLDOFF_MS * 1000;
}

SpPsiTrigger *
sp_psi_trigger_new (const char *procfs_root)
{
  SpPsiTrigger *self = g_object_new (SP_TYPE_PSI_TRIGGER, NULL);

  self->path = g_build_filename (procfs_root, "pressure", "memory", NULL);
  return self;
}

/* The pressure file's text through the trigger's fd; NULL when none. */
static char *
read_pressure (SpPsiTrigger *self)
{
  char buf[4096];
  gssize n = pread (self->fd, buf, sizeof (buf) - 1, 0);

  if (n < 0 && errno == ESPIPE) /* a FIFO (tests) */
    n = read (self->fd, buf, sizeof (buf) - 1);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  return g_strdup (buf);
}

static gboolean
on_fd (int fd, GIOCondition condition, gpointer user_data)
{
  SpPsiTrigger *self = SP_PSI_TRIGGER (user_data);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  SpPsiStat stat = { 0 };
  gboolean have_stat;
  gint64 now;

  if (condition & (G_IO_ERR | G_IO_HUP | G_IO_NVAL))
    {
      g_warning ("The memory pressure trigger on %s failed; going on without it", self->path);
      self->watch_id = 0;
      drop_trigger (self);
      return G_SOURCE_REMOVE;
    }
  text = read_pressure (self);
  have_stat = text != NULL && sp_psi_stat_parse (text, &stat, &error);
  if (error != NULL)
    g_debug ("%s: %s", self->path, error->message);
  /* POLLPRI is the kernel's word: an event even when the text is odd. A
   * FIFO's G_IO_IN is an event only with pressure text (not, say, the
   * trigger samepaged itself wrote into it). */
  if (!have_stat && !(condition & G_IO_PRI))
    return G_SOURCE_CONTINUE;

  now = g_get_monotonic_time ();
  self->n_events++;
  g_free (self->last);
  self->last = sp_psi_describe (&self->active, have_stat ? &stat : NULL);
  self->last_time_us = now;
  if (self->last_emit_us != 0 && now - self->last_emit_us < self->holdoff_us)
    {
      g_debug ("%s (within the hold-off: no retune)", self->last);
      return G_SOURCE_CONTINUE;
    }
  self->last_emit_us = now;
  self->n_emitted++;
  g_signal_emit (self, signals[SIGNAL_PRESSURE], 0, self->last);
  return G_SOURCE_CONTINUE;
}

/* Opens the file and writes spec; errno of the failure, 0 on success. */
static int
try_register (SpPsiTrigger *self, const SpPsiSpec *spec)
{
  g_autofree char *text = sp_psi_spec_to_string (spec);
  struct stat st;
  int fd = open (self->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int code;

  if (fd < 0)
    return errno;
  /* the kernel takes the trigger with its NUL */
  if (fstat (fd, &st) < 0 || write (fd, text, strlen (text) + 1) < 0)
    {
      code = errno;
      close (fd);
      return code;
    }
  self->fd = fd;
  self->active = *spec;
  self->active_text = g_steal_pointer (&text);
  self->watch_id = g_unix_fd_add (fd, S_ISREG (st.st_mode) ? G_IO_PRI : G_IO_IN, on_fd, self);
  return 0;
}

void
sp_psi_trigger_configure (SpPsiTrigger *self, const SpPsiSpec *spec)
{
  g_autofree char *text = NULL;
  int code;

  g_return_if_fail (SP_IS_PSI_TRIGGER (self));
  g_return_if_fail (spec != NULL);

  if (self->configured && sp_psi_spec_equal (spec, &self->requested))
    return;
  self->configured = TRUE;
  self->requested = *spec;
  drop_trigger (self);
  if (!spec->enabled)
    {
      g_info ("Memory pressure trigger off (pressure_trigger = off)");
      return;
    }
  text = sp_psi_spec_to_string (spec);
  code = try_register (self, spec);
  if (code == EINVAL && spec->window_us % SP_PSI_UNPRIVILEGED_WINDOW_US != 0)
    {
      /* unprivileged triggers (no CAP_SYS_RESOURCE) take windows in
       * multiples of 2 s: the same share of a longer window */
      SpPsiSpec wider = *spec;

      wider.window_us =
          MIN (SP_PSI_WINDOW_MAX_US, (spec->window_us / SP_PSI_UNPRIVILEGED_WINDOW_US + 1) *
                                         SP_PSI_UNPRIVILEGED_WINDOW_US);
      wider.stall_us = MAX (1, spec->stall_us * wider.window_us / spec->window_us);
      if (try_register (self, &wider) == 0)
        {
          g_info ("The kernel refused the memory pressure trigger \"%s\" (without "
                  "CAP_SYS_RESOURCE a window must be a multiple of 2 s); registered \"%s\"",
                  text, self->active_text);
          return;
        }
    }
  if (code != 0)
    {
      g_info ("No memory pressure trigger on %s (\"%s\": %s); the 5 s meminfo watch goes on "
              "alone",
              self->path, text, g_strerror (code));
      return;
    }
  g_info ("Memory pressure trigger \"%s\" registered on %s", self->active_text, self->path);
}

const char *
sp_psi_trigger_get_active (SpPsiTrigger *self)
{
  g_return_val_if_fail (SP_IS_PSI_TRIGGER (self), NULL);
  return self->active_text;
}

const char *
sp_psi_trigger_get_last (SpPsiTrigger *self)
{
  g_return_val_if_fail (SP_IS_PSI_TRIGGER (self), NULL);
  return self->last;
}

const char *
sp_psi_trigger_get_recent (SpPsiTrigger *self, gint64 within_us)
{
  g_return_val_if_fail (SP_IS_PSI_TRIGGER (self), NULL);
  if (self->last_time_us == 0 || g_get_monotonic_time () - self->last_time_us >= within_us)
    return NULL;
  return self->last;
}

gint64
sp_psi_trigger_get_last_time (SpPsiTrigger *self)
{
  g_return_val_if_fail (SP_IS_PSI_TRIGGER (self), 0);
  return self->last_time_us;
}

guint64
sp_psi_trigger_get_n_events (SpPsiTrigger *self)
{
  g_return_val_if_fail (SP_IS_PSI_TRIGGER (self), 0);
  return self->n_events;
}

guint64
sp_psi_trigger_get_n_emitted (SpPsiTrigger *self)
{
  g_return_val_if_fail (SP_IS_PSI_TRIGGER (self), 0);
  return self->n_emitted;
}

void
sp_psi_trigger_set_holdoff_ms (SpPsiTrigger *self, guint holdoff_ms)
{
  g_return_if_fail (SP_IS_PSI_TRIGGER (self));
  self->holdoff_us = (gint64) holdoff_ms * 1000;
}
