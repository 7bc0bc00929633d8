/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One edit of a domain's persistent config, in a worker thread: read it
 * with secure info (what `virsh edit` reads: defining it without secrets
 * would drop passwords and keys), edit it (sp-domain-editor.h), read it
 * again and compare, define it back. What SetMemMerge (sp-mem-merge.h) and
 * SetBalloon's "reporting" (sp-balloon-settings.h) share.
 */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

/* How often a read-edit-define starts over when another client redefined
 * the domain in between, before SP_ERROR_CONFLICT. */
#define SP_DOMAIN_DEFINE_MAX_RETRIES 3

/* the persistent config, with secrets */
#define SP_DOMAIN_CONFIG_XML_FLAGS (VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE)

/* how SP_ERROR_UNKNOWN_DOMAIN reads for a domain found, then undefined */
#define SP_DOMAIN_DEFINE_GONE " any more (it was undefined meanwhile)"

/*
 * Call right after the libvirt call that failed: nearly every libvirt API,
 * virDomainGetName() included, resets the thread's last error on entry, so
 * the domain's name must come from elsewhere. VIR_ERR_NO_DOMAIN becomes
 * SP_ERROR_UNKNOWN_DOMAIN "No domain “name”<gone>", anything else
 * SP_ERROR_LIBVIRT "Cannot <doing> domain “name”: <libvirt's message>".
 */
void sp_domain_define_set_error (GError **error, const char *domain, const char *doing,
                                 const char *gone);

/* By UUID when it is one, else (or when no domain has that UUID) by name,
 * like virsh. */
virDomainPtr sp_domain_define_lookup (virConnectPtr conn, const char *domain, GError **error);

/* The domain being edited. */
typedef struct {
  virConnectPtr conn;
  virDomainPtr dom;
  const char *name;
  const char *uuid; /* for the journal; NULL when libvirt could not say */
  const char *what; /* what changes, for messages: "memory merging" */
} SpDomainDefineTarget;

/* SP_ERROR_TRANSIENT when the domain has no persistent config ("the <what>
 * of its running QEMU cannot change"). */
gboolean sp_domain_define_check_persistent (const SpDomainDefineTarget *target, GError **error);

/* virDomainGetXMLDesc (flags), errors as sp_domain_define_set_error(). */
char *sp_domain_define_read_xml (const SpDomainDefineTarget *target, unsigned int flags,
                                 GError **error);

/*
 * Edits xml (the persistent config) into *new_xml; TRUE with *new_xml NULL
 * when it already says so (nothing to define). On error the domain is left
 * as it was.
 */
typedef gboolean (*SpDomainEditFunc) (const SpDomainDefineTarget *target, const char *xml,
                                      char **new_xml, gpointer user_data, GError **error);

/*
 * Read, edit, compare, define. libvirt has no compare-and-swap for domain
 * definitions (virDomainDefineXML() replaces the config unconditionally),
 * so just before defining, the config is read again and compared with the
 * one edited; when another client changed it, everything starts over from
 * the new config (their change is kept), at most
 * SP_DOMAIN_DEFINE_MAX_RETRIES times, then SP_ERROR_CONFLICT. What remains
 * is the window between that last read and the define RPC: a change landing
 * there (within milliseconds) is overwritten. Only libvirt could close it.
 * The result is defined with VIR_DOMAIN_DEFINE_VALIDATE (libvirt checks it
 * against its schema). *changed: whether a config was defined.
 */
gboolean sp_domain_define_edit (const SpDomainDefineTarget *target, SpDomainEditFunc edit,
                                gpointer user_data, GCancellable *cancellable, gboolean *changed,
                                GError **error);

/*
 * Tests only: called in the worker thread on each attempt (counted from 0)
 * after the XML is read and edited, before it is compared again
 * (BEFORE_COMPARE), and once more after the comparison found it unchanged,
 * just before the define (BEFORE_DEFINE), so a test can act in either
 * window. NULL removes it.
 */
typedef enum {
  SP_DOMAIN_DEFINE_TEST_BEFORE_COMPARE,
  SP_DOMAIN_DEFINE_TEST_BEFORE_DEFINE,
} SpDomainDefineTestPhase;

typedef void (*SpDomainDefineTestHook) (virConnectPtr conn, virDomainPtr dom, guint attempt,
                                        SpDomainDefineTestPhase phase, gpointer user_data);
void sp_domain_define_set_test_hook (SpDomainDefineTestHook hook, gpointer user_data);

G_END_DECLS
