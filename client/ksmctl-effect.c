/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What ksmctl merge and ksmctl balloon DOMAIN reporting print after changing
 * a domain's persistent config: read the domain back, and say when the
 * change takes effect (now, at its next cold start, when it starts).
 */
#define G_LOG_DOMAIN "ksmctl"

#include "ksmctl.h"

/* A running guest keeps the config it was started with: QEMU reads <nosharepages/> and
 * freePageReporting when its process starts, so a reboot inside the guest changes nothing. */
#define PENDING_MESSAGE "takes effect when the guest is next started; a guest reboot is not enough"

static const char *const effect_names[] = { "unknown", "now", "next-start", "at-start" };

void
ksmctl_json_add_effect (JsonBuilder *builder, KsmctlEffect effect, GVariant *found)
{
  json_builder_set_member_name (builder, "takes_effect");
  json_builder_add_string_value (builder, effect_names[effect]);
  json_builder_set_member_name (builder, "state");
  if (found != NULL)
    ksmctl_json_add_domain (builder, found);
  else
    json_builder_add_null_value (builder);
}

gboolean
ksmctl_read_back (Ksmctl *ctl, const char *domain, GVariant **found, GVariant **props)
{
  g_autoptr (GPtrArray) domains = NULL;
  g_autoptr (GError) error = NULL;

  *found = NULL;
  *props = NULL;
  domains = ksmctl_get_domains (ctl, &error);
  if (domains == NULL)
    {
      g_printerr ("ksmctl: cannot read %s back: %s\n", domain, error->message);
      return FALSE;
    }
  *found = ksmctl_find_domain (domains, domain);
  if (*found != NULL)
    *props = g_variant_get_child_value (*found, 1);
  return *props != NULL;
}

KsmctlEffect
ksmctl_effect_of (GVariant *props, const char *pending_key, const char *running_key,
                  gboolean wanted)
{
  if (props == NULL)
    return KSMCTL_EFFECT_UNKNOWN;
  if (!ksmctl_dict_boolean (props, "Active"))
    return KSMCTL_EFFECT_AT_START;
  /* pending, or a snapshot not yet refreshed whose running config differs */
  if ((pending_key != NULL && ksmctl_dict_boolean (props, pending_key)) ||
      ksmctl_dict_boolean (props, running_key) != wanted)
    return KSMCTL_EFFECT_NEXT_START;
  return KSMCTL_EFFECT_NOW;
}

void
ksmctl_print_effect (GVariant *props, const char *name_or_uuid, const char *what, gboolean wanted,
                     KsmctlEffect effect)
{
  const char *name = props != NULL ? ksmctl_dict_string (props, "Name") : NULL;
  const char *setting = wanted ? "on" : "off";

  if (name == NULL)
    name = name_or_uuid;
  switch (effect)
    {
    case KSMCTL_EFFECT_NOW:
      g_print ("%s: %s %s, in effect now\n", name, what, setting);
      break;
    case KSMCTL_EFFECT_NEXT_START:
      g_print ("%s: %s %s in the persistent config.\n"
               "The guest is running: this %s\n",
               name, what, setting, PENDING_MESSAGE);
      break;
    case KSMCTL_EFFECT_AT_START:
      g_print ("%s: %s %s; takes effect when the guest starts\n", name, what, setting);
      break;
    case KSMCTL_EFFECT_UNKNOWN:
    default:
      g_print ("%s: %s %s in the persistent config.\n"
               "If the guest is running, this %s\n",
               name, what, setting, PENDING_MESSAGE);
      break;
    }
}

void
ksmctl_print_json_vardict (GVariant *vardict)
{
  g_autoptr (GVariant) sunk = g_variant_ref_sink (vardict);
  g_autoptr (JsonNode) root = json_gvariant_serialize (sunk);

  ksmctl_print_json (root, TRUE);
}
