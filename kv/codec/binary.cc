#include "kv/codec/binary.h"

#include <algorithm>
#include <istream>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cereal/archives/portable_binary.hpp"
#include "cereal/cereal.hpp"
#include "kv/store/request_log.h"

namespace kv::store {

// cereal (de)serialisers for the state types, found by argument-dependent lookup.
// Strings and lists go through the bounded helpers below, never through cereal's own
// std::string / std::vector support, which would trust a garbage length.

template <class Archive>
void serialize(Archive& ar, Dot& d) {
  ar(d.node, d.seq);
}
template <class Archive>
void serialize(Archive& ar, Stamp& s) {
  ar(s.hlc, s.node);
}
template <class Archive>
void serialize(Archive& ar, Removal& r) {
  ar(r.item, r.by);
}
template <class Archive>
void serialize(Archive& ar, Digest& d) {
  ar(d.a, d.b);
}
template <class Archive>
void serialize(Archive& ar, CounterPart& p) {
  ar(p.node, p.seq, p.base, p.sum, p.by);
}

}  // namespace kv::store

namespace kv::codec {
namespace {

using store::KeyState;

constexpr uint32_t kMagic = 0x6b76736e;  // "kvsn"

// A read-only streambuf over caller memory (no copy), which knows what is left.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(absl::string_view bytes) {
    char* p = const_cast<char*>(bytes.data());
    setg(p, p, p + bytes.size());
  }
  size_t left() const { return static_cast<size_t>(egptr() - gptr()); }
};

using InArchive = cereal::PortableBinaryInputArchive;
using OutArchive = cereal::PortableBinaryOutputArchive;

// Decoding context: everything a load needs to bound its allocations.
struct Reader {
  ViewBuf buf;
  std::istream stream;
  InArchive ar;

  explicit Reader(absl::string_view bytes) : buf(bytes), stream(&buf), ar(stream) {}

