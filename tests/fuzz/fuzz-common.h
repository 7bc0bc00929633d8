/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the fuzz targets share: a NUL-terminated copy of the input, a log
 * writer that makes any warning or critical a finding (parsers report
 * through GError, never through the log), and a private directory on a
 * tmpfs for the parsers that take a path.
 */
#pragma once

#include <errno.h>
#include <gio/gio.h> /* G_IO_ERROR: the parsers' refusals */
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Checked in every build type (assert() vanishes under NDEBUG). */
#define FUZZ_CHECK(expr)                                                              \
  G_STMT_START                                                                        \
  {                                                                                   \
    if (G_UNLIKELY (!(expr)))                                                         \
      {                                                                               \
        fprintf (stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #expr); \
        abort ();                                                                     \
      }                                                                               \
  }                                                                                   \
  G_STMT_END

/* A parser's refusal: an INVALID_DATA error with a message, and its output
 * (size bytes at result) as it was before the call (a copy at untouched). */
static inline void
fuzz_check_refused (const GError *error, const void *result, const void *untouched, size_t size)
{
  FUZZ_CHECK (error != NULL && error->message != NULL);
  FUZZ_CHECK (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));
  FUZZ_CHECK (memcmp (result, untouched, size) == 0);
}

/* A copy of the input with a NUL after it (the input itself has none). */
static inline char *
fuzz_strndup (const uint8_t *data, size_t size)
{
  char *copy = g_malloc (size + 1);

  if (size > 0)
    memcpy (copy, data, size);
  copy[size] = '\0';
  return copy;
}

static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags log_level, const GLogField *fields, gsize n_fields,
                 gpointer user_data)
{
  if (!(log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)))
    return G_LOG_WRITER_HANDLED; /* debug output would only slow the fuzzer down */
  g_log_writer_standard_streams (log_level, fields, n_fields, user_data);
  fprintf (stderr, "fuzz: a parser logged a warning or critical: a finding\n");
  abort ();
}

static inline void
fuzz_init_logging (void)
{
  g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
}

/* ---- a private directory for the targets whose parser takes a path ---- */

static char *fuzz_dir;

static void
fuzz_dir_remove (void)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (fuzz_dir == NULL)
    return;
  dir = g_dir_open (fuzz_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fuzz_dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (fuzz_dir);
  g_clear_pointer (&fuzz_dir, g_free);
}

/* Creates the directory of this process: on /dev/shm (a tmpfs: no disk
 * writes, at a million executions), else in $TMPDIR. */
static inline void
fuzz_dir_init (void)
{
  g_autofree char *template = NULL;

  if (g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) && access ("/dev/shm", W_OK) == 0)
    template = g_strdup ("/dev/shm/samepage-fuzz-XXXXXX");
  else
    template = g_build_filename (g_get_tmp_dir (), "samepage-fuzz-XXXXXX", NULL);
  if (g_mkdtemp (template) == NULL)
    {
      fprintf (stderr, "fuzz: cannot create %s: %s\n", template, g_strerror (errno));
      abort ();
    }
  fuzz_dir = g_steal_pointer (&template);
  atexit (fuzz_dir_remove);
}

/* Writes data to name in the private directory; returns its path. */
static inline char *
fuzz_dir_write (const char *name, const void *data, gsize size)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (fuzz_dir, name, NULL);

  if (!g_file_set_contents_full (path, data, (gssize) size, G_FILE_SET_CONTENTS_NONE, 0600, &error))
    {
      fprintf (stderr, "fuzz: %s\n", error->message);
      abort ();
    }
  return path;
}
