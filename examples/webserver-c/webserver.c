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
 */

#define _GNU_SOURCE
#include <argdata.h>
#include <program.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
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

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
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

static void respond_error(int conn, int status, bool head_only, long *sent) {
  char body[64], head[512];
  int bl = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
  int hl = snprintf(head, sizeof(head),
                    "HTTP/1.1 %d %s\r\nServer: cloudabi-webserver-c\r\n"
                    "Connection: close\r\n%sContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: %d\r\n\r\n",
                    status, reason(status),
                    status == 405 ? "Allow: GET, HEAD\r\n" : "", bl);
  write_all(conn, head, (size_t)hl);
  if (!head_only) {
    write_all(conn, body, (size_t)bl);
    *sent = bl;
  }
}

/* Serves one connection; returns the status and stores the request line. */
static int serve(int conn, int root, char *line, size_t linelen, long *sent) {
  char head[MAX_HEAD + 1];
  size_t got = 0;
  char *end = NULL;
  *sent = 0;
  snprintf(line, linelen, "-");
  while (end == NULL) {
    if (got == MAX_HEAD) {
      respond_error(conn, 431, false, sent);
      return 431;
    }
    ssize_t n = read(conn, head + got, MAX_HEAD - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
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
    respond_error(conn, 400, false, sent);
    return 400;
  }
  snprintf(line, linelen, "%s %s", method, target);
  bool head_only = strcmp(method, "HEAD") == 0;
  if (strcmp(version, "HTTP/1.0") != 0 && strcmp(version, "HTTP/1.1") != 0) {
    int status = strncmp(version, "HTTP/", 5) == 0 ? 505 : 400;
    respond_error(conn, status, head_only, sent);
    return status;
  }
  if (!head_only && strcmp(method, "GET") != 0) {
    respond_error(conn, 405, false, sent);
    return 405;
  }
  char rel[4096];
  int status = relative_path(target, rel, sizeof(rel));
  if (status != 0) {
    respond_error(conn, status, head_only, sent);
    return status;
  }
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
    respond_error(conn, status, head_only, sent);
    return status;
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
      write_all(conn, loc, (size_t)hl);
      return 301;
    }
    respond_error(conn, 403, head_only, sent);
    return 403;
  }
  char hdr[512];
  int hl = snprintf(hdr, sizeof(hdr),
                    "HTTP/1.1 200 OK\r\nServer: cloudabi-webserver-c\r\n"
                    "Connection: close\r\nContent-Type: %s\r\nContent-Length: %lld\r\n\r\n",
                    content_type(rel), (long long)st.st_size);
  write_all(conn, hdr, (size_t)hl);
  if (!head_only) {
    char buf[65536];
    long long left = st.st_size;
    while (left > 0) {
      ssize_t n = read(fd, buf, sizeof(buf) < (size_t)left ? sizeof(buf) : (size_t)left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || !write_all(conn, buf, (size_t)n)) break;
      *sent += n;
      left -= n;
    }
  }
  close(fd);
  return 200;
}

/* Escapes the request for the log so that a client cannot forge lines. */
static void escape(const char *in, char *out, size_t outlen) {
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && o + 5 < outlen; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
      out[o++] = (char)*p;
    else
      o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
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

void program_main(const argdata_t *ad) {
  int sock = fd_for(ad, "socket"), root = fd_for(ad, "root"), log = fd_for(ad, "log");
  if (sock < 0 || root < 0) {
    fprintf(stderr, "webserver-c: the configuration needs `socket` and `root`\n");
    exit(1);
  }
  for (;;) {
    int conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINVAL || errno == ENOTSOCK || errno == EBADF) {
        fprintf(stderr, "webserver-c: `socket` is not a listening socket\n");
        exit(1);
      }
      continue;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char line[MAX_HEAD + 32], esc[4 * sizeof(line)];
    long sent;
    int status = serve(conn, root, line, sizeof(line), &sent);
    close(conn);
    if (log >= 0) {
      char stamp[32], entry[sizeof(esc) + 96];
      time_t now = time(NULL);
      struct tm tm;
      gmtime_r(&now, &tm);
      strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
      escape(line, esc, sizeof(esc));
      int n = snprintf(entry, sizeof(entry), "%s \"%s\" %d %ld\n", stamp, esc, status, sent);
      if (n > 0) write_all(log, entry, (size_t)n < sizeof(entry) ? (size_t)n : sizeof(entry) - 1);
    }
  }
}
