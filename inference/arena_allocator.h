// Where the planner puts each intermediate value of a model: regions of one arena, reused once a
// value's last reader has run.
//
// The arena is one 64-byte-aligned buffer allocated at load (Model::arena_bytes()); this allocator
// only does the arithmetic on offsets while the graph is planned, nothing at run time. Layout:
//   [0, end())   every region handed out so far; a region's offset and size are multiples of 64
//                bytes (a cache line, and the alignment the Eigen maps and AVX2 loads want);
//   free_        holes inside [0, end()) left by released blocks, keyed by offset, adjacent holes
//                merged.
// Allocate() is first fit: the lowest-offset hole large enough, split, else the arena grows at the
// end. A graph of a few dozen nodes planned once needs nothing cleverer, and first fit keeps the
// values of consecutive nodes close together.
//
// Blocks are reference-counted because a view (a Reshape, Squeeze or Identity output) shares its
// input's block: the region is free only when the last value naming it has been read.
//
// Thread-safety: none; one planner uses one allocator.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace edge::inference {

class ArenaAllocator {
 public:
  // A new block of at least `bytes` (rounded up to 64, at least 64) with one reference; returns
  // its index.
  int Allocate(int64_t bytes);
  void AddRef(int block) { ++blocks_[block].refs; }
  // Drops one reference; the region becomes a hole when none is left.
  // REQUIRES: the block has a reference left.
  void Release(int block);

  int64_t offset(int block) const { return blocks_[block].offset; }
  // Bytes the arena must have for every block handed out so far.
  int64_t end() const { return end_; }

 private:
  struct Block {
    int64_t offset, size;
    int refs;
  };
  std::vector<Block> blocks_;
  std::map<int64_t, int64_t> free_;  // offset -> size
  int64_t end_ = 0;
};

}  // namespace edge::inference
