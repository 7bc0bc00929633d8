/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET
 * ("READY=1", "STATUS=...", "STOPPING=1"). Does nothing when the variable
 * is unset (not started by systemd).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when sent, or when there is nobody to tell. */
gboolean sp_notify (const char *state, GError **error);

G_END_DECLS
