/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-authority"

#include "sp-authority.h"

#include <polkit/polkit.h>

#include "sp-error.h"
#include "sp-log.h"
#include "sp-names.h"

#define UID_UNKNOWN G_MAXUINT32

struct _SpAuthority {
  GObject parent_instance;

  PolkitAuthority *polkit; /* NULL until reached once */
  SpLogOnce no_polkit;     /* set while only root is allowed */
};

G_DEFINE_TYPE (SpAuthority, sp_authority, G_TYPE_OBJECT)

/* Who may call what: a method not listed is denied (default deny). Reads
 * (properties, ObjectManager) are public and never come here. */
static const struct {
  const char *interface_name;
  const char *method_name;
  const char *action_id;
} actions[] = {
  { SP_DBUS_INTERFACE_MANAGER, "SetTuning", SP_POLKIT_ACTION_CONFIGURE },
  { SP_DBUS_INTERFACE_MANAGER, "SetMode", SP_POLKIT_ACTION_CONFIGURE },
  { SP_DBUS_INTERFACE_MANAGER, "Retune", SP_POLKIT_ACTION_CONFIGURE },
  { SP_DBUS_INTERFACE_MANAGER, "Unmerge", SP_POLKIT_ACTION_CONFIGURE },
  { SP_DBUS_INTERFACE_MANAGER, "SetMemMerge", SP_POLKIT_ACTION_SET_MEM_MERGE },
  { SP_DBUS_INTERFACE_MANAGER, "SetBalloon", SP_POLKIT_ACTION_SET_BALLOON },
};

/* Methods that only read (what the properties and GetManagedObjects show
 * anybody): answered without polkit. */
static const struct {
  const char *interface_name;
  const char *method_name;
} public_methods[] = {
  { SP_DBUS_INTERFACE_MANAGER, "ListDomains" },
};

gboolean
sp_authority_is_public (const char *interface_name, const char *method_name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (public_methods); i++)
    if (g_strcmp0 (public_methods[i].interface_name, interface_name) == 0 &&
        g_strcmp0 (public_methods[i].method_name, method_name) == 0)
      return TRUE;
  return FALSE;
}

const char *
sp_authority_lookup_action (const char *interface_name, const char *method_name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    if (g_strcmp0 (actions[i].interface_name, interface_name) == 0 &&
        g_strcmp0 (actions[i].method_name, method_name) == 0)
      return actions[i].action_id;
  return NULL;
}

/* One check, the task data. */
typedef struct {
  GDBusMethodInvocation *invocation;
  char *action_id; /* NULL: the method has none (denied) */
  guint32 uid;
  gboolean interactive; /* the caller allows polkit to ask for a password */
} Check;

static void
check_free (Check *check)
{
  g_clear_object (&check->invocation);
  g_free (check->action_id);
  g_free (check);
}

static void
sp_authority_finalize (GObject *object)
{
  SpAuthority *self = SP_AUTHORITY (object);

  g_clear_object (&self->polkit);
  sp_log_once_reset (&self->no_polkit);
  G_OBJECT_CLASS (sp_authority_parent_class)->finalize (object);
}

static void
sp_authority_class_init (SpAuthorityClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sp_authority_finalize;
}

static void
sp_authority_init (SpAuthority *self)
{
}

SpAuthority *
sp_authority_new (void)
{
  return g_object_new (SP_TYPE_AUTHORITY, NULL);
}

/* Denied: the error says what and why. Not logged here: the D-Bus service
 * logs refused calls, at most once per sender per minute. */
static void
deny (GTask *task, const char *why)
{
  Check *check = g_task_get_task_data (task);
  g_autofree char *what =
      check->action_id != NULL
          ? g_strdup (check->action_id)
          : g_strdup_printf ("%s.%s",
                             g_dbus_method_invocation_get_interface_name (check->invocation),
                             g_dbus_method_invocation_get_method_name (check->invocation));

  g_task_return_new_error (task, SP_ERROR, SP_ERROR_ACCESS_DENIED, "Not authorized: %s (%s)", what,
                           why);
}

/* A failed step: cancellation goes back as is, anything else denies. */
static void
deny_on_error (GTask *task, GError *error, const char *what)
{
  g_autofree char *why = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_dbus_error_strip_remote_error (error);
  why = g_strdup_printf ("%s: %s", what, error->message);
  g_error_free (error);
  deny (task, why);
}

