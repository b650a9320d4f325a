// Store micro-benchmarks: bazel run -c opt //kv/store:store_bench
//
// BM_Memory reports the heap held per key for 1M keys of 16-byte keys and 100-byte
// values (mallinfo2 before/after), against their raw size.
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

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

void BM_Memory(benchmark::State& state) {
  const int64_t n = state.range(0);
  for (auto _ : state) {
    FakeClock clock;
    const size_t before = mallinfo2().uordblks;
    auto s = Filled(&clock, n);
    const size_t after = mallinfo2().uordblks;
    const double raw = static_cast<double>(n) * (16 + 100);
    state.counters["heap_per_key"] = static_cast<double>(after - before) / n;
    state.counters["ratio_to_raw"] = static_cast<double>(after - before) / raw;
    state.counters["stats_ratio"] = s->stats().memory_bytes / raw;
  }
}
BENCHMARK(BM_Memory)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kv::store
