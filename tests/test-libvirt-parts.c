/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The parts SpLibvirt wires together, each on its own, on libvirt's test
 * driver (test:///<node.xml>): the connection (SpLibvirtLink), the event
 * subscription (SpLibvirtEvents), one domain's facts (sp-libvirt-domain)
 * and the refresh engine (SpGuestQuery).
 */
#define G_LOG_DOMAIN "test-libvirt-parts"

#include "sp-error.h"
#include "sp-guest-query.h"
#include "sp-libvirt-domain.h"
#include "sp-libvirt-events.h"
#include "sp-libvirt-link.h"
#include "sp-libvirt-util.h"
#include "sp-test.h"

#define PLAIN_UUID "11111111-1111-4111-8111-111111111111"
#define OFF_UUID "66666666-6666-4666-8666-666666666666"
#define MIB G_GUINT64_CONSTANT (1024)
#define GIB (MIB * 1024)

/* ---- SpLibvirtLink ------------------------------------------------------ */

static gint n_connect_warnings; /* atomic */

/* The warning of a connection that fails is expected in one test: counted,
 * not fatal. */
static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE"))
      message = fields[i].value;
  if ((level & G_LOG_LEVEL_WARNING) != 0 && message != NULL &&
      g_str_has_prefix (message, "Cannot connect to test:///nonexistent/") &&
      strstr (message, "retrying with backoff") != NULL)
    {
      g_atomic_int_inc (&n_connect_warnings);
      return G_LOG_WRITER_HANDLED;
    }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

typedef struct {
  guint n_connected;
  guint n_disconnected;
  gboolean switched;
  char *status; /* at the last signal */
} LinkWatch;

static void
on_link_connected (SpLibvirtLink *link, gboolean switched, gpointer user_data)
{
  LinkWatch *w = user_data;

  w->n_connected++;
  w->switched = switched;
  g_free (w->status);
  w->status = g_strdup (sp_libvirt_link_get_status (link));
}

static void
on_link_disconnected (SpLibvirtLink *link, gpointer user_data)
{
  LinkWatch *w = user_data;

  w->n_disconnected++;
  g_free (w->status);
  w->status = g_strdup (sp_libvirt_link_get_status (link));
}

static SpLibvirtLink *
link_new (const char *uri, LinkWatch *w)
{
  SpLibvirtLink *link = sp_libvirt_link_new (uri);

  memset (w, 0, sizeof (*w));
  g_signal_connect (link, "connected", G_CALLBACK (on_link_connected), w);
  g_signal_connect (link, "disconnected", G_CALLBACK (on_link_disconnected), w);
  return link;
}

static SpLibvirtLink *
link_start (const char *uri, LinkWatch *w)
{
  SpLibvirtLink *link = link_new (uri, w);

  sp_libvirt_link_start (link);
  return link;
}

static void
link_stop (SpLibvirtLink *link, LinkWatch *w)
{
  g_signal_handlers_disconnect_by_data (link, w);
  g_object_unref (link);
  g_free (w->status);
}

static void
test_link_connect (void)
{
  g_autofree char *uri = sp_test_libvirt_uri ("node.xml");
  g_autoptr (virConnect) conn = NULL;
  LinkWatch w;
  SpLibvirtLink *link = link_start (uri, &w);

  g_assert_false (sp_libvirt_link_is_connected (link));
  g_assert_null (sp_libvirt_link_ref_connection (link));
  g_assert_cmpstr (sp_libvirt_link_get_status (link), ==, "connecting");

  sp_test_wait_count (&w.n_connected, 0);
  g_assert_cmpuint (w.n_disconnected, ==, 0);
  g_assert_false (w.switched);
  g_assert_cmpstr (w.status, ==, "connected");
  g_assert_true (sp_libvirt_link_is_connected (link));
  g_assert_cmpstr (sp_libvirt_link_get_uri (link), ==, uri);
  conn = sp_libvirt_link_ref_connection (link);
  g_assert_nonnull (conn);
  g_assert_cmpint (virConnectIsAlive (conn), ==, 1);

  /* the reference outlives the link */
  link_stop (link, &w);
  g_assert_cmpint (virConnectNumOfDomains (conn), ==, 5);
}

/* A URI that does not open: "disconnected" with the reason, retried with a
 * doubling backoff. */
static void
test_link_backoff (void)
{
  const char *uri = "test:///nonexistent/samepage/node.xml";
  LinkWatch w;
  SpLibvirtLink *link = link_start (uri, &w);

  sp_test_wait_count (&w.n_disconnected, 0);
  g_test_message ("status: %s", w.status);
  g_assert_true (g_str_has_prefix (w.status, "reconnecting in 0.5 s: Cannot connect to "));
  g_assert_false (sp_libvirt_link_is_connected (link));
  g_assert_null (sp_libvirt_link_ref_connection (link));
  g_assert_cmpstr (sp_libvirt_link_get_uri (link), ==, uri);

  sp_test_wait_count (&w.n_disconnected, 1);
  g_assert_true (g_str_has_prefix (w.status, "reconnecting in 1.0 s: "));
  g_assert_cmpuint (w.n_connected, ==, 0);
  /* the same problem is logged once */
  g_assert_cmpint (g_atomic_int_get (&n_connect_warnings), ==, 1);
  link_stop (link, &w);
}

/* ---- SpLibvirtEvents ---------------------------------------------------- */

typedef struct {
  guint n_changed;
  char *uuid;
  char *what;
} EventWatch;

/* The outcome of one subscription. */
typedef struct {
  guint n_done;
  GError *error;
} Subscribed;

static void
on_domain_changed (SpLibvirtEvents *events, const char *uuid, const char *what, gpointer user_data)
{
  EventWatch *w = user_data;

  w->n_changed++;
  g_free (w->uuid);
  g_free (w->what);
  w->uuid = g_strdup (uuid);
  w->what = g_strdup (what);
}

static void
on_subscribed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Subscribed *sub = user_data;

  sp_libvirt_events_subscribe_finish (SP_LIBVIRT_EVENTS (source), result, &sub->error);
  sub->n_done++;
}

