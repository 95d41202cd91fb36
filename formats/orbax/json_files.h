// Checks of an item's Orbax JSON side files (_sharding, _strings.json,
// array_metadatas/process_*): parseable within the JSON limits and of the
// top-level shape Orbax writes. Used by `verify` (problems) and by the
// reader (warnings), so that a truncated file is never silently ignored.

#ifndef OCKPT_FORMATS_ORBAX_JSON_FILES_H_
#define OCKPT_FORMATS_ORBAX_JSON_FILES_H_

#include <map>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::orbax {

// The problems found in the JSON side files of the item directory `dir`
// (absent files are fine); each names its file.
std::vector<std::string> CheckItemJsonFiles(const std::string& dir);
// Only array_metadatas/process_* (which the reader itself does not use).
std::vector<std::string> CheckArrayMetadatasDir(const std::string& dir);

// Reads dir's array_metadatas/process_* files once: returns the non-null
// "ext_metadata" of each array (e.g. a PRNG key's {"random_key_impl": ...})
// by param_name, and appends a message for each file that cannot be read
// or decoded (what CheckArrayMetadatasDir reports).
std::map<std::string, Json> ReadArrayMetadatasDir(const std::string& dir,
                                                  std::vector<std::string>* problems);

// Validates the parsed content of `_sharding`: an object whose values are
// strings (with `deep`, each holding a JSON object: verify; the reader parses
// each entry when it uses it). kDataLoss naming `path` otherwise.
Status CheckShardingJson(const Json& j, const std::string& path, bool deep = true);
// `array_metadatas/process_N`: {"array_metadatas": [{"array_metadata": {...}}, ...]}.
Status CheckArrayMetadatasJson(const Json& j, const std::string& path);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_JSON_FILES_H_
