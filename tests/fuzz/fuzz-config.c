/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: samepaged.conf (GKeyFile) through sp_config_load_file(),
 * which takes a path: the input is written to a file in a private tmpfs
 * directory first.
 */
#define G_LOG_DOMAIN "fuzz-config"

#include "fuzz-common.h"
#include "sp-config.h"
#include "sp-config-doc.h"
#include "sp-error.h"

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
  g_autofree char *path = fuzz_dir_write ("samepaged.conf", data, size);
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpConfig) before = sp_config_copy (config);
  g_autoptr (SpConfig) reloaded = sp_config_new_default ();
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path2 = NULL;

  if (!sp_config_load_file (config, path, TRUE, &error))
    {
      /* a config error naming the file, and the config as it was */
      FUZZ_CHECK (g_error_matches (error, SP_ERROR, SP_ERROR_CONFIG));
      FUZZ_CHECK (strstr (error->message, path) != NULL);
      FUZZ_CHECK (sp_config_equal (config, before));
      return 0;
    }
  FUZZ_CHECK (error == NULL);

  /* whatever was accepted is a valid configuration */
  FUZZ_CHECK (sp_config_validate (config, NULL));

  /* and survives --print-config: written out and read back, it is equal
   * (strings such as connect_uri escaped and unescaped again) */
  text = sp_config_to_data (config);
  /* (GKeyFile hands out UTF-8 strings only, so the text is UTF-8) */
  FUZZ_CHECK (text != NULL && g_utf8_validate (text, -1, NULL));
  path2 = fuzz_dir_write ("print-config.conf", text, strlen (text));
  if (!sp_config_load_file (reloaded, path2, TRUE, &error))
    {
      fprintf (stderr, "fuzz-config: --print-config output does not load: %s\n%s\n", error->message,
               text);
      abort ();
    }
  FUZZ_CHECK (sp_config_equal (config, reloaded));
  g_unlink (path2);
  g_unlink (path);
  return 0;
}
