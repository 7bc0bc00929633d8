/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sp-enums.h"

typedef struct {
  int value;
  const char *name;
} SpEnumName;

static const SpEnumName mode_names[] = {
  { SP_MODE_AUTO, "auto" },
  { SP_MODE_ALWAYS, "always" },
  { SP_MODE_NEVER, "never" },
  { 0, NULL },
};

static const SpEnumName scan_rate_names[] = {
  { SP_SCAN_RATE_AUTO, "auto" },
  { SP_SCAN_RATE_ADVISOR, "advisor" },
  { SP_SCAN_RATE_CLASSIC, "classic" },
  { 0, NULL },
};

static const SpEnumName free_source_names[] = {
  { SP_FREE_SOURCE_AVAILABLE, "available" },
  { SP_FREE_SOURCE_KSMTUNED, "ksmtuned" },
  { 0, NULL },
};

static const SpEnumName action_names[] = {
  { SP_ACTION_NONE, "none" },
  { SP_ACTION_STOP, "stop" },
  { SP_ACTION_RUN, "run" },
  { 0, NULL },
};

static const char *
enum_to_string (const SpEnumName *table, int value)
{
  for (const SpEnumName *e = table; e->name != NULL; e++)
    if (e->value == value)
      return e->name;
  return "unknown";
}

static gboolean
enum_from_string (const SpEnumName *table, const char *str, int *out)
{
  if (str == NULL)
    return FALSE;
  for (const SpEnumName *e = table; e->name != NULL; e++)
    {
      if (g_strcmp0 (e->name, str) == 0)
        {
          *out = e->value;
          return TRUE;
        }
    }
  return FALSE;
}

#define SP_DEFINE_ENUM_STRINGS(Type, prefix, table)          \
  const char *prefix##_to_string (Type value)                \
  {                                                          \
    return enum_to_string (table, (int) value);              \
  }                                                          \
  gboolean prefix##_from_string (const char *str, Type *out) \
  {                                                          \
    int v;                                                   \
    if (!enum_from_string (table, str, &v))                  \
      return FALSE;                                          \
    *out = (Type) v;                                         \
    return TRUE;                                             \
  }

SP_DEFINE_ENUM_STRINGS (SpMode, sp_mode, mode_names)
SP_DEFINE_ENUM_STRINGS (SpScanRate, sp_scan_rate, scan_rate_names)
SP_DEFINE_ENUM_STRINGS (SpFreeSource, sp_free_source, free_source_names)
SP_DEFINE_ENUM_STRINGS (SpAction, sp_action, action_names)
