#include "frontend/firmware.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace nomad86 {

bool read_file(const std::string& path, std::vector<uint8_t>* out, std::string* error, uint64_t max_size) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
        *error = strerror(errno);
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        *error = "is a directory";
        return false;
    }
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) {
        *error = strerror(errno);
        return false;
    }
    out->clear();
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        out->insert(out->end(), buf, buf + n);
        if (out->size() > max_size) {
            fclose(f);
            *error = "file too large";
            return false;
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        *error = "read error";
        return false;
    }
    return true;
}

std::string default_firmware_path() {
    static const char kName[] = "nomad86-demo.rom";
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        std::string dir(exe);
        dir = dir.substr(0, dir.rfind('/'));
        std::string candidate = dir + "/roms/" + kName;
        if (access(candidate.c_str(), R_OK) == 0) return candidate;
    }
    return std::string(NOMAD86_BUILD_ROM_DIR) + "/" + kName;
}

}  // namespace nomad86