  uint64_t Count() {
    cereal::size_type n = 0;
    ar(cereal::make_size_tag(n));
    // Every element takes at least one byte, so a count above the bytes left is a lie.
    if (n > buf.left()) throw cereal::Exception("length exceeds the input");
    return n;
  }
  void String(std::string& s) {
    const uint64_t n = Count();
    s.resize(n);
    ar(cereal::binary_data(s.data(), n));
  }
  template <typename T, typename LoadOne>
  void List(std::vector<T>& v, LoadOne load_one) {
    const uint64_t n = Count();
    v.clear();
    for (uint64_t i = 0; i < n; ++i) {
      v.emplace_back();
      load_one(v.back());
    }
  }
  template <typename T>
  void List(std::vector<T>& v) {
    List(v, [this](T& x) { ar(x); });
  }
  // Bools travel as one byte; anything but 0 or 1 is garbage (and reading it
  // straight into a bool would be undefined behaviour).
  bool Bool() {
    uint8_t b = 0;
    ar(b);
    if (b > 1) throw cereal::Exception("invalid boolean");
    return b == 1;
  }
  template <typename T, typename LoadOne>
  void Optional(std::optional<T>& o, LoadOne load_one) {
    o.reset();
    if (Bool()) load_one(o.emplace());
  }
  void Vector(store::VersionVector& vv) {
    const uint64_t n = Count();
    if (n > kMaxVectorOrigins) throw cereal::Exception("too many origins");
    vv.clear();
    for (uint64_t i = 0; i < n; ++i) {
      store::NodeId node = 0;
      uint64_t seq = 0;
      ar(node, seq);
      vv.emplace_hint(vv.end(), node, seq);  // written in order: appends
    }
  }
  // Retired origins: a vector of at most kMaxListedNodes origins.
  void Retired(store::VersionVector& vv) {
    Vector(vv);
    if (vv.size() > kMaxListedNodes) throw cereal::Exception("too many retired origins");
  }
  void Nodes(std::vector<store::NodeId>& nodes) {
    const uint64_t n = Count();
    if (n > kMaxListedNodes) throw cereal::Exception("too many node ids");
    nodes.resize(n);
    for (store::NodeId& node : nodes) ar(node);
  }
  // A string of at most `max` bytes.
  void String(std::string& s, size_t max) {
    const uint64_t n = Count();
    if (n > max) throw cereal::Exception("string too long");
    s.resize(n);
    ar(cereal::binary_data(s.data(), n));
  }
  void Request(store::RequestRecord& r) {
    String(r.id, store::RequestLog::kMaxIdBytes);
    if (!store::RequestLog::CheckId(r.id).ok())
      throw cereal::Exception("invalid request id");
    String(r.reply, store::RequestLog::kMaxReplyBytes);
    ar(r.applied_ms, r.dot);
  }
  void Key(KeyState& ks) {
    String(ks.key);
    Optional(ks.reg, [this](store::RegisterState& r) {
      ar(r.stamp, r.seq);
      r.live = Bool();
      String(r.value);
      ar(r.expires_ms);
    });
    Optional(ks.counter, [this](store::CounterState& c) {
      ar(c.stamp, c.stamp_seq);
      List(c.incs);
      List(c.dels);
    });
    Optional(ks.list, [this](store::ListState& l) {
      ar(l.stamp, l.stamp_seq);
      List(l.items, [this](store::ListItem& item) {
        ar(item.stamp, item.seq);
        String(item.value);
      });
      List(l.removed);
    });
    Optional(ks.set, [this](store::SetState& s) {
      ar(s.stamp, s.stamp_seq);
      List(s.items, [this](store::SetItem& item) {
        String(item.value);
        ar(item.dot);
      });
      List(s.removed);
    });
    Optional(ks.ttl, [this](store::TtlState& t) { ar(t.stamp, t.seq, t.expires_ms); });
  }
  // Reads the header; throws cereal::Exception (caught by the Decode functions) when
  // it is not ours, not the expected kind or not this version.
  void Header(MessageKind want) {
    uint32_t magic = 0, version = 0;
    uint8_t kind = 0;
    ar(magic, kind, version);
    if (magic != kMagic) throw cereal::Exception("not a natskv message");
    if (kind != static_cast<uint8_t>(want))
      throw cereal::Exception("unexpected message kind");
    if (version != kFormatVersion) throw cereal::Exception("unsupported format version");
  }
  void End() {
    if (buf.left() != 0) throw cereal::Exception("trailing bytes");
  }
};

struct Writer {
  std::ostringstream stream;
  OutArchive ar{stream};

  explicit Writer(MessageKind kind) {
    ar(kMagic, static_cast<uint8_t>(kind), kFormatVersion);
  }
  void Count(size_t n) { ar(cereal::make_size_tag(static_cast<cereal::size_type>(n))); }
  void String(const std::string& s) {
    Count(s.size());
    ar(cereal::binary_data(s.data(), s.size()));
  }
  template <typename T, typename SaveOne>
  void List(const std::vector<T>& v, SaveOne save_one) {
    Count(v.size());
    for (const T& x : v) save_one(x);
  }
  template <typename T>
  void List(const std::vector<T>& v) {
    List(v, [this](const T& x) { ar(x); });
  }
  template <typename T, typename SaveOne>
  void Optional(const std::optional<T>& o, SaveOne save_one) {
    ar(o.has_value());
    if (o) save_one(*o);
  }
  void Vector(const store::VersionVector& vv) {
    Count(vv.size());
    for (const auto& [node, seq] : vv) ar(node, seq);
  }
  void Nodes(const std::vector<store::NodeId>& nodes) {
    Count(nodes.size());
    for (store::NodeId node : nodes) ar(node);
  }
  void Request(const store::RequestRecord& r) {
    String(r.id);
    String(r.reply);
    ar(r.applied_ms, r.dot);
  }
  void Key(const KeyState& ks) {
    String(ks.key);
    Optional(ks.reg, [this](const store::RegisterState& r) {
      ar(r.stamp, r.seq, r.live);
      String(r.value);
      ar(r.expires_ms);
    });
    Optional(ks.counter, [this](const store::CounterState& c) {
      ar(c.stamp, c.stamp_seq);
      List(c.incs);
      List(c.dels);
    });
    Optional(ks.list, [this](const store::ListState& l) {
      ar(l.stamp, l.stamp_seq);
      List(l.items, [this](const store::ListItem& item) {
        ar(item.stamp, item.seq);
        String(item.value);
      });
      List(l.removed);
    });
    Optional(ks.set, [this](const store::SetState& s) {
      ar(s.stamp, s.stamp_seq);
      List(s.items, [this](const store::SetItem& item) {
        String(item.value);
        ar(item.dot);
      });
      List(s.removed);
    });
    Optional(ks.ttl,
             [this](const store::TtlState& t) { ar(t.stamp, t.seq, t.expires_ms); });
  }
  std::string Take() { return std::move(stream).str(); }
};

