/*
 * The demo web server in C: the same job as examples/webserver, written against
 * <argdata.h> and <program.h> from cloudlibc-rs.
 *
 * Build it (statically: cloudabi-run starts programs in an empty root file
 * system) from the repository root:
 *
 *     cargo build --release -p cloudlibc-rs
 *     cc -static -O2 -o target/release/webserver-c examples/webserver-c/webserver.c \
 *        -Icloudlibc-rs/include target/release/libcloudlibc_rs.a -lpthread -ldl -lm
 *
 * and run it like the Rust one:
 *
 *     target/release/cloudabi-run target/release/webserver-c \
 *        --config examples/webserver.yaml
 *
 * Configuration: `socket` (a listening stream socket), `root` (a directory) and
 * optionally `log` (a file opened in append mode). GET and HEAD, HTTP/1.0 and
 * 1.1, one request per connection. Files are opened with openat2() and
 * RESOLVE_BENEATH, so no path, `..` or symbolic link leads outside the root.
 *
 * Connections are served concurrently, each on a thread of its own, at most
 * MAX_CONNECTIONS at once (with that many open, the next accept waits for one
 * to end). Each connection's deadlines count from its accept: the request head
 * must have arrived within HEAD_DEADLINE_MS (else 408), the answer must have
 * been sent within ANSWER_DEADLINE_MS; every read and write waits with poll()
 * for what is left, so a client sending a byte a second is cut at the
 * deadline. A connection that fails before its answer is sent is not logged;
 * every other one gets exactly one log line of at most MAX_LOG_LINE bytes,
 * written with one write() under a lock and before the connection is closed.
 */

#define _GNU_SOURCE
#include <argdata.h>
#include <program.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD 8192
/* The longest log line: PIPE_BUF, so that each is one atomic write to the log
 * pipe, never interleaved with another process's (cloudabi-run --instances). */
#define MAX_LOG_LINE 4096
#define MAX_CONNECTIONS 64
#define HEAD_DEADLINE_MS 10000
#define ANSWER_DEADLINE_MS 30000
/* serve() needs about 200 KiB of stack (buffers for the head, paths, file data). */
#define THREAD_STACK (512 * 1024)

/* A point in time on CLOCK_MONOTONIC, in milliseconds. */
typedef long long msec_t;

