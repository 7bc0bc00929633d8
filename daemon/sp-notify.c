/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-notify"

#include "sp-notify.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

gboolean
sp_notify (const char *state, GError **error)
{
  const char *path = g_getenv ("NOTIFY_SOCKET");
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  socklen_t addr_len;
  size_t path_len;
  ssize_t sent;
  int fd;

  if (path == NULL || *path == '\0')
    return TRUE;
  path_len = strlen (path);
  if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof (addr.sun_path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NOTIFY_SOCKET=%s is not a socket path", path);
      return FALSE;
    }
  memcpy (addr.sun_path, path, path_len);
  if (path[0] == '@')
    addr.sun_path[0] = '\0'; /* abstract namespace */
  addr_len = offsetof (struct sockaddr_un, sun_path) + path_len;

  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "socket: %s",
                   g_strerror (errsv));
      return FALSE;
    }
  sent = sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &addr, addr_len);
  if (sent < 0)
    {
      int errsv = errno;
      close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "Cannot notify %s: %s", path,
                   g_strerror (errsv));
      return FALSE;
    }
  close (fd);
  return TRUE;
}
