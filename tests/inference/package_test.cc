// Model packages (inference/model_package.h): the manifest checks, and the artifact's size and
// sha256 checked before the ONNX parser sees it. The package's model is a real PyTorch export
// when python3-torch is there (tests/integration/predict_test.cc); here a small ONNX file built
// with the onnx protobuf classes is enough, as only the package rules are under test.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>

#include "inference/model_package.h"
#include "tests/inference/onnx_test_util.h"
#include "tests/support/test_files.h"

namespace edge::inference {
namespace {

using edge::testing::ScratchDir;

// input [batch, 4, 2] -> ReduceMean over time -> Gemm -> [batch, 1].
std::string TinyModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *m.mutable_graph();
  DeclareFloatTensor(g.add_input(), "input", {-1, 4, 2});
  DeclareFloatTensor(g.add_output(), "score", {-1, 1});
  onnx::TensorProto* w = g.add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(2);
  w->add_dims(1);
  w->add_float_data(1.0f);
  w->add_float_data(2.0f);
  onnx::NodeProto* mean = g.add_node();
  mean->set_op_type("ReduceMean");
  mean->set_name("pool");
  mean->add_input("input");
  mean->add_output("pooled");
  auto* axes = mean->add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(1);
  auto* keep = mean->add_attribute();
  keep->set_name("keepdims");
  keep->set_type(onnx::AttributeProto::INT);
  keep->set_i(0);
  onnx::NodeProto* gemm = g.add_node();
  gemm->set_op_type("Gemm");
  gemm->set_name("head");
  gemm->add_input("pooled");
  gemm->add_input("w");
  gemm->add_output("score");
  std::string bytes;
  EXPECT_TRUE(m.SerializeToString(&bytes));
  return bytes;
}

std::string ManifestFor(const std::string& onnx, int window = 4, const std::string& extra = "",
                        const std::string& sha = "") {
  return R"({"name":"tiny","version":"1.0.0","format":"onnx","artifact":{"file":"model.onnx",)"
         R"("sha256":")" +
         (sha.empty() ? Sha256Hex(onnx) : sha) + R"(","size":)" + std::to_string(onnx.size()) +
         R"(},"inputs":{"features":["a","b"],"window":)" + std::to_string(window) +
         R"(,"stride":1,"step_ms":1000,"normalize":{"mean":[1.0,2.0],"std":[2.0,4.0]})" + extra +
         R"(},"output":{"threshold":0.5},"created":"2026-11-20T10:00:00Z"})";
}

TEST(ModelPackage, Sha256OfAKnownString) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ModelPackage, ManifestFieldsAreParsed) {
  auto m = ParseManifest(ManifestFor("xyz"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->name, "tiny");
  EXPECT_EQ(m->artifact_file, "model.onnx");
  EXPECT_EQ(m->artifact_size, 3);
  EXPECT_EQ(m->features, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m->window, 4);
  EXPECT_EQ(m->mean, (std::vector<float>{1.0f, 2.0f}));
  EXPECT_TRUE(m->has_threshold);
  EXPECT_DOUBLE_EQ(m->threshold, 0.5);
}

TEST(ModelPackage, ManifestErrorsNameTheField) {
  const std::string good = ManifestFor("xyz");
  struct Case {
    std::string from, to, expect;
  };
  const std::vector<Case> cases = {
      {R"("window":4)", R"("window":0)", "inputs.window: must be between 1"},
      {R"("window":4)", R"("window":"4")", "inputs.window: must be an integer"},
      {R"("std":[2.0,4.0])", R"("std":[2.0,0])", "inputs.normalize.std[1]: must be > 0"},
      {R"("mean":[1.0,2.0])", R"("mean":[1.0])", "inputs.normalize.mean: has 1 values for 2"},
      {R"("format":"onnx")", R"("format":"tflite")", "format: 'tflite' is not supported"},
      {R"("file":"model.onnx")", R"("file":"../model.onnx")", "artifact.file: must be a file name"},
      {R"("features":["a","b"])", R"("features":["a","a"])",
       "inputs.features[1]: 'a' is listed twice"},
      {R"("name":"tiny",)", "", "name: missing"},
      {"}", "", "not valid JSON"},
  };
  for (const Case& c : cases) {
    std::string text = good;
    const size_t at = c.from == "}" ? text.size() - 1 : text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    auto m = ParseManifest(text);
    ASSERT_FALSE(m.ok()) << c.expect;
    EXPECT_NE(m.status().message().find(c.expect), std::string::npos)
        << c.expect << " vs " << m.status().message();
  }
  auto bad_sha = ParseManifest(ManifestFor("xyz", 4, "", std::string(64, 'A')));
  ASSERT_FALSE(bad_sha.ok());
  EXPECT_NE(bad_sha.status().message().find("artifact.sha256: must be 64 lowercase hex"),
            std::string::npos);
}

TEST(ModelPackage, LoadsAndNormalises) {
  ScratchDir dir;
  const std::string onnx = TinyModel();
  dir.Write("model.onnx", onnx);
  dir.Write("manifest.json", ManifestFor(onnx));
  auto pkg = LoadModelPackage(dir.path());
  ASSERT_TRUE(pkg.ok()) << pkg.status().ToString();
  EXPECT_EQ(pkg->model->window(), 4);
  EXPECT_EQ(pkg->model->features(), 2);
  // (x - mean) / std per feature, then mean over time and 1*a + 2*b.
  std::vector<float> raw = {3, 6, 3, 6, 5, 10, 5, 10};
  std::vector<float> norm(8);
  pkg->Normalize(raw.data(), norm.data(), 4);
  EXPECT_EQ(norm, (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2}));
  pkg->model->Run(norm.data(), 1);
  EXPECT_FLOAT_EQ(pkg->model->output(0)[0], 1.5f + 2 * 1.5f);
}

