// Clang's thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html),
// as macros that vanish on compilers without them (GCC builds the release). CI builds the tree
// with clang -Wthread-safety -Werror, so a member marked GUARDED_BY(mu_) that is read without
// mu_ held fails the build there rather than racing in a plant.
//
// Use them on edge::Mutex (core/mutex.h), which is a capability; std::mutex is not annotated
// in libstdc++ and would make every check vacuous.
#pragma once

#if defined(__clang__)
#define EDGE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define EDGE_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) EDGE_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY EDGE_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) EDGE_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) EDGE_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) EDGE_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) EDGE_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) EDGE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) EDGE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) EDGE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) EDGE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) EDGE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) EDGE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) EDGE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) EDGE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) EDGE_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) EDGE_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS EDGE_THREAD_ANNOTATION(no_thread_safety_analysis)
