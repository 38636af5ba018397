// TagRegistry: interns tag names ("pump1.pressure") to dense TagIds 0, 1, 2, ... so that samples
// carry a 4-byte id instead of a string and per-tag state lives in plain vectors indexed by id.
//
// Built once when a configuration is loaded, then read-only for the life of the pipeline that
// uses it (a reload builds a fresh registry with the fresh config).
//
// Thread-safety: Add/Intern mutate and must happen before the registry is shared with other
// threads (or under the owner's external lock). After that, the const methods are lock-free and
// safe from any number of threads. Views returned by Name() stay valid for the registry's
// lifetime, also across later Adds.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/sample.h"
#include "core/status.h"

namespace edge {

class TagRegistry {
 public:
  TagRegistry() = default;
  // Not copyable: the index holds views into the owned names.
  TagRegistry(const TagRegistry&) = delete;
  TagRegistry& operator=(const TagRegistry&) = delete;
  TagRegistry(TagRegistry&&) = default;
  TagRegistry& operator=(TagRegistry&&) = default;

  // Registers a new name and returns its id (the next dense id).
  // InvalidArgument if the name is empty; AlreadyExists if it is registered.
  [[nodiscard]] StatusOr<TagId> Add(std::string_view name);

  // The id of `name`, registering it first if needed. REQUIRES: !name.empty().
  TagId Intern(std::string_view name);

  std::optional<TagId> Find(std::string_view name) const;

  // REQUIRES: id < size(). Aborts otherwise (an id from another registry is a bug).
  std::string_view Name(TagId id) const;

  size_t size() const { return names_.size(); }
  bool empty() const { return names_.empty(); }

 private:
  // A deque never moves its elements on push_back, so the string_view keys of index_ and the
  // views handed out by Name() stay valid as names are added.
  std::deque<std::string> names_;
  std::unordered_map<std::string_view, TagId> index_;
};

}  // namespace edge
