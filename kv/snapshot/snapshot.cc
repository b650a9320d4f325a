#include "kv/snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kv/codec/binary.h"
#include "kv/replication/chunker.h"

namespace kv::snapshot {
namespace {

constexpr size_t kMagicSize = sizeof(kMagic) - 1;
constexpr size_t kHeaderSize = kMagicSize + 4;
constexpr size_t kRecordHeaderSize = 8;

uint32_t Crc32(absl::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes lengths as uInt: feed large buffers in pieces.
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n));
    data.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(errno, absl::StrCat(what, " ", path));
}

// An open file descriptor, closed when it goes.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  // Closes now; false (errno set) when close failed.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return close(fd) == 0;
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads exactly `n` bytes; false at the end of the file before them.
absl::StatusOr<bool> ReadAll(int fd, char* buf, size_t n, const std::string& path) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno("cannot read", path);
    if (r == 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

uint64_t PhysicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return UINT64_MAX;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

absl::Status WriteFile(const std::string& tmp, const StoreReader& read,
                       const SaveOptions& options, SaveStats* stats) {
  Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Errno("cannot create", tmp);
  std::string header(kMagic, kMagicSize);
  PutU32(&header, kFileVersion);
  if (absl::Status s = WriteAll(fd.get(), header, tmp); !s.ok()) return s;
  stats->bytes = header.size();

  store::VersionVector vv;
  store::VersionVector collected;
  store::VersionVector retired;
  store::NodeId node = 0;
  absl::Status s = read([&](const store::Store& st) {
    vv = st.vv();
    collected = st.collected();
    retired = st.Retired();
    node = st.node();
  });
  if (!s.ok()) return s;
  std::string record;
  replication::ChunkWriter writer(
      node, options.chunk_bytes, [&](const codec::DeltaChunk& chunk) {
        const std::string bytes = codec::EncodeDeltaChunk(chunk);
        record.clear();
        PutU32(&record, static_cast<uint32_t>(bytes.size()));
        PutU32(&record, Crc32(bytes));
        record.append(bytes);
        stats->bytes += record.size();
        return WriteAll(fd.get(), record, tmp);
      });
  writer.SetCollected(std::move(collected), {}, std::move(retired));
  std::string after;
  do {
    std::vector<store::KeyState> page;
    s = read([&](const store::Store& st) {
      page = st.DeltaPage({}, after, options.page_keys, &after, /*full=*/true);
    });
    if (!s.ok()) return s;
    for (store::KeyState& ks : page) writer.Add(std::move(ks));
  } while (!after.empty() && writer.status().ok());
  if (absl::Status f = writer.Finish(std::move(vv)); !f.ok()) {
    return absl::IsResourceExhausted(f) ? absl::InternalError(f.message()) : f;
  }
  stats->keys = writer.keys();
  stats->chunks = writer.chunks();
  while (fsync(fd.get()) != 0) {
    if (errno != EINTR) return Errno("cannot fsync", tmp);
  }
  if (!fd.Close()) return Errno("cannot close", tmp);
  return absl::OkStatus();
}

}  // namespace

std::string PathFor(absl::string_view dir, absl::string_view link) {
  return absl::StrCat(dir, "/", link, ".snap");
}

absl::StatusOr<SaveStats> Save(const std::string& path, const StoreReader& read,
                               const SaveOptions& options) {
  const std::string tmp = path + ".tmp";
  SaveStats stats;
  absl::Status s = WriteFile(tmp, read, options, &stats);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = Errno("cannot rename", tmp);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  // The rename is durable once the directory is.
  const std::string dir = DirOf(path);
  Fd d(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() < 0 || fsync(d.get()) != 0) return Errno("cannot fsync directory", dir);
  return stats;
}

absl::StatusOr<Loaded> Load(const std::string& path, store::NodeId node,
                            store::Clock* clock, const store::Limits& limits,
                            const LoadOptions& options) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno("cannot open", path);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Errno("cannot stat", path);
  const uint64_t max =
      options.max_file_bytes > 0 ? options.max_file_bytes : PhysicalMemory();
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max) {
    return absl::OutOfRangeError(absl::StrCat(
        path, " holds ", size, " bytes, more than this node can load (", max, ")"));
  }
  auto corrupt = [&path](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("snapshot ", path, ": ", why));
  };
  char header[kHeaderSize];
  auto got = ReadAll(fd.get(), header, kHeaderSize, path);
  if (!got.ok()) return got.status();
  if (!*got || std::memcmp(header, kMagic, kMagicSize) != 0) {
    return corrupt("not a snapshot file (bad magic)");
  }
  if (const uint32_t v = GetU32(header + kMagicSize); v != kFileVersion) {
    return corrupt(
        absl::StrCat("format version ", v, ", this kvd reads version ", kFileVersion));
  }
  Loaded loaded;
  loaded.bytes = size;
  loaded.store = std::make_unique<store::Store>(node, clock, limits);
  std::string payload;
  for (uint32_t part = 0;; ++part) {
    char rh[kRecordHeaderSize];
    got = ReadAll(fd.get(), rh, kRecordHeaderSize, path);
    if (!got.ok()) return got.status();
    if (!*got) return corrupt(absl::StrCat("truncated before chunk ", part));
    const uint32_t length = GetU32(rh);
    if (length > options.max_record_bytes || length > size) {
      return corrupt(absl::StrCat("chunk ", part, " claims ", length, " bytes"));
    }
    payload.resize(length);
    got = ReadAll(fd.get(), payload.data(), length, path);
    if (!got.ok()) return got.status();
    if (!*got) return corrupt(absl::StrCat("truncated in chunk ", part));
    if (Crc32(payload) != GetU32(rh + 4)) {
      return corrupt(absl::StrCat("checksum mismatch in chunk ", part));
    }
    auto chunk = codec::DecodeDeltaChunk(payload);
    if (!chunk.ok()) {
      return corrupt(absl::StrCat("chunk ", part, ": ", chunk.status().message()));
    }
    if (chunk->part != part) {
      return corrupt(absl::StrCat("chunk ", chunk->part, " where ", part, " belongs"));
    }
    store::Store& s = *loaded.store;
    if (part == 0) {
      loaded.saved_by = chunk->from;
      // Before any entry: the store is new (AdoptCollected cannot fail).
      (void)s.AdoptCollected(chunk->collected);
    }
    store::Delta entries;
    entries.entries.reserve(chunk->delta.entries.size());
    // Expired keys are kept: reads hide them, and they are reclaimed when the
    // peers reclaim them (a key's expiry may sit in a TTL component written
    // after its register, or in another part of a split key state).
    for (store::KeyState& ks : chunk->delta.entries)
      entries.entries.push_back(std::move(ks));
    if (absl::Status m = s.MergeCopy(entries); !m.ok()) {
      return corrupt(absl::StrCat("chunk ", part, ": ", m.message()));
    }
    loaded.keys += entries.entries.size();
    if (!chunk->last) continue;
    store::Delta vector_only;
    vector_only.vv = std::move(chunk->delta.vv);
    if (absl::Status m = s.MergeDelta(vector_only); !m.ok()) {
      return corrupt(absl::StrCat("vector: ", m.message()));
    }
    if (absl::Status m = s.AdoptCollected(chunk->collected); !m.ok()) {
      return corrupt(absl::StrCat("collected watermark: ", m.message()));
    }
    s.AdoptRetired(chunk->retired);
    char extra;
    got = ReadAll(fd.get(), &extra, 1, path);
    if (!got.ok()) return got.status();
    if (*got) return corrupt("bytes after the last chunk");
    return loaded;
  }
}

}  // namespace kv::snapshot
