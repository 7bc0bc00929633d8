/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpAuthority decides whether the caller of a D-Bus method may do what it
 * asks. Default deny: only a positive polkit answer allows, with one
 * exception: when no polkit authority is reachable (polkit_authority_get
 * fails, or org.freedesktop.PolicyKit1 has no owner and cannot be
 * activated), callers with uid 0 are allowed and everybody else is denied;
 * that is logged once.
 *
 * Asynchronous (a GTask): a polkit check can wait for a password.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SP_TYPE_AUTHORITY (sp_authority_get_type ())
G_DECLARE_FINAL_TYPE (SpAuthority, sp_authority, SP, AUTHORITY, GObject)

SpAuthority *sp_authority_new (void);

/*
 * The default-deny table: the polkit action a method of a samepaged
 * interface needs ("org.samepage1.configure" for
 * org.samepage1.Manager.SetTuning), or NULL when the table has no entry:
 * such a method is denied to everybody, root included.
 */
const char *sp_authority_lookup_action (const char *interface_name, const char *method_name);

/* Whether a method only reads what the properties show anybody (ListDomains):
 * it needs no action and is answered without asking polkit. */
gboolean sp_authority_is_public (const char *interface_name, const char *method_name);

/*
 * Checks whether the sender of invocation may call its method: the action
 * of the table, asked to polkit. polkit may ask the user for a password only
 * if the message carries ALLOW_INTERACTIVE_AUTHORIZATION.
 */
void sp_authority_check_async (SpAuthority *self, GDBusMethodInvocation *invocation,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);

/*
 * TRUE when allowed; *uid is the caller's uid (G_MAXUINT32 when it could not
 * be found). Denied: SP_ERROR_ACCESS_DENIED, "Not authorized: <action> (why)";
 * a method without an action: "Not authorized: <Interface>.<Method> (why)".
 * A denial is not logged here: the caller logs it (SpDbusService, at most
 * once per sender per minute).
 */
gboolean sp_authority_check_finish (SpAuthority *self, GAsyncResult *result, guint32 *uid,
                                    GError **error);

G_END_DECLS
