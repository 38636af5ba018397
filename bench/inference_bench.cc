// Times edge-agent's own ONNX execution (inference/model.h) on one model, one thread, for
// bench/inference/run.sh, which runs ONNX Runtime and PyTorch on the same file in the same run and
// prints the side-by-side table with the ratios.
//
//   inference_bench --onnx FILE --window T --features F --batch B [--min-seconds S]
//       prints `ours,<file stem>,<B>,<us per call>,<calls>` (a call scores B windows)
//   inference_bench --peak-fma
//       prints `fma_peak_gflops,<x>`: this core's measured float32 FMA throughput (AVX2 FMA, and
//       AVX-512 where the CPU has it; the larger)
//   inference_bench --peak-l2
//       prints `l1d_bytes,<n>` and `l2_read_gbytes,<x>`: this core's L1 data cache size and the
//       rate at which it reads a buffer that fits L2 but not L1 (AVX2 loads; the best of three
//       buffer sizes). A recurrent weight matrix larger than L1 is read at that rate at every step,
//       whatever the kernel, so it bounds the batch-1 time of such a model from below
//       (bench/inference/report.py).
//
// Timing: warm-up for S/10, then 5 slices of S/5 each; the fastest slice's mean per call (the
// same method as bench/inference/ort_bench.js and torch_bench.py, robust to a busy machine).
#include <immintrin.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_usage.h"
#include "inference/model.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kAccumulators = 12;

__attribute__((target("avx2,fma"))) double FmaGflopsAvx2(double seconds) {
  __m256 a0 = _mm256_set1_ps(0.001f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
         a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  int64_t iterations = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    // Twelve independent chains in registers cover the FMA latency on two pipes.
    for (int r = 0; r < 100000; ++r) {
      a0 = _mm256_fmadd_ps(a0, a, b);
      a1 = _mm256_fmadd_ps(a1, a, b);
      a2 = _mm256_fmadd_ps(a2, a, b);
      a3 = _mm256_fmadd_ps(a3, a, b);
      a4 = _mm256_fmadd_ps(a4, a, b);
      a5 = _mm256_fmadd_ps(a5, a, b);
      a6 = _mm256_fmadd_ps(a6, a, b);
      a7 = _mm256_fmadd_ps(a7, a, b);
      a8 = _mm256_fmadd_ps(a8, a, b);
      a9 = _mm256_fmadd_ps(a9, a, b);
      a10 = _mm256_fmadd_ps(a10, a, b);
      a11 = _mm256_fmadd_ps(a11, a, b);
    }
    asm volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
    asm volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    iterations += 100000;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  return static_cast<double>(iterations) * kAccumulators * 8 * 2 / elapsed / 1e9;
}

__attribute__((target("avx512f"))) double FmaGflopsAvx512(double seconds) {
  __m512 a0 = _mm512_set1_ps(0.001f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
         a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  int64_t iterations = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    // Twelve independent chains in registers cover the FMA latency on two pipes.
    for (int r = 0; r < 100000; ++r) {
      a0 = _mm512_fmadd_ps(a0, a, b);
      a1 = _mm512_fmadd_ps(a1, a, b);
      a2 = _mm512_fmadd_ps(a2, a, b);
      a3 = _mm512_fmadd_ps(a3, a, b);
      a4 = _mm512_fmadd_ps(a4, a, b);
      a5 = _mm512_fmadd_ps(a5, a, b);
      a6 = _mm512_fmadd_ps(a6, a, b);
      a7 = _mm512_fmadd_ps(a7, a, b);
      a8 = _mm512_fmadd_ps(a8, a, b);
      a9 = _mm512_fmadd_ps(a9, a, b);
      a10 = _mm512_fmadd_ps(a10, a, b);
      a11 = _mm512_fmadd_ps(a11, a, b);
    }
    asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
    asm volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    iterations += 100000;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  return static_cast<double>(iterations) * kAccumulators * 16 * 2 / elapsed / 1e9;
}

int PeakFma() {
  __builtin_cpu_init();
  double best = 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    double avx2 = 0;
    for (int i = 0; i < 3; ++i) avx2 = std::max(avx2, FmaGflopsAvx2(0.3));
    std::fprintf(stderr, "inference_bench: AVX2 FMA %.1f GFLOP/s\n", avx2);
    best = avx2;
  }
  if (__builtin_cpu_supports("avx512f")) {
    double avx512 = 0;
    for (int i = 0; i < 3; ++i) avx512 = std::max(avx512, FmaGflopsAvx512(0.3));
    std::fprintf(stderr, "inference_bench: AVX-512 FMA %.1f GFLOP/s\n", avx512);
    best = std::max(best, avx512);
  }
  if (best == 0) {
    std::fprintf(stderr, "inference_bench: this CPU has no FMA; no peak to measure\n");
    return 1;
  }
  std::printf("fma_peak_gflops,%.1f\n", best);
  return 0;
}

// Sums `floats` floats (a multiple of 64) `passes` times with eight independent accumulators.
__attribute__((target("avx2"))) float SumPasses(const float* p, int64_t floats, int passes) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int pass = 0; pass < passes; ++pass) {
    for (int64_t i = 0; i < floats; i += 64) {
      a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
      a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
      a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
      a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
      a4 = _mm256_add_ps(a4, _mm256_load_ps(p + i + 32));
      a5 = _mm256_add_ps(a5, _mm256_load_ps(p + i + 40));
      a6 = _mm256_add_ps(a6, _mm256_load_ps(p + i + 48));
      a7 = _mm256_add_ps(a7, _mm256_load_ps(p + i + 56));
    }
  }
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                   _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

