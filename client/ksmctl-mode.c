/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl mode, start, stop (ksmtuned's, as mode always/never), retune and unmerge. */
#define G_LOG_DOMAIN "ksmctl"

#include "ksmctl.h"
#include "sp-enums.h"

static gboolean
set_mode (Ksmctl *ctl, SpMode mode, GError **error)
{
  const char *name = sp_mode_to_string (mode);
  g_autoptr (GVariant) reply = NULL;

  reply = ksmctl_call_setter (ctl, "SetMode", g_variant_new ("(s)", name), error);
  if (reply == NULL)
    return FALSE;

  if (ctl->json)
    {
      ksmctl_print_json_vardict (g_variant_new_parsed ("{'mode': <%s>}", name));
      return TRUE;
    }
  switch (mode)
    {
    case SP_MODE_ALWAYS:
      g_print ("Mode: always (KSM runs whatever the memory)\n");
      break;
    case SP_MODE_NEVER:
      g_print ("Mode: never (KSM is stopped)\n");
      break;
    case SP_MODE_AUTO:
    default:
      g_print ("Mode: auto (the tuning policy starts and stops KSM)\n");
      break;
    }
  return TRUE;
}

gboolean
ksmctl_cmd_mode (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  SpMode mode;

  if (!sp_mode_from_string (argv[1], &mode))
    return ksmctl_usage_error (error, "unknown mode '%s': use auto, always or never", argv[1]);
  return set_mode (ctl, mode, error);
}

gboolean
ksmctl_cmd_start (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  return set_mode (ctl, SP_MODE_ALWAYS, error);
}

gboolean
ksmctl_cmd_stop (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  return set_mode (ctl, SP_MODE_NEVER, error);
}

/* Retune returns after the decision: the properties read next hold it. */
gboolean
ksmctl_cmd_retune (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  const char *action;
  const char *reason;
  gint64 time_us;

  reply = ksmctl_call_setter (ctl, "Retune", NULL, error);
  if (reply == NULL)
    return FALSE;
  props = ksmctl_get_manager_properties (ctl, error);
  if (props == NULL)
    return FALSE;
  action = ksmctl_dict_string (props, "LastAction");
  reason = ksmctl_dict_string (props, "LastReason");
  time_us = ksmctl_dict_int (props, "LastDecisionTime");

  if (ctl->json)
    {
      g_autoptr (JsonBuilder) builder = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;

      ksmctl_json_add_decision (builder, action, reason, time_us);
      root = json_builder_get_root (builder);
      ksmctl_print_json (root, TRUE);
      return TRUE;
    }
  g_print ("Decision: %s\nWhy:      %s\n", action != NULL ? action : "unknown",
           reason != NULL && *reason != '\0' ? reason : "unknown");
  return TRUE;
}

/* Unmerge returns once no page is shared (mode never is set by then). */
gboolean
ksmctl_cmd_unmerge (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  g_autoptr (GVariant) reply = NULL;

  reply = ksmctl_call_setter (ctl, "Unmerge", NULL, error);
  if (reply == NULL)
    return FALSE;

  if (ctl->json)
    {
      ksmctl_print_json_vardict (g_variant_new_parsed ("{'unmerged': <true>, 'mode': <%s>}",
                                                       sp_mode_to_string (SP_MODE_NEVER)));
      return TRUE;
    }
  g_print ("Unmerged: no page is shared any more\n"
           "Mode: never (KSM stays stopped until the mode is changed)\n");
  return TRUE;
}
