// `ockpt --version` text.

#ifndef OCKPT_APPS_OCKPT_VERSION_H_
#define OCKPT_APPS_OCKPT_VERSION_H_

#include <string>

namespace ockpt {

// "ockpt 0.1.0 (git 4f4ad95c1e2b)\nfeatures: ..." (no trailing newline).
std::string VersionText();

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_VERSION_H_
