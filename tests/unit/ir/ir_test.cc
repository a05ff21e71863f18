// lib/ir basics: Dim algebra, tensors, graph construction and topological order.
#include <gtest/gtest.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <vector>

#include "mixq/ir/graph.h"
#include "mixq/ir/tensor.h"

namespace mixq {
namespace {

using ir::Dim;

TEST(Dim, SymbolicProductsMultiplyAndDivide) {
  const Dim batch = Dim::symbol("batch");
  const Dim seq = Dim::symbol("seq");
  const Dim p = batch * seq * Dim::known(128);
  EXPECT_EQ(p.to_string(), "batch*seq*128");
  EXPECT_EQ((seq * batch * Dim::known(128)), p) << "factors are kept sorted";
  auto q = p.exact_div(batch * Dim::known(4));
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->to_string(), "seq*32");
  auto whole = p.exact_div(p);
  ASSERT_TRUE(whole.has_value());
  EXPECT_TRUE(whole->is_known());
  EXPECT_EQ(whole->value(), 1);
  EXPECT_FALSE(p.exact_div(Dim::symbol("heads")).has_value());
  EXPECT_FALSE(Dim::known(10).exact_div(Dim::known(4)).has_value());
  EXPECT_TRUE((batch + Dim::known(1)).is_unknown()) << "sums of symbols are not tracked";
  EXPECT_EQ((batch + Dim::known(0)), batch);
  EXPECT_EQ((Dim::known(0) * Dim()).value(), 0);
  EXPECT_TRUE((Dim::known(3) * Dim()).is_unknown());
  EXPECT_TRUE(ir::same_size(batch, Dim::symbol("batch")));
  EXPECT_FALSE(ir::same_size(Dim(), Dim()));
  EXPECT_TRUE((Dim::known(INT64_MAX) * Dim::known(2)).is_unknown()) << "overflow";
}

TEST(Tensor, ValidatesSizesAndReadsElements) {
  auto t = ir::Tensor::zeros(DType::kInt4, {3});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->nbytes(), 2u);
  EXPECT_FALSE(ir::Tensor::zeros(DType::kFloat32, {-1}).ok());
  EXPECT_FALSE(ir::Tensor::zeros(DType::kFloat32, {1LL << 62, 8}).ok());
  auto buf = ir::Buffer::allocate(8);
  EXPECT_FALSE(ir::Tensor::from_buffer(DType::kFloat32, {3}, buf).ok()) << "8 bytes for 12";
  const auto f = ir::Tensor::from_floats({2}, {1.5f, -2.0f});
  EXPECT_EQ(f.element_as_double(1), -2.0);
  EXPECT_EQ(f.element_as_int64(0), 1);
  EXPECT_NE(f.buffer()->data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.raw_data()) % 64, 0u) << "allocations are aligned";
}

TEST(Buffer, AllocationsAreAlignedZeroedWritableAndCounted) {
  const int64_t live_before = ir::Buffer::live_bytes();
  for (const size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{4096},
                         size_t{1} << 20, (size_t{10} << 20) + 7}) {
    SCOPED_TRACE(n);
    {
      auto b = ir::Buffer::allocate(n);
      ASSERT_NE(b->data(), nullptr) << "never null, even for 0 bytes";
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data()) % 64, 0u);
      EXPECT_EQ(b->size(), n);
      EXPECT_TRUE(
          std::all_of(b->data(), b->data() + n, [](std::byte v) { return v == std::byte{0}; }));
      EXPECT_GE(ir::Buffer::live_bytes() - live_before, static_cast<int64_t>(n));
      // The whole size is writable (a sanitizer build checks the bounds).
      std::fill(b->mutable_data(), b->mutable_data() + n, std::byte{0x5a});
      auto u = ir::Buffer::allocate_uninitialized(n);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(u->data()) % 64, 0u);
      std::fill(u->mutable_data(), u->mutable_data() + n, std::byte{0xa5});
      EXPECT_EQ(b->data()[n == 0 ? 0 : n - 1], n == 0 ? std::byte{0} : std::byte{0x5a});
    }
    EXPECT_EQ(ir::Buffer::live_bytes(), live_before) << "released buffers are uncounted";
  }
}

