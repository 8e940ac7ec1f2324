// Linux calls the Glibc module does not import (epoll, eventfd) or hides behind _GNU_SOURCE
// (accept4, thread names), for the HTTPServer module.
#ifndef CHTTPSERVER_H
#define CHTTPSERVER_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

/// accept4(2): accept with SOCK_NONBLOCK | SOCK_CLOEXEC in one call.
int chttp_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

/// Names the calling thread (at most 15 bytes are kept), so loops show up in top and gdb.
void chttp_set_thread_name(const char *name);

#endif
