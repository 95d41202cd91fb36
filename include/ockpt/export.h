// OCKPT_API: marks the symbols libockpt exports. The shared library is built
// with hidden visibility (and its internal static libraries' symbols are
// hidden too), so only declarations marked here are visible to consumers.

#ifndef OCKPT_EXPORT_H_
#define OCKPT_EXPORT_H_

#if defined(_WIN32)
#define OCKPT_API
#elif defined(__GNUC__) || defined(__clang__)
#define OCKPT_API __attribute__((visibility("default")))
#else
#define OCKPT_API
#endif

#endif  // OCKPT_EXPORT_H_
