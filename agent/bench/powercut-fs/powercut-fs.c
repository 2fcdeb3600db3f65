/*
 * powercut-fs: a FUSE passthrough file system that loses every write not
 * yet synced when the power goes (in the spirit of LazyFS, which Jepsen
 * uses). Files live in BACKING; a write to a file is kept in this process's
 * memory (and served back to readers) until fsync/fdatasync of that file
 * copies the file's whole content to BACKING and syncs it there. Killing
 * this process is the power cut: whatever was not synced is gone, as from a
 * device's volatile cache, while kill -9 of the program using the mount
 * loses nothing (the buffers stay, like the page cache).
 *
 * Metadata (create, rename, unlink, mkdir) goes to BACKING at once: the
 * model is a journal that commits names immediately and file contents only
 * on fsync, the loss a missing fsync causes on ext4 (data=ordered, delayed
 * allocation). It does not lose renames or creations.
 *
 * Full disk and read-only: a write that grows a file is refused with ENOSPC
 * when BACKING has no room for it and every pending growth, and with EROFS
 * when BACKING is mounted read-only, at the write, as a kernel file system
 * reserves blocks at write time.
 *
 * Usage: powercut-fs BACKING MOUNTPOINT [FUSE options]   (runs in the foreground)
 */
#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

static char backing[PATH_MAX];

/* The unsynced content of one file: its whole content as readers see it. */
struct dirty {
  char *path; /* relative to the mount, as FUSE names it ("/a/b") */
  char *data;
  size_t size, cap;
  size_t base_size; /* its size in BACKING (what a cut returns to) */
  struct dirty *next;
};
static struct dirty *dirties;

static void real_path(char out[PATH_MAX], const char *path) {
  snprintf(out, PATH_MAX, "%s%s", backing, path);
}

static struct dirty *find_dirty(const char *path) {
  for (struct dirty *d = dirties; d; d = d->next)
    if (strcmp(d->path, path) == 0) return d;
  return NULL;
}

static void drop_dirty(const char *path) {
  for (struct dirty **p = &dirties; *p; p = &(*p)->next) {
    if (strcmp((*p)->path, path) == 0) {
      struct dirty *d = *p;
      *p = d->next;
      free(d->path);
      free(d->data);
      free(d);
      return;
    }
  }
}

static int reserve(struct dirty *d, size_t size) {
  if (size <= d->cap) return 0;
  size_t cap = d->cap ? d->cap : 4096;
  while (cap < size) cap *= 2;
  char *data = realloc(d->data, cap);
  if (!data) return -ENOMEM;
  d->data = data;
  d->cap = cap;
  return 0;
}

/* The file's dirty record, made from its content in BACKING on first need. */
static int get_dirty(const char *path, struct dirty **out) {
  struct dirty *d = find_dirty(path);
  if (d) {
    *out = d;
    return 0;
  }
  char rp[PATH_MAX];
  real_path(rp, path);
  int fd = open(rp, O_RDONLY);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  d = calloc(1, sizeof *d);
  if (!d) {
    close(fd);
    return -ENOMEM;
  }
  d->path = strdup(path);
  d->base_size = (size_t)st.st_size;
  int r = reserve(d, (size_t)st.st_size);
  size_t got = 0;
  while (r == 0 && got < (size_t)st.st_size) {
    ssize_t n = pread(fd, d->data + got, (size_t)st.st_size - got, (off_t)got);
    if (n < 0) r = -errno;
    else if (n == 0) break;
    else got += (size_t)n;
  }
  close(fd);
  if (r < 0) {
    free(d->path);
    free(d->data);
    free(d);
    return r;
  }
  d->size = got;
  d->next = dirties;
  dirties = d;
  *out = d;
  return 0;
}

/* ENOSPC or EROFS for `growth` more bytes, as the backing file system would answer. */
static int room_for(size_t growth) {
  struct statvfs sv;
  if (statvfs(backing, &sv) < 0) return -errno;
  if (sv.f_flag & ST_RDONLY) return -EROFS;
  if (growth == 0) return 0;
  size_t pending = 0;
  for (struct dirty *d = dirties; d; d = d->next)
    if (d->size > d->base_size) pending += d->size - d->base_size;
  size_t avail = (size_t)sv.f_bavail * sv.f_frsize;
  return pending + growth > avail ? -ENOSPC : 0;
}

