/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the per-process KSM readers of procfs. Every input is
 * both a /proc/<pid>/ksm_stat (sp_ksm_proc_stat_parse) and a
 * /proc/<pid>/cmdline (sp_qemu_proc_cmdline_has_uuid, on an exact-size copy
 * without a NUL after it, as the kernel hands it over; checked against a
 * plain reference implementation).
 */
#define G_LOG_DOMAIN "fuzz-ksm-stat"

#include "fuzz-common.h"
#include "sp-procfs.h"
#include "sp-qemu-proc.h"

static const char *const uuids[] = {
  "c7a5fdbd-cdaf-9455-926a-d65c16db1809",
  "C7A5FDBD-CDAF-9455-926A-D65C16DB1809",
  "1",
};

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_logging ();
  return 0;
}

static gboolean
count_ok (gint64 value)
{
  return value >= -1;
}

static gboolean
mergeable_ok (SpKsmMergeable value)
{
  return value == SP_KSM_MERGEABLE_UNKNOWN || value == SP_KSM_MERGEABLE_YES ||
         value == SP_KSM_MERGEABLE_NO;
}

static void
check_ksm_stat (const uint8_t *data, size_t size)
{
  g_autofree char *contents = fuzz_strndup (data, size);
  g_autoptr (GError) error = NULL;
  SpKsmProcStat stat;
  SpKsmProcStat untouched;

  memset (&stat, 0x5a, sizeof (stat));
  untouched = stat;
  if (!sp_ksm_proc_stat_parse (contents, &stat, &error))
    {
      fuzz_check_refused (error, &stat, &untouched, sizeof (stat));
      return;
    }
  FUZZ_CHECK (error == NULL);
  /* counts are non-negative or -1 (not reported) */
  FUZZ_CHECK (count_ok (stat.rmap_items));
  FUZZ_CHECK (count_ok (stat.merging_pages));
  FUZZ_CHECK (count_ok (stat.zero_pages));
  FUZZ_CHECK (mergeable_ok (stat.mergeable));
  FUZZ_CHECK (mergeable_ok (stat.merge_any));
  /* present exactly when some known key was found */
  if (!stat.present)
    FUZZ_CHECK (stat.rmap_items == -1 && stat.merging_pages == -1 && stat.zero_pages == -1 &&
                stat.process_profit == -1 && stat.mergeable == SP_KSM_MERGEABLE_UNKNOWN &&
                stat.merge_any == SP_KSM_MERGEABLE_UNKNOWN);
  else
    FUZZ_CHECK (strstr (contents, "ksm_") != NULL);
}

/* The obvious implementation: argv elements are NUL-terminated, the last
 * one maybe not; "-uuid"/"--uuid" then an element equal to uuid, ignoring
 * ASCII case. */
static gboolean
reference_has_uuid (const char *cmdline, gsize len, const char *uuid)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  gsize start = 0;

  for (gsize i = 0; i < len; i++)
    if (cmdline[i] == '\0')
      {
        g_ptr_array_add (args, g_strndup (cmdline + start, i - start));
        start = i + 1;
      }
  if (start < len)
    g_ptr_array_add (args, g_strndup (cmdline + start, len - start));

  for (guint i = 0; i + 1 < args->len; i++)
    {
      const char *option = g_ptr_array_index (args, i);
      const char *value = g_ptr_array_index (args, i + 1);

      if ((strcmp (option, "-uuid") == 0 || strcmp (option, "--uuid") == 0) &&
          g_ascii_strcasecmp (value, uuid) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
check_cmdline (const uint8_t *data, size_t size)
{
  /* exactly size bytes on the heap: one byte too far is an ASan report */
  g_autofree char *cmdline = size > 0 ? g_memdup2 (data, size) : NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (uuids); i++)
    FUZZ_CHECK (sp_qemu_proc_cmdline_has_uuid (cmdline, size, uuids[i]) ==
                reference_has_uuid (cmdline, size, uuids[i]));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  check_ksm_stat (data, size);
  check_cmdline (data, size);
  return 0;
}
