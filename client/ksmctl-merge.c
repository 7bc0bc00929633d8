/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl merge DOMAIN on|off: SetMemMerge, then what the change means for the guest. */
#define G_LOG_DOMAIN "ksmctl"

#include "ksmctl.h"

/* A running guest keeps the memory backing it was started with: QEMU only reads
 * <nosharepages/> when its process starts, so a reboot inside the guest changes nothing. */
#define PENDING_MESSAGE "takes effect when the guest is next started; a guest reboot is not enough"

typedef enum {
  EFFECT_UNKNOWN,    /* the domain could not be read back */
  EFFECT_NOW,        /* running, and its running config already says so */
  EFFECT_NEXT_START, /* running with the other setting: waits for a cold start */
  EFFECT_AT_START,   /* shut off: the next start uses it */
} Effect;

static const char *const effect_names[] = { "unknown", "now", "next-start", "at-start" };

static Effect
effect_of (GVariant *props, gboolean enabled)
{
  gboolean active;

  if (props == NULL)
    return EFFECT_UNKNOWN;
  active = ksmctl_dict_boolean (props, "Active");
  if (!active)
    return EFFECT_AT_START;
  /* PendingRestart, or a snapshot not yet refreshed whose running config differs */
  if (ksmctl_dict_boolean (props, "PendingRestart") ||
      ksmctl_dict_boolean (props, "MemMergeActive") != enabled)
    return EFFECT_NEXT_START;
  return EFFECT_NOW;
}

static void
print_json (GVariant *domain, const char *name_or_uuid, gboolean enabled, Effect effect)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "domain");
  json_builder_add_string_value (builder, name_or_uuid);
  json_builder_set_member_name (builder, "mem_merge");
  json_builder_add_boolean_value (builder, enabled);
  json_builder_set_member_name (builder, "takes_effect");
  json_builder_add_string_value (builder, effect_names[effect]);
  json_builder_set_member_name (builder, "state");
  if (domain != NULL)
    ksmctl_json_add_domain (builder, domain);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  ksmctl_print_json (root, TRUE);
}

static void
print_human (GVariant *props, const char *name_or_uuid, gboolean enabled, Effect effect)
{
  const char *name = props != NULL ? ksmctl_dict_string (props, "Name") : NULL;
  const char *setting = enabled ? "on" : "off";

  if (name == NULL)
    name = name_or_uuid;
  switch (effect)
    {
    case EFFECT_NOW:
      g_print ("%s: memory merging %s, in effect now\n", name, setting);
      break;
    case EFFECT_NEXT_START:
      g_print ("%s: memory merging %s in the persistent config.\n"
               "The guest is running: this %s\n",
               name, setting, PENDING_MESSAGE);
      break;
    case EFFECT_AT_START:
      g_print ("%s: memory merging %s; takes effect when the guest starts\n", name, setting);
      break;
    case EFFECT_UNKNOWN:
    default:
      g_print ("%s: memory merging %s in the persistent config.\n"
               "If the guest is running, this %s\n",
               name, setting, PENDING_MESSAGE);
      break;
    }
}

gboolean
ksmctl_cmd_merge (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  const char *domain = argv[1];
  gboolean enabled;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GPtrArray) domains = NULL;
  g_autoptr (GVariant) found = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GError) read_error = NULL;
  Effect effect;

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
  domains = ksmctl_get_domains (ctl, &read_error);
  if (domains == NULL)
    g_printerr ("ksmctl: cannot read %s back: %s\n", domain, read_error->message);
  else
    found = ksmctl_find_domain (domains, domain);
  if (found != NULL)
    props = g_variant_get_child_value (found, 1);
  effect = effect_of (props, enabled);

  if (ctl->json)
    print_json (found, domain, enabled, effect);
  else
    print_human (props, domain, enabled, effect);
  return TRUE;
}
