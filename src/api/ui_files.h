// The dashboard's static files (ui/ and Debian's Chart.js), built into the binary by CMake
// (cmake/embed_files.cmake), so that serving them reads no file and fetches nothing.
#pragma once

#include <string_view>

namespace topup::api {

struct UiFile {
  std::string_view name;          // "app.js"
  std::string_view content_type;  // "application/javascript"
  std::string_view bytes;
};

// The file named `name`, or nullptr.
const UiFile* FindUiFile(std::string_view name);

}  // namespace topup::api
