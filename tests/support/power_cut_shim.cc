// A power cut for one process, as an LD_PRELOAD shim (issue #23). SIGKILL keeps the page cache;
// a power cut keeps only what was synced. Like SQLite's crash-test VFS (src/test6.c), the shim
// records, for every file it tracks, the writes made since the last fsync/fdatasync of that
// file (the old bytes of each range written, and the length at that sync); at the cut it puts
// the synced contents back (undoes the unsynced writes, newest first, and truncates to the
// synced length) and SIGKILLs the process. The worst case of a real disk: nothing unsynced
// reached it.
//
// Environment:
//   EDGE_POWER_CUT_DIR       track the files opened for writing under this directory (required;
//                            without it the shim does nothing). Files ending in "-shm" are not
//                            tracked: SQLite's WAL index is mmapped and rebuilt after a crash.
//   EDGE_POWER_CUT_AT        cut instead of the Nth call (1-based) that writes or syncs a tracked
//                            file (write, pwrite, pwrite64, writev, ftruncate, fsync, fdatasync);
//                            0 or unset: never cut, only track.
//   EDGE_POWER_CUT_AFTER_MS  count those calls only from this long after the process started.
//   EDGE_POWER_CUT_SNAPSHOT  a directory: at the cut, first copy each tracked file as the page
//                            cache holds it (what a SIGKILL would have left) there, by base name.
// At the cut, one line on stderr: "power-cut: at call N (CALL FILE): F files, B bytes dropped
// (FILE: B, ...)".
//
// Not modelled: directory entries (creating, renaming and unlinking are durable at once; a file
// created and never synced keeps its name but loses its contents), writes through file
// descriptors the shim did not see opened (dup, glibc-internal opens such as fopen), mmapped
// writes, pwritev.
//
// Thread-safety: every intercepted call runs under one global mutex, the real call included, so
// the cut is atomic with respect to the other threads' file I/O: no write lands half-way
// through the restore, and none after it.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// The bytes a write or truncation replaced: restoring them undoes it.
struct Undo {
  off_t offset;
  std::string old_bytes;
};

// One tracked file (an inode): its path now, its length at the last sync, and the undo log since.
struct TrackedFile {
  dev_t dev;
  ino_t ino;
  std::string path;
  off_t synced_size;
  std::vector<Undo> undo;
  bool dropped = false;  // unlinked or renamed over: no longer restored
};

