/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-libvirt"

#include "sp-libvirt-link.h"

#include <libvirt-glib/libvirt-glib.h>

#include "sp-libvirt-util.h"
#include "sp-log.h"

#define BACKOFF_MIN_MS 500
/* Reconnecting is a failed connect(2) on a local socket while libvirtd is
 * down: cheap. A 2 s cap gets samepaged back within 2 s of libvirtd
 * answering again, however long it was away. */
#define BACKOFF_MAX_MS 2000
#define SYSTEM_RETRY_S 30
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT 3

/*
 * One open connection with its close callback. Opening, registering,
 * unregistering and closing are RPCs, so they run in worker threads; the
 * close callback runs on the main loop and reaches the link through
 * owner, which only the main thread sets and clears.
 */
typedef struct {
  SpLibvirtLink *owner; /* NULL once the link dropped this connection */
  virConnectPtr conn;
  gboolean close_registered;
  gint close_ref_released; /* atomic: the close callback's freecb ran */
} LinkConn;

struct _SpLibvirtLink {
  GObject parent_instance;

  char *requested_uri; /* NULL: auto */

  GMutex lock;        /* guards conn for sp_libvirt_link_ref_connection() */
  virConnectPtr conn; /* == current->conn; NULL while disconnected */
  LinkConn *current;
  char *uri; /* the URI of conn, or of the last attempt */
  gboolean embedded_fallback;

  gboolean connecting;
  guint reconnect_id;
  guint system_retry_id;
  guint backoff_ms;
  char *status;

  GCancellable *cancellable;
  SpLogOnce connect_problem;
};

enum {
  SIGNAL_CONNECTED,
  SIGNAL_DISCONNECTED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SpLibvirtLink, sp_libvirt_link, G_TYPE_OBJECT)

static LinkConn *
link_conn_ref (LinkConn *lc)
{
  return g_atomic_rc_box_acquire (lc);
}

static void
link_conn_clear (LinkConn *lc)
{
  if (lc->conn != NULL)
    virConnectClose (lc->conn);
}

static void
link_conn_unref (gpointer lc)
{
  g_atomic_rc_box_release_full (lc, (GDestroyNotify) link_conn_clear);
}

/* The freecb of the close callback's reference. */
static void
link_conn_close_ref_free (gpointer data)
{
  LinkConn *lc = data;

  g_atomic_int_set (&lc->close_ref_released, TRUE);
  link_conn_unref (lc);
}

static void connect_async (SpLibvirtLink *self, const char *uri, gboolean system_probe);
static void disconnect (SpLibvirtLink *self);

static void
set_status (SpLibvirtLink *self, const char *status)
{
  g_free (self->status);
  self->status = g_strdup (status);
}

/* ---- close callback (main thread) -------------------------------------- */

static void
on_connection_closed (virConnectPtr conn, int reason, void *opaque)
{
  LinkConn *lc = opaque;
  SpLibvirtLink *self = lc->owner;
  static const char *const reasons[] = { "error", "end of file", "keepalive timeout",
                                         "client closed" };
  const char *why =
      reason >= 0 && reason < (int) G_N_ELEMENTS (reasons) ? reasons[reason] : "unknown reason";
  g_autofree char *status = NULL;

  if (self == NULL)
    return;
  g_warning ("Lost the libvirt connection to %s (%s); tuning goes on from /proc/meminfo "
             "with the last known domains while reconnecting",
             self->uri, why);
  /* a hung libvirtd (stopped, deadlocked) answers no keepalive: say so */
  if (reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE)
    status = g_strdup_printf ("unresponsive: no answer to keepalive for %d s, disconnected",
                              KEEPALIVE_INTERVAL_S * (KEEPALIVE_COUNT + 1));
  else
    status = g_strdup_printf ("disconnected: %s", why);
  set_status (self, status);
  disconnect (self);
  g_signal_emit (self, signals[SIGNAL_DISCONNECTED], 0);

  self->backoff_ms = BACKOFF_MIN_MS;
  connect_async (self, self->uri, FALSE);
}

