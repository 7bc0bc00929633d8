/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the ksmtuned.conf import (sp_config_import_ksmtuned),
 * which takes a path: the input is written to a file in a private tmpfs
 * directory first. The file is parsed, never run: no input may do more
 * than set a known key to an in-range value or add a warning.
 */
#define G_LOG_DOMAIN "fuzz-ksmtuned"

#include "fuzz-common.h"
#include "sp-config.h"
#include "sp-error.h"
#include "sp-ksmtuned-import.h"

/* as in sp-ksmtuned-import.c */
#define MAX_SIZE ((size_t) 1024 * 1024)

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_logging ();
  fuzz_dir_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *path = fuzz_dir_write ("ksmtuned.conf", data, size);
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpConfig) before = sp_config_copy (config);
  g_autoptr (SpConfig) again = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;

  if (!sp_config_import_ksmtuned (config, path, warnings, &error))
    {
      /* only a file that is no text (a NUL byte, over 1 MiB) is refused
       * as a whole */
      FUZZ_CHECK (g_error_matches (error, SP_ERROR, SP_ERROR_CONFIG));
      FUZZ_CHECK (memchr (data, '\0', size) != NULL || size > MAX_SIZE);
      FUZZ_CHECK (sp_config_equal (config, before));
      g_unlink (path);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (memchr (data, '\0', size) == NULL);

  /* only the tuning keys change, and the result is valid: in range, no
   * inverted pair */
  FUZZ_CHECK (sp_config_validate (config, NULL));
  FUZZ_CHECK (config->mode == before->mode);
  FUZZ_CHECK (config->restore_on_exit == before->restore_on_exit);
  FUZZ_CHECK (g_strcmp0 (config->connect_uri, before->connect_uri) == 0);
  FUZZ_CHECK (g_strcmp0 (config->metrics_textfile, before->metrics_textfile) == 0);
  FUZZ_CHECK (config->scan_rate == before->scan_rate);
  FUZZ_CHECK (config->free_source == before->free_source);

  /* every warning is "file:line: ..." */
  for (guint i = 0; i < warnings->len; i++)
    {
      const char *warning = g_ptr_array_index (warnings, i);

      FUZZ_CHECK (warning != NULL && g_str_has_prefix (warning, path) &&
                  warning[strlen (path)] == ':');
    }

  /* importing the same file over its own result changes nothing */
  again = sp_config_copy (config);
  FUZZ_CHECK (sp_config_import_ksmtuned (again, path, NULL, NULL));
  FUZZ_CHECK (sp_config_equal (again, config));
  g_unlink (path);
  return 0;
}
