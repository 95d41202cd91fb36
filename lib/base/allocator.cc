// Process-wide malloc settings (see allocator.h).

#include "lib/base/allocator.h"

#include <cstdlib>  // defines __GLIBC__ with glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ockpt {

void TuneAllocatorForChunkBuffers() {
#if defined(__GLIBC__)
  // Setting either one also turns off glibc's dynamic adjustment of both.
  // mallopt refuses mmap thresholds above 32 MiB (HEAP_MAX_SIZE / 2).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

}  // namespace ockpt