static void
test_events_subscribe (void)
{
  g_autofree char *uri = sp_test_libvirt_uri ("node.xml");
  g_autoptr (SpLibvirtEvents) events = sp_libvirt_events_new ();
  g_autoptr (virConnect) conn = NULL;
  g_autoptr (virDomain) dom = NULL;
  LinkWatch lw;
  EventWatch w = { 0 };
  Subscribed first = { 0 };
  Subscribed second = { 0 };
  SpLibvirtLink *link = link_start (uri, &lw);

  sp_test_wait_count (&lw.n_connected, 0);
  conn = sp_libvirt_link_ref_connection (link);
  dom = virDomainLookupByName (conn, "plain");
  g_assert_nonnull (dom);
  g_signal_connect (events, "domain-changed", G_CALLBACK (on_domain_changed), &w);
  g_assert_false (sp_libvirt_events_is_subscribed (events));

  /* subscribing again at once replaces the first subscription */
  sp_libvirt_events_subscribe_async (events, conn, NULL, on_subscribed, &first);
  sp_libvirt_events_subscribe_async (events, conn, NULL, on_subscribed, &second);
  sp_test_wait_count (&first.n_done, 0);
  sp_test_wait_count (&second.n_done, 0);
  g_assert_error (first.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_no_error (second.error);
  g_assert_true (sp_libvirt_events_is_subscribed (events));

  /* one "domain-changed" per event, translated; none twice */
  g_assert_cmpint (virDomainSuspend (dom), ==, 0);
  sp_test_wait_count (&w.n_changed, 0);
  g_assert_cmpstr (w.uuid, ==, PLAIN_UUID);
  g_assert_cmpstr (w.what, ==, "suspended");
  g_assert_cmpint (virDomainResume (dom), ==, 0);
  sp_test_wait_count (&w.n_changed, 1);
  g_assert_cmpstr (w.what, ==, "resumed");
  sp_test_settle (200);
  g_assert_cmpuint (w.n_changed, ==, 2);
  g_assert_cmpuint (sp_libvirt_events_get_n_events (events), ==, 2);

  /* unsubscribed: nothing more */
  sp_libvirt_events_unsubscribe (events);
  g_assert_false (sp_libvirt_events_is_subscribed (events));
  g_assert_cmpint (virDomainSuspend (dom), ==, 0);
  g_assert_cmpint (virDomainResume (dom), ==, 0);
  sp_test_settle (300);
  g_assert_cmpuint (w.n_changed, ==, 2);
  g_assert_cmpuint (sp_libvirt_events_get_n_events (events), ==, 2);

  g_signal_handlers_disconnect_by_data (events, &w);
  g_clear_error (&first.error);
  g_free (w.uuid);
  g_free (w.what);
  link_stop (link, &lw);
}

/* ---- sp-libvirt-domain --------------------------------------------------- */

static const char *FRESH_DOMAIN =
    "<domain type='test'><name>fresh</name>"
    "<uuid>77777777-7777-4777-8777-777777777777</uuid>"
    "<memory unit='KiB'>1048576</memory><os><type>hvm</type></os></domain>";

static void
test_domain_query (void)
{
  g_autofree char *uri = sp_test_libvirt_uri ("node.xml");
  g_autoptr (virConnect) conn = NULL;
  g_autoptr (virDomain) plain = NULL;
  g_autoptr (virDomain) noshare = NULL;
  g_autoptr (virDomain) off = NULL;
  g_autoptr (virDomain) fresh = NULL;
  g_autoptr (GHashTable) balloon = NULL;
  g_autoptr (GHashTable) some = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SpDomainInfo) info = NULL;
  virDomainPtr doms[2] = { NULL, NULL };
  LinkWatch lw;
  SpLibvirtLink *link = link_start (uri, &lw);

  sp_test_wait_count (&lw.n_connected, 0);
  conn = sp_libvirt_link_ref_connection (link);
  plain = virDomainLookupByName (conn, "plain");
  noshare = virDomainLookupByName (conn, "noshare");
  off = virDomainLookupByName (conn, "off");

  /* every active domain, by UUID; the test driver has no balloon stats */
  balloon = sp_libvirt_domain_balloon_stats (conn, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (balloon);
  g_assert_cmpuint (g_hash_table_size (balloon), ==, 5);
  g_assert_false (((SpBalloonStats *) g_hash_table_lookup (balloon, PLAIN_UUID))->has_current);
  g_assert_false (g_hash_table_contains (balloon, OFF_UUID));
  /* of some domains; of none */
  doms[0] = plain;
  some = sp_libvirt_domain_balloon_stats (conn, doms, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (some), ==, 1);
  g_assert_true (g_hash_table_contains (some, PLAIN_UUID));
  g_clear_pointer (&some, g_hash_table_unref);
  doms[0] = NULL;
  some = sp_libvirt_domain_balloon_stats (conn, doms, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (some), ==, 0);

  info = sp_libvirt_domain_query (plain, balloon, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (info->name, ==, "plain");
  g_assert_cmpstr (info->uuid, ==, PLAIN_UUID);
  g_assert_true (info->active);
  g_assert_true (info->persistent);
  g_assert_cmpuint (info->current_kib, ==, 512 * MIB);
  g_assert_cmpuint (info->maximum_kib, ==, 1 * GIB);
  g_assert_cmpstr (info->memory_source, ==, "info");
  g_assert_true (info->mergeable);
  g_assert_null (info->unmergeable_reason);
  /* no /proc facts here */
  g_assert_cmpint (info->pid, ==, 0);
  g_assert_cmpint (info->ksm_mergeable, ==, SP_KSM_MERGEABLE_UNKNOWN);
  g_clear_pointer (&info, sp_domain_info_free);

  info = sp_libvirt_domain_query (noshare, balloon, &error);
  g_assert_no_error (error);
  g_assert_false (info->mergeable);
  g_assert_cmpstr (info->unmergeable_reason, ==, "nosharepages");
  g_assert_false (info->mem_merge);
  g_clear_pointer (&info, sp_domain_info_free);

  info = sp_libvirt_domain_query (off, balloon, &error);
  g_assert_no_error (error);
  g_assert_false (info->active);
  g_assert_cmpuint (info->current_kib, ==, 2 * GIB);
  g_assert_cmpstr (info->memory_source, ==, "xml");
  g_clear_pointer (&info, sp_domain_info_free);

  /* a domain gone meanwhile: a libvirt error */
  fresh = virDomainDefineXML (conn, FRESH_DOMAIN);
  g_assert_nonnull (fresh);
  g_assert_cmpint (virDomainUndefine (fresh), ==, 0);
  info = sp_libvirt_domain_query (fresh, balloon, &error);
  g_assert_null (info);
  g_assert_error (error, SP_ERROR, SP_ERROR_LIBVIRT);
  g_test_message ("error: %s", error->message);

  link_stop (link, &lw);
}

/* ---- SpGuestQuery ------------------------------------------------------- */

static void
test_query_refresh (void)
{
  g_autofree char *uri = sp_test_libvirt_uri ("node.xml");
  g_autoptr (SpGuestQuery) query = NULL;
  LinkWatch lw;
  SpTestWatch w = { 0 }; /* the query's "refreshed", no SpLibvirt */
  SpLibvirtLink *link = link_new (uri, &lw);
  const SpDomainInfo *d;
  guint64 serial;

  query = sp_guest_query_new (link, "/proc", NULL);
  g_signal_connect (query, "refreshed", G_CALLBACK (sp_test_watch_record), &w);
  g_assert_null (sp_guest_query_get_last (query));

  /* nothing happens while the link is down */
  sp_guest_query_queue_full (query);
  sp_test_settle (SP_GUEST_QUERY_HOLDOFF_MAX_MS + 100);
  g_assert_cmpuint (w.n_changed, ==, 0);
  g_assert_cmpuint (sp_guest_query_get_n_refreshes (query), ==, 0);

  sp_libvirt_link_start (link);
  sp_test_wait_count (&lw.n_connected, 0);
  sp_guest_query_queue_full (query);
  sp_test_wait_count (&w.n_changed, 0);
  g_assert_true (sp_guest_query_get_last (query) == w.last);
  g_assert_cmpuint (w.last->domains->len, ==, 6);
  g_assert_cmpuint (w.last->n_active, ==, 5);
  g_assert_true (w.last->connected);
  g_assert_cmpstr (w.last->status, ==, "connected");
  g_assert_cmpstr (w.last->uri, ==, uri);
  g_assert_cmpint (w.last->refreshed_us, >, 0);
  g_assert_cmpuint (sp_guest_query_get_n_refreshes (query), ==, 1);
  g_assert_cmpuint (sp_guest_query_get_n_queried (query), ==, 6);
  d = sp_guests_find (w.last, "plain");
  g_assert_nonnull (d);
  /* no QEMU behind the test driver: no /proc facts */
  g_assert_cmpint (d->pid, ==, 0);
  g_assert_false (d->ksm_stat_present);

  /* the leading edge: after a quiet hold-off, a request starts a refresh
   * in this very call, before any timer could fire */
  sp_test_settle (SP_GUEST_QUERY_HOLDOFF_MIN_MS + 50);
  serial = sp_guest_query_get_next_serial (query);
  sp_guest_query_queue_domain (query, "11111111-1111-4111-8111-111111111111");
  g_assert_cmpuint (sp_guest_query_get_next_serial (query), ==, serial + 1);
  /* requests during that refresh fold into exactly
   * one more, which queries their domains */
  sp_guest_query_queue_domain (query, "22222222-2222-4222-8222-222222222222");
  sp_guest_query_queue_domain (query, "33333333-3333-4333-8333-333333333333");
  sp_guest_query_queue_domain (query, "22222222-2222-4222-8222-222222222222");
  g_assert_cmpuint (sp_guest_query_get_next_serial (query), ==, serial + 1);
  sp_test_wait_count (&w.n_changed, 1);
  g_assert_cmpuint (sp_guest_query_get_n_queried (query), ==, 1);
  g_assert_cmpuint (w.last->refresh_serial, ==, serial);
  sp_test_wait_count (&w.n_changed, 2);
  g_assert_cmpuint (w.last->refresh_serial, ==, serial + 1);
  g_assert_cmpuint (sp_guest_query_get_n_queried (query), ==, 2);
  sp_test_settle (SP_GUEST_QUERY_HOLDOFF_MAX_MS + 100);
  g_assert_cmpuint (w.n_changed, ==, 3);
  g_assert_cmpuint (sp_guest_query_get_n_refreshes (query), ==, 3);
  g_assert_cmpuint (w.last->domains->len, ==, 6);

  /* pairs of requests (SetMemMerge's and its Defined event) are no storm:
   * the hold-off stays at its minimum, the first of each pair still
   * refreshes at once */
  for (guint pair = 0; pair < 4; pair++)
    {
      guint n = w.n_changed;

      sp_test_settle (SP_GUEST_QUERY_HOLDOFF_MIN_MS + 50);
      serial = sp_guest_query_get_next_serial (query);
      sp_guest_query_queue_domain (query, "11111111-1111-4111-8111-111111111111");
      g_assert_cmpuint (sp_guest_query_get_next_serial (query), ==, serial + 1);
      sp_guest_query_queue_domain (query, "22222222-2222-4222-8222-222222222222");
      sp_test_wait_count (&w.n_changed, n + 1);
      g_assert_cmpuint (w.last->refresh_serial, ==, serial + 1);
    }

  g_signal_handlers_disconnect_by_data (query, &w);
  g_clear_pointer (&w.last, sp_guests_unref);
  g_clear_object (&query);
  link_stop (link, &lw);
}

/* The uid QEMU runs as, from libvirt's DAC label only. */
static void
test_domain_dac_uid (void)
{
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid ("+64055:+64055"), ==, 64055);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid ("+0:+0"), ==, 0);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid ("root:root"), ==, 0);
  /* SELinux, AppArmor, garbage, unknown users */
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid ("system_u:system_r:svirt_t:s0:c1,c2"), ==, -1);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid ("libvirt-11111111-1111-4111-8111-111111111111"),
                   ==, -1);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid (""), ==, -1);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid (":"), ==, -1);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid ("+-1:+0"), ==, -1);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid ("+12x:+0"), ==, -1);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid ("no-such-user-here:kvm"), ==, -1);
  g_assert_cmpint (sp_libvirt_domain_parse_dac_uid (NULL), ==, -1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (log_writer, NULL, NULL);
  g_test_add_func ("/libvirt-link/connect", test_link_connect);
  g_test_add_func ("/libvirt-link/backoff", test_link_backoff);
  g_test_add_func ("/libvirt-events/subscribe", test_events_subscribe);
  g_test_add_func ("/libvirt-domain/query", test_domain_query);
  g_test_add_func ("/libvirt-domain/dac-uid", test_domain_dac_uid);
  g_test_add_func ("/guest-query/refresh", test_query_refresh);
  return g_test_run ();
}
