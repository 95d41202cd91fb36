// File and folder names of an Orbax checkpoint (docs/format/orbax.md).

#ifndef OCKPT_FORMATS_ORBAX_LAYOUT_H_
#define OCKPT_FORMATS_ORBAX_LAYOUT_H_

#include <string_view>

namespace ockpt::orbax {

inline constexpr std::string_view kCheckpointMetadataFile = "_CHECKPOINT_METADATA";
inline constexpr std::string_view kTreeMetadataFile = "_METADATA";
inline constexpr std::string_view kShardingFile = "_sharding";
inline constexpr std::string_view kStringsFile = "_strings.json";
inline constexpr std::string_view kArrayMetadatasDir = "array_metadatas";
inline constexpr std::string_view kManifestFile = "manifest.ocdbt";
inline constexpr std::string_view kProcessDirPrefix = "ocdbt.process_";
inline constexpr std::string_view kLegacyMsgpackFile = "checkpoint";
inline constexpr std::string_view kCommitSuccessFile = "commit_success.txt";
inline constexpr std::string_view kTmpSuffix = ".orbax-checkpoint-tmp";
inline constexpr std::string_view kV1IndicatorFile = "orbax.checkpoint";
inline constexpr std::string_view kRootMetadataDir = "metadata";
inline constexpr std::string_view kRootMetadataFile = "_ROOT_METADATA";
inline constexpr std::string_view kDefaultItem = "default";
inline constexpr std::string_view kMetricsItem = "metrics";
inline constexpr std::string_view kDescriptorItem = "descriptor";  // v1: listed, no directory
inline constexpr std::string_view kV1PyTreeItem = "pytree";        // v1 save_pytree's item
inline constexpr std::string_view kV1JsonFile = "data.json";       // v1 JsonHandler's file
inline constexpr std::string_view kPlaceholderPrefix = "PLACEHOLDER://";

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_LAYOUT_H_
