/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-domain memory merging on libvirt's test driver
 * (test:///<data/libvirt/merge-node.xml>): the persistent config changes and
 * the running one does not (pending_restart), the change is logged with its
 * caller and the watcher follows it, no-ops define nothing, every refusal
 * changes nothing, and a concurrent redefinition is never overwritten.
 */
#define G_LOG_DOMAIN "test-mem-merge"

#include <string.h>

#include <libxml/c14n.h>

#include "sp-domain-define.h"
#include "sp-domain-editor.h"
#include "sp-domain-xml.h"
#include "sp-error.h"
#include "sp-guest-refresh.h"
#include "sp-libvirt-util.h"
#include "sp-libvirt.h"
#include "sp-mem-merge.h"
#include "sp-test.h"
#include "sp-xml-util.h"

#define RUNNING_UUID "a1a1a1a1-1111-4111-8111-111111111111"
#define STOPPED_UUID "c3c3c3c3-3333-4333-8333-333333333333"
#define CALLER "uid 1000 (:1.42)"

/* ---- what samepaged-mem-merge said (sp_test_log_capture) ---------------- */

/* Captured, a warning of samepaged would not abort the test any more: each
 * test fails if one was logged. */
static void
assert_no_warning (void)
{
  g_assert_cmpuint (sp_test_log_count ("WARNING *"), ==, 0);
}

/* The messages of samepaged-mem-merge so far, oldest first. */
static char **
mem_merge_messages (void)
{
  return sp_test_log_lines ("samepaged-mem-merge", "MESSAGE *");
}

static guint
n_logged (void)
{
  g_auto (GStrv) lines = mem_merge_messages ();

  return g_strv_length (lines);
}

/* The i-th message, without "MESSAGE ". */
static char *
logged_at (guint i)
{
  g_auto (GStrv) lines = mem_merge_messages ();

  g_assert_cmpuint (i, <, g_strv_length (lines));
  return g_strdup (lines[i] + strlen ("MESSAGE "));
}

/* ---- the watcher, a DEFINED counter, the main loop --------------------- */

typedef struct {
  SpTestWatch watch; /* the watcher */
  virConnectPtr conn;
  guint n_defined; /* VIR_DOMAIN_EVENT_DEFINED, every domain */
  int callback_id;
} Fixture;

static int
on_lifecycle (virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  Fixture *f = opaque;

  if (event == VIR_DOMAIN_EVENT_DEFINED)
    f->n_defined++;
  return 0;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  memset (f, 0, sizeof (*f));
  sp_test_watch_start (&f->watch, "merge-node.xml");

  /* the watcher's connection: a test:///<file> driver is private to it */
  f->conn = sp_libvirt_ref_connection (f->watch.libvirt);
  g_assert_nonnull (f->conn);
  f->callback_id =
      virConnectDomainEventRegisterAny (f->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                        VIR_DOMAIN_EVENT_CALLBACK (on_lifecycle), f, NULL);
  g_assert_cmpint (f->callback_id, >=, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  sp_domain_define_set_test_hook (NULL, NULL);
  virConnectDomainEventDeregisterAny (f->conn, f->callback_id);
  g_clear_pointer (&f->conn, virConnectClose);
  /* a refresh still running holds the watcher: it publishes after this
   * test, into the next one, and f is gone by then */
  sp_test_watch_stop (&f->watch);
  assert_no_warning ();
}

static void
on_result (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (res);
}

/* Runs sp_mem_merge_set_async() to completion on the main loop. */
static gboolean
mem_merge_set (SpLibvirt *libvirt, const char *domain, gboolean enabled, SpMemMergeResult *result,
               GError **error)
{
  g_autoptr (GAsyncResult) res = NULL;

  sp_mem_merge_set_async (libvirt, domain, enabled, CALLER, NULL, on_result, &res);
  while (res == NULL)
    g_main_context_iteration (NULL, TRUE);
  return sp_mem_merge_set_finish (res, result, error);
}

static char *
domain_xml (Fixture *f, const char *name, unsigned int flags)
{
  g_autoptr (virDomain) dom = virDomainLookupByName (f->conn, name);
  char *xml;

  g_assert_nonnull (dom);
  xml = virDomainGetXMLDesc (dom, flags);
  g_assert_nonnull (xml);
  return xml;
}

static char *
config_xml (Fixture *f, const char *name)
{
  return domain_xml (f, name, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
}

static gboolean
has_nosharepages (const char *xml)
{
  g_auto (SpDomainXmlFacts) facts = { 0 };
  g_autoptr (GError) error = NULL;

  g_assert_true (sp_domain_xml_parse (xml, &facts, &error));
  g_assert_no_error (error);
  return facts.nosharepages;
}

/* Waits until the watcher published a refresh in which domain name has
 * these settings (the accounting follows the change). */
static const SpDomainInfo *
wait_domain (Fixture *f, const char *name, gboolean mem_merge, gboolean pending_restart)
{
  SpTestTimeout timeout;
  const SpDomainInfo *d = NULL;

  sp_test_timeout_start (&timeout, 20);
  while (!timeout.expired)
    {
      d = sp_guests_find (f->watch.last, name);
      if (d != NULL && d->mem_merge == mem_merge && d->pending_restart == pending_restart)
        break;
      g_main_context_iteration (NULL, TRUE);
    }
  sp_test_timeout_finish (&timeout);
  return d;
}

/* ---- tests -------------------------------------------------------------- */

/* off on a running guest: the persistent config gets nosharepages (and
 * keeps everything else), the running one does not, pending_restart; the
 * change is logged with its caller; the watcher follows. on reverses it:
 * the config is again exactly what it was. */
static void
test_off_then_on_running (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config_before = config_xml (f, "running");
  g_autofree char *live_before = domain_xml (f, "running", 0);
  g_autofree char *config_off = NULL;
  g_autofree char *live_off = NULL;
  g_autofree char *config_on = NULL;
  g_autofree char *message = NULL;
  g_autofree char *reedited = NULL;
  SpMemMergeResult result = { 0 };
  const SpDomainInfo *d;
  guint logged_before = n_logged ();
  guint defined_before = f->n_defined;

  g_assert_false (has_nosharepages (config_before));
  g_assert_true (mem_merge_set (f->watch.libvirt, "running", FALSE, &result, &error));
  g_assert_no_error (error);
  g_assert_true (result.changed);
  g_assert_true (result.active);
  g_assert_true (result.pending_restart);

  config_off = config_xml (f, "running");
  live_off = domain_xml (f, "running", 0);
  g_assert_true (has_nosharepages (config_off));
  g_assert_cmpstr (live_off, ==, live_before);
  /* nothing else changed: libvirt's own formatting of the edit is what the
   * editor makes of the config read before */
  g_assert_true (sp_domain_editor_set_nosharepages (config_before, TRUE, &reedited, &error));
  g_assert_no_error (error);
  {
    g_autoptr (xmlDoc) a = xmlReadMemory (reedited, strlen (reedited), NULL, NULL, 0);
    g_autoptr (xmlDoc) b = xmlReadMemory (config_off, strlen (config_off), NULL, NULL, 0);
    xmlChar *ca = NULL;
    xmlChar *cb = NULL;

    g_assert_cmpint (xmlC14NDocDumpMemory (a, NULL, XML_C14N_1_0, NULL, 1, &ca), >, 0);
    g_assert_cmpint (xmlC14NDocDumpMemory (b, NULL, XML_C14N_1_0, NULL, 1, &cb), >, 0);
    g_assert_cmpstr ((const char *) ca, ==, (const char *) cb);
    xmlFree (ca);
    xmlFree (cb);
  }
  g_assert_nonnull (strstr (config_off, "<app:team>storage</app:team>"));

  /* logged: domain, old → new, caller */
  g_assert_cmpuint (n_logged (), >, logged_before);
  message = logged_at (logged_before);
  g_test_message ("logged: %s", message);
  g_assert_nonnull (strstr (message, "running"));
  g_assert_nonnull (strstr (message, "on → off"));
  g_assert_nonnull (strstr (message, CALLER));

  /* the watcher's view follows: config off, running on, pending */
  d = wait_domain (f, "running", FALSE, TRUE);
  g_assert_true (d->mem_merge_active);
  sp_test_settle (200);
  g_assert_cmpuint (f->n_defined, ==, defined_before + 1);

  /* on reverses it, and nothing is pending any more */
  g_assert_true (mem_merge_set (f->watch.libvirt, "running", TRUE, &result, &error));
  g_assert_no_error (error);
  g_assert_true (result.changed);
  g_assert_true (result.active);
  g_assert_false (result.pending_restart);
  config_on = config_xml (f, "running");
  g_assert_cmpstr (config_on, ==, config_before);
  wait_domain (f, "running", TRUE, FALSE);
}

/* on for a running guest started with nosharepages: pending until its next
 * cold start, which then applies it */
static void
test_on_running_noshare (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (virDomain) dom = virDomainLookupByName (f->conn, "noshare");
  g_autofree char *live_before = domain_xml (f, "noshare", 0);
  g_autofree char *config = NULL;
  g_autofree char *live = NULL;
  SpMemMergeResult result = { 0 };

  g_assert_true (has_nosharepages (live_before));
  g_assert_true (mem_merge_set (f->watch.libvirt, "noshare", TRUE, &result, &error));
  g_assert_no_error (error);
  g_assert_true (result.changed);
  g_assert_true (result.pending_restart);
  config = config_xml (f, "noshare");
  g_assert_false (has_nosharepages (config));
  /* <locked/> stays, so <memoryBacking> does */
  g_assert_nonnull (strstr (config, "<locked/>"));
  live = domain_xml (f, "noshare", 0);
  g_assert_cmpstr (live, ==, live_before);
  wait_domain (f, "noshare", TRUE, TRUE);

  /* destroy + start: the new config runs, nothing pending */
  g_assert_cmpint (virDomainDestroy (dom), ==, 0);
  g_assert_cmpint (virDomainCreate (dom), ==, 0);
  g_clear_pointer (&live, g_free);
  live = domain_xml (f, "noshare", 0);
  g_assert_false (has_nosharepages (live));
  wait_domain (f, "noshare", TRUE, FALSE);
}

/* A shut-off guest, named by UUID: changed, nothing pending. */
static void
test_stopped_by_uuid (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config = NULL;
  SpMemMergeResult result = { 0 };

  g_assert_true (mem_merge_set (f->watch.libvirt, STOPPED_UUID, FALSE, &result, &error));
  g_assert_no_error (error);
  g_assert_true (result.changed);
  g_assert_false (result.active);
  g_assert_false (result.pending_restart);
  config = config_xml (f, "stopped");
  g_assert_true (has_nosharepages (config));
  wait_domain (f, "stopped", FALSE, FALSE);
}

/* The value it already has: no define at all (no DEFINED event, while the
 * real change after it gives one: the counter works). */
static void
test_noop_defines_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *before = config_xml (f, "running");
  g_autofree char *after = NULL;
  SpMemMergeResult result = { TRUE, FALSE, TRUE };
  guint defined;
  guint logged_before;

  sp_test_settle (200);
  defined = f->n_defined;
  logged_before = n_logged ();

  g_assert_true (mem_merge_set (f->watch.libvirt, "running", TRUE, &result, &error));
  g_assert_no_error (error);
  g_assert_false (result.changed);
  g_assert_true (result.active);
  g_assert_false (result.pending_restart);
  g_assert_true (mem_merge_set (f->watch.libvirt, "noshare", FALSE, &result, &error));
  g_assert_no_error (error);
  g_assert_false (result.changed);
  g_assert_false (result.pending_restart);
  sp_test_settle (300);
  g_assert_cmpuint (f->n_defined, ==, defined);
  g_assert_cmpuint (n_logged (), ==, logged_before);
  after = config_xml (f, "running");
  g_assert_cmpstr (after, ==, before);

  /* control: a change is seen by the same counter */
  g_assert_true (mem_merge_set (f->watch.libvirt, "running", FALSE, &result, &error));
  g_assert_no_error (error);
  g_assert_true (result.changed);
  sp_test_settle (300);
  g_assert_cmpuint (f->n_defined, ==, defined + 1);
}

/* Refusals: the error, and nothing defined. */
static void
assert_refused (Fixture *f, const char *domain, gboolean enabled, int code, const char *words)
{
  g_autoptr (GError) error = NULL;
  SpMemMergeResult result = { 0 };
  guint defined;

  sp_test_settle (100);
  defined = f->n_defined;
  g_assert_false (mem_merge_set (f->watch.libvirt, domain, enabled, &result, &error));
  g_assert_error (error, SP_ERROR, code);
  g_test_message ("%s %s: %s", domain, enabled ? "on" : "off", error->message);
  if (words != NULL)
    g_assert_nonnull (strstr (error->message, words));
  sp_test_settle (200);
  g_assert_cmpuint (f->n_defined, ==, defined);
}

static void
test_unknown_domain (Fixture *f, gconstpointer data)
{
  assert_refused (f, "no-such-guest", FALSE, SP_ERROR_UNKNOWN_DOMAIN, "no-such-guest");
  /* a valid UUID nobody has, then tried as a name */
  assert_refused (f, "f0f0f0f0-0000-4000-8000-000000000000", TRUE, SP_ERROR_UNKNOWN_DOMAIN, NULL);
  assert_refused (f, "", FALSE, SP_ERROR_INVALID_ARGS, NULL);
}

static void
test_transient (Fixture *f, gconstpointer data)
{
  g_autoptr (virDomain) dom = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  dom = virDomainCreateXML (f->conn,
                            "<domain type='test'><name>scratch</name>"
                            "<memory unit='MiB'>256</memory><vcpu>1</vcpu>"
                            "<os><type arch='x86_64'>hvm</type></os></domain>",
                            0);
  g_assert_nonnull (dom);
  g_assert_cmpint (virDomainIsPersistent (dom), ==, 0);
  before = domain_xml (f, "scratch", 0);

  assert_refused (f, "scratch", FALSE, SP_ERROR_TRANSIENT, "persistent");
  assert_refused (f, "scratch", TRUE, SP_ERROR_TRANSIENT, NULL);
  after = domain_xml (f, "scratch", 0);
  g_assert_cmpstr (after, ==, before);
  g_assert_cmpint (virDomainIsPersistent (dom), ==, 0);
  g_assert_cmpint (virDomainDestroy (dom), ==, 0);
}

/* Merging can never happen: refused both ways, config untouched. */
static void
test_unmergeable (Fixture *f, gconstpointer data)
{
  g_autofree char *huge_before = config_xml (f, "huge");
  g_autofree char *memfd_before = config_xml (f, "memfd");
  g_autofree char *huge_after = NULL;
  g_autofree char *memfd_after = NULL;

  assert_refused (f, "huge", FALSE, SP_ERROR_UNMERGEABLE, "hugepages");
  assert_refused (f, "huge", TRUE, SP_ERROR_UNMERGEABLE, "hugepages");
  assert_refused (f, "memfd", FALSE, SP_ERROR_UNMERGEABLE, "memfd");
  assert_refused (f, "memfd", TRUE, SP_ERROR_UNMERGEABLE, "memfd");
  huge_after = config_xml (f, "huge");
  memfd_after = config_xml (f, "memfd");
  g_assert_cmpstr (huge_after, ==, huge_before);
  g_assert_cmpstr (memfd_after, ==, memfd_before);
}

/* Huge pages on one NUMA cell of two: the other cell merges, so the guest
 * can opt out (and back in) like any other. */
static void
test_partly_mergeable (Fixture *f, gconstpointer data)
{
  static const char xml[] =
      "<domain type='test'><name>half-huge</name>"
      "<uuid>f6f6f6f6-6666-4666-8666-666666666666</uuid>"
      "<memory unit='GiB'>4</memory>"
      "<memoryBacking><hugepages><page size='2048' unit='KiB' nodeset='1'/></hugepages>"
      "</memoryBacking><vcpu>2</vcpu><os><type arch='x86_64'>hvm</type></os>"
      "<cpu><numa><cell id='0' cpus='0' memory='3' unit='GiB'/>"
      "<cell id='1' cpus='1' memory='1' unit='GiB'/></numa></cpu></domain>";
  g_autoptr (virDomain) dom = virDomainDefineXML (f->conn, xml);
  g_autoptr (GError) error = NULL;
  g_autofree char *config = NULL;
  SpMemMergeResult result = { 0 };

  g_assert_nonnull (dom);
  g_assert_true (mem_merge_set (f->watch.libvirt, "half-huge", FALSE, &result, &error));
  g_assert_no_error (error);
  g_assert_true (result.changed);
  config = config_xml (f, "half-huge");
  g_assert_true (has_nosharepages (config));
  /* the huge pages stay as they were */
  g_assert_nonnull (strstr (config, "nodeset='1'"));

  g_assert_true (mem_merge_set (f->watch.libvirt, "half-huge", TRUE, &result, &error));
  g_assert_no_error (error);
  g_assert_true (result.changed);
  g_clear_pointer (&config, g_free);
  config = config_xml (f, "half-huge");
  g_assert_false (has_nosharepages (config));
  g_assert_cmpint (virDomainUndefine (dom), ==, 0);
}

static void
test_not_connected (void)
{
  g_autoptr (SpLibvirt) libvirt = sp_libvirt_new ("test:///default", "/proc", NULL);
  g_autoptr (GError) error = NULL;
  SpMemMergeResult result = { 0 };

  /* never started: no connection */
  g_assert_false (mem_merge_set (libvirt, "test", FALSE, &result, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_NOT_CONNECTED);
  assert_no_warning ();
}

/* ---- concurrent edits ----------------------------------------------------- */

typedef struct {
  guint n_calls;
  guint change_until; /* redefine on attempts below this */
} Concurrent;

/* Another client: redefines the domain with a new <description>. */
static void
redefine_with_description (virConnectPtr conn, virDomainPtr dom, const char *text)
{
  g_autofree char *xml = virDomainGetXMLDesc (dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
  g_autoptr (xmlDoc) doc = NULL;
  g_autoptr (virDomain) defined = NULL;
  xmlNode *root;
  xmlChar *out = NULL;
  int len = 0;

  g_assert_nonnull (xml);
  doc = xmlReadMemory (xml, strlen (xml), NULL, NULL, 0);
  g_assert_nonnull (doc);
  root = xmlDocGetRootElement (doc);
  for (xmlNode *child = root->children; child != NULL; child = child->next)
    if (child->type == XML_ELEMENT_NODE &&
        xmlStrEqual (child->name, (const xmlChar *) "description"))
      {
        xmlUnlinkNode (child);
        xmlFreeNode (child);
        break;
      }
  xmlNewTextChild (root, NULL, (const xmlChar *) "description", (const xmlChar *) text);
  xmlDocDumpMemory (doc, &out, &len);
  defined = virDomainDefineXML (conn, (const char *) out);
  xmlFree (out);
  g_assert_nonnull (defined);
}

static void
concurrent_hook (virConnectPtr conn, virDomainPtr dom, guint attempt, SpDomainDefineTestPhase phase,
                 gpointer user_data)
{
  Concurrent *c = user_data;
  g_autofree char *text = g_strdup_printf ("changed by another client, attempt %u", attempt);

  if (phase != SP_DOMAIN_DEFINE_TEST_BEFORE_COMPARE)
    return;
  g_assert_cmpuint (attempt, ==, c->n_calls);
  c->n_calls++;
  if (attempt < c->change_until)
    redefine_with_description (conn, dom, text);
}

/* Redefined once between read and define: started over from the new
 * config, and both changes are in. */
static void
test_concurrent_retry (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config = NULL;
  Concurrent c = { 0, 1 };
  SpMemMergeResult result = { 0 };

  sp_domain_define_set_test_hook (concurrent_hook, &c);
  g_assert_true (mem_merge_set (f->watch.libvirt, "stopped", FALSE, &result, &error));
  sp_domain_define_set_test_hook (NULL, NULL);
  g_assert_no_error (error);
  g_assert_true (result.changed);
  g_assert_cmpuint (c.n_calls, ==, 2);
  config = config_xml (f, "stopped");
  g_assert_true (has_nosharepages (config));
  g_assert_nonnull (strstr (config, "changed by another client, attempt 0"));
}

/* Redefined on every attempt: CONFLICT after the retries, and the other
 * client's last change stands, ours is not in. */
static void
test_concurrent_conflict (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config = NULL;
  g_autofree char *last =
      g_strdup_printf ("changed by another client, attempt %u", SP_DOMAIN_DEFINE_MAX_RETRIES);
  Concurrent c = { 0, G_MAXUINT };
  SpMemMergeResult result = { 0 };

  sp_domain_define_set_test_hook (concurrent_hook, &c);
  g_assert_false (mem_merge_set (f->watch.libvirt, "running", FALSE, &result, &error));
  sp_domain_define_set_test_hook (NULL, NULL);
  g_assert_error (error, SP_ERROR, SP_ERROR_CONFLICT);
  g_test_message ("%s", error->message);
  g_assert_cmpuint (c.n_calls, ==, SP_DOMAIN_DEFINE_MAX_RETRIES + 1);
  config = config_xml (f, "running");
  g_assert_false (has_nosharepages (config));
  g_assert_nonnull (strstr (config, last));
}

static void
undefine_hook (virConnectPtr conn, virDomainPtr dom, guint attempt, SpDomainDefineTestPhase phase,
               gpointer user_data)
{
  guint *n_calls = user_data;

  if (phase != SP_DOMAIN_DEFINE_TEST_BEFORE_COMPARE)
    return;
  (*n_calls)++;
  g_assert_cmpint (virDomainUndefine (dom), ==, 0);
}

/* Undefined between read and define: never brought back. A shut-off guest
 * is gone (UNKNOWN_DOMAIN), a running one stays transient (TRANSIENT). */
static void
test_concurrent_undefine (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (virDomain) running = virDomainLookupByName (f->conn, "running");
  virDomainPtr stopped;
  SpMemMergeResult result = { 0 };
  guint n_calls = 0;

  sp_domain_define_set_test_hook (undefine_hook, &n_calls);
  g_assert_false (mem_merge_set (f->watch.libvirt, "stopped", FALSE, &result, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_UNKNOWN_DOMAIN);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  stopped = virDomainLookupByName (f->conn, "stopped");
  g_assert_null (stopped);

  g_assert_false (mem_merge_set (f->watch.libvirt, "running", FALSE, &result, &error));
  sp_domain_define_set_test_hook (NULL, NULL);
  g_assert_error (error, SP_ERROR, SP_ERROR_TRANSIENT);
  g_assert_cmpuint (n_calls, ==, 2);
  g_assert_cmpint (virDomainIsActive (running), ==, 1);
  g_assert_cmpint (virDomainIsPersistent (running), ==, 0);
}

/* Between the last comparison and the define, another client replaced the
 * domain with one of the same name and another UUID. */
static void
impostor_hook (virConnectPtr conn, virDomainPtr dom, guint attempt, SpDomainDefineTestPhase phase,
               gpointer user_data)
{
  guint *n_calls = user_data;
  g_autoptr (virDomain) impostor = NULL;

  if (phase != SP_DOMAIN_DEFINE_TEST_BEFORE_DEFINE)
    return;
  (*n_calls)++;
  g_assert_cmpint (virDomainUndefine (dom), ==, 0);
  impostor = virDomainDefineXML (conn, "<domain type='test'><name>stopped</name>"
                                       "<uuid>0b3e5a0c-4f9e-4d7e-9a63-b6a1b5d2c001</uuid>"
                                       "<memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                                       "<os><type arch='x86_64'>hvm</type></os></domain>");
  g_assert_nonnull (impostor);
}

/* The define fails (libvirt refuses a second domain named "stopped"): a
 * clear Libvirt error naming the domain, nothing reported as changed, no
 * change logged, and the other client's domain untouched. */
static void
test_define_fails (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (virDomain) now = NULL;
  g_autofree char *config = NULL;
  char uuid[VIR_UUID_STRING_BUFLEN];
  SpMemMergeResult result = { 0 };
  guint logged_before = n_logged ();
  guint n_calls = 0;

  sp_domain_define_set_test_hook (impostor_hook, &n_calls);
  g_assert_false (mem_merge_set (f->watch.libvirt, "stopped", FALSE, &result, &error));
  sp_domain_define_set_test_hook (NULL, NULL);
  g_assert_error (error, SP_ERROR, SP_ERROR_LIBVIRT);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "Cannot define domain stopped: "));
  g_assert_cmpuint (n_calls, ==, 1);
  g_assert_false (result.changed);
  for (guint i = logged_before; i < n_logged (); i++)
    {
      g_autofree char *message = logged_at (i);
      g_assert_null (strstr (message, "Memory merging of domain stopped (persistent config)"));
    }
  now = virDomainLookupByName (f->conn, "stopped");
  g_assert_nonnull (now);
  g_assert_cmpint (virDomainGetUUIDString (now, uuid), ==, 0);
  g_assert_cmpstr (uuid, ==, "0b3e5a0c-4f9e-4d7e-9a63-b6a1b5d2c001");
  config = config_xml (f, "stopped");
  g_assert_false (has_nosharepages (config));
}

/* ---- SpMemMerge answers after a refresh that started after the define -- */

/* Holds the first refresh that lists domains once armed, until released. */
typedef struct {
  GMutex lock;
  GCond cond;
  gboolean armed;
  gboolean holding;
  gboolean released;
} RefreshGate;

static gboolean
gate_hook (virDomainPtr dom, GError **error, gpointer user_data)
{
  RefreshGate *gate = user_data;

  if (dom != NULL)
    return TRUE;
  g_mutex_lock (&gate->lock);
  if (gate->armed)
    {
      gate->armed = FALSE;
      gate->holding = TRUE;
      g_cond_broadcast (&gate->cond);
      while (!gate->released)
        g_cond_wait (&gate->cond, &gate->lock);
    }
  g_mutex_unlock (&gate->lock);
  return TRUE;
}

static gboolean
gate_holding (RefreshGate *gate)
{
  gboolean holding;

  g_mutex_lock (&gate->lock);
  holding = gate->holding;
  g_mutex_unlock (&gate->lock);
  return holding;
}

static void
on_changed (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (res);
}

/*
 * A refresh already running when SetMemMerge defines (it read the old
 * config) publishes first: the answer must wait for the refresh that
 * started after the define, so that the caller reads the new MemMerge and
 * PendingRestart at once.
 */
static void
test_change_waits_for_later_refresh (Fixture *f, gconstpointer data)
{
  g_autoptr (SpMemMerge) merge = sp_mem_merge_new (f->watch.libvirt);
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GError) error = NULL;
  RefreshGate gate = { 0 };
  const SpDomainInfo *d;
  SpTestTimeout timeout;
  guint n;

  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  d = sp_guests_find (sp_libvirt_get_guests (f->watch.libvirt), "running");
  g_assert_true (d->mem_merge);

  /* a refresh starts and is held in its worker: it predates the define */
  gate.armed = TRUE;
  sp_guest_refresh_set_test_hook (gate_hook, &gate);
  sp_libvirt_queue_refresh (f->watch.libvirt);
  sp_test_timeout_start (&timeout, 20);
  while (!gate_holding (&gate) && !timeout.expired)
    g_main_context_iteration (NULL, TRUE);
  sp_test_timeout_finish (&timeout);

  sp_mem_merge_change_async (merge, "running", FALSE, CALLER, on_changed, &res);
  /* the define is done when the config says so */
  sp_test_timeout_start (&timeout, 20);
  while (!timeout.expired)
    {
      g_autofree char *config = config_xml (f, "running");

      if (has_nosharepages (config))
        break;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  sp_test_timeout_finish (&timeout);
  sp_test_settle (50);

  /* the old refresh publishes the old facts: not an answer yet */
  n = f->watch.n_changed;
  g_mutex_lock (&gate.lock);
  gate.released = TRUE;
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);
  sp_test_timeout_start (&timeout, 20);
  while (res == NULL && !timeout.expired)
    g_main_context_iteration (NULL, TRUE);
  sp_test_timeout_finish (&timeout);
  g_assert_true (sp_mem_merge_change_finish (merge, res, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f->watch.n_changed, >=, n + 2);

  /* answered: the published guests show the change */
  d = sp_guests_find (sp_libvirt_get_guests (f->watch.libvirt), "running");
  g_assert_false (d->mem_merge);
  g_assert_true (d->pending_restart);

  sp_guest_refresh_set_test_hook (NULL, NULL);
  g_mutex_clear (&gate.lock);
  g_cond_clear (&gate.cond);
}

/* --dry-run: refused, and nothing is defined. */
static void
test_change_dry_run (Fixture *f, gconstpointer data)
{
  g_autoptr (SpMemMerge) merge = sp_mem_merge_new (f->watch.libvirt);
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = config_xml (f, "running");
  g_autofree char *after = NULL;
  guint defined = f->n_defined;

  sp_mem_merge_set_dry_run (merge, TRUE);
  sp_mem_merge_change_async (merge, "running", FALSE, CALLER, on_changed, &res);
  while (res == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (sp_mem_merge_change_finish (merge, res, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "samepaged runs with --dry-run");
  sp_test_settle (200);
  after = config_xml (f, "running");
  g_assert_cmpstr (after, ==, before);
  g_assert_cmpuint (f->n_defined, ==, defined);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();

#define ADD(path, fn) g_test_add ((path), Fixture, NULL, fixture_setup, (fn), fixture_teardown)
  ADD ("/mem-merge/off-then-on-running", test_off_then_on_running);
  ADD ("/mem-merge/on-running-noshare", test_on_running_noshare);
  ADD ("/mem-merge/stopped-by-uuid", test_stopped_by_uuid);
  ADD ("/mem-merge/noop-defines-nothing", test_noop_defines_nothing);
  ADD ("/mem-merge/unknown-domain", test_unknown_domain);
  ADD ("/mem-merge/transient", test_transient);
  ADD ("/mem-merge/unmergeable", test_unmergeable);
  ADD ("/mem-merge/partly-mergeable", test_partly_mergeable);
  ADD ("/mem-merge/concurrent-retry", test_concurrent_retry);
  ADD ("/mem-merge/concurrent-conflict", test_concurrent_conflict);
  ADD ("/mem-merge/concurrent-undefine", test_concurrent_undefine);
  ADD ("/mem-merge/define-fails", test_define_fails);
  ADD ("/mem-merge/change-waits-for-later-refresh", test_change_waits_for_later_refresh);
  ADD ("/mem-merge/change-dry-run", test_change_dry_run);
#undef ADD
  g_test_add_func ("/mem-merge/not-connected", test_not_connected);
  return g_test_run ();
}
