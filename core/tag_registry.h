// TagRegistry: interns tag names ("pump1.pressure") to dense TagIds 0, 1, 2, ... so that samples
// carry a 4-byte id instead of a string and per-tag state lives in plain vectors indexed by id.
//
// Filled when a configuration is loaded (every configured name), then grown at run time by MQTT
// sources whose tag names come from topic levels ("{2}.vib_rms", drivers/mqtt_source.h) while
// the writer, the routing of samples to models and model hot-swaps read it.
//
// Thread-safety: every method is safe from any thread; the registry owns its lock (mu_). Views
// returned by Name() stay valid for the registry's lifetime, also across later Adds from other
// threads, because the names live in a deque, which never moves its elements on push_back. An id
// once returned never changes meaning, so a caller may cache ids and size() without the lock.
//
// Why a lock and not an immutable snapshot swapped atomically: readers that could not take a
// lock per call would need a copy of the whole map per new name (10,000 dynamic names per
// source are allowed, and a publisher may announce them one by one), and Name()'s views would
// have to outlive old snapshots anyway. No hot path asks the registry per sample: the sources
// map names to ids once (ModbusSource at Create, MqttSource through a per-connection cache), the
// writer maps only ids it has not seen, and the pipeline routes by a vector indexed by TagId.
// So the lock is taken on a new name or a rebuild, never per sample, and is never contended.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/mutex.h"
#include "core/sample.h"
#include "core/status.h"
#include "core/thread_annotations.h"

namespace edge {

class TagRegistry {
 public:
  TagRegistry() = default;
  // Not copyable: the index holds views into the owned names. Moving keeps every view valid
  // (a deque's move keeps its elements where they are); it must not race with other use.
  TagRegistry(const TagRegistry&) = delete;
  TagRegistry& operator=(const TagRegistry&) = delete;
  TagRegistry(TagRegistry&& other) EXCLUDES(other.mu_);
  TagRegistry& operator=(TagRegistry&& other) EXCLUDES(mu_, other.mu_);

  // Registers a new name and returns its id (the next dense id).
  // InvalidArgument if the name is empty; AlreadyExists if it is registered.
  [[nodiscard]] StatusOr<TagId> Add(std::string_view name) EXCLUDES(mu_);

  // The id of `name`, registering it first if needed. REQUIRES: !name.empty().
  TagId Intern(std::string_view name) EXCLUDES(mu_);

  std::optional<TagId> Find(std::string_view name) const EXCLUDES(mu_);

  // REQUIRES: id < size(). Aborts otherwise (an id from another registry is a bug).
  std::string_view Name(TagId id) const EXCLUDES(mu_);

  // Ids 0 .. size()-1 are registered; it only grows.
  size_t size() const EXCLUDES(mu_);
  bool empty() const EXCLUDES(mu_) { return size() == 0; }

 private:
  TagId InternLocked(std::string_view name) REQUIRES(mu_);

  mutable Mutex mu_;
  std::deque<std::string> names_ GUARDED_BY(mu_);
  std::unordered_map<std::string_view, TagId> index_ GUARDED_BY(mu_);
};

}  // namespace edge