// Runs a decode, turning cereal's exceptions (short reads, bad lengths) into a status.
template <typename T, typename DecodeFn>
absl::StatusOr<T> Decode(absl::string_view bytes, MessageKind kind, DecodeFn decode) {
  try {
    Reader r(bytes);
    r.Header(kind);
    T out = decode(r);
    r.End();
    return out;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("malformed message: ", e.what()));
  }
}

}  // namespace

std::string EncodeEvents(const std::vector<store::Event>& events) {
  Writer w(MessageKind::kEvents);
  w.List(events, [&w](const store::Event& e) {
    w.ar(e.dot);
    w.Key(e.delta);
    w.Optional(e.request, [&w](const store::RequestRecord& r) { w.Request(r); });
  });
  return w.Take();
}

absl::StatusOr<std::vector<store::Event>> DecodeEvents(absl::string_view bytes) {
  return Decode<std::vector<store::Event>>(bytes, MessageKind::kEvents, [](Reader& r) {
    std::vector<store::Event> events;
    r.List(events, [&r](store::Event& e) {
      r.ar(e.dot);
      r.Key(e.delta);
      r.Optional(e.request, [&r](store::RequestRecord& rec) { r.Request(rec); });
    });
    return events;
  });
}

std::string EncodeDeltaChunk(const DeltaChunk& chunk) {
  Writer w(MessageKind::kDelta);
  w.ar(chunk.from, chunk.part, chunk.last);
  w.Vector(chunk.delta.vv);
  w.Vector(chunk.collected);
  w.Nodes(chunk.members);
  w.Vector(chunk.retired);
  w.List(chunk.requests, [&w](const store::RequestRecord& r) { w.Request(r); });
  w.List(chunk.delta.entries, [&w](const KeyState& ks) { w.Key(ks); });
  return w.Take();
}

absl::StatusOr<DeltaChunk> DecodeDeltaChunk(absl::string_view bytes) {
  return Decode<DeltaChunk>(bytes, MessageKind::kDelta, [](Reader& r) {
    DeltaChunk chunk;
    r.ar(chunk.from, chunk.part);
    chunk.last = r.Bool();
    r.Vector(chunk.delta.vv);
    r.Vector(chunk.collected);
    r.Nodes(chunk.members);
    r.Retired(chunk.retired);
    r.List(chunk.requests, [&r](store::RequestRecord& rec) { r.Request(rec); });
    r.List(chunk.delta.entries, [&r](KeyState& ks) { r.Key(ks); });
    return chunk;
  });
}

std::string EncodeSyncRequest(const SyncRequest& request) {
  Writer w(MessageKind::kSyncRequest);
  w.ar(request.from, request.join);
  w.Vector(request.vv);
  return w.Take();
}

absl::StatusOr<SyncRequest> DecodeSyncRequest(absl::string_view bytes) {
  return Decode<SyncRequest>(bytes, MessageKind::kSyncRequest, [](Reader& r) {
    SyncRequest request;
    r.ar(request.from);
    request.join = r.Bool();
    r.Vector(request.vv);
    return request;
  });
}

