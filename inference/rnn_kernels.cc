#include "inference/rnn_kernels.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace edge::inference {

int64_t RnnScratchFloats(int gates, int steps, int batch, int hidden) {
  return int64_t{steps} * batch * gates * hidden + 4 * int64_t{batch} * hidden + 16;
}

const KernelTable& Kernels() {
  static const KernelTable& table = [&]() -> const KernelTable& {
    const char* force = std::getenv("EDGE_INFERENCE_KERNELS");
    if (force != nullptr && std::strcmp(force, "baseline") == 0) return baseline::kKernels;
#if defined(__x86_64__) && defined(EDGE_HAVE_AVX2_KERNELS)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2::kKernels;
#endif
    return baseline::kKernels;
  }();
  return table;
}

}  // namespace edge::inference
