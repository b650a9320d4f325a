// Snapshot save and load of a large store:
//   bazel run -c opt //kv/snapshot:snapshot_bench -- --benchmark_min_time=0
// 1M keys of 16 bytes with 100-byte values (the target: each under 2 s); the
// file's size is reported as the `file_bytes` counter.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "kv/snapshot/snapshot.h"
#include "kv/store/clock.h"
#include "kv/store/store.h"

namespace kv::snapshot {
namespace {

std::string Key(int64_t i) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "key:%012lld", static_cast<long long>(i));
  return std::string(buf, 16);
}

std::unique_ptr<store::Store> Filled(store::Clock* clock, int64_t n) {
  auto s = std::make_unique<store::Store>(1, clock);
  const std::string value(100, 'v');
  for (int64_t i = 0; i < n; ++i) (void)s->Set(Key(i), value, std::nullopt);
  return s;
}

std::string Path() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/snapshot_bench." +
         std::to_string(getpid()) + ".snap";
}

StoreReader ReaderOf(const store::Store& s) {
  return [&s](const std::function<void(const store::Store&)>& f) {
    f(s);
    return absl::OkStatus();
  };
}

void BM_Save(benchmark::State& state) {
  store::SystemClock clock;
  auto s = Filled(&clock, state.range(0));
  const std::string path = Path();
  size_t bytes = 0;
  for (auto _ : state) {
    auto saved = Save(path, ReaderOf(*s));
    if (!saved.ok()) state.SkipWithError(std::string(saved.status().message()).c_str());
    if (saved.ok()) bytes = saved->bytes;
  }
  state.counters["file_bytes"] = static_cast<double>(bytes);
  state.SetItemsProcessed(state.iterations() * state.range(0));
  unlink(path.c_str());
}
BENCHMARK(BM_Save)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_Load(benchmark::State& state) {
  store::SystemClock clock;
  const std::string path = Path();
  {
    auto s = Filled(&clock, state.range(0));
    if (!Save(path, ReaderOf(*s)).ok()) state.SkipWithError("cannot save");
  }
  for (auto _ : state) {
    auto loaded = Load(path, 2, &clock, store::Limits());
    if (!loaded.ok()) state.SkipWithError(std::string(loaded.status().message()).c_str());
    state.PauseTiming();  // freeing the store is not loading it
    loaded = absl::UnknownError("");
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  unlink(path.c_str());
}
BENCHMARK(BM_Load)->Arg(1000000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kv::snapshot