using OpenFn = int (*)(const char*, int, ...);
using OpenAtFn = int (*)(int, const char*, int, ...);
using WriteFn = ssize_t (*)(int, const void*, size_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using PreadFn = ssize_t (*)(int, void*, size_t, off_t);
using WritevFn = ssize_t (*)(int, const struct iovec*, int);
using TruncateFn = int (*)(int, off_t);
using FdFn = int (*)(int);
using VoidFn = void (*)();
using RenameFn = int (*)(const char*, const char*);
using RenameAtFn = int (*)(int, const char*, int, const char*);
using UnlinkFn = int (*)(const char*);
using UnlinkAtFn = int (*)(int, const char*, int);

// The next definitions of the intercepted functions (libc's), found once at load.
struct Real {
  OpenFn open, open64;
  OpenAtFn openat, openat64;
  WriteFn write;
  PwriteFn pwrite, pwrite64;
  PreadFn pread;
  WritevFn writev;
  TruncateFn ftruncate, ftruncate64;
  FdFn fsync, fdatasync, close, syncfs;
  VoidFn sync;
  RenameFn rename;
  RenameAtFn renameat;
  UnlinkFn unlink;
  UnlinkAtFn unlinkat;
};

constexpr int kMaxFd = 65536;

pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
Real g_real;
bool g_enabled = false;
long long g_cut_at = 0;
long long g_calls = 0;
struct timespec g_start;
long long g_after_ms = 0;
// What needs a constructor lives on the heap, made by Init: another library's constructor may
// call open() before this library's static initialisers have run. Never freed.
struct Tracking {
  std::string dir;  // canonical, with a trailing '/'
  std::string snapshot_dir;
  std::vector<TrackedFile> files;
};
Tracking* g = nullptr;
int g_fd_file[kMaxFd];  // fd -> index in g->files, -1 if untracked

template <typename Fn>
Fn Next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

void Init() {
  g_real = Real{Next<OpenFn>("open"),
                Next<OpenFn>("open64"),
                Next<OpenAtFn>("openat"),
                Next<OpenAtFn>("openat64"),
                Next<WriteFn>("write"),
                Next<PwriteFn>("pwrite"),
                Next<PwriteFn>("pwrite64"),
                Next<PreadFn>("pread"),
                Next<WritevFn>("writev"),
                Next<TruncateFn>("ftruncate"),
                Next<TruncateFn>("ftruncate64"),
                Next<FdFn>("fsync"),
                Next<FdFn>("fdatasync"),
                Next<FdFn>("close"),
                Next<FdFn>("syncfs"),
                Next<VoidFn>("sync"),
                Next<RenameFn>("rename"),
                Next<RenameAtFn>("renameat"),
                Next<UnlinkFn>("unlink"),
                Next<UnlinkAtFn>("unlinkat")};
  for (int& index : g_fd_file) index = -1;
  clock_gettime(CLOCK_MONOTONIC, &g_start);
  const char* dir = getenv("EDGE_POWER_CUT_DIR");
  if (dir == nullptr || *dir == '\0') return;
  g = new Tracking();
  // The directory may not exist yet (the agent creates its data directory): then its parent.
  std::string name;
  char* canonical = realpath(dir, nullptr);
  if (canonical == nullptr && errno == ENOENT) {
    std::string parent = dir;
    while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
    const size_t slash = parent.rfind('/');
    name = parent.substr(slash + 1);
    parent = slash == std::string::npos ? "." : slash == 0 ? "/" : parent.substr(0, slash);
    canonical = realpath(parent.c_str(), nullptr);
  }
  if (canonical == nullptr) {
    fprintf(stderr, "power-cut: EDGE_POWER_CUT_DIR %s: %s\n", dir, strerror(errno));
    _exit(97);
  }
  g->dir = std::string(canonical) + (name.empty() ? "" : "/" + name) + "/";
  free(canonical);
  const char* at = getenv("EDGE_POWER_CUT_AT");
  g_cut_at = at != nullptr ? atoll(at) : 0;
  const char* after = getenv("EDGE_POWER_CUT_AFTER_MS");
  g_after_ms = after != nullptr ? atoll(after) : 0;
  const char* snapshot = getenv("EDGE_POWER_CUT_SNAPSHOT");
  if (snapshot != nullptr) g->snapshot_dir = snapshot;
  g_enabled = true;
}

pthread_once_t g_once = PTHREAD_ONCE_INIT;

// Another library's constructor may open a file before ours has run.
void EnsureInit() { pthread_once(&g_once, Init); }
__attribute__((constructor)) void InitAtLoad() { EnsureInit(); }

// Whether `fd` may be tracked: read without the lock so that the process's other I/O (sockets,
// pipes, which may block) never waits for it. A descriptor only becomes tracked when it is
// opened, so no other thread can be writing to it then.
bool MaybeTracked(int fd) {
  EnsureInit();
  return g_enabled && fd >= 0 && fd < kMaxFd &&
         __atomic_load_n(&g_fd_file[fd], __ATOMIC_ACQUIRE) >= 0;
}

void SetFdFile(int fd, int index) { __atomic_store_n(&g_fd_file[fd], index, __ATOMIC_RELEASE); }

class Lock {
 public:
  Lock() { pthread_mutex_lock(&g_mutex); }
  ~Lock() { pthread_mutex_unlock(&g_mutex); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
};

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The canonical path of an open descriptor, "" if it has none.
std::string FdPath(int fd) {
  char link[64];
  char target[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string();
}

// The tracked file behind `fd` (still the same inode), or nullptr.
TrackedFile* FileOf(int fd) {
  if (!g_enabled || fd < 0 || fd >= kMaxFd || g_fd_file[fd] < 0) return nullptr;
  TrackedFile& file = (g->files)[static_cast<size_t>(g_fd_file[fd])];
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != file.dev || st.st_ino != file.ino || file.dropped) {
    SetFdFile(fd, -1);  // closed behind our back and reused
    return nullptr;
  }
  return &file;
}

off_t SizeOf(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_size : 0;
}

// The bytes [offset, offset + length) of `fd` that exist now (also when `fd` is write-only).
std::string ReadRange(int fd, off_t offset, size_t length) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_ACCMODE) == O_WRONLY) {
    const int readable =
        g_real.open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC);
    if (readable < 0) return {};
    std::string bytes = ReadRange(readable, offset, length);
    g_real.close(readable);
    return bytes;
  }
  const off_t size = SizeOf(fd);
  if (offset >= size) return {};
  std::string bytes(static_cast<size_t>(std::min<off_t>(size - offset, static_cast<off_t>(length))),
                    '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        g_real.pread(fd, &bytes[done], bytes.size() - done, offset + static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

void WriteAll(int fd, const std::string& bytes, off_t offset) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = g_real.pwrite(fd, bytes.data() + done, bytes.size() - done,
                                    offset + static_cast<off_t>(done));
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void Say(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = g_real.write(2, line.data() + done, line.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void CopyToSnapshot(const TrackedFile& file) {
  const int in = g_real.open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  const std::string out_path = g->snapshot_dir + "/" + file.path.substr(file.path.rfind('/') + 1);
  const int out = g_real.open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out >= 0) {
    WriteAll(out, ReadRange(in, 0, static_cast<size_t>(SizeOf(in))), 0);
    g_real.close(out);
  }
  g_real.close(in);
}

// The power cut: the page cache becomes what was synced, and the process dies.
[[noreturn]] void Cut(const char* call, const TrackedFile& at) {
  if (!g->snapshot_dir.empty()) {
    for (const TrackedFile& file : g->files) {
      if (!file.dropped) CopyToSnapshot(file);
    }
  }
  long long total = 0;
  int files = 0;
  std::string detail;
  for (TrackedFile& file : g->files) {
    if (file.dropped) continue;
    const int fd = g_real.open(file.path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    const off_t size_now = SizeOf(fd);
    long long dropped = size_now > file.synced_size ? size_now - file.synced_size : 0;
    for (auto it = file.undo.rbegin(); it != file.undo.rend(); ++it) {
      WriteAll(fd, it->old_bytes, it->offset);
      if (it->offset < file.synced_size) {
        dropped += std::min<long long>(static_cast<long long>(it->old_bytes.size()),
                                       file.synced_size - it->offset);
      }
    }
    if (g_real.ftruncate(fd, file.synced_size) != 0) {
      Say("power-cut: cannot truncate " + file.path + "\n");
    }
    g_real.close(fd);
    ++files;
    total += dropped;
    if (dropped > 0) {
      detail += (detail.empty() ? "" : ", ") + file.path.substr(file.path.rfind('/') + 1) + ": " +
                std::to_string(dropped);
    }
  }
  Say("power-cut: at call " + std::to_string(g_calls) + " (" + call + " " +
      at.path.substr(at.path.rfind('/') + 1) + "): " + std::to_string(files) + " files, " +
      std::to_string(total) + " bytes dropped (" + detail + ")\n");
  kill(getpid(), SIGKILL);
  _exit(137);
}

bool CountingStarted() {
  if (g_after_ms <= 0) return true;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long ms =
      (now.tv_sec - g_start.tv_sec) * 1000LL + (now.tv_nsec - g_start.tv_nsec) / 1000000;
  return ms >= g_after_ms;
}

// Called before each write or sync of a tracked file: counts it, and cuts when its turn comes.
void CountCall(const char* call, const TrackedFile& file) {
  if (g_cut_at <= 0 || !CountingStarted()) return;
  if (++g_calls >= g_cut_at) Cut(call, file);
}

// Before writing `length` bytes at `offset` of `file`: keep what they replace.
void RecordWrite(TrackedFile& file, int fd, off_t offset, size_t length) {
  std::string old_bytes = ReadRange(fd, offset, length);
  if (!old_bytes.empty()) file.undo.push_back({offset, std::move(old_bytes)});
}

void Synced(TrackedFile& file, int fd) {
  file.undo.clear();
  file.undo.shrink_to_fit();
  file.synced_size = SizeOf(fd);
}

// After a successful open of `fd` with `flags`: track it if it is ours to track. `truncated`
// holds the contents O_TRUNC discarded (read before the open).
void Opened(int fd, int flags, const std::string& truncated) {
  if (fd < 0 || fd >= kMaxFd) return;
  SetFdFile(fd, -1);
  if ((flags & O_ACCMODE) == O_RDONLY) return;
  const std::string path = FdPath(fd);
  if (path.compare(0, g->dir.size(), g->dir) != 0 || EndsWith(path, "-shm")) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  int index = -1;
  for (size_t i = 0; i < g->files.size(); ++i) {
    const TrackedFile& file = (g->files)[i];
    if (!file.dropped && file.dev == st.st_dev && file.ino == st.st_ino)
      index = static_cast<int>(i);
  }
  if (index < 0) {
    // Whatever the file holds when first seen counts as on disk (a new file: nothing).
    g->files.push_back({st.st_dev,
                        st.st_ino,
                        path,
                        static_cast<off_t>(st.st_size + static_cast<off_t>(truncated.size())),
                        {}});
    index = static_cast<int>(g->files.size() - 1);
  }
  if (!truncated.empty()) (g->files)[static_cast<size_t>(index)].undo.push_back({0, truncated});
  SetFdFile(fd, index);
}

// The contents an open with O_TRUNC is about to discard, if the file is one we track.
std::string BeforeTruncatingOpen(int dirfd, const char* path, int flags) {
  if (!g_enabled || (flags & O_TRUNC) == 0 || (flags & O_ACCMODE) == O_RDONLY) return {};
  const int fd = g_real.openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string bytes;
  const std::string canonical = FdPath(fd);
  if (canonical.compare(0, g->dir.size(), g->dir) == 0 && !EndsWith(canonical, "-shm")) {
    bytes = ReadRange(fd, 0, static_cast<size_t>(SizeOf(fd)));
  }
  g_real.close(fd);
  return bytes;
}

int DoOpenAt(int dirfd, const char* path, int flags, mode_t mode, OpenAtFn real) {
  EnsureInit();
  Lock lock;
  const std::string truncated = BeforeTruncatingOpen(dirfd, path, flags);
  const int fd = real(dirfd, path, flags, mode);
  if (g_enabled && fd >= 0) Opened(fd, flags, truncated);
  return fd;
}

// The canonical path `path` (relative to `dirfd`) will have, "" if its directory does not exist.
std::string CanonicalPath(int dirfd, const char* path) {
  std::string full = path;
  if (path[0] != '/') {
    std::string base;
    if (dirfd == AT_FDCWD) {
      char cwd[4096];
      if (getcwd(cwd, sizeof cwd) == nullptr) return {};
      base = cwd;
    } else {
      base = FdPath(dirfd);
    }
    full = base + "/" + path;
  }
  const size_t slash = full.rfind('/');
  char* dir = realpath(slash == 0 ? "/" : full.substr(0, slash).c_str(), nullptr);
  if (dir == nullptr) return {};
  std::string canonical = std::string(dir) + full.substr(slash);
  free(dir);
  return canonical;
}

// A name no longer reaches the file it named (unlinked, or renamed over).
void NameGone(const std::string& path) {
  for (TrackedFile& file : g->files) {
    if (file.path == path) file.dropped = true;
  }
}

void Renamed(const std::string& from, const std::string& to) {
  NameGone(to);
  for (TrackedFile& file : g->files) {
    if (!file.dropped && file.path == from) file.path = to;
  }
}

mode_t ModeArg(int flags, va_list args) {
  return (flags & (O_CREAT | O_TMPFILE)) != 0 ? static_cast<mode_t>(va_arg(args, int)) : 0;
}

ssize_t DoPwrite(int fd, const void* buffer, size_t length, off_t offset, PwriteFn real,
                 const char* call) {
  if (!MaybeTracked(fd)) return real(fd, buffer, length, offset);
  Lock lock;
  if (TrackedFile* file = FileOf(fd)) {
    CountCall(call, *file);
    RecordWrite(*file, fd, offset, length);
  }
  return real(fd, buffer, length, offset);
}

// write and writev write at the file position, or at the end with O_APPEND.
off_t WriteOffset(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_APPEND) != 0 ? SizeOf(fd) : lseek(fd, 0, SEEK_CUR);
}

int DoTruncate(int fd, off_t length, TruncateFn real) {
  if (!MaybeTracked(fd)) return real(fd, length);
  Lock lock;
  if (TrackedFile* file = FileOf(fd)) {
    CountCall("ftruncate", *file);
    const off_t size = SizeOf(fd);
    if (length < size) RecordWrite(*file, fd, length, static_cast<size_t>(size - length));
  }
  return real(fd, length);
}

int DoSync(int fd, FdFn real, const char* call) {
  if (!MaybeTracked(fd)) return real(fd);
  Lock lock;
  TrackedFile* file = FileOf(fd);
  if (file != nullptr) CountCall(call, *file);
  const int result = real(fd);
  if (file != nullptr && result == 0) Synced(*file, fd);
  return result;
}

void SyncedAll() {
  if (!g_enabled) return;
  for (TrackedFile& file : g->files) {
    if (file.dropped) continue;
    const int fd = g_real.open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    Synced(file, fd);
    g_real.close(fd);
  }
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = ModeArg(flags, args);
  va_end(args);
  return DoOpenAt(AT_FDCWD, path, flags, mode, g_real.openat);
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = ModeArg(flags, args);
  va_end(args);
  return DoOpenAt(AT_FDCWD, path, flags, mode, g_real.openat64);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = ModeArg(flags, args);
  va_end(args);
  return DoOpenAt(dirfd, path, flags, mode, g_real.openat);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = ModeArg(flags, args);
  va_end(args);
  return DoOpenAt(dirfd, path, flags, mode, g_real.openat64);
}

ssize_t write(int fd, const void* buffer, size_t length) {
  if (!MaybeTracked(fd)) return g_real.write(fd, buffer, length);
  Lock lock;
  if (TrackedFile* file = FileOf(fd)) {
    CountCall("write", *file);
    RecordWrite(*file, fd, WriteOffset(fd), length);
  }
  return g_real.write(fd, buffer, length);
}

ssize_t pwrite(int fd, const void* buffer, size_t length, off_t offset) {
  return DoPwrite(fd, buffer, length, offset, g_real.pwrite, "pwrite");
}

ssize_t pwrite64(int fd, const void* buffer, size_t length, off_t offset) {
  return DoPwrite(fd, buffer, length, offset, g_real.pwrite64, "pwrite64");
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  if (!MaybeTracked(fd)) return g_real.writev(fd, iov, count);
  Lock lock;
  if (TrackedFile* file = FileOf(fd)) {
    CountCall("writev", *file);
    size_t length = 0;
    for (int i = 0; i < count; ++i) length += iov[i].iov_len;
    RecordWrite(*file, fd, WriteOffset(fd), length);
  }
  return g_real.writev(fd, iov, count);
}

int ftruncate(int fd, off_t length) { return DoTruncate(fd, length, g_real.ftruncate); }
int ftruncate64(int fd, off_t length) { return DoTruncate(fd, length, g_real.ftruncate64); }
int fsync(int fd) { return DoSync(fd, g_real.fsync, "fsync"); }
int fdatasync(int fd) { return DoSync(fd, g_real.fdatasync, "fdatasync"); }

int syncfs(int fd) {
  EnsureInit();
  Lock lock;
  const int result = g_real.syncfs(fd);
  if (result == 0) SyncedAll();
  return result;
}

void sync() {
  EnsureInit();
  Lock lock;
  g_real.sync();
  SyncedAll();
}

int close(int fd) {
  if (!MaybeTracked(fd)) return g_real.close(fd);
  Lock lock;
  SetFdFile(fd, -1);
  return g_real.close(fd);
}

int rename(const char* from, const char* to) {
  EnsureInit();
  Lock lock;
  const std::string from_path = g_enabled ? CanonicalPath(AT_FDCWD, from) : std::string();
  const std::string to_path = g_enabled ? CanonicalPath(AT_FDCWD, to) : std::string();
  const int result = g_real.rename(from, to);
  if (g_enabled && result == 0) Renamed(from_path, to_path);
  return result;
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) {
  EnsureInit();
  Lock lock;
  const std::string from_path = g_enabled ? CanonicalPath(from_dir, from) : std::string();
  const std::string to_path = g_enabled ? CanonicalPath(to_dir, to) : std::string();
  const int result = g_real.renameat(from_dir, from, to_dir, to);
  if (g_enabled && result == 0) Renamed(from_path, to_path);
  return result;
}

int unlink(const char* path) {
  EnsureInit();
  Lock lock;
  const std::string canonical = g_enabled ? CanonicalPath(AT_FDCWD, path) : std::string();
  const int result = g_real.unlink(path);
  if (g_enabled && result == 0) NameGone(canonical);
  return result;
}

int unlinkat(int dirfd, const char* path, int flags) {
  EnsureInit();
  Lock lock;
  const std::string canonical = g_enabled ? CanonicalPath(dirfd, path) : std::string();
  const int result = g_real.unlinkat(dirfd, path, flags);
  if (g_enabled && result == 0) NameGone(canonical);
  return result;
}

}  // extern "C"
