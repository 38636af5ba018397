// The kernels of rnn_kernels_impl.h compiled with -mavx2 -mfma (set on this file only in
// inference/CMakeLists.txt). Eigen's namespace is renamed in this unit so that its templates,
// instantiated here with AVX2 code, cannot be merged by the linker with the baseline unit's
// instantiations (which run on CPUs without AVX2).
#define Eigen EigenAvx2Fma
#include <immintrin.h>

#include <Eigen/Core>
#include <algorithm>

#include "inference/rnn_kernels.h"

namespace edge::inference::avx2 {

#include "inference/rnn_kernels_impl.h"

const KernelTable kKernels = {"avx2+fma", &Gru, &Lstm, &MatMul, &PackedFloats, &Pack};

}  // namespace edge::inference::avx2
