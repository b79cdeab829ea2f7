// podns-helper apply-layer, the archive side: a tar reader for image layers. It reads what Go's
// archive/tar (containerd, Docker, buildkit) writes and reads: ustar with its prefix field, GNU long
// names and links ('L', 'K'), pax extended headers ('x': path, linkpath, size, uid, gid, mtime and
// SCHILY.xattr.*), and pax global headers ('g', parsed and then ignored, as containerd ignores them: a
// global path or size is meaningless for a layer, and honouring one would make this reader see another
// archive than Go's readers do). Names are assembled as those readers do: pax > GNU > ustar prefix/name.
//
// A size field on a link, device, directory or fifo is ignored (no data follows), as Go's reader does.
// Refused, one line each: a damaged header (checksum, numbers), a truncated stream, an extension header
// repeated before one entry or not followed by one, GNU sparse files (type 'S', pax GNU.sparse.*: this
// reader would write their map as data), any other type flag it does not know (volume labels, Solaris
// 'X', multi-volume pieces), and sizes over the limits in layer.h.
#include "layer.h"

#include <limits.h>
#include <stdint.h>

#define BLOCK 512
#define BUF_SIZE (1U << 20)

struct pax {
  char *path, *linkpath;
  bool has_size, has_uid, has_gid, has_mtime;
  uint64_t size;
  unsigned uid, gid;
  int64_t mtime;
  long mtime_nsec;
  struct layer_xattr *xattrs;
  size_t nxattrs;
};

struct tar_reader {
  int in;
  uint64_t max_bytes;
  uint64_t read_total; // bytes read from `in`
  uint64_t consumed;   // bytes handed out of the buffer: the position in the stream
  char *buf;
  size_t start, end;
  bool eof;
  uint64_t data_left, pad_left; // of the current entry
  // extension headers seen since the last entry
  char *longname, *longlink;
  struct pax pax;
  bool have_pax;
  uint64_t ext_offset; // where the first pending extension header started
  struct tar_entry cur; // its strings are freed by the next tar_next
};

// ---- errors ---------------------------------------------------------------------------------------

const char *layer_shown(const char *s, char *buf, size_t len) {
  size_t o = 0, i = 0;
  for (; s[i] != '\0' && o + 8 < len && i < 200; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
    else buf[o++] = (char)c;
  }
  if (s[i] != '\0' && o + 4 < len) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
  return buf;
}