/* No polkit authority answers: root only. */
static void
check_without_polkit (GTask *task, const char *why)
{
  SpAuthority *self = g_task_get_source_object (task);
  Check *check = g_task_get_task_data (task);

  if (sp_log_once_changed (&self->no_polkit, "no polkit"))
    g_warning ("No polkit authority is reachable (%s): only root (uid 0) may change "
               "samepaged's settings until polkit answers",
               why);
  if (check->uid == 0)
    g_task_return_boolean (task, TRUE);
  else
    deny (task, "no polkit authority is reachable: only root may do this");
}

static void
on_polkit_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SpAuthority *self = g_task_get_source_object (task);
  g_autoptr (PolkitAuthorizationResult) answer = NULL;
  g_autoptr (GError) error = NULL;

  answer = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), result, &error);
  if (answer == NULL)
    {
      g_autofree char *owner = polkit_authority_get_owner (self->polkit);

      /* nobody owns org.freedesktop.PolicyKit1 and it could not be activated */
      if (owner == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_dbus_error_strip_remote_error (error);
          check_without_polkit (task, error->message);
          return;
        }
      deny_on_error (task, g_steal_pointer (&error), "polkit failed");
      return;
    }

  if (sp_log_once_reset (&self->no_polkit))
    g_message ("polkit answers again: it decides who may change samepaged's settings");

  if (polkit_authorization_result_get_is_authorized (answer))
    g_task_return_boolean (task, TRUE);
  else if (polkit_authorization_result_get_is_challenge (answer))
    deny (task, "authentication required");
  else
    deny (task, "denied by polkit");
}

static void
check_with_polkit (GTask *task)
{
  SpAuthority *self = g_task_get_source_object (task);
  Check *check = g_task_get_task_data (task);
  g_autoptr (PolkitSubject) subject = NULL;
  PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;

  subject = polkit_system_bus_name_new (g_dbus_method_invocation_get_sender (check->invocation));
  if (check->interactive)
    flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
  polkit_authority_check_authorization (self->polkit, subject, check->action_id, NULL, flags,
                                        g_task_get_cancellable (task), on_polkit_checked, task);
}

static void
on_polkit_authority (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SpAuthority *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthority) polkit = polkit_authority_get_finish (result, &error);

  if (polkit == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      check_without_polkit (task, error->message);
      return;
    }
  g_set_object (&self->polkit, polkit);
  check_with_polkit (g_steal_pointer (&task));
}

static void
on_caller_uid (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SpAuthority *self = g_task_get_source_object (task);
  Check *check = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      deny_on_error (task, g_steal_pointer (&error), "cannot identify the caller");
      return;
    }
  g_variant_get (reply, "(u)", &check->uid);

  if (self->polkit != NULL)
    {
      check_with_polkit (g_steal_pointer (&task));
      return;
    }
  polkit_authority_get_async (cancellable, on_polkit_authority, g_steal_pointer (&task));
}

void
sp_authority_check_async (SpAuthority *self, GDBusMethodInvocation *invocation,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  GDBusMessage *message;
  const char *sender;
  Check *check;

  g_return_if_fail (SP_IS_AUTHORITY (self));
  g_return_if_fail (G_IS_DBUS_METHOD_INVOCATION (invocation));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sp_authority_check_async);

  message = g_dbus_method_invocation_get_message (invocation);
  check = g_new0 (Check, 1);
  check->invocation = g_object_ref (invocation);
  check->action_id = g_strdup (
      sp_authority_lookup_action (g_dbus_method_invocation_get_interface_name (invocation),
                                  g_dbus_method_invocation_get_method_name (invocation)));
  check->uid = UID_UNKNOWN;
  check->interactive = (g_dbus_message_get_flags (message) &
                        G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
  g_task_set_task_data (task, check, (GDestroyNotify) check_free);

  /* the uid first: for the root-only rule and for the log */
  sender = g_dbus_method_invocation_get_sender (invocation);
  if (check->action_id == NULL)
    {
      deny (task, "no polkit action covers it: denied by default");
      return;
    }
  if (sender == NULL)
    {
      deny (task, "the caller has no bus name");
      return;
    }
  g_dbus_connection_call (g_dbus_method_invocation_get_connection (invocation),
                          "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "GetConnectionUnixUser", g_variant_new ("(s)", sender),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, cancellable,
                          on_caller_uid, g_steal_pointer (&task));
}

gboolean
sp_authority_check_finish (SpAuthority *self, GAsyncResult *result, guint32 *uid, GError **error)
{
  Check *check;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  check = g_task_get_task_data (G_TASK (result));
  if (uid != NULL)
    *uid = check->uid;
  return g_task_propagate_boolean (G_TASK (result), error);
}
