// accept4 is a GNU extension, declared only under _GNU_SOURCE, so it is wrapped here rather than in the header.
#define _GNU_SOURCE
#include <sys/socket.h>
#include "CLinux.h"

int clinux_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}