void layer_refuse(const char *name, const char *fmt, ...) {
  char msg[768], shown[1024], line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int n;
  if (name != NULL) n = snprintf(line, sizeof line, "error EINVAL layer: entry \"%s\": %s\n", layer_shown(name, shown, sizeof shown), msg);
  else n = snprintf(line, sizeof line, "error EINVAL layer: %s\n", msg);
  if (n > 0) (void)write_all(STDOUT_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  _exit(1);
}

void layer_fail(int err, const char *step, const char *name) {
  char shown[1024], line[2048];
  int n = snprintf(line, sizeof line, "error %s %s: \"%s\": %s\n", errno_name(err), step,
                   layer_shown(name, shown, sizeof shown), strerror(err));
  if (n > 0) (void)write_all(STDOUT_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  _exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) layer_fail(ENOMEM, "malloc", "");
  return p;
}

static char *xstrndup(const char *s, size_t n) {
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

// ---- the byte stream -----------------------------------------------------------------------------------

struct tar_reader *tar_open(int in, uint64_t max_bytes) {
  struct tar_reader *r = xmalloc(sizeof *r);
  memset(r, 0, sizeof *r);
  r->in = in;
  r->max_bytes = max_bytes;
  r->buf = xmalloc(BUF_SIZE);
  return r;
}

uint64_t tar_consumed(const struct tar_reader *r) { return r->consumed; }

static void too_big(const struct tar_reader *r) {
  layer_refuse(NULL, "the layer is larger than the limit of %llu bytes (uncompressed); it is not an image layer podns unpacks",
               (unsigned long long)r->max_bytes);
}

// Refills an empty buffer; false at EOF.
static bool fill(struct tar_reader *r) {
  if (r->start < r->end) return true;
  if (r->eof) return false;
  r->start = r->end = 0;
  // never more than one byte past the limit: the limit is met where it is crossed, not a buffer later
  size_t want = r->max_bytes - r->read_total < BUF_SIZE ? (size_t)(r->max_bytes - r->read_total) + 1 : BUF_SIZE;
  for (;;) {
    ssize_t n = read(r->in, r->buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) layer_fail(errno, "read", "stdin");
    if (n == 0) {
      r->eof = true;
      return false;
    }
    r->read_total += (uint64_t)n;
    if (r->read_total > r->max_bytes) too_big(r);
    r->end = (size_t)n;
    return true;
  }
}

// Copies n bytes; the number copied (less only at EOF).
static size_t take(struct tar_reader *r, char *dst, size_t n) {
  size_t got = 0;
  while (got < n && fill(r)) {
    size_t k = r->end - r->start < n - got ? r->end - r->start : n - got;
    if (dst != NULL) memcpy(dst + got, r->buf + r->start, k);
    r->start += k;
    r->consumed += k;
    got += k;
  }
  return got;
}

static void truncated(const struct tar_reader *r) {
  layer_refuse(NULL, "the layer ends in the middle of an entry (at byte %llu); it is truncated or damaged",
               (unsigned long long)r->consumed);
}

static void skip(struct tar_reader *r, uint64_t n) {
  while (n > 0) {
    if (!fill(r)) truncated(r);
    size_t k = r->end - r->start;
    if ((uint64_t)k > n) k = (size_t)n;
    r->start += k;
    r->consumed += k;
    n -= k;
  }
}

size_t tar_data(struct tar_reader *r, const char **p) {
  if (r->data_left == 0) return 0;
  if (!fill(r)) truncated(r);
  size_t k = r->end - r->start;
  if ((uint64_t)k > r->data_left) k = (size_t)r->data_left;
  *p = r->buf + r->start;
  r->start += k;
  r->consumed += k;
  r->data_left -= k;
  return k;
}

void tar_drain(struct tar_reader *r) {
  while (fill(r)) {
    r->consumed += r->end - r->start;
    r->start = r->end;
  }
}

static uint64_t padded(uint64_t n) { return (n + BLOCK - 1) / BLOCK * BLOCK; }

// ---- header fields -------------------------------------------------------------------------------------

// Octal (leading spaces, then digits, ended by a space, a NUL or the field's end) or GNU base-256
// (first byte 0x80; 0xff, a negative number, is refused). False when malformed or over UINT64 / 2^63.
static bool field_num(const unsigned char *h, size_t off, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (h[off] & 0x80) {
    if (h[off] != 0x80) return false;
    for (size_t i = off + 1; i < off + len; i++) {
      if (v >> 55) return false;
      v = v << 8 | h[i];
    }
    *out = v;
    return true;
  }
  size_t i = off, end = off + len;
  while (i < end && h[i] == ' ') i++;
  for (; i < end && h[i] >= '0' && h[i] <= '7'; i++) {
    if (v >> 60) return false;
    v = v << 3 | (uint64_t)(h[i] - '0');
  }
  for (; i < end; i++)
    if (h[i] != ' ' && h[i] != '\0') return false;
  *out = v;
  return true;
}

static char *field_str(const unsigned char *h, size_t off, size_t len) {
  size_t n = 0;
  while (n < len && h[off + n] != '\0') n++;
  return xstrndup((const char *)h + off, n);
}

static bool checksum_ok(const unsigned char *h) {
  uint64_t want;
  if (!field_num(h, 148, 8, &want)) return false;
  int64_t uns = 0, sig = 0;
  for (int i = 0; i < BLOCK; i++) {
    int c = i >= 148 && i < 156 ? ' ' : h[i];
    uns += c;
    sig += c > 127 ? c - 256 : c;
  }
  return (int64_t)want == uns || (int64_t)want == sig;
}

static bool all_zero(const unsigned char *h) {
  for (int i = 0; i < BLOCK; i++)
    if (h[i] != 0) return false;
  return true;
}

// ---- pax records: "LEN KEY=VALUE\n" -------------------------------------------------------------------

static bool dec_u64(const char *s, size_t n, uint64_t max, uint64_t *out) {
  if (n == 0 || n > 20) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    if (v > (max - (uint64_t)(s[i] - '0')) / 10) return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

// "[-]SECONDS[.FRACTION]"
static bool dec_time(const char *s, size_t n, int64_t *sec, long *nsec) {
  bool neg = n > 0 && s[0] == '-';
  size_t i = neg ? 1 : 0, dot = i;
  while (dot < n && s[dot] != '.') dot++;
  uint64_t v;
  if (!dec_u64(s + i, dot - i, INT64_MAX, &v)) return false;
  long ns = 0;
  int digits = 0;
  for (size_t j = dot + 1; j < n; j++) {
    if (s[j] < '0' || s[j] > '9') return false;
    if (digits < 9) ns = ns * 10 + (s[j] - '0'), digits++;
  }
  while (digits < 9) ns *= 10, digits++;
  if (neg && ns > 0) {
    *sec = -(int64_t)v - 1;
    *nsec = 1000000000L - ns;
  } else {
    *sec = neg ? -(int64_t)v : (int64_t)v;
    *nsec = ns;
  }
  return true;
}

static void pax_free(struct pax *p) {
  free(p->path);
  free(p->linkpath);
  for (size_t i = 0; i < p->nxattrs; i++) {
    free(p->xattrs[i].name);
    free(p->xattrs[i].value);
  }
  free(p->xattrs);
  memset(p, 0, sizeof *p);
}

#define XATTR_PREFIX "SCHILY.xattr."

// Parses a pax header's data into p (NULL: a global header, checked and ignored).
static void pax_parse(const char *d, size_t n, struct pax *p, uint64_t at) {
  size_t off = 0;
  while (off < n && d[off] != '\0') {
    size_t sp = off;
    while (sp < n && sp - off < 21 && d[sp] >= '0' && d[sp] <= '9') sp++;
    uint64_t len;
    if (sp >= n || d[sp] != ' ' || !dec_u64(d + off, sp - off, n - off, &len) || len <= sp - off + 1 || d[off + len - 1] != '\n')
      layer_refuse(NULL, "damaged pax header at byte %llu; the layer is damaged", (unsigned long long)at);
    const char *key = d + sp + 1, *end = d + off + len - 1;
    const char *eq = memchr(key, '=', (size_t)(end - key));
    if (eq == NULL || eq == key || memchr(key, '\0', (size_t)(eq - key)) != NULL)
      layer_refuse(NULL, "damaged pax header at byte %llu; the layer is damaged", (unsigned long long)at);
    size_t klen = (size_t)(eq - key), vlen = (size_t)(end - eq - 1);
    const char *val = eq + 1;
    off += len;
    if (p == NULL) continue;
#define KEY(s) (klen == sizeof(s) - 1 && memcmp(key, s, klen) == 0)
    bool bad = false;
    if (KEY("path") || KEY("linkpath")) {
      if (memchr(val, '\0', vlen) != NULL) layer_refuse(NULL, "a pax %s at byte %llu holds a NUL byte; the layer is hostile or damaged",
                                                        KEY("path") ? "path" : "linkpath", (unsigned long long)at);
      char **slot = KEY("path") ? &p->path : &p->linkpath;
      free(*slot);
      *slot = vlen > 0 ? xstrndup(val, vlen) : NULL; // an empty value: the header's own field
    } else if (KEY("size")) {
      bad = !dec_u64(val, vlen, UINT64_MAX >> 1, &p->size);
      p->has_size = true;
    } else if (KEY("uid") || KEY("gid")) {
      uint64_t v = 0;
      bad = !dec_u64(val, vlen, 0xfffffffeU, &v);
      if (KEY("uid")) p->uid = (unsigned)v, p->has_uid = true;
      else p->gid = (unsigned)v, p->has_gid = true;
    } else if (KEY("mtime")) {
      bad = !dec_time(val, vlen, &p->mtime, &p->mtime_nsec);
      p->has_mtime = true;
    } else if (klen > 11 && memcmp(key, "GNU.sparse.", 11) == 0) {
      layer_refuse(NULL, "a GNU sparse file at byte %llu; podns does not unpack sparse files (rebuild the layer without --sparse)",
                   (unsigned long long)at);
    } else if (klen > sizeof XATTR_PREFIX - 1 && memcmp(key, XATTR_PREFIX, sizeof XATTR_PREFIX - 1) == 0) {
      size_t nlen = klen - (sizeof XATTR_PREFIX - 1);
      if (nlen > 255 || vlen > 65536)
        layer_refuse(NULL, "an xattr at byte %llu is longer than the kernel allows (name 255, value 65536 bytes); the layer is hostile or damaged",
                     (unsigned long long)at);
      struct layer_xattr *x = realloc(p->xattrs, (p->nxattrs + 1) * sizeof *x);
      if (x == NULL) layer_fail(ENOMEM, "malloc", "");
      p->xattrs = x;
      x[p->nxattrs].name = xstrndup(key + sizeof XATTR_PREFIX - 1, nlen);
      x[p->nxattrs].value = xstrndup(val, vlen);
      x[p->nxattrs].len = vlen;
      p->nxattrs++;
    }
    // Other keys (atime, ctime, uname, gname, comment, charset, SCHILY.acl.*, LIBARCHIVE.*) change nothing
    // podns writes.
#undef KEY
    if (bad) layer_refuse(NULL, "a pax record at byte %llu has a malformed or out-of-range number; the layer is damaged",
                          (unsigned long long)at);
  }
}

// ---- headers -------------------------------------------------------------------------------------------

static char *read_meta(struct tar_reader *r, uint64_t size, uint64_t at, const char *what) {
  if (size > LAYER_MAX_META)
    layer_refuse(NULL, "a %s at byte %llu is %llu bytes, over the limit of %u; the layer is hostile or damaged", what,
                 (unsigned long long)at, (unsigned long long)size, LAYER_MAX_META);
  char *d = xmalloc((size_t)size + 1);
  if (take(r, d, (size_t)size) != size) truncated(r);
  d[size] = '\0';
  skip(r, padded(size) - size);
  return d;
}

static void clear_ext(struct tar_reader *r) {
  free(r->longname);
  free(r->longlink);
  r->longname = r->longlink = NULL;
  pax_free(&r->pax);
  r->have_pax = false;
}

static void clear_entry(struct tar_reader *r) {
  struct tar_entry *e = &r->cur;
  free(e->name);
  free(e->link);
  for (size_t i = 0; i < e->nxattrs; i++) {
    free(e->xattrs[i].name);
    free(e->xattrs[i].value);
  }
  free(e->xattrs);
  memset(e, 0, sizeof *e);
}

// Skips up to n bytes of padding; false when the stream ends first.
static bool skip_pad(struct tar_reader *r, uint64_t n) {
  while (n > 0) {
    if (!fill(r)) return false;
    size_t k = r->end - r->start;
    if ((uint64_t)k > n) k = (size_t)n;
    r->start += k;
    r->consumed += k;
    n -= k;
  }
  return true;
}

int tar_next(struct tar_reader *r, struct tar_entry *out) {
  skip(r, r->data_left);
  // The last entry's data complete, then the end of the stream without its padding (umoci 0.4's `insert`
  // writes such layers): the end, as Go's reader (containerd, docker, podman) sees it.
  bool more = skip_pad(r, r->pad_left);
  r->data_left = r->pad_left = 0;
  if (!more) {
    clear_entry(r);
    return 0;
  }
  clear_entry(r);
  bool pending = false;
  for (;;) {
    unsigned char h[BLOCK];
    uint64_t at = r->consumed;
    size_t got = take(r, (char *)h, BLOCK);
    if (got == 0) {
      if (pending) layer_refuse(NULL, "the layer ends after an extension header (at byte %llu) without its entry; it is truncated", (unsigned long long)at);
      return 0; // EOF where a header would start: the end, as Go's reader sees it
    }
    if (got < BLOCK) truncated(r);
    if (all_zero(h)) {
      if (pending) layer_refuse(NULL, "an extension header at byte %llu is followed by the end of the archive; the layer is damaged",
                                (unsigned long long)r->ext_offset);
      return 0; // the end marker (the second zero block, if any, is drained with the rest)
    }
    if (!checksum_ok(h))
      layer_refuse(NULL, "the header at byte %llu has a bad checksum: this is not a tar archive, or it is damaged", (unsigned long long)at);
    uint64_t size;
    if (!field_num(h, 124, 12, &size))
      layer_refuse(NULL, "the header at byte %llu has a malformed size; the layer is damaged", (unsigned long long)at);
    char type = (char)h[156];
    bool ext = type == 'L' || type == 'K' || type == 'x' || type == 'g';
    if (!ext && r->have_pax && r->pax.has_size) size = r->pax.size;
    if (size > r->max_bytes - r->consumed || padded(size) > r->max_bytes - r->consumed) {
      char *nm = field_str(h, 0, 100);
      layer_refuse(nm, "declares %llu bytes of data, more than the layer's limit of %llu bytes allows; the layer is hostile or damaged",
                   (unsigned long long)size, (unsigned long long)r->max_bytes);
    }
    if (ext) {
      if (!pending) r->ext_offset = at;
      pending = true;
      char *d = read_meta(r, size, at, type == 'x' || type == 'g' ? "pax header" : "GNU long name");
      if (type == 'g') {
        pax_parse(d, (size_t)size, NULL, at);
        free(d);
        continue;
      }
      char **slot = type == 'L' ? &r->longname : type == 'K' ? &r->longlink : NULL;
      if ((slot != NULL && *slot != NULL) || (type == 'x' && r->have_pax))
        layer_refuse(NULL, "two '%c' extension headers for one entry (at byte %llu); readers disagree on such archives, so it is refused",
                     type, (unsigned long long)at);
      if (slot != NULL) {
        *slot = xstrndup(d, strlen(d));
        free(d);
      } else {
        pax_parse(d, (size_t)size, &r->pax, at);
        r->have_pax = true;
        free(d);
      }
      continue;
    }

    struct tar_entry *e = &r->cur;
    e->offset = pending ? r->ext_offset : at;
    // the name: pax path > GNU long name > ustar prefix "/" name
    if (r->have_pax && r->pax.path != NULL) e->name = r->pax.path, r->pax.path = NULL;
    else if (r->longname != NULL) e->name = r->longname, r->longname = NULL;
    else if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345] != '\0') {
      char *prefix = field_str(h, 345, 155), *name = field_str(h, 0, 100);
      size_t pl = strlen(prefix), nl = strlen(name);
      e->name = xmalloc(pl + nl + 2);
      memcpy(e->name, prefix, pl);
      e->name[pl] = '/';
      memcpy(e->name + pl + 1, name, nl + 1);
      free(prefix);
      free(name);
    } else e->name = field_str(h, 0, 100);
    if (r->have_pax && r->pax.linkpath != NULL) e->link = r->pax.linkpath, r->pax.linkpath = NULL;
    else if (r->longlink != NULL) e->link = r->longlink, r->longlink = NULL;
    else e->link = field_str(h, 157, 100);

    switch (type) {
    case '\0': e->type = e->name[0] != '\0' && e->name[strlen(e->name) - 1] == '/' ? '5' : '0'; break; // old tars' directories
    case '0': case '7': e->type = '0'; break;
    case '1': case '2': case '3': case '4': case '5': case '6': e->type = type; break;
    case 'S':
      layer_refuse(e->name, "is a GNU sparse file; podns does not unpack sparse files (rebuild the layer without --sparse)");
    default:
      if (type >= 0x20 && type < 0x7f) layer_refuse(e->name, "has the tar type '%c', which is not a file, link, directory, device or fifo; the layer is not one podns unpacks", type);
      layer_refuse(e->name, "has the tar type byte 0x%02x, which is not a file, link, directory, device or fifo; the layer is not one podns unpacks",
                   (unsigned char)type);
    }
    uint64_t mode, uid, gid, mtime, maj = 0, min = 0;
    if (!field_num(h, 100, 8, &mode) || !field_num(h, 108, 8, &uid) || !field_num(h, 116, 8, &gid) || !field_num(h, 136, 12, &mtime) ||
        ((e->type == '3' || e->type == '4') && (!field_num(h, 329, 8, &maj) || !field_num(h, 337, 8, &min))))
      layer_refuse(e->name, "has a malformed number in its header; the layer is damaged");
    if (uid > 0xfffffffeU || gid > 0xfffffffeU) layer_refuse(e->name, "has an owner out of range (uid %llu, gid %llu)", (unsigned long long)uid, (unsigned long long)gid);
    if (maj > 0xfff || min > 0xfffff) layer_refuse(e->name, "is a device %llu:%llu, which Linux cannot number", (unsigned long long)maj, (unsigned long long)min);
    // Links, devices, directories and fifos have no data whatever their size field says, as Go's reader
    // (containerd's) sees them: both readers find the next header at the same place.
    if (e->type != '0') size = 0;
    e->size = size;
    e->mode = (unsigned)(mode & 07777);
    e->uid = r->have_pax && r->pax.has_uid ? r->pax.uid : (unsigned)uid;
    e->gid = r->have_pax && r->pax.has_gid ? r->pax.gid : (unsigned)gid;
    if (r->have_pax && r->pax.has_mtime) e->mtime = r->pax.mtime, e->mtime_nsec = r->pax.mtime_nsec;
    else e->mtime = mtime > INT64_MAX ? INT64_MAX : (int64_t)mtime, e->mtime_nsec = 0;
    e->devmajor = (unsigned)maj;
    e->devminor = (unsigned)min;
    if (r->have_pax) {
      e->xattrs = r->pax.xattrs;
      e->nxattrs = r->pax.nxattrs;
      r->pax.xattrs = NULL;
      r->pax.nxattrs = 0;
    }
    clear_ext(r);
    r->data_left = size;
    r->pad_left = padded(size) - size;
    *out = *e;
    return 1;
  }
}
