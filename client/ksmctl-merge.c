/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl merge DOMAIN on|off: SetMemMerge, then what the change means for the guest. */
#define G_LOG_DOMAIN "ksmctl"

#include "ksmctl.h"

static void
print_json (GVariant *domain, const char *name_or_uuid, gboolean enabled, KsmctlEffect effect)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "domain");
  json_builder_add_string_value (builder, name_or_uuid);
  json_builder_set_member_name (builder, "mem_merge");
  json_builder_add_boolean_value (builder, enabled);
  ksmctl_json_add_effect (builder, effect, domain);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  ksmctl_print_json (root, TRUE);
}

gboolean
ksmctl_cmd_merge (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  const char *domain = argv[1];
  gboolean enabled;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) found = NULL;
  g_autoptr (GVariant) props = NULL;
  KsmctlEffect effect;

  if (g_str_equal (argv[2], "on"))
    enabled = TRUE;
  else if (g_str_equal (argv[2], "off"))
    enabled = FALSE;
  else
    return ksmctl_usage_error (error, "'%s' is neither on nor off", argv[2]);

  reply = ksmctl_call_setter (ctl, "SetMemMerge", g_variant_new ("(sb)", domain, enabled), error);
  if (reply == NULL)
    return FALSE;

  /* The change is made: failing to read it back is only a warning. */
  ksmctl_read_back (ctl, domain, &found, &props);
  effect = ksmctl_effect_of (props, "PendingRestart", "MemMergeActive", enabled);

  if (ctl->json)
    print_json (found, domain, enabled, effect);
  else
    ksmctl_print_effect (props, domain, "memory merging", enabled, effect);
  return TRUE;
}
