/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs a libFuzzer target without libFuzzer: every file of the seed corpus
 * directory given as argument, once, in name order, as TAP ("ok N - file").
 * A finding aborts (a failed assertion, or a sanitizer in a sanitizer
 * build), so a crash is a failed test; the seeds are regression tests in
 * every build, gcc included.
 */
#define G_LOG_DOMAIN "fuzz-standalone"

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  guint failed = 0;

  if (argc != 2)
    {
      fprintf (stderr, "Usage: %s CORPUS-DIRECTORY\n", argv[0]);
      return 2;
    }
  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize (&argc, &argv);

  dir = g_dir_open (argv[1], 0, &error);
  if (dir == NULL)
    {
      printf ("1..0 # SKIP %s\n", error->message);
      return 1;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);

  if (names->len == 0)
    {
      /* an empty corpus is a mistake in the build, not a pass */
      printf ("1..1\nnot ok 1 - %s holds no seed\n", argv[1]);
      return 1;
    }

  printf ("1..%u\n", names->len);
  fflush (stdout);
  for (guint i = 0; i < names->len; i++)
    {
      const char *file = g_ptr_array_index (names, i);
      g_autofree char *path = g_build_filename (argv[1], file, NULL);
      g_autofree char *contents = NULL;
      gsize length = 0;

      if (!g_file_get_contents (path, &contents, &length, &error))
        {
          printf ("not ok %u - %s # %s\n", i + 1, file, error->message);
          g_clear_error (&error);
          failed++;
          continue;
        }
      /* an exact-size heap copy, like libFuzzer's: reading past the end
       * is caught by ASan and valgrind */
      {
        g_autofree uint8_t *input = g_memdup2 (contents, length);

        LLVMFuzzerTestOneInput (input, length);
      }
      printf ("ok %u - %s\n", i + 1, file);
      fflush (stdout);
    }
  return failed == 0 ? 0 : 1;
}
