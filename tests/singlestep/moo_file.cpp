// The gzip layer of the MOO reader (zlib's gzread also reads plain files).
#include <zlib.h>

#include "tests/singlestep/moo_reader.h"

namespace nomad86::moo {

std::optional<MooError> read_gzip_file(const std::string& path, std::vector<uint8_t>& image) {
    image.clear();
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return MooError{0, "cannot open the file"};
    gzbuffer(f, 1 << 17);
    uint8_t buf[1 << 16];
    for (;;) {
        int n = gzread(f, buf, sizeof(buf));
        if (n > 0) image.insert(image.end(), buf, buf + n);
        if (n < int(sizeof(buf))) {
            int err = Z_OK;
            const char* msg = gzerror(f, &err);
            if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) {
                std::string m = std::string("gzip: ") + (msg && *msg ? msg : "read error");
                gzclose(f);
                return MooError{image.size(), m};
            }
            break;
        }
    }
    int rc = gzclose(f);
    if (rc != Z_OK) return MooError{image.size(), "gzip: stream truncated or corrupt"};
    return std::nullopt;
}

std::optional<MooError> read_moo_file(const std::string& path, MooFile& out) {
    std::vector<uint8_t> image;
    if (auto e = read_gzip_file(path, image)) {
        // A truncated or corrupt stream: still hand back the complete tests
        // decompressed before the damage, and report the gzip error.
        if (!image.empty()) parse_moo(image, out);
        return e;
    }
    return parse_moo(image, out);
}

}  // namespace nomad86::moo
