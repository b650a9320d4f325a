// Store micro-benchmarks: bazel run -c opt //kv/store:store_bench
//
// BM_Memory reports the heap held per key for 1M keys of 16-byte keys and 100-byte
// values (mallinfo2 before/after), against their raw size, and the store's own
// account (what --max_memory limits) against the process's RSS growth.
// BM_ZipfHitRate compares the hit rate of the store's eviction (CLOCK) with
// exact LRU of the same number of keys on a Zipf workload.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::store {
namespace {

std::string Key(int64_t i) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "key:%012lld", static_cast<long long>(i));
  return std::string(buf, 16);
}

const std::string& Value100() {
  static const std::string* v = new std::string(100, 'v');
  return *v;
}

std::unique_ptr<Store> Filled(FakeClock* clock, int64_t n) {
  auto s = std::make_unique<Store>(1, clock);
  for (int64_t i = 0; i < n; ++i) (void)s->Set(Key(i), Value100(), std::nullopt);
  return s;
}

void BM_Get(benchmark::State& state) {
  FakeClock clock;
  const int64_t n = state.range(0);
  auto s = Filled(&clock, n);
  int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s->Get(Key(i++ % n)));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get)->Arg(100000);

void BM_Set(benchmark::State& state) {
  FakeClock clock;
  const int64_t n = state.range(0);
  auto s = Filled(&clock, n);
  int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s->Set(Key(i++ % n), Value100(), std::nullopt));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Set)->Arg(100000);

void BM_Add(benchmark::State& state) {
  FakeClock clock;
  Store s(1, &clock);
  int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.Add(Key(i++ % 1000), 1));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Add);

void BM_ApplyEvent(benchmark::State& state) {
  FakeClock clock;
  Store origin(1, &clock);
  std::vector<Event> events;
  for (int64_t i = 0; i < 100000; ++i) {
    events.push_back(*origin.Set(Key(i), Value100(), std::nullopt)->event);
  }
  std::unique_ptr<Store> replica;
  size_t next = events.size();
  for (auto _ : state) {
    if (next == events.size()) {
      state.PauseTiming();
      replica = std::make_unique<Store>(2, &clock);
      next = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(replica->Apply(events[next++]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApplyEvent);

void BM_Delta100k(benchmark::State& state) {
  FakeClock clock;
  auto s = Filled(&clock, 100000);
  for (auto _ : state) {
    Delta d = s->DeltaAbove({});
    benchmark::DoNotOptimize(d.entries.data());
  }
  state.SetItemsProcessed(state.iterations() * 100000);
}
BENCHMARK(BM_Delta100k)->Unit(benchmark::kMillisecond);

void BM_Keys1kPage(benchmark::State& state) {
  FakeClock clock;
  auto s = Filled(&clock, 100000);
  std::string cursor;
  for (auto _ : state) {
    auto page = s->Keys("", 1000, cursor);
    cursor = page->cursor;
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_Keys1kPage);

// Resident bytes of this process (/proc/self/statm).
double RssBytes() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

void BM_Memory(benchmark::State& state) {
  const int64_t n = state.range(0);
  for (auto _ : state) {
    FakeClock clock;
    const size_t before = mallinfo2().uordblks;
    const double rss_before = RssBytes();
    auto s = Filled(&clock, n);
    const size_t after = mallinfo2().uordblks;
    const double rss_growth = RssBytes() - rss_before;
    const double raw = static_cast<double>(n) * (16 + 100);
    state.counters["heap_per_key"] = static_cast<double>(after - before) / n;
    state.counters["ratio_to_raw"] = static_cast<double>(after - before) / raw;
    state.counters["stats_ratio"] = s->stats().memory_bytes / raw;
    state.counters["rss_ratio"] = rss_growth / raw;
    // What the limit counts, against what the process grew by: 1.0 is exact.
    state.counters["account_per_rss"] = s->stats().memory_bytes / rss_growth;
  }
}
BENCHMARK(BM_Memory)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

// A Zipf(0.99) sampler over n ranks (inverse CDF by binary search).
class Zipf {
 public:
  explicit Zipf(int64_t n) : cdf_(n) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(i + 1, 0.99));
    for (double& c : cdf_) c /= sum;
  }
  template <typename Rng>
  int64_t operator()(Rng& rng) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
  }

 private:
  std::vector<double> cdf_;
};

// A read-through cache of 100k keys under Zipf reads: a miss sets the key. The
// store holds what 10% of the keys take (--max_memory) and evicts as kvd does
// (CLOCK); exact LRU holds as many keys as the store held on average.
void BM_ZipfHitRate(benchmark::State& state) {
  constexpr int64_t kKeys = 100000;
  constexpr int64_t kRequests = 2000000;
  Zipf zipf(kKeys);
  for (auto _ : state) {
    FakeClock clock;
    Limits limits;
    limits.max_memory_bytes = 10 * 1024 * 1024 / 4;  // about 10% of the keys
    Store s(1, &clock, limits);
    std::mt19937_64 rng(42);
    std::vector<int64_t> trace(kRequests);
    for (int64_t& k : trace) k = zipf(rng);
    int64_t clock_hits = 0;
    double held = 0;
    for (int64_t i = 0; i < kRequests; ++i) {
      const std::string key = Key(trace[i]);
      if (s.Exists(key).value()) {
        ++clock_hits;
      } else {
        (void)s.Set(key, Value100(), std::nullopt);
        while (s.OverMemoryLimit() && s.Evict().ok()) {
        }
      }
      if (i % 10000 == 9999) {  // collect tombstones as a lone kvd does
        clock.Advance(absl::Seconds(1));
        s.CollectGarbage(s.vv(), s.NextHlcFloor());
      }
      held += static_cast<double>(s.stats().keys);
    }
    const size_t capacity = static_cast<size_t>(held / kRequests);
    // Exact LRU of `capacity` keys on the same trace.
    std::list<int64_t> order;  // most recent first
    absl::flat_hash_map<int64_t, std::list<int64_t>::iterator> where;
    int64_t lru_hits = 0;
    for (int64_t k : trace) {
      auto it = where.find(k);
      if (it != where.end()) {
        ++lru_hits;
        order.splice(order.begin(), order, it->second);
        continue;
      }
      order.push_front(k);
      where[k] = order.begin();
      if (order.size() > capacity) {
        where.erase(order.back());
        order.pop_back();
      }
    }
    state.counters["keys_held"] = static_cast<double>(capacity);
    state.counters["clock_hit_rate"] = static_cast<double>(clock_hits) / kRequests;
    state.counters["lru_hit_rate"] = static_cast<double>(lru_hits) / kRequests;
    state.counters["clock_per_lru"] = static_cast<double>(clock_hits) / lru_hits;
  }
}
BENCHMARK(BM_ZipfHitRate)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kv::store
