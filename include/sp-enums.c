/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sp-enums.h"

#include "sp-enum-types.h"

/* The nick of value in the enum type, or "unknown". */
static const char *
enum_to_nick (GType type, int value)
{
  GEnumClass *klass = g_type_class_ref (type); /* static types: never freed */
  GEnumValue *v = g_enum_get_value (klass, value);

  g_type_class_unref (klass);
  return v != NULL ? v->value_nick : "unknown";
}

static gboolean
enum_from_nick (GType type, const char *str, int *out)
{
  GEnumClass *klass;
  GEnumValue *v;

  if (str == NULL)
    return FALSE;
  klass = g_type_class_ref (type);
  v = g_enum_get_value_by_nick (klass, str);
  g_type_class_unref (klass);
  if (v == NULL)
    return FALSE;
  *out = v->value;
  return TRUE;
}

#define SP_DEFINE_ENUM_STRINGS(Type, prefix, gtype)          \
  const char *prefix##_to_string (Type value)                \
  {                                                          \
    return enum_to_nick (gtype, (int) value);                \
  }                                                          \
  gboolean prefix##_from_string (const char *str, Type *out) \
  {                                                          \
    int v;                                                   \
    if (!enum_from_nick (gtype, str, &v))                    \
      return FALSE;                                          \
    *out = (Type) v;                                         \
    return TRUE;                                             \
  }

SP_DEFINE_ENUM_STRINGS (SpMode, sp_mode, SP_TYPE_MODE)
SP_DEFINE_ENUM_STRINGS (SpScanRate, sp_scan_rate, SP_TYPE_SCAN_RATE)
SP_DEFINE_ENUM_STRINGS (SpFreeSource, sp_free_source, SP_TYPE_FREE_SOURCE)
SP_DEFINE_ENUM_STRINGS (SpAction, sp_action, SP_TYPE_ACTION)
SP_DEFINE_ENUM_STRINGS (SpKsmMergeable, sp_ksm_mergeable, SP_TYPE_KSM_MERGEABLE)
SP_DEFINE_ENUM_STRINGS (SpBalloonMode, sp_balloon_mode, SP_TYPE_BALLOON_MODE)
SP_DEFINE_ENUM_STRINGS (SpBalloonAction, sp_balloon_action, SP_TYPE_BALLOON_ACTION)