std::string EncodeHeartbeat(const Heartbeat& heartbeat) {
  Writer w(MessageKind::kHeartbeat);
  w.ar(heartbeat.node);
  w.Vector(heartbeat.vv);
  w.ar(heartbeat.digest, heartbeat.keys, heartbeat.hlc);
  w.Vector(heartbeat.collected);
  w.Nodes(heartbeat.members);
  w.Nodes(heartbeat.departed);
  w.Vector(heartbeat.retired);
  w.Vector(heartbeat.retiring);
  w.ar(heartbeat.goodbye);
  w.Nodes(heartbeat.view);
  w.ar(heartbeat.view_since_ms, heartbeat.sent_ms);
  return w.Take();
}

absl::StatusOr<Heartbeat> DecodeHeartbeat(absl::string_view bytes) {
  return Decode<Heartbeat>(bytes, MessageKind::kHeartbeat, [](Reader& r) {
    Heartbeat heartbeat;
    r.ar(heartbeat.node);
    r.Vector(heartbeat.vv);
    r.ar(heartbeat.digest, heartbeat.keys, heartbeat.hlc);
    r.Vector(heartbeat.collected);
    r.Nodes(heartbeat.members);
    r.Nodes(heartbeat.departed);
    r.Retired(heartbeat.retired);
    r.Retired(heartbeat.retiring);
    heartbeat.goodbye = r.Bool();
    r.Nodes(heartbeat.view);
    r.ar(heartbeat.view_since_ms, heartbeat.sent_ms);
    return heartbeat;
  });
}

size_t EncodedSize(const KeyState& ks) {
  // Fixed parts are small; strings dominate. An upper bound is enough for chunking.
  size_t n = 64 + ks.key.size();
  if (ks.reg) n += 64 + ks.reg->value.size();
  if (ks.counter) n += 32 + 56 * (ks.counter->incs.size() + ks.counter->dels.size());
  if (ks.list) {
    n += 32 + 40 * ks.list->removed.size();
    for (const auto& item : ks.list->items) n += 40 + item.value.size();
  }
  if (ks.ttl) n += 40;
  if (ks.set) {
    n += 32 + 40 * ks.set->removed.size();
    for (const auto& item : ks.set->items) n += 40 + item.value.size();
  }
  return n;
}

size_t EncodedSize(const store::RequestRecord& record) {
  // Two size tags and the time, 8 bytes each, and the dot (16).
  return 40 + record.id.size() + record.reply.size();
}

size_t EncodedHeaderSize(const DeltaChunk& chunk) {
  Writer w(MessageKind::kDelta);
  w.ar(chunk.from, chunk.part, chunk.last);
  w.Vector(chunk.delta.vv);
  w.Vector(chunk.collected);
  w.Nodes(chunk.members);
  w.Vector(chunk.retired);
  w.List(chunk.requests, [&w](const store::RequestRecord& r) { w.Request(r); });
  const std::vector<KeyState> none;
  w.List(none, [&w](const KeyState& ks) { w.Key(ks); });
  return w.Take().size();
}

size_t MaxEventOverhead() {
  // Fixed-width integers: the values do not change the size.
  const uint64_t big = ~uint64_t{0};
  const store::Stamp stamp{big, big};
  const store::Dot dot{big, big};
  store::Event set{dot, {}};
  set.delta.reg = store::RegisterState{stamp, big, true, "", -1};
  store::Event push{dot, {}};
  push.delta.list = store::ListState{stamp, big, {store::ListItem{stamp, big, ""}}, {}};
  store::Event set_add{dot, {}};
  set_add.delta.set =
      store::SetState{stamp, big, {store::SetItem{"", dot}}, {store::Removal{dot, dot}}};
  size_t most = 0;
  for (const store::Event* e : {&set, &push, &set_add}) {
    most = std::max(most, EncodeEvents({*e}).size());
  }
  return most;
}

}  // namespace kv::codec
