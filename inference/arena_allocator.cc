#include "inference/arena_allocator.h"

#include <algorithm>
#include <iterator>

#include "core/status.h"

namespace edge::inference {

int ArenaAllocator::Allocate(int64_t bytes) {
  const int64_t size = std::max<int64_t>(64, (bytes + 63) / 64 * 64);
  int64_t offset = -1;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second >= size) {
      offset = it->first;
      const int64_t rest = it->second - size;
      const int64_t rest_at = it->first + size;
      free_.erase(it);
      if (rest > 0) free_[rest_at] = rest;
      break;
    }
  }
  if (offset < 0) {
    offset = end_;
    end_ += size;
  }
  blocks_.push_back({offset, size, 1});
  return static_cast<int>(blocks_.size()) - 1;
}

void ArenaAllocator::Release(int block) {
  Block& b = blocks_[block];
  if (--b.refs > 0) return;
  auto [it, inserted] = free_.emplace(b.offset, b.size);
  EDGE_CHECK(inserted);
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
}

}  // namespace edge::inference