int PeakL2() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2")) {
    std::fprintf(stderr, "inference_bench: this CPU has no AVX2; no L2 rate to measure\n");
    return 1;
  }
  const long l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE) > 0 ? sysconf(_SC_LEVEL1_DCACHE_SIZE) : 32768;
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE) > 0 ? sysconf(_SC_LEVEL2_CACHE_SIZE) : 1 << 20;
  double best = 0;
  float sink = 0;
  // 2, 4 and 8 times L1, as long as the buffer takes at most half of L2.
  for (long bytes = 2 * l1d; bytes <= 8 * l1d && bytes <= l2 / 2; bytes *= 2) {
    const int64_t floats = bytes / 4 / 64 * 64;
    float* buffer = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(floats) * 4));
    std::fill(buffer, buffer + floats, 1.0f);
    const int passes = static_cast<int>(std::max<int64_t>(1, (int64_t{64} << 20) / (floats * 4)));
    for (int round = 0; round < 5; ++round) {
      const auto start = Clock::now();
      sink += SumPasses(buffer, floats, passes);
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      best = std::max(best, static_cast<double>(floats) * 4 * passes / seconds / 1e9);
    }
    std::free(buffer);
  }
  asm volatile("" : : "x"(sink));
  std::fprintf(stderr, "inference_bench: L1d %ld bytes, L2 %ld bytes, L2 read %.1f GB/s\n", l1d,
               l2, best);
  std::printf("l1d_bytes,%ld\nl2_read_gbytes,%.1f\n", l1d, best);
  return 0;
}

constexpr char kUsage[] =
    "usage: inference_bench --onnx FILE --window T --features F --batch B [--min-seconds S]\n"
    "       inference_bench --peak-fma\n"
    "       inference_bench --peak-l2\n"
    "  times our ONNX execution of FILE at batch B (one thread); --peak-fma and --peak-l2\n"
    "  measure this core's FMA throughput and L2 read rate (bench/inference/run.sh)\n";

int Usage() {
  std::fputs(kUsage, stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (edge::bench::PrintedHelp(argc, argv, kUsage)) return 0;
  std::string onnx;
  int window = -1, features = -1, batch = 1;
  double min_seconds = 2.0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--peak-fma") return PeakFma();
    if (arg == "--peak-l2") return PeakL2();
    const char* v = value();
    if (v == nullptr) return Usage();
    if (arg == "--onnx") {
      onnx = v;
    } else if (arg == "--window") {
      window = std::atoi(v);
    } else if (arg == "--features") {
      features = std::atoi(v);
    } else if (arg == "--batch") {
      batch = std::atoi(v);
    } else if (arg == "--min-seconds") {
      min_seconds = std::atof(v);
    } else {
      return Usage();
    }
  }
  if (onnx.empty() || batch < 1 || min_seconds <= 0) return Usage();
  std::ifstream in(onnx, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (!in) {
    std::fprintf(stderr, "inference_bench: %s: cannot be read\n", onnx.c_str());
    return 2;
  }
  edge::inference::LoadOptions options;
  options.window = window;
  options.features = features;
  options.max_batch = batch;
  auto loaded = edge::inference::Model::Load(bytes.str(), options);
  if (!loaded.ok()) {
    std::fprintf(stderr, "inference_bench: %s: %s\n", onnx.c_str(),
                 loaded.status().message().c_str());
    return 2;
  }
  edge::inference::Model& model = **loaded;
  std::vector<float> input(static_cast<size_t>(batch) * model.window() * model.features());
  std::mt19937 rng(42);
  std::normal_distribution<float> normal;
  for (float& x : input) x = normal(rng);

  auto thread_cpu_seconds = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  double best_cpu_us = 1e300;
  auto run_for = [&](double seconds) {
    int64_t calls = 0;
    const double cpu_start = thread_cpu_seconds();
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      model.Run(input.data(), batch);
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < seconds);
    best_cpu_us = std::min(best_cpu_us,
                           (thread_cpu_seconds() - cpu_start) * 1e6 / static_cast<double>(calls));
    return std::make_pair(elapsed, calls);
  };
  run_for(min_seconds / 10);
  double best_us = 1e300;
  int64_t total_calls = 0;
  for (int slice = 0; slice < 5; ++slice) {
    const auto [elapsed, calls] = run_for(min_seconds / 5);
    best_us = std::min(best_us, elapsed * 1e6 / static_cast<double>(calls));
    total_calls += calls;
  }
  // On a busy machine the wall-clock figure includes time the thread was not running; the CPU
  // time of the thread is printed beside it (stderr) for comparison.
  std::fprintf(
      stderr, "inference_bench: %s kernels %s, arena %lld bytes, thread CPU %.3f us/call\n",
      onnx.c_str(), model.kernels(), static_cast<long long>(model.arena_bytes()), best_cpu_us);
  std::printf("ours,%s,%d,%.3f,%lld\n", std::filesystem::path(onnx).stem().c_str(), batch, best_us,
              static_cast<long long>(total_calls));
  return 0;
}