TEST(ModelPackage, SignatureHookSeesTheManifestBytesFirst) {
  ScratchDir dir;
  const std::string onnx = TinyModel();
  dir.Write("model.onnx", onnx);
  dir.Write("manifest.json", ManifestFor(onnx));
  PackageOptions options;
  std::string seen;
  options.verify_manifest = [&](const std::filesystem::path&, std::string_view bytes) {
    seen = std::string(bytes);
    return Status::InvalidArgument("manifest.json.sig: signature does not verify");
  };
  auto pkg = LoadModelPackage(dir.path(), options);
  ASSERT_FALSE(pkg.ok());
  EXPECT_EQ(seen, ManifestFor(onnx));
  EXPECT_NE(pkg.status().message().find("signature does not verify"), std::string::npos);
}

TEST(ModelPackage, ArtifactLargerThanTheMemoryBudgetIsRefusedBeforeItIsRead) {
  ScratchDir dir;
  const std::string onnx = TinyModel();
  dir.Write("model.onnx", onnx);
  dir.Write("manifest.json", ManifestFor(onnx));
  PackageOptions options;
  options.memory_budget = static_cast<int64_t>(onnx.size()) - 1;
  auto pkg = LoadModelPackage(dir.path(), options);
  ASSERT_FALSE(pkg.ok());
  EXPECT_NE(pkg.status().message().find("model.onnx: " + std::to_string(onnx.size()) +
                                        " bytes, above the model's memory budget of"),
            std::string::npos)
      << pkg.status().message();
  // The same package within its budget loads, and says what it holds.
  options.memory_budget = kDefaultModelMemoryBudget;
  auto ok = LoadModelPackage(dir.path(), options);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_GT(ok->model->memory_bytes(), 0);
}

TEST(ModelPackage, ArtifactSizeHashAndShapeAreChecked) {
  const std::string onnx = TinyModel();
  {
    ScratchDir dir;
    dir.Write("model.onnx", onnx);
    std::string flipped = onnx;
    flipped[flipped.size() / 2] ^= 0x10;
    dir.Write("model.onnx", flipped);
    dir.Write("manifest.json", ManifestFor(onnx));
    auto pkg = LoadModelPackage(dir.path());
    ASSERT_FALSE(pkg.ok());
    EXPECT_NE(pkg.status().message().find("model.onnx: sha256 is "), std::string::npos)
        << pkg.status().message();
  }
  {
    ScratchDir dir;
    dir.Write("model.onnx", onnx.substr(0, onnx.size() - 5));
    dir.Write("manifest.json", ManifestFor(onnx));
    auto pkg = LoadModelPackage(dir.path());
    ASSERT_FALSE(pkg.ok());
    EXPECT_NE(pkg.status().message().find("model.onnx: size is " + std::to_string(onnx.size() - 5) +
                                          " bytes"),
              std::string::npos)
        << pkg.status().message();
  }
  {
    ScratchDir dir;
    dir.Write("model.onnx", onnx);
    dir.Write("manifest.json", ManifestFor(onnx, 9));
    auto pkg = LoadModelPackage(dir.path());
    ASSERT_FALSE(pkg.ok());
    EXPECT_NE(pkg.status().message().find("window 9 disagrees with the model's input shape"),
              std::string::npos)
        << pkg.status().message();
  }
  {
    ScratchDir dir;
    auto pkg = LoadModelPackage(dir.path());
    ASSERT_FALSE(pkg.ok());
    EXPECT_NE(pkg.status().message().find("manifest.json: cannot be read"), std::string::npos)
        << pkg.status().message();
  }
}

}  // namespace
}  // namespace edge::inference