/* ---- closing (worker thread) ------------------------------------------- */

/* Worker thread: the close callback off, then the connection closes with
 * the last reference. */
static void
close_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LinkConn *lc = task_data;

  if (lc->close_registered)
    {
      virConnectUnregisterCloseCallback (lc->conn, on_connection_closed);
      /* The remote driver has run the freecb by now (here, or after the
       * close callback fired); local drivers (test:///, qemu:///embed)
       * accept the callback without keeping it and never run it: the
       * reference is ours to drop, or the connection leaks. */
      if (!g_atomic_int_get (&lc->close_ref_released))
        link_conn_close_ref_free (lc);
    }
  lc->close_registered = FALSE;
  g_task_return_boolean (task, TRUE);
}

/* Drops the connection at once; the RPCs that close it run in a worker. */
static void
disconnect (SpLibvirtLink *self)
{
  g_autoptr (GTask) task = NULL;
  LinkConn *lc = g_steal_pointer (&self->current);

  if (lc == NULL)
    return;
  lc->owner = NULL;
  g_mutex_lock (&self->lock);
  self->conn = NULL;
  g_mutex_unlock (&self->lock);

  task = g_task_new (NULL, NULL, NULL, NULL);
  g_task_set_task_data (task, lc, link_conn_unref);
  g_task_run_in_thread (task, close_thread);
}

/* ---- connecting (worker thread + main thread) -------------------------- */

typedef struct {
  char *uri;             /* what to open; NULL: auto (system, else embedded) */
  char *opened_uri;      /* out */
  char *fallback_reason; /* out: why the embedded driver is used */
  gboolean system_probe; /* only try qemu:///system (background retry) */
} ConnectJob;

static void
connect_job_free (ConnectJob *job)
{
  g_free (job->uri);
  g_free (job->opened_uri);
  g_free (job->fallback_reason);
  g_free (job);
}

