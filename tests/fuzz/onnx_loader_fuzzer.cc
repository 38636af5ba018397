// libFuzzer target for the ONNX loader and planner (inference/model.h): every input is loaded as
// an .onnx file with the window and features taken from the file, for batch sizes 1 and 2, and a
// model that loads is run once on batch 2 of zeros. Loading must never crash, leak or trip a
// sanitizer; an accepted model must run and give finite-sized outputs. Seeds: small GRU and LSTM
// exports from PyTorch in corpus/onnx_loader_fuzzer/.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "inference/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  edge::inference::LoadOptions options;
  options.max_batch = 2;
  auto model = edge::inference::Model::Load(bytes, options);
  if (!model.ok()) return 0;
  edge::inference::Model& m = **model;
  // Running very large accepted models would only make the fuzzer slow, not find more.
  if (static_cast<int64_t>(m.window()) * m.features() > 4096 || m.arena_bytes() > (64 << 20)) {
    return 0;
  }
  if (m.max_batch() < 2) return 0;  // a fixed batch-1 model
  std::vector<float> input(static_cast<size_t>(2 * m.window() * m.features()), 0.0f);
  m.Run(input.data(), 2);
  for (size_t i = 0; i < m.outputs().size(); ++i) {
    const float* out = m.output(static_cast<int>(i));
    volatile float sink = 0;
    for (int64_t j = 0; j < 2 * m.outputs()[i].sample_size; ++j) sink = sink + out[j];
  }
  return 0;
}