/* fsync: the file's content as readers see it goes to BACKING, synced. */
static int sync_dirty(const char *path) {
  struct dirty *d = find_dirty(path);
  char rp[PATH_MAX];
  real_path(rp, path);
  int fd = open(rp, O_WRONLY);
  if (fd < 0) return -errno;
  int r = 0;
  size_t done = 0;
  while (d && done < d->size) {
    ssize_t n = pwrite(fd, d->data + done, d->size - done, (off_t)done);
    if (n < 0) {
      r = -errno;
      break;
    }
    done += (size_t)n;
  }
  if (r == 0 && d && ftruncate(fd, (off_t)d->size) < 0) r = -errno;
  if (r == 0 && fsync(fd) < 0) r = -errno;
  close(fd);
  if (r == 0 && d) drop_dirty(path);
  return r;
}

static void *pc_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  /* No attribute or name caching: sizes come from the dirty records. */
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->use_ino = 1;
  return NULL;
}

static int pc_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  char rp[PATH_MAX];
  real_path(rp, path);
  if (lstat(rp, st) < 0) return -errno;
  struct dirty *d = find_dirty(path);
  if (d) {
    st->st_size = (off_t)d->size;
    st->st_blocks = (blkcnt_t)((d->size + 511) / 512);
  }
  return 0;
}

static int pc_access(const char *path, int mask) {
  char rp[PATH_MAX];
  real_path(rp, path);
  return access(rp, mask) < 0 ? -errno : 0;
}

static int pc_readlink(const char *path, char *buf, size_t size) {
  char rp[PATH_MAX];
  real_path(rp, path);
  ssize_t n = readlink(rp, buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

static int pc_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  char rp[PATH_MAX];
  real_path(rp, path);
  DIR *dir = opendir(rp);
  if (!dir) return -errno;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    struct stat st = {0};
    st.st_ino = e->d_ino;
    st.st_mode = (mode_t)(e->d_type << 12);
    if (filler(buf, e->d_name, &st, 0, 0)) break;
  }
  closedir(dir);
  return 0;
}

static int pc_mkdir(const char *path, mode_t mode) {
  char rp[PATH_MAX];
  real_path(rp, path);
  return mkdir(rp, mode) < 0 ? -errno : 0;
}

static int pc_unlink(const char *path) {
  char rp[PATH_MAX];
  real_path(rp, path);
  if (unlink(rp) < 0) return -errno;
  drop_dirty(path);
  return 0;
}

static int pc_rmdir(const char *path) {
  char rp[PATH_MAX];
  real_path(rp, path);
  return rmdir(rp) < 0 ? -errno : 0;
}

static int pc_symlink(const char *from, const char *to) {
  char rp[PATH_MAX];
  real_path(rp, to);
  return symlink(from, rp) < 0 ? -errno : 0;
}

static int pc_rename(const char *from, const char *to, unsigned int flags) {
  if (flags) return -EINVAL;
  char rf[PATH_MAX], rt[PATH_MAX];
  real_path(rf, from);
  real_path(rt, to);
  if (rename(rf, rt) < 0) return -errno;
  drop_dirty(to);
  size_t n = strlen(from);
  /* The unsynced content moves with its name (and with its folder's). */
  for (struct dirty *d = dirties; d; d = d->next) {
    if (strncmp(d->path, from, n) == 0 && (d->path[n] == '\0' || d->path[n] == '/')) {
      char moved[PATH_MAX];
      snprintf(moved, PATH_MAX, "%s%s", to, d->path + n);
      free(d->path);
      d->path = strdup(moved);
    }
  }
  return 0;
}

static int pc_link(const char *from, const char *to) {
  char rf[PATH_MAX], rt[PATH_MAX];
  real_path(rf, from);
  real_path(rt, to);
  return link(rf, rt) < 0 ? -errno : 0;
}

static int pc_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  (void)fi;
  char rp[PATH_MAX];
  real_path(rp, path);
  return chmod(rp, mode) < 0 ? -errno : 0;
}

static int pc_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  (void)fi;
  char rp[PATH_MAX];
  real_path(rp, path);
  return lchown(rp, uid, gid) < 0 ? -errno : 0;
}

static int set_size(const char *path, off_t size) {
  struct dirty *d;
  int r = get_dirty(path, &d);
  if (r < 0) return r;
  size_t want = (size_t)size;
  r = room_for(want > d->size ? want - d->size : 0);
  if (r < 0) return r;
  if ((r = reserve(d, want)) < 0) return r;
  if (want > d->size) memset(d->data + d->size, 0, want - d->size);
  d->size = want;
  return 0;
}

static int pc_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  (void)fi;
  return set_size(path, size);
}

