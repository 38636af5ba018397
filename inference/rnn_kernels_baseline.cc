// The kernels of rnn_kernels_impl.h for the baseline x86-64 target (whatever the build's flags
// give, SSE2 on a portable build).
#include <Eigen/Core>
#include <algorithm>

#include "inference/rnn_kernels.h"

namespace edge::inference::baseline {

#include "inference/rnn_kernels_impl.h"

const KernelTable kKernels = {"baseline", &Gru, &Lstm, &MatMul, &PackedFloats, &Pack};

}  // namespace edge::inference::baseline
