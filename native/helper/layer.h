// podns-helper apply-layer: an image layer (an uncompressed tar stream on stdin) written into an empty
// directory that later serves as an overlay lower dir. layer.c reads the archive (ustar, GNU 'L'/'K',
// pax 'x'/'g'); layer_apply.c writes each entry, resolving every path inside the directory. The archive is
// hostile input: every size and count is capped (the limits below), every refusal is one line.
#ifndef PODNS_HELPER_LAYER_H
#define PODNS_HELPER_LAYER_H

#include "common.h"

#include <stdint.h>

// ---- limits (each refusal names the one that stopped it) ----------------------------------------------

// The whole stream (headers, data, padding and whatever follows the end marker), unless --max-bytes says
// less. Larger than any layer seen in practice (the largest public ML image layers are tens of GiB), small
// enough that a decompression bomb stops long before it fills a disk of the kind images live on.
#define LAYER_MAX_BYTES (256ULL << 30)
// Entries (extension headers not counted), unless --max-entries says less. Large distribution layers hold
// ~10^5 files; a million-fold header stream of empty entries stops here.
#define LAYER_MAX_ENTRIES 4000000UL
// One GNU long name/link or pax header is read into memory: bounded (GNU tar's own limit is of this order).
#define LAYER_MAX_META (1U << 20)
// Path components of a name (after "." and empty ones are dropped): deeper trees than this are no
// filesystem anyone ships, and each component is one openat2 step.
#define LAYER_MAX_DEPTH 256
// A cleaned name, a hard link target or a symlink target: shorter than PATH_MAX (4096) with its NUL.
#define LAYER_MAX_PATH 4095

struct layer_xattr {
  char *name;
  char *value;
  size_t len;
};

struct tar_entry {
  char type;        // '0' file ('\0' and '7' become '0'), '1' hard link, '2' symlink, '3' char, '4' block,
                    // '5' directory, '6' fifo
  char *name;       // as the archive gives it (pax path > GNU 'L' > ustar prefix/name), NUL-terminated
  char *link;       // hard link or symlink target ("" when none)
  uint64_t size;    // data bytes that follow the header
  uint64_t offset;  // of the entry's header in the stream (for messages)
  unsigned mode;    // permission bits with setuid/setgid/sticky
  unsigned uid, gid;
  int64_t mtime;
  long mtime_nsec;
  unsigned devmajor, devminor;
  struct layer_xattr *xattrs;
  size_t nxattrs;
};

struct tar_reader;

// The reader of fd `in` with the byte limit `max_bytes`.
struct tar_reader *tar_open(int in, uint64_t max_bytes);
// The next entry: 1 (e filled; its strings live until the next call), 0 at the end of the archive (two
// zero blocks, one zero block then EOF, or EOF where a header would start, as Go's archive/tar allows).
// A damaged, truncated or refused archive ends the process with one error line (layer_refuse).
int tar_next(struct tar_reader *r, struct tar_entry *e);
// The next piece of the current entry's data: a pointer into the reader's buffer and its length (0 once
// the entry's data is all read). The padding after the data is skipped by the next tar_next.
size_t tar_data(struct tar_reader *r, const char **p);
// Reads the rest of the stream after the end marker (its bytes count against the limit): the writer on
// the other side of the pipe never sees EPIPE, and the digest it computes covers all of it.
void tar_drain(struct tar_reader *r);
// Bytes read so far.
uint64_t tar_consumed(const struct tar_reader *r);

// ---- errors -------------------------------------------------------------------------------------------

// "error EINVAL layer: <message>" on the error fd and exit 1: the archive is refused. The name shown is
// `name` (escaped: control bytes as \xNN, cut at 200 bytes), NULL for an error of the archive itself.
__attribute__((noreturn, format(printf, 2, 3))) void layer_refuse(const char *name, const char *fmt, ...);
// "error <ERRNO> <step>: <name>: <strerror>" and exit 1: a kernel error while writing.
__attribute__((noreturn)) void layer_fail(int err, const char *step, const char *name);
// `s` as it may appear in an error line: control bytes as \xNN, quotes escaped, at most 200 bytes shown.
const char *layer_shown(const char *s, char *buf, size_t len);

#endif
