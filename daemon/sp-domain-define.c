/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-domain-define"

#include "sp-domain-define.h"

#include "sp-error.h"
#include "sp-libvirt-util.h"
#include "sp-log.h"

G_LOCK_DEFINE_STATIC (test_hook);
static SpDomainDefineTestHook test_hook;
static gpointer test_hook_data;

void
sp_domain_define_set_test_hook (SpDomainDefineTestHook hook, gpointer user_data)
{
  G_LOCK (test_hook);
  test_hook = hook;
  test_hook_data = user_data;
  G_UNLOCK (test_hook);
}

static void
run_test_hook (const SpDomainDefineTarget *target, guint attempt, SpDomainDefineTestPhase phase)
{
  SpDomainDefineTestHook hook;
  gpointer data;

  G_LOCK (test_hook);
  hook = test_hook;
  data = test_hook_data;
  G_UNLOCK (test_hook);
  if (hook != NULL)
    hook (target->conn, target->dom, attempt, phase, data);
}

void
sp_domain_define_set_error (GError **error, const char *domain, const char *doing, const char *gone)
{
  if (virGetLastErrorCode () == VIR_ERR_NO_DOMAIN)
    g_set_error (error, SP_ERROR, SP_ERROR_UNKNOWN_DOMAIN, "No domain “%s”%s", domain, gone);
  else
    sp_libvirt_set_error (error, "Cannot %s domain “%s”", doing, domain);
}

virDomainPtr
sp_domain_define_lookup (virConnectPtr conn, const char *domain, GError **error)
{
  virDomainPtr dom;

  if (g_uuid_string_is_valid (domain))
    {
      dom = virDomainLookupByUUIDString (conn, domain);
      if (dom != NULL)
        return dom;
      if (virGetLastErrorCode () != VIR_ERR_NO_DOMAIN)
        {
          sp_libvirt_set_error (error, "Cannot look up domain “%s”", domain);
          return NULL;
        }
    }
  dom = virDomainLookupByName (conn, domain);
  if (dom == NULL)
    sp_domain_define_set_error (error, domain, "look up", " (by name or UUID)");
  return dom;
}

gboolean
sp_domain_define_check_persistent (const SpDomainDefineTarget *target, GError **error)
{
  int persistent = virDomainIsPersistent (target->dom);

  if (persistent < 0)
    {
      sp_domain_define_set_error (error, target->name, "query", SP_DOMAIN_DEFINE_GONE);
      return FALSE;
    }
  if (persistent == 0)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_TRANSIENT,
                   "Domain %s is transient: it has no persistent configuration to edit, and the "
                   "%s of its running QEMU cannot change (define it to make it persistent, then "
                   "try again)",
                   target->name, target->what);
      return FALSE;
    }
  return TRUE;
}

char *
sp_domain_define_read_xml (const SpDomainDefineTarget *target, unsigned int flags, GError **error)
{
  char *xml = virDomainGetXMLDesc (target->dom, flags);

  if (xml == NULL)
    sp_domain_define_set_error (error, target->name, "read the XML of", SP_DOMAIN_DEFINE_GONE);
  return xml;
}

static gboolean
define_xml (const SpDomainDefineTarget *target, const char *xml, GError **error)
{
  g_autoptr (virDomain) defined = NULL;

  /* VALIDATE: libvirt checks the result against its RNG schema */
  defined = virDomainDefineXMLFlags (target->conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
  if (defined == NULL)
    {
      sp_libvirt_set_error (error, "Cannot define domain %s", target->name);
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_domain_define_edit (const SpDomainDefineTarget *target, SpDomainEditFunc edit,
                       gpointer user_data, GCancellable *cancellable, gboolean *changed,
                       GError **error)
{
  const char *name = target->name;
  g_autofree char *xml = NULL;

  *changed = FALSE;
  xml = sp_domain_define_read_xml (target, SP_DOMAIN_CONFIG_XML_FLAGS, error);
  if (xml == NULL)
    return FALSE;

  for (guint attempt = 0;; attempt++)
    {
      g_autofree char *new_xml = NULL;
      g_autofree char *current = NULL;

      if (!edit (target, xml, &new_xml, user_data, error))
        return FALSE;
      if (new_xml == NULL)
        return TRUE;

      run_test_hook (target, attempt, SP_DOMAIN_DEFINE_TEST_BEFORE_COMPARE);

      /* compare: still the config we edited, and still persistent? */
      current = sp_domain_define_read_xml (target, SP_DOMAIN_CONFIG_XML_FLAGS, error);
      if (current == NULL || !sp_domain_define_check_persistent (target, error))
        return FALSE;
      if (g_strcmp0 (current, xml) != 0)
        {
          if (attempt >= SP_DOMAIN_DEFINE_MAX_RETRIES)
            {
              g_set_error (error, SP_ERROR, SP_ERROR_CONFLICT,
                           "Domain %s was redefined by another client during each of %u "
                           "attempts to change its %s; nothing was overwritten, try again",
                           name, attempt + 1, target->what);
              return FALSE;
            }
          sp_log_domain (G_LOG_LEVEL_DEBUG, name, target->uuid,
                         "Domain %s was redefined while its %s was being changed: starting over "
                         "from its new config",
                         name, target->what);
          g_free (xml);
          xml = g_steal_pointer (&current);
          continue;
        }

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      run_test_hook (target, attempt, SP_DOMAIN_DEFINE_TEST_BEFORE_DEFINE);
      if (!define_xml (target, new_xml, error))
        return FALSE;
      *changed = TRUE;
      return TRUE;
    }
}