static msec_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (msec_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until `fd` is ready for `events` or `by` has passed. Returns true when
 * ready; false with errno ETIMEDOUT at the deadline, or poll's error.
 */
static bool wait_ready(int fd, short events, msec_t by) {
  for (;;) {
    msec_t left = by - now_ms();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return false;
    }
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

/* One read from the connection, done by `by` (else -1 with errno ETIMEDOUT). */
static ssize_t read_by(int conn, void *buf, size_t len, msec_t by) {
  for (;;) {
    if (!wait_ready(conn, POLLIN, by)) return -1;
    ssize_t n = recv(conn, buf, len, MSG_DONTWAIT);
    if (n >= 0 || (errno != EINTR && errno != EAGAIN)) return n;
  }
}

/* Sends all of buf on the connection by `by`; false on error or timeout. */
static bool send_all(int conn, const void *buf, size_t len, msec_t by) {
  const char *p = buf;
  while (len > 0) {
    if (!wait_ready(conn, POLLOUT, by)) return false;
    ssize_t n = send(conn, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
  }
}

static const char *content_type(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *name = slash != NULL ? slash + 1 : path;
  const char *dot = strrchr(name, '.');
  if (dot == NULL || dot == name) return "application/octet-stream";
  static const struct { const char *ext, *type; } types[] = {
      {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},   {"txt", "text/plain; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"}, {"json", "application/json"},
      {"svg", "image/svg+xml"},             {"png", "image/png"},
      {"jpg", "image/jpeg"},                {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},                 {"ico", "image/x-icon"},
  };
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
    if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}

static bool write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/*
 * Turns a request target into a path relative to the root, in out[outlen]:
 * drops the query, decodes %XX, skips empty and "." segments, appends
 * index.html to directories. Returns 0, or the HTTP status to answer with.
 */
static int relative_path(const char *target, char *out, size_t outlen) {
  if (target[0] != '/') return 400;
  char decoded[MAX_HEAD];
  size_t n = 0;
  for (const char *p = target; *p != '\0' && *p != '?' && *p != '#'; p++) {
    char c = *p;
    if (c == '%') {
      int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
      if (hi < 0 || lo < 0) return 400;
      c = (char)(hi * 16 + lo);
      if (c == '\0') return 400;
      p += 2;
    }
    if (n + 1 >= sizeof(decoded)) return 400;
    decoded[n++] = c;
  }
  decoded[n] = '\0';
  size_t len = 0;
  out[0] = '\0';
  char *save = NULL;
  for (char *seg = strtok_r(decoded, "/", &save); seg != NULL;
       seg = strtok_r(NULL, "/", &save)) {
    if (strcmp(seg, ".") == 0) continue;
    if (strcmp(seg, "..") == 0) return 403;
    size_t sl = strlen(seg);
    if (len + sl + 2 > outlen) return 404;
    if (len > 0) out[len++] = '/';
    memcpy(out + len, seg, sl);
    len += sl;
    out[len] = '\0';
  }
  if (len == 0 || decoded[n - 1] == '/') {
    const char *index = len == 0 ? "index.html" : "/index.html";
    if (len + strlen(index) + 1 > outlen) return 404;
    strcpy(out + len, index);
  }
  return 0;
}

/*
 * Sends the error answer for `status` (head and body in one send, as a client
 * that has gone away resets the connection after the first); false when it
 * could not be sent.
 */
static bool respond_error(int conn, int status, bool head_only, long *sent, msec_t by) {
  char body[64], answer[640];
  int bl = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
  int al = snprintf(answer, sizeof(answer),
                    "HTTP/1.1 %d %s\r\nServer: cloudabi-webserver-c\r\n"
                    "Connection: close\r\n%sContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: %d\r\n\r\n%s",
                    status, reason(status),
                    status == 405 ? "Allow: GET, HEAD\r\n" : "", bl, head_only ? "" : body);
  if (!send_all(conn, answer, (size_t)al, by)) return false;
  if (!head_only) *sent = bl;
  return true;
}

/* respond_error(), then `status`, or -1 when the answer could not be sent. */
#define ANSWER_ERROR(status, head_only)                                     \
  return respond_error(conn, (status), (head_only), sent, answer_by) ? (status) : -1

/*
 * Serves one connection; returns the status and stores the request line, or
 * returns -1 when nothing was answered (the connection failed first).
 */
static int serve(int conn, int root, char *line, size_t linelen, long *sent, msec_t head_by,
                 msec_t answer_by) {
  char head[MAX_HEAD + 1];
  size_t got = 0;
  char *end = NULL;
  *sent = 0;
  snprintf(line, linelen, "-");
  while (end == NULL) {
    if (got == MAX_HEAD) {
      if (!respond_error(conn, 431, false, sent, answer_by)) return -1;
      /* Read (a bounded amount of) what the client is still sending: closing
       * with unread data would reset the connection before it sees the answer. */
      char sink[4096];
      for (size_t drained = 0; drained < 65536;) {
        ssize_t d = read_by(conn, sink, sizeof(sink), head_by);
        if (d <= 0) break;
        drained += (size_t)d;
      }
      return 431;
    }
    ssize_t n = read_by(conn, head + got, MAX_HEAD - got, head_by);
    if (n < 0 && errno == ETIMEDOUT) ANSWER_ERROR(408, false);
    if (n < 0) return -1;
    if (n == 0) break;
    got += (size_t)n;
    head[got] = '\0';
    end = strstr(head, "\r\n\r\n");
    if (end == NULL) end = strstr(head, "\n\n");
  }
  head[got] = '\0';
  char *eol = strpbrk(head, "\r\n");
  if (eol != NULL) *eol = '\0';
  char method[16], target[MAX_HEAD], version[16], extra[2];
  if (sscanf(head, "%15s %8191s %15s %1s", method, target, version, extra) != 3) {
    ANSWER_ERROR(400, false);
  }
  snprintf(line, linelen, "%s %s", method, target);
  bool head_only = strcmp(method, "HEAD") == 0;
  if (strcmp(version, "HTTP/1.0") != 0 && strcmp(version, "HTTP/1.1") != 0) {
    ANSWER_ERROR(strncmp(version, "HTTP/", 5) == 0 ? 505 : 400, head_only);
  }
  if (!head_only && strcmp(method, "GET") != 0) {
    ANSWER_ERROR(405, false);
  }
  char rel[4096];
  int status = relative_path(target, rel, sizeof(rel));
  if (status != 0) ANSWER_ERROR(status, head_only);
  struct open_how how = {
      .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
  if (fd < 0) {
    status = errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG ? 404
             : errno == EXDEV || errno == EACCES || errno == EPERM || errno == ELOOP
                 ? 403
                 : 500;
    ANSWER_ERROR(status, head_only);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    bool dir = S_ISDIR(st.st_mode);
    close(fd);
    if (dir) {
      char loc[MAX_HEAD + 256];
      char *q = strpbrk(target, "?#");
      if (q != NULL) *q = '\0';
      int hl = snprintf(loc, sizeof(loc),
                        "HTTP/1.1 301 Moved Permanently\r\nServer: cloudabi-webserver-c\r\n"
                        "Connection: close\r\nLocation: %s/\r\nContent-Length: 0\r\n\r\n",
                        target);
      return send_all(conn, loc, (size_t)hl, answer_by) ? 301 : -1;
    }
    ANSWER_ERROR(403, head_only);
  }
  char hdr[512];
  int hl = snprintf(hdr, sizeof(hdr),
                    "HTTP/1.1 200 OK\r\nServer: cloudabi-webserver-c\r\n"
                    "Connection: close\r\nContent-Type: %s\r\nContent-Length: %lld\r\n\r\n",
                    content_type(rel), (long long)st.st_size);
  if (!send_all(conn, hdr, (size_t)hl, answer_by)) {
    close(fd);
    return -1;
  }
  if (!head_only) {
    char buf[65536];
    long long left = st.st_size;
    while (left > 0) {
      ssize_t n = read(fd, buf, sizeof(buf) < (size_t)left ? sizeof(buf) : (size_t)left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (!send_all(conn, buf, (size_t)n, answer_by)) {
        close(fd);
        return -1;
      }
      *sent += n;
      left -= n;
    }
  }
  close(fd);
  return 200;
}

/*
 * Escapes the request for the log so that a client cannot forge lines, in at
 * most outlen - 1 bytes (outlen >= 4): a longer request is cut, never inside
 * an escape, and ends in "...".
 */
static void escape(const char *in, char *out, size_t outlen) {
  size_t o = 0;
  const unsigned char *p = (const unsigned char *)in;
  for (; *p != '\0'; p++) {
    bool plain = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
    /* Room for this byte, a "..." after it and the NUL. */
    if (o + (plain ? 1 : 4) + 4 > outlen) break;
    if (plain)
      out[o++] = (char)*p;
    else
      o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
  }
  if (*p != '\0') {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

static int fd_for(const argdata_t *ad, const char *want) {
  argdata_map_iterator_t it;
  const argdata_t *key, *value;
  for (argdata_map_iterate(ad, &it); argdata_map_get(&it, &key, &value);
       argdata_map_next(&it)) {
    const char *name;
    int fd;
    if (argdata_get_str_c(key, &name) == 0 && strcmp(name, want) == 0 &&
        argdata_get_fd(value, &fd) == 0)
      return fd;
  }
  return -1;
}

/* What every connection's thread uses. */
static int root_fd = -1, log_fd = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* Free connection slots, and the signal that one was freed. */
static int free_slots = MAX_CONNECTIONS;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_freed = PTHREAD_COND_INITIALIZER;

static void take_slot(void) {
  pthread_mutex_lock(&slots_lock);
  while (free_slots == 0) pthread_cond_wait(&slot_freed, &slots_lock);
  free_slots--;
  pthread_mutex_unlock(&slots_lock);
}

static void free_slot(void) {
  pthread_mutex_lock(&slots_lock);
  free_slots++;
  pthread_cond_signal(&slot_freed);
  pthread_mutex_unlock(&slots_lock);
}

struct connection {
  int conn;
  msec_t accepted;
};

/* A connection's thread: serves it, logs it, closes it, frees its slot. */
static void *connection_thread(void *arg) {
  struct connection c = *(struct connection *)arg;
  free(arg);
  /* The escaped request leaves room in the line for the time, status and size. */
  char line[MAX_HEAD + 32], esc[MAX_LOG_LINE - 64];
  long sent;
  int status = serve(c.conn, root_fd, line, sizeof(line), &sent, c.accepted + HEAD_DEADLINE_MS,
                     c.accepted + ANSWER_DEADLINE_MS);
  if (status > 0 && log_fd >= 0) {
    char stamp[32], entry[MAX_LOG_LINE];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    escape(line, esc, sizeof(esc));
    int n = snprintf(entry, sizeof(entry), "%s \"%s\" %d %ld\n", stamp, esc, status, sent);
    if (n > 0) {
      /* At most PIPE_BUF bytes: one atomic write; the lock orders the threads. */
      pthread_mutex_lock(&log_lock);
      write_all(log_fd, entry, (size_t)n < sizeof(entry) ? (size_t)n : sizeof(entry) - 1);
      pthread_mutex_unlock(&log_lock);
    }
  }
  close(c.conn);
  free_slot();
  return NULL;
}

void program_main(const argdata_t *ad) {
  int sock = fd_for(ad, "socket");
  root_fd = fd_for(ad, "root");
  log_fd = fd_for(ad, "log");
  if (sock < 0 || root_fd < 0) {
    fprintf(stderr, "webserver-c: the configuration needs `socket` and `root`\n");
    exit(1);
  }
  /* A log pipe whose reader is gone must not kill the server. */
  signal(SIGPIPE, SIG_IGN);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  for (;;) {
    take_slot();
    int conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINVAL || errno == ENOTSOCK || errno == EBADF) {
        fprintf(stderr, "webserver-c: `socket` is not a listening socket\n");
        exit(1);
      }
      free_slot();
      continue;
    }
    struct connection *c = malloc(sizeof(*c));
    pthread_t thread;
    if (c == NULL) {
      close(conn);
      free_slot();
      continue;
    }
    c->conn = conn;
    c->accepted = now_ms();
    if (pthread_create(&thread, &attr, connection_thread, c) != 0) {
      /* No thread: the client sees its connection closed. */
      free(c);
      close(conn);
      free_slot();
    }
  }
}