/* Worker thread: a close callback and keepalive on a new connection. */
static LinkConn *
link_conn_new (virConnectPtr conn, const char *uri)
{
  LinkConn *lc = g_atomic_rc_box_new0 (LinkConn);

  lc->conn = conn;
  if (virConnectRegisterCloseCallback (conn, on_connection_closed, link_conn_ref (lc),
                                       link_conn_close_ref_free) == 0)
    lc->close_registered = TRUE;
  else
    link_conn_unref (lc);
  /* Remote connections only; local drivers answer "not supported". */
  if (virConnectSetKeepAlive (conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0)
    g_debug ("No keepalive on %s: %s", uri, virGetLastErrorMessage ());
  return lc;
}

static void
connect_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ConnectJob *job = task_data;
  g_autoptr (GError) error = NULL;
  const char *uri = job->uri != NULL ? job->uri : SP_LIBVIRT_DEFAULT_URI;
  virConnectPtr conn = virConnectOpen (uri);

  if (conn != NULL)
    {
      job->opened_uri = g_strdup (uri);
      g_task_return_pointer (task, link_conn_new (conn, uri), link_conn_unref);
      return;
    }
  sp_libvirt_set_error (&error, "Cannot connect to %s", uri);
  if (job->uri != NULL || job->system_probe)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* auto: nobody answers at qemu:///system, use the embedded test driver */
  job->fallback_reason = g_strdup (error->message);
  g_clear_error (&error);
  conn = virConnectOpen (SP_LIBVIRT_EMBEDDED_URI);
  if (conn == NULL)
    {
      sp_libvirt_set_error (&error, "Cannot open libvirt's embedded driver %s",
                            SP_LIBVIRT_EMBEDDED_URI);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  job->opened_uri = g_strdup (SP_LIBVIRT_EMBEDDED_URI);
  g_task_return_pointer (task, link_conn_new (conn, SP_LIBVIRT_EMBEDDED_URI), link_conn_unref);
}

static gboolean
on_reconnect (gpointer user_data)
{
  SpLibvirtLink *self = SP_LIBVIRT_LINK (user_data);

  self->reconnect_id = 0;
  connect_async (self, self->requested_uri, FALSE);
  return G_SOURCE_REMOVE;
}

static gboolean
on_system_retry (gpointer user_data)
{
  SpLibvirtLink *self = SP_LIBVIRT_LINK (user_data);

  self->system_retry_id = 0;
  connect_async (self, SP_LIBVIRT_DEFAULT_URI, TRUE);
  return G_SOURCE_REMOVE;
}

/* Puts a new connection in place of the old one, then says so. */
static void
adopt (SpLibvirtLink *self, LinkConn *lc, const char *uri)
{
  gboolean switched = self->conn != NULL;

  disconnect (self);
  lc->owner = self;
  self->current = lc;
  g_mutex_lock (&self->lock);
  self->conn = lc->conn;
  g_mutex_unlock (&self->lock);
  g_free (self->uri);
  self->uri = g_strdup (uri);
  self->backoff_ms = BACKOFF_MIN_MS;
  g_signal_emit (self, signals[SIGNAL_CONNECTED], 0, switched);
}

static void
connect_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpLibvirtLink *self = SP_LIBVIRT_LINK (source);
  GTask *task = G_TASK (result);
  ConnectJob *job = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  LinkConn *lc = g_task_propagate_pointer (task, &error);
  g_autofree char *status = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (job->system_probe)
    {
      if (lc == NULL)
        {
          g_debug ("%s", error->message);
          self->system_retry_id = g_timeout_add_seconds (SYSTEM_RETRY_S, on_system_retry, self);
          return;
        }
      g_message ("A libvirt daemon answers at %s now: leaving the embedded driver",
                 SP_LIBVIRT_DEFAULT_URI);
      self->embedded_fallback = FALSE;
      set_status (self, "connected");
      adopt (self, lc, job->opened_uri);
      return;
    }

  self->connecting = FALSE;
  if (lc == NULL)
    {
      status =
          g_strdup_printf ("reconnecting in %.1f s: %s", self->backoff_ms / 1000.0, error->message);
      if (sp_log_once_changed (&self->connect_problem, error->message))
        g_warning ("%s; retrying with backoff (up to %d s)", error->message, BACKOFF_MAX_MS / 1000);
      set_status (self, status);
      if (self->uri == NULL)
        self->uri = g_strdup (job->uri ? job->uri : SP_LIBVIRT_DEFAULT_URI);
      g_signal_emit (self, signals[SIGNAL_DISCONNECTED], 0);
      self->reconnect_id = g_timeout_add (self->backoff_ms, on_reconnect, self);
      self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
      return;
    }

  sp_log_once_reset (&self->connect_problem);
  if (job->fallback_reason != NULL)
    {
      g_message ("No libvirt daemon answers (%s); using libvirt's embedded test driver %s so "
                 "samepaged has domains to watch. %s is retried every %d s.",
                 job->fallback_reason, SP_LIBVIRT_EMBEDDED_URI, SP_LIBVIRT_DEFAULT_URI,
                 SYSTEM_RETRY_S);
      self->embedded_fallback = TRUE;
      status = g_strdup_printf ("connected to the embedded test driver (%s)", job->fallback_reason);
      self->system_retry_id = g_timeout_add_seconds (SYSTEM_RETRY_S, on_system_retry, self);
    }
  else
    {
      g_message ("Connected to libvirt at %s", job->opened_uri);
      status = g_strdup ("connected");
    }
  set_status (self, status);
  adopt (self, lc, job->opened_uri);
}

