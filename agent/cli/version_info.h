// `edge-agent version`: the agent's version and the versions of the libraries it links, so that
// a support engineer can tell from one command what runs on a line PC.
#pragma once

#include <string>

namespace edge::agent {

// Multi-line report ending in a newline.
std::string VersionReport();

}  // namespace edge::agent