// A freed activation is reused for the next one of the same size, with the malloc settings
// the mixq binary starts with (tools/mixq/main.cc). With aligned_alloc this failed: glibc
// needs a free block 96 bytes larger than the one it had handed back, so every executor run
// took fresh pages for its activations.
TEST(Buffer, FreedBlockIsReusedForTheNextOfTheSameSize) {
#if !defined(__GLIBC__) || defined(MIXQ_SANITIZED)
  GTEST_SKIP() << "glibc's allocator only (sanitizers replace it)";
#else
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  for (const size_t n : {(size_t{10} << 20), (size_t{10} << 20) + 4, size_t{300000}}) {
    SCOPED_TRACE(n);
    auto a = ir::Buffer::allocate_uninitialized(n);
    auto b = ir::Buffer::allocate_uninitialized(n);  // keeps a's block off the heap's top
    const std::byte* at = a->data();
    a.reset();
    auto c = ir::Buffer::allocate_uninitialized(n);
    EXPECT_EQ(c->data(), at);
  }
#endif
}

TEST(Graph, TopologicalOrderIsStableAndDetectsCycles) {
  ir::Graph g;
  ir::Value* x = g.create_value("x");
  g.add_input(x);
  EXPECT_EQ(g.create_value("x"), nullptr) << "names are unique";
  ir::Value* a = g.create_value("a");
  ir::Value* b = g.create_value("b");
  ir::Value* c = g.create_value("c");
  // File order: c = f(b), b = f(a), a = f(x), plus an independent d = f(x).
  ir::Node* nc = g.add_node("Relu", "", "nc");
  ir::Node* nb = g.add_node("Relu", "", "nb");
  ir::Node* na = g.add_node("Relu", "", "na");
  ir::Node* nd = g.add_node("Relu", "", "nd");
  nc->add_input(b);
  ASSERT_TRUE(nc->add_output(c).ok());
  nb->add_input(a);
  ASSERT_TRUE(nb->add_output(b).ok());
  na->add_input(x);
  ASSERT_TRUE(na->add_output(a).ok());
  nd->add_input(x);
  ASSERT_TRUE(nd->add_output(g.create_value("d")).ok());
  auto order = ir::topological_order(g);
  ASSERT_TRUE(order.ok());
  std::vector<std::string> names;
  for (auto* n : *order) names.push_back(n->name());
  EXPECT_EQ(names, (std::vector<std::string>{"na", "nb", "nc", "nd"}));
  EXPECT_FALSE(na->add_output(c).ok()) << "c already has a producer";

  // Close a cycle: a = f(c).
  na->set_input(0, c);
  auto cyc = ir::topological_order(g);
  ASSERT_FALSE(cyc.ok());
  EXPECT_EQ(cyc.status().code(), StatusCode::kBadInput);
  const std::string m = cyc.status().message();
  EXPECT_NE(m.find("cycle"), std::string::npos);
  for (const char* n : {"'na'", "'nb'", "'nc'"}) EXPECT_NE(m.find(n), std::string::npos) << m;
  EXPECT_EQ(m.find("'nd'"), std::string::npos) << "nd is not on the cycle: " << m;
  EXPECT_EQ(x->uses().size(), 1u) << "set_input updated the use lists";
}

TEST(Graph, DescribesUnnamedNodesByOutput) {
  ir::Graph g;
  ir::Node* n = g.add_node("Conv", "", "");
  ASSERT_TRUE(n->add_output(g.create_value("feat")).ok());
  EXPECT_EQ(n->describe(), "Conv (#0, output 'feat')");
  EXPECT_EQ(g.add_node("Conv", "", "conv_3")->describe(), "Conv 'conv_3' (#1)");
}

}  // namespace
}  // namespace mixq
