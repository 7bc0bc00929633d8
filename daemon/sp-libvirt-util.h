/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libvirt handles with g_autoptr, and the one place a libvirt error becomes
 * a GError. */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

G_BEGIN_DECLS

static inline void
sp_virt_connect_close (virConnectPtr conn)
{
  virConnectClose (conn);
}

static inline void
sp_virt_domain_free (virDomainPtr dom)
{
  virDomainFree (dom);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (virConnect, sp_virt_connect_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (virDomain, sp_virt_domain_free)

/*
 * Sets error (SP_ERROR_LIBVIRT) from this thread's last libvirt error:
 * "<what>: <libvirt message>".
 */
void sp_libvirt_set_error (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Silences libvirt's default printing of every error to stderr; errors are
 * reported through GError instead. */
void sp_libvirt_quiet_errors (void);

G_END_DECLS