static void
connect_async (SpLibvirtLink *self, const char *uri, gboolean system_probe)
{
  g_autoptr (GTask) task = NULL;
  ConnectJob *job;

  if (!system_probe)
    {
      if (self->connecting)
        return;
      self->connecting = TRUE;
      g_clear_handle_id (&self->reconnect_id, g_source_remove);
    }
  job = g_new0 (ConnectJob, 1);
  /* a lost embedded connection reconnects in auto mode */
  job->uri = g_strdup (self->embedded_fallback && !system_probe ? NULL : uri);
  job->system_probe = system_probe;
  task = g_task_new (self, self->cancellable, connect_done, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) connect_job_free);
  g_task_run_in_thread (task, connect_thread);
}

/* ---- object ------------------------------------------------------------ */

static void
sp_libvirt_link_dispose (GObject *object)
{
  SpLibvirtLink *self = SP_LIBVIRT_LINK (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  g_clear_handle_id (&self->system_retry_id, g_source_remove);
  disconnect (self);
  G_OBJECT_CLASS (sp_libvirt_link_parent_class)->dispose (object);
}

static void
sp_libvirt_link_finalize (GObject *object)
{
  SpLibvirtLink *self = SP_LIBVIRT_LINK (object);

  g_free (self->requested_uri);
  g_free (self->uri);
  g_free (self->status);
  g_clear_object (&self->cancellable);
  g_mutex_clear (&self->lock);
  sp_log_once_reset (&self->connect_problem);
  G_OBJECT_CLASS (sp_libvirt_link_parent_class)->finalize (object);
}

static void
sp_libvirt_link_class_init (SpLibvirtLinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_libvirt_link_dispose;
  object_class->finalize = sp_libvirt_link_finalize;

  /**
   * SpLibvirtLink::connected:
   * @switched: TRUE when the new connection replaced one that was up
   */
  signals[SIGNAL_CONNECTED] =
      g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                    G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
  /**
   * SpLibvirtLink::disconnected:
   *
   * The connection dropped or an attempt failed; a new attempt is scheduled.
   */
  signals[SIGNAL_DISCONNECTED] =
      g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 0);
}

static void
sp_libvirt_link_init (SpLibvirtLink *self)
{
  g_mutex_init (&self->lock);
  self->cancellable = g_cancellable_new ();
  self->backoff_ms = BACKOFF_MIN_MS;
  self->status = g_strdup ("connecting");
}

SpLibvirtLink *
sp_libvirt_link_new (const char *uri)
{
  SpLibvirtLink *self = g_object_new (SP_TYPE_LIBVIRT_LINK, NULL);

  self->requested_uri = g_strdup (uri);
  return self;
}

void
sp_libvirt_link_start (SpLibvirtLink *self)
{
  static gsize initialised = 0;

  g_return_if_fail (SP_IS_LIBVIRT_LINK (self));

  if (g_once_init_enter (&initialised))
    {
      sp_libvirt_quiet_errors ();
      gvir_init (NULL, NULL);
      gvir_event_register ();
      g_once_init_leave (&initialised, 1);
    }
  connect_async (self, self->requested_uri, FALSE);
}

virConnectPtr
sp_libvirt_link_ref_connection (SpLibvirtLink *self)
{
  virConnectPtr conn;

  g_return_val_if_fail (SP_IS_LIBVIRT_LINK (self), NULL);

  g_mutex_lock (&self->lock);
  conn = self->conn;
  if (conn != NULL)
    virConnectRef (conn);
  g_mutex_unlock (&self->lock);
  return conn;
}

gboolean
sp_libvirt_link_is_connected (SpLibvirtLink *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT_LINK (self), FALSE);
  return self->current != NULL;
}

const char *
sp_libvirt_link_get_uri (SpLibvirtLink *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT_LINK (self), NULL);
  return self->uri;
}

const char *
sp_libvirt_link_get_status (SpLibvirtLink *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT_LINK (self), NULL);
  return self->status;
}
