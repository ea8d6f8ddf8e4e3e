// Linux calls Swift's Glibc module does not export (they need _GNU_SOURCE or live in
// headers Glibc's module map leaves out). _GNU_SOURCE is defined only in shim.c: defining it
// here would change struct layouts (fd_set) against the ones Glibc's module already imported.
#ifndef CLINUX_H
#define CLINUX_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>

int clinux_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

/// Names the calling thread for top -H, perf and gdb (at most 15 bytes are kept).
void clinux_set_thread_name(const char *name);

static inline int clinux_errno(void) { return errno; }

static inline int clinux_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static inline int clinux_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

static inline int clinux_socket_nonblocking(int domain, int type) {
    return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static inline const unsigned int clinux_epollin(void) { return EPOLLIN; }
static inline const unsigned int clinux_epollout(void) { return EPOLLOUT; }
static inline const unsigned int clinux_epollrdhup(void) { return EPOLLRDHUP; }
static inline const unsigned int clinux_epollerr(void) { return EPOLLERR; }
static inline const unsigned int clinux_epollhup(void) { return EPOLLHUP; }
static inline const int clinux_accept_flags(void) { return SOCK_NONBLOCK | SOCK_CLOEXEC; }
static inline const int clinux_msg_nosignal(void) { return MSG_NOSIGNAL; }

/// epoll_event is packed on x86_64; Swift cannot always import packed structs cleanly,
/// so the event loop reads and writes through these accessors.
static inline void clinux_epoll_event_set(struct epoll_event *event, unsigned int events, unsigned long long data) {
    event->events = events;
    event->data.u64 = data;
}
static inline unsigned int clinux_epoll_event_events(const struct epoll_event *events, int index) {
    return events[index].events;
}
static inline unsigned long long clinux_epoll_event_data(const struct epoll_event *events, int index) {
    return events[index].data.u64;
}
static inline unsigned long clinux_epoll_event_size(void) { return sizeof(struct epoll_event); }

#endif
