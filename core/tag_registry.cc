#include "core/tag_registry.h"

#include <fmt/format.h>

#include <limits>

namespace edge {

StatusOr<TagId> TagRegistry::Add(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("empty tag name");
  if (index_.contains(name)) {
    return Status::AlreadyExists(fmt::format("tag '{}' is defined twice", name));
  }
  return Intern(name);
}

TagId TagRegistry::Intern(std::string_view name) {
  EDGE_CHECK(!name.empty());
  if (auto it = index_.find(name); it != index_.end()) return it->second;
  EDGE_CHECK(names_.size() < std::numeric_limits<TagId>::max());
  const auto id = static_cast<TagId>(names_.size());
  const std::string& stored = names_.emplace_back(name);
  index_.emplace(std::string_view(stored), id);
  return id;
}

std::optional<TagId> TagRegistry::Find(std::string_view name) const {
  if (auto it = index_.find(name); it != index_.end()) return it->second;
  return std::nullopt;
}

std::string_view TagRegistry::Name(TagId id) const {
  EDGE_CHECK(id < names_.size());
  return names_[id];
}

}  // namespace edge
