#include "kv/replication/sim/network.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kv::replication::sim {

bool SubjectMatches(absl::string_view pattern, absl::string_view subject) {
  if (pattern == subject) return true;
  while (true) {
    const size_t p_end = std::min(pattern.find('.'), pattern.size());
    const size_t s_end = std::min(subject.find('.'), subject.size());
    const absl::string_view p = pattern.substr(0, p_end);
    if (p == ">") return !subject.empty();
    if (subject.empty()) return false;
    if (p != "*" && p != subject.substr(0, s_end)) return false;
    const bool p_last = p_end == pattern.size();
    const bool s_last = s_end == subject.size();
    if (p_last || s_last) return p_last && s_last;
    pattern.remove_prefix(p_end + 1);
    subject.remove_prefix(s_end + 1);
  }
}

class Network::SimSubscription : public Subscription {
 public:
  SimSubscription(Network* net, int id) : net_(net), id_(id) {}
  ~SimSubscription() override { net_->Unsubscribe(id_); }

  // The network calls a handler at the moment it delivers a message: nothing
  // received is ever waiting to be handled.
  bool AwaitReceived(absl::Duration) override { return true; }

 private:
  Network* const net_;
  const int id_;
};

class Network::SimBus : public Bus {
 public:
  SimBus(Network* net, int conn, int host) : net_(net), conn_(conn), host_(host) {}

  absl::Status Publish(absl::string_view subject, absl::string_view reply,
                       absl::string_view data) override {
    return net_->Publish(conn_, host_, subject, reply, data);
  }
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      absl::string_view subject, absl::string_view queue_group,
      MessageHandler handler) override {
    const int id =
        net_->Subscribe(conn_, host_, subject, queue_group, std::move(handler));
    return std::unique_ptr<Subscription>(new SimSubscription(net_, id));
  }
  std::string NewInbox() override {
    return absl::StrCat("_INBOX.sim", ++net_->next_inbox_);
  }
  int64_t MaxPayload() override { return net_->max_payload_; }

 private:
  Network* const net_;
  const int conn_;
  const int host_;
};

Network::Network(uint64_t seed, int64_t max_payload)
    : rng_(seed), max_payload_(max_payload) {}

Network::~Network() = default;

std::unique_ptr<Bus> Network::Connect(int host) {
  return std::make_unique<SimBus>(this, ++next_conn_, host);
}

absl::Duration Network::Uniform(absl::Duration lo, absl::Duration hi) {
  if (hi <= lo) return lo;
  std::uniform_int_distribution<int64_t> d(0, absl::ToInt64Microseconds(hi - lo));
  return lo + absl::Microseconds(d(rng_));
}

bool Network::Chance(double p) {
  if (p <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

void Network::Push(absl::Time at, int host, std::function<void()> run) {
  queue_.push(Item{at, next_seq_++, host, std::move(run)});
}

void Network::At(absl::Time at, int host, std::function<bool()> alive,
                 std::function<void()> f) {
  Push(at, host, [alive = std::move(alive), f = std::move(f)] {
    if (alive()) f();
  });
}

int Network::Subscribe(int conn, int host, absl::string_view subject,
                       absl::string_view queue, MessageHandler handler) {
  auto sub = std::make_shared<Sub>();
  sub->id = ++next_sub_;
  sub->conn = conn;
  sub->host = host;
  sub->subject = std::string(subject);
  sub->queue = std::string(queue);
  sub->handler = std::move(handler);
  subs_[sub->id] = std::move(sub);
  return next_sub_;
}

absl::Status Network::Publish(int conn, int host, absl::string_view subject,
                              absl::string_view reply, absl::string_view data) {
  if (!IsValidSubject(subject) || (!reply.empty() && !IsValidSubject(reply))) {
    return absl::InvalidArgumentError("invalid subject");
  }
  if (static_cast<int64_t>(data.size()) > max_payload_) {
    ++oversized_;
    return absl::UnavailableError("maximum payload exceeded");
  }
  if (Disconnected(host)) return absl::OkStatus();
  Envelope env;
  env.from_host = host;
  env.subject = std::string(subject);
  env.reply = std::string(reply);
  env.data = std::string(data);
  // Plain subscribers each get a copy; each queue group one member.
  std::vector<int> targets;
  std::map<std::string, std::vector<int>> groups;
  for (const auto& [id, sub] : subs_) {
    if (!SubjectMatches(sub->subject, subject) || Disconnected(sub->host)) continue;
    if (sub->queue.empty()) {
      targets.push_back(id);
    } else {
      groups[sub->queue].push_back(id);
    }
  }
  for (const auto& [queue, members] : groups) {
    std::uniform_int_distribution<size_t> pick(0, members.size() - 1);
    targets.push_back(members[pick(rng_)]);
  }
  if (targets.empty() && !reply.empty()) {
    // The server answers a request nobody can take, on the requester's
    // connection.
    Envelope nr;
    nr.from_host = host;
    nr.subject = std::string(reply);
    nr.no_responders = true;
    for (const auto& [id, sub] : subs_) {
      if (sub->conn == conn && SubjectMatches(sub->subject, reply)) Send(nr, conn, id);
    }
    return absl::OkStatus();
  }
  for (int id : targets) Send(env, conn, id);
  return absl::OkStatus();
}

void Network::Send(const Envelope& env, int from_conn, int sub_id) {
  const int to_host = subs_.at(sub_id)->host;
  if (Chance(faults_.drop)) return;
  const int copies = Chance(faults_.duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    absl::Time at = now() + Uniform(faults_.min_delay, faults_.max_delay);
    if (Chance(faults_.reorder)) {
      at += Uniform(absl::ZeroDuration(), faults_.reorder_delay);
    } else {
      absl::Time& last = last_[{from_conn, sub_id}];
      at = std::max(at, last);
      last = at;
    }
    auto e = std::make_shared<Envelope>(env);
    e->to_host = to_host;
    Push(at, to_host, [this, e, sub_id] {
      auto it = subs_.find(sub_id);
      if (it == subs_.end()) return;  // unsubscribed meanwhile
      if (Partitioned(e->from_host, e->to_host) || Disconnected(e->to_host)) return;
      if (filter_ && filter_(*e)) return;
      std::shared_ptr<Sub> sub = it->second;  // alive during the call
      Message m;
      m.subject = e->subject;
      m.reply = e->reply;
      m.data = e->data;
      m.no_responders = e->no_responders;
      ++delivered_;
      sub->handler(m);
    });
  }
}

void Network::Partition(int a, int b) { cut_.insert({std::min(a, b), std::max(a, b)}); }

void Network::Heal(int a, int b) { cut_.erase({std::min(a, b), std::max(a, b)}); }

bool Network::Partitioned(int a, int b) const {
  return a != b && cut_.count({std::min(a, b), std::max(a, b)}) > 0;
}

void Network::Pause(int host) { paused_.insert(host); }

void Network::Resume(int host) {
  paused_.erase(host);
  auto it = held_.find(host);
  if (it == held_.end()) return;
  std::vector<Item> held = std::move(it->second);
  held_.erase(it);
  for (Item& item : held) Push(now(), host, std::move(item.run));
}

void Network::RunUntil(absl::Time until) {
  while (!queue_.empty() && queue_.top().at <= until) {
    Item item = queue_.top();
    queue_.pop();
    if (item.at > now()) clock_.Set(item.at);
    if (paused_.count(item.host) > 0) {
      held_[item.host].push_back(std::move(item));
      continue;
    }
    item.run();
  }
  if (until > now()) clock_.Set(until);
}

}  // namespace kv::replication::sim