static int pc_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  (void)fi;
  char rp[PATH_MAX];
  real_path(rp, path);
  return utimensat(AT_FDCWD, rp, tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int open_backing(const char *path, int flags, mode_t mode, struct fuse_file_info *fi) {
  char rp[PATH_MAX];
  real_path(rp, path);
  /* Content goes through the dirty records; the descriptor only reads clean files. */
  int fd = open(rp, (flags & ~(O_TRUNC | O_APPEND | O_WRONLY | O_RDWR)) | O_RDONLY, mode);
  if (fd < 0) return -errno;
  fi->fh = (uint64_t)fd;
  if (flags & O_TRUNC) {
    int r = set_size(path, 0);
    if (r < 0) {
      close(fd);
      return r;
    }
  }
  return 0;
}

static int pc_open(const char *path, struct fuse_file_info *fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    int r = room_for(0);
    if (r < 0) return r;
  }
  return open_backing(path, fi->flags, 0, fi);
}

static int pc_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  return open_backing(path, fi->flags | O_CREAT, mode, fi);
}

static int pc_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct dirty *d = find_dirty(path);
  if (!d) {
    ssize_t n = pread((int)fi->fh, buf, size, off);
    return n < 0 ? -errno : (int)n;
  }
  if ((size_t)off >= d->size) return 0;
  size_t n = d->size - (size_t)off < size ? d->size - (size_t)off : size;
  memcpy(buf, d->data + off, n);
  return (int)n;
}

static int pc_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct dirty *d;
  int r = get_dirty(path, &d);
  if (r < 0) return r;
  size_t end = (size_t)off + size;
  if (fi->flags & O_APPEND) {
    off = (off_t)d->size;
    end = d->size + size;
  }
  r = room_for(end > d->size ? end - d->size : 0);
  if (r < 0) return r;
  if ((r = reserve(d, end)) < 0) return r;
  if ((size_t)off > d->size) memset(d->data + d->size, 0, (size_t)off - d->size);
  memcpy(d->data + off, buf, size);
  if (end > d->size) d->size = end;
  return (int)size;
}

static int pc_statfs(const char *path, struct statvfs *sv) {
  (void)path;
  if (statvfs(backing, sv) < 0) return -errno;
  size_t pending = 0;
  for (struct dirty *d = dirties; d; d = d->next)
    if (d->size > d->base_size) pending += d->size - d->base_size;
  fsblkcnt_t blocks = (fsblkcnt_t)(pending / sv->f_frsize);
  sv->f_bavail = sv->f_bavail > blocks ? sv->f_bavail - blocks : 0;
  sv->f_bfree = sv->f_bfree > blocks ? sv->f_bfree - blocks : 0;
  return 0;
}

static int pc_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  close((int)fi->fh);
  return 0;
}

static int pc_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)datasync;
  (void)fi;
  return sync_dirty(path);
}

static int pc_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)datasync;
  (void)fi;
  char rp[PATH_MAX];
  real_path(rp, path);
  int fd = open(rp, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -errno;
  int r = fsync(fd) < 0 ? -errno : 0;
  close(fd);
  return r;
}

static const struct fuse_operations ops = {
  .init = pc_init,
  .getattr = pc_getattr,
  .access = pc_access,
  .readlink = pc_readlink,
  .readdir = pc_readdir,
  .mkdir = pc_mkdir,
  .unlink = pc_unlink,
  .rmdir = pc_rmdir,
  .symlink = pc_symlink,
  .rename = pc_rename,
  .link = pc_link,
  .chmod = pc_chmod,
  .chown = pc_chown,
  .truncate = pc_truncate,
  .utimens = pc_utimens,
  .open = pc_open,
  .create = pc_create,
  .read = pc_read,
  .write = pc_write,
  .statfs = pc_statfs,
  .release = pc_release,
  .fsync = pc_fsync,
  .fsyncdir = pc_fsyncdir,
};

int main(int argc, char *argv[]) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s BACKING MOUNTPOINT [FUSE options]\n", argv[0]);
    return 2;
  }
  if (!realpath(argv[1], backing)) {
    perror(argv[1]);
    return 2;
  }
  /* FUSE sees: prog MOUNTPOINT -f -s [options]: foreground, one thread (the records are not locked). */
  char *fargv[64];
  int fargc = 0;
  fargv[fargc++] = argv[0];
  fargv[fargc++] = argv[2];
  fargv[fargc++] = "-f";
  fargv[fargc++] = "-s";
  for (int i = 3; i < argc && fargc < 63; i++) fargv[fargc++] = argv[i];
  fargv[fargc] = NULL;
  return fuse_main(fargc, fargv, &ops, NULL);
}
