// Process-wide malloc settings for programs that stream large chunk buffers.
//
// Chunk pipelines allocate and free buffers of a few MiB per chunk (gathered
// chunks, zstd output, decoded chunks). glibc serves such sizes with fresh
// mmap()s, or grows and trims its heap around them, so every chunk pays for
// page faults on memory the kernel must zero; on virtual machines that can
// cost more than the codec work itself. Keeping freed buffers in the heap
// instead lets the next chunk reuse them: peak RSS stays what the chunks in
// flight need (the pipelines bound that), the page faults go away.
//
// A process-wide setting, so the library never calls it: programs (the
// ockpt CLI) call it once at startup.

#ifndef OCKPT_LIB_BASE_ALLOCATOR_H_
#define OCKPT_LIB_BASE_ALLOCATOR_H_

namespace ockpt {

// glibc: serve blocks up to 32 MiB from the heap and trim it only when more
// than 256 MiB are free at its top. No-op elsewhere.
void TuneAllocatorForChunkBuffers();

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_ALLOCATOR_H_
