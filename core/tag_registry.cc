#include "core/tag_registry.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

namespace edge {

TagRegistry::TagRegistry(TagRegistry&& other) {
  MutexLock lock(&other.mu_);
  names_ = std::move(other.names_);
  index_ = std::move(other.index_);
}

TagRegistry& TagRegistry::operator=(TagRegistry&& other) {
  if (this == &other) return *this;
  // Both locks, always in address order, so that two opposite moves cannot deadlock.
  Mutex* first = this < &other ? &mu_ : &other.mu_;
  Mutex* second = this < &other ? &other.mu_ : &mu_;
  MutexLock lock_first(first);
  MutexLock lock_second(second);
  mu_.AssertHeld();
  other.mu_.AssertHeld();
  names_ = std::move(other.names_);
  index_ = std::move(other.index_);
  return *this;
}

StatusOr<TagId> TagRegistry::Add(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("empty tag name");
  MutexLock lock(&mu_);
  if (index_.contains(name)) {
    return Status::AlreadyExists(fmt::format("tag '{}' is defined twice", name));
  }
  return InternLocked(name);
}

TagId TagRegistry::Intern(std::string_view name) {
  EDGE_CHECK(!name.empty());
  MutexLock lock(&mu_);
  return InternLocked(name);
}

TagId TagRegistry::InternLocked(std::string_view name) {
  if (auto it = index_.find(name); it != index_.end()) return it->second;
  EDGE_CHECK(names_.size() < std::numeric_limits<TagId>::max());
  const auto id = static_cast<TagId>(names_.size());
  const std::string& stored = names_.emplace_back(name);
  index_.emplace(std::string_view(stored), id);
  return id;
}

std::optional<TagId> TagRegistry::Find(std::string_view name) const {
  MutexLock lock(&mu_);
  if (auto it = index_.find(name); it != index_.end()) return it->second;
  return std::nullopt;
}

std::string_view TagRegistry::Name(TagId id) const {
  MutexLock lock(&mu_);
  EDGE_CHECK(id < names_.size());
  // The view outlives the lock: the string it points into never moves (see the header).
  return names_[id];
}

size_t TagRegistry::size() const {
  MutexLock lock(&mu_);
  return names_.size();
}

}  // namespace edge
